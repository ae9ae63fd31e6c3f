//! The core conformance suite against object_store: a local directory and memory.

use mirrorcast_object_store::ObjectStoreBackend;
use mirrorcast_store::{conformance, BlobStore};

#[tokio::test]
async fn local_directory_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(&ObjectStoreBackend::local(&dir.path().join("dc")).unwrap()).await;
}

#[tokio::test]
async fn memory_passes_the_conformance_suite() {
    conformance::run_all(&ObjectStoreBackend::memory()).await;
}

#[tokio::test]
async fn urls_choose_the_store_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("x").display());
    assert!(ObjectStoreBackend::from_url(&url).unwrap().describe().contains("local directory"));
    assert!(ObjectStoreBackend::from_url("memory://").is_ok());
    let e = ObjectStoreBackend::from_url("ftp://host/x").unwrap_err();
    assert!(e.to_string().contains("'ftp://'"), "{e}");
}

#[tokio::test]
async fn the_root_directory_is_refused_as_a_data_center() {
    for url in ["file://", "file:///", "file:///.", "file:///a/.."] {
        let e = ObjectStoreBackend::from_url(url).unwrap_err();
        assert_eq!(e.kind(), mirrorcast_store::ErrorKind::InvalidInput, "{url}: {e}");
        assert!(e.to_string().contains("root directory"), "{url}: {e}");
    }
}

#[tokio::test]
async fn dot_segments_are_names_of_their_own_in_a_local_directory() {
    use bytes::Bytes;
    use mirrorcast_store::{BlobStoreExt, PutOptions};
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBackend::local(&dir.path().join("dc")).unwrap();
    store.create_container("c").await.unwrap();
    let names = ["b", "a/./b", "a/../b", ".", "..", "../escape", "a/b/..", "..."];
    for n in names {
        store.put_blob("c", n, Bytes::from(n.as_bytes().to_vec()), &PutOptions::default()).await.unwrap();
    }
    for n in names {
        assert_eq!(store.get_bytes("c", n).await.unwrap().1, n.as_bytes(), "{n:?}");
    }
    assert_eq!(store.list_all("c", "").await.unwrap().len(), names.len());
    let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, ["dc"], "nothing may be written beside the data center's directory");
}

#[tokio::test]
async fn a_local_commit_that_fails_leaves_the_old_blob_and_no_staged_file() {
    use bytes::Bytes;
    use mirrorcast_store::{BlobStoreExt, Condition, PutOptions};
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBackend::local(&dir.path().join("dc")).unwrap();
    store.create_container("c").await.unwrap();
    store.put_blob("c", "v.mp4", Bytes::from_static(b"old"), &PutOptions::default()).await.unwrap();
    store.put_block("c", "v.mp4", "b1", Bytes::from_static(b"new ")).await.unwrap();
    store.put_block("c", "v.mp4", "b2", Bytes::from_static(b"bytes")).await.unwrap();

    let missing = store.put_block_list("c", "v.mp4", &["b1".into(), "nope".into()], &PutOptions::default()).await;
    assert!(missing.unwrap_err().to_string().contains("'nope'"), "a block never staged is named");
    let refused = PutOptions { condition: Condition::IfNotExists, ..Default::default() };
    let refused = store.put_block_list("c", "v.mp4", &["b1".into(), "b2".into()], &refused).await;
    assert_eq!(refused.unwrap_err().kind(), mirrorcast_store::ErrorKind::PreconditionFailed);
    assert_eq!(store.get_bytes("c", "v.mp4").await.unwrap().1, "old", "a failed commit changes nothing");
    let staged: Vec<_> = walk(dir.path()).into_iter().filter(|p| p.contains("commit#")).collect();
    assert!(staged.is_empty(), "no staged commit may be left: {staged:?}");

    store.put_block_list("c", "v.mp4", &["b1".into(), "b2".into()], &PutOptions::default()).await.unwrap();
    assert_eq!(store.get_bytes("c", "v.mp4").await.unwrap().1, "new bytes");
    assert_eq!(store.list_all("c", "").await.unwrap().len(), 1, "only the blob is listed");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
