//! A local directory's listing walks its folders itself (names only, no file
//! stated): page by page it must list exactly what object_store's own walk of
//! the same directory lists, whatever the names, the prefix and the page size.

use std::sync::Arc;

use bytes::Bytes;
use mirrorcast_object_store::ObjectStoreBackend;
use mirrorcast_store::{BlobStore, ListOptions, PutOptions};
use object_store::local::LocalFileSystem;
use proptest::prelude::*;

/// The same directory read through object_store's walk (the listing before the local one).
fn through_object_store(dir: &std::path::Path) -> ObjectStoreBackend {
    ObjectStoreBackend::new(Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap()), "object_store walk")
}

/// Every (name, size, etag) of `prefix`, page by page of `page_size`.
async fn paged(store: &dyn BlobStore, container: &str, prefix: &str, page_size: u32) -> Vec<(String, u64, String)> {
    let mut options =
        ListOptions { prefix: Some(prefix.to_owned()), max_results: Some(page_size), ..Default::default() };
    let mut out = Vec::new();
    loop {
        let page = store.list_blobs(container, &options).await.unwrap();
        assert!(page.blobs.len() <= page_size as usize, "a page larger than asked");
        out.extend(page.blobs.into_iter().map(|b| (b.name, b.size, b.etag)));
        match page.next_marker {
            Some(marker) => options.marker = Some(marker),
            None => return out,
        }
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just(".mirrorcast".to_owned()),
        Just("%".to_owned()),
        Just("a".to_owned()),
        Just("a%".to_owned()),
        "[ab%.#: é映]{1,4}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(segment(), 1..4)
        .prop_map(|segments| segments.join("/"))
        .prop_filter("a blob name is not empty", |n| !n.is_empty())
}

/// Names, a prefix (often one of theirs cut short, so folders are where the walk starts) and a page size.
fn listing() -> impl Strategy<Value = (Vec<String>, String, u32)> {
    (proptest::collection::btree_set(name(), 1..24), any::<prop::sample::Index>(), 0usize..12, "[a/%.]{0,3}", 1u32..6)
        .prop_map(|(names, pick, cut, other, page)| {
            let names: Vec<String> = names.into_iter().collect();
            let picked = &names[pick.index(names.len())];
            let cut = (0..=cut.min(picked.len())).rev().find(|&i| picked.is_char_boundary(i)).unwrap_or(0);
            let prefix = if cut % 3 == 2 { other } else { picked[..cut].to_owned() };
            (names, prefix, page)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn pages_of_a_local_listing_are_the_whole_listing_of_object_stores_walk((names, prefix, page) in listing()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let local = ObjectStoreBackend::local(dir.path()).unwrap();
            local.create_container("c").await.unwrap();
            for n in &names {
                local.put_blob("c", n, Bytes::from(n.clone().into_bytes()), &PutOptions::default()).await.unwrap();
            }
            let mut expected: Vec<&String> = names.iter().filter(|n| n.starts_with(&prefix)).collect();
            expected.sort();
            let listed = paged(&local, "c", &prefix, page).await;
            let listed_names: Vec<&String> = listed.iter().map(|(n, _, _)| n).collect();
            assert_eq!(listed_names, expected, "prefix {prefix:?}, pages of {page}");
            let whole = paged(&through_object_store(dir.path()), "c", &prefix, 5000).await;
            assert_eq!(listed, whole, "prefix {prefix:?}: the local walk lists what object_store's walk lists");
        });
    }
}

#[tokio::test]
async fn a_local_listing_follows_links_and_skips_what_is_not_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let local = ObjectStoreBackend::local(dir.path()).unwrap();
    local.create_container("c").await.unwrap();
    for n in ["v/a.mp4", "v/b.mp4", "w.ism"] {
        local.put_blob("c", n, Bytes::from_static(b"x"), &PutOptions::default()).await.unwrap();
    }
    let folder = dir.path().join("c");
    // object_store's staging file, a hidden file, a broken link: none is a blob.
    std::fs::write(folder.join("v%/a.mp4#1"), b"half").unwrap();
    std::fs::write(folder.join(".hidden"), b"x").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(folder.join("nowhere"), folder.join("broken")).unwrap();
        // A linked folder is walked (its blobs listed if their sidecars say they are blobs)…
        std::os::unix::fs::symlink(folder.join("v%"), folder.join("u%")).unwrap();
        std::fs::create_dir_all(folder.join(".mirrorcast/meta/u%")).unwrap();
        std::fs::copy(folder.join(".mirrorcast/meta/v%/a.mp4.json"), folder.join(".mirrorcast/meta/u%/a.mp4.json"))
            .unwrap();
    }
    let listed = paged(&local, "c", "", 2).await;
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    let expected: &[&str] =
        if cfg!(unix) { &["u/a.mp4", "v/a.mp4", "v/b.mp4", "w.ism"] } else { &["v/a.mp4", "v/b.mp4", "w.ism"] };
    assert_eq!(names, expected);
    assert_eq!(listed, paged(&through_object_store(dir.path()), "c", "", 5000).await);
    assert_eq!(paged(&local, "c", "v/", 1).await.len(), 2);
    assert!(paged(&local, "c", "nowhere/", 1).await.is_empty(), "a prefix whose folder is missing lists nothing");
    let missing = local.list_blobs("d", &ListOptions::default()).await.unwrap_err();
    assert_eq!(missing.kind(), mirrorcast_store::ErrorKind::NotFound, "{missing}");

    // …but a link back to a folder it is in is refused, not walked for ever.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&folder, folder.join("v%/loop%")).unwrap();
        let e = local.list_blobs("c", &ListOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains("links back"), "{e}");
    }
}
