//! The core conformance suite against object_store: a local directory and memory.

use mirrorcast_core::store::{conformance, BlobStore};
use mirrorcast_object_store::ObjectStoreBackend;

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
        assert_eq!(e.kind(), mirrorcast_core::ErrorKind::InvalidInput, "{url}: {e}");
        assert!(e.to_string().contains("root directory"), "{url}: {e}");
    }
}

#[tokio::test]
async fn dot_segments_are_names_of_their_own_in_a_local_directory() {
    use bytes::Bytes;
    use mirrorcast_core::store::{BlobStoreExt, PutOptions};
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
