//! The conformance suite: the behaviour every [`BlobStore`] must show (the
//! trait's contract). Each backend and wrapper calls [`run_all`] from its
//! tests, so all stores pass the same checks; a view that only reads calls
//! [`run_read_only`].
//!
//! Checks panic with a message naming what broke, like any test assertion.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};

use crate::{
    upload_reader, BlobKind, BlobMeta, BlobStore, BlobStoreExt, Condition, CopySource, ErrorKind, ListOptions,
    Permissions, PutOptions, SignedUrl, StoredPolicy, UploadOptions, MAX_STORED_POLICIES,
};

/// Runs every check against `store`, each in a container of its own that it removes.
pub async fn run_all(store: &dyn BlobStore) {
    containers(store).await;
    put_get_head_round_trip(store).await;
    a_put_whose_bytes_differ_from_its_content_md5(store).await;
    ranged_get(store).await;
    ranged_get_after_a_change(store).await;
    zero_length_blob(store).await;
    names_with_spaces_and_unicode(store).await;
    names_that_paths_would_merge(store).await;
    list_with_prefix_and_pagination(store).await;
    staged_blocks_commit_in_order(store).await;
    conditional_writes(store).await;
    metadata_replace(store).await;
    delete_blob(store).await;
    missing_things_are_not_found(store).await;
    streamed_upload_in_blocks(store).await;
    stored_access_policies(store).await;
}

/// The read-only subset, for a view that must only read: it declares no
/// ability to write, sign or copy, and refuses every such call without a
/// change; the blobs the read checks need are written through `writer`, a
/// store over the same data.
pub async fn run_read_only(view: &dyn BlobStore, writer: &dyn BlobStore) {
    declares_nothing_but_reads(view);
    containers_read_through(writer, view).await;
    put_get_head_round_trip_read_through(writer, view).await;
    ranged_get_read_through(writer, view).await;
    zero_length_blob_read_through(writer, view).await;
    names_with_spaces_and_unicode_read_through(writer, view).await;
    names_that_paths_would_merge_read_through(writer, view).await;
    list_with_prefix_and_pagination_read_through(writer, view).await;
    missing_things_are_not_found_read_through(writer, view).await;
    every_write_is_refused(view, writer).await;
}

/// A read-only view's [`crate::Capability`] promises no write ability, and its
/// [`crate::Access`] says every write is refused.
pub fn declares_nothing_but_reads(view: &dyn BlobStore) {
    let c = view.capability();
    let declared = [
        ("copy_from_url_same_endpoint", c.copy_from_url_same_endpoint),
        ("copy_from_url_other_endpoint", c.copy_from_url_other_endpoint),
        ("put_block_from_url", c.put_block_from_url),
        ("signed_urls", c.signed_urls),
        ("conditional_writes", c.conditional_writes),
        ("stored_access_policies", c.stored_access_policies),
        ("put_blob_checks_content_md5", c.put_blob_checks_content_md5),
    ];
    for (flag, on) in declared {
        assert!(!on, "a read-only view declares {flag}, which it refuses");
    }
    assert!(view.access().read_only, "a read-only view's access must say every write is refused");
}

/// Every call that writes, signs or copies is refused (`PermissionDenied` or
/// `Unsupported`) and changes nothing that `writer` can see.
pub async fn every_write_is_refused(view: &dyn BlobStore, writer: &dyn BlobStore) {
    fn refused<T: std::fmt::Debug>(call: &str, got: crate::Result<T>) {
        let e = got.expect_err(&format!("a read-only view let {call} through"));
        assert!(
            matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::Unsupported),
            "{call} on a read-only view: {e} ({:?}), not a refusal",
            e.kind()
        );
    }
    let c = fresh(writer, "refused").await;
    let data = Bytes::from_static(b"kept as it is");
    let etag = writer.put_blob(&c, "kept.mp4", data.clone(), &PutOptions::default()).await.unwrap();
    let kept = Condition::IfMatch(etag.clone());
    let other = Bytes::from_static(b"other bytes");
    let source = CopySource { url: SignedUrl::new("https://elsewhere.invalid/c/kept.mp4?sig=x"), if_match: None };
    let expiry = chrono::Utc::now() + chrono::Duration::minutes(5);
    let new_container = container_name("refused-new");

    refused("create_container", view.create_container(&new_container).await);
    refused("delete_container", view.delete_container(&c).await);
    refused("put_blob", view.put_blob(&c, "kept.mp4", other.clone(), &PutOptions::default()).await);
    refused("put_blob of a new blob", view.put_blob(&c, "new.mp4", other.clone(), &PutOptions::default()).await);
    refused("put_block", view.put_block(&c, "new.mp4", "b0", other.clone()).await);
    refused("put_block_list", view.put_block_list(&c, "new.mp4", &["b0".into()], &PutOptions::default()).await);
    refused("set_metadata", view.set_metadata(&c, "kept.mp4", &BTreeMap::new(), &kept).await);
    refused("delete_blob", view.delete_blob(&c, "kept.mp4", &kept).await);
    refused("copy_from_url", view.copy_from_url(&c, "new.mp4", &source, &PutOptions::default()).await);
    refused("put_block_from_url", view.put_block_from_url(&c, "new.mp4", "b0", &source, 0..1).await);
    refused("set_container_policies", view.set_container_policies(&c, &[], None).await);
    refused("get_container_policies", view.get_container_policies(&c).await);
    refused("signed_url", view.signed_url(&c, None, Permissions::READ, expiry).await);
    refused("signed_url_for_policy", view.signed_url_for_policy(&c, None, "p").await);
    refused("scoped", view.scoped(&c, Permissions::READ, expiry).await);
    refused("scoped_for_policy", view.scoped_for_policy(&c, "p").await);

    let (meta, got) = writer.get_bytes(&c, "kept.mp4").await.expect("a refused call removed a blob");
    assert_eq!((meta.etag, got), (etag, data), "a refused call changed a blob");
    assert!(writer.head_opt(&c, "new.mp4").await.unwrap().is_none(), "a refused call wrote a blob");
    let listed = writer.list_containers("conf-").await.unwrap();
    assert!(!listed.contains(&new_container), "a refused create_container made '{new_container}'");
    writer.delete_container(&c).await.unwrap();
}

fn container_name(check: &str) -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("conf-{}-{}", &tag[..8], check)
}

async fn fresh(store: &dyn BlobStore, check: &str) -> String {
    let c = container_name(check);
    assert!(store.create_container(&c).await.expect("create container"), "new container '{c}' reported as existing");
    c
}

fn b64_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// Creating, listing and deleting a container; a second create or delete of the same says `false`.
pub async fn containers(store: &dyn BlobStore) {
    containers_read_through(store, store).await;
}

/// [`containers`] with the blobs written through `writer` and read through `reader`.
pub async fn containers_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = container_name("containers");
    assert!(writer.create_container(&c).await.unwrap(), "create_container: a new container must return true");
    assert!(!writer.create_container(&c).await.unwrap(), "create_container: an existing container must return false");
    let listed = reader.list_containers("conf-").await.unwrap();
    assert!(listed.contains(&c), "list_containers: '{c}' missing from {listed:?}");
    assert!(writer.delete_container(&c).await.unwrap(), "delete_container: an existing container must return true");
    let listed = reader.list_containers(&c).await.unwrap();
    assert!(!listed.contains(&c), "list_containers: deleted '{c}' still listed");
}

/// A blob written with properties and metadata reads back, heads and lists with them, bytes and Content-MD5 intact.
pub async fn put_get_head_round_trip(store: &dyn BlobStore) {
    put_get_head_round_trip_read_through(store, store).await;
}

/// [`put_get_head_round_trip`] with the blobs written through `writer` and read through `reader`.
pub async fn put_get_head_round_trip_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "roundtrip").await;
    let data = Bytes::from_static(b"<smil>manifest</smil>");
    let mut options = PutOptions::default();
    options.properties.content_type = Some("application/vnd.ms-sstr+xml".into());
    options.properties.cache_control = Some("max-age=60".into());
    options.properties.content_language = Some("en".into());
    options.properties.content_disposition = Some("inline".into());
    options.properties.content_encoding = Some("identity".into());
    options.metadata.insert("origin".into(), "dc-a".into());
    let etag = writer.put_blob(&c, "video.ism", data.clone(), &options).await.unwrap();
    assert!(!etag.is_empty(), "put_blob: empty ETag");

    let head = reader.head_blob(&c, "video.ism").await.unwrap();
    assert_eq!(head.size, data.len() as u64, "head_blob: size");
    assert_eq!(head.etag, etag, "head_blob: ETag differs from the one put_blob returned");
    assert_eq!(head.kind, BlobKind::Block);
    assert_eq!(head.properties.content_type.as_deref(), Some("application/vnd.ms-sstr+xml"));
    assert_eq!(head.properties.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(head.properties.content_language.as_deref(), Some("en"));
    assert_eq!(head.properties.content_disposition.as_deref(), Some("inline"));
    assert_eq!(head.properties.content_encoding.as_deref(), Some("identity"));
    assert_eq!(
        head.properties.content_md5.as_deref(),
        Some(b64_md5(&data).as_str()),
        "put_blob: Content-MD5 must be the MD5 of the bytes"
    );
    assert_eq!(head.metadata.get("origin").map(String::as_str), Some("dc-a"), "head_blob: metadata");

    let (meta, got) = reader.get_bytes(&c, "video.ism").await.unwrap();
    assert_eq!(got, data, "get_blob: bytes differ");
    assert_eq!(meta.etag, etag, "get_blob: ETag");
    let listed = reader.list_all(&c, "").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].etag, head.etag, "list_blobs: ETag differs from head_blob's");
    assert_eq!(listed[0].properties, head.properties, "list_blobs: properties differ from head_blob's");
    assert_eq!(listed[0].metadata, head.metadata, "list_blobs: metadata differ from head_blob's");
    writer.delete_container(&c).await.unwrap();
}

/// A store that declares `put_blob_checks_content_md5` must keep its word: a
/// copy that skips its own hash relies on it. Any store keeps a right one.
pub async fn a_put_whose_bytes_differ_from_its_content_md5(store: &dyn BlobStore) {
    let c = fresh(store, "md5").await;
    let data = Bytes::from_static(b"the bytes that arrived");
    let mut right = PutOptions::default();
    right.properties.content_md5 = Some(b64_md5(&data));
    store.put_blob(&c, "right.mp4", data.clone(), &right).await.expect("put_blob with the bytes' own Content-MD5");
    let head = store.head_blob(&c, "right.mp4").await.unwrap();
    assert_eq!(head.properties.content_md5, right.properties.content_md5, "put_blob: the given Content-MD5 is kept");
    if store.capability().put_blob_checks_content_md5 {
        let mut wrong = PutOptions::default();
        wrong.properties.content_md5 = Some(b64_md5(b"the bytes that were sent"));
        let err = store
            .put_blob(&c, "wrong.mp4", data.clone(), &wrong)
            .await
            .expect_err("put_blob_checks_content_md5: a body that is not its Content-MD5's was committed");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "put_blob with a wrong Content-MD5: {err}");
        assert!(store.head_opt(&c, "wrong.mp4").await.unwrap().is_none(), "a refused body must commit nothing");
        let err = store
            .put_blob(&c, "right.mp4", data.slice(1..), &right)
            .await
            .expect_err("put_blob_checks_content_md5: a body cut short was committed over a good blob");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        let (_, kept) = store.get_bytes(&c, "right.mp4").await.unwrap();
        assert_eq!(kept, data, "a refused body must leave the blob it would have replaced as it was");
    }
    store.delete_container(&c).await.unwrap();
}

/// A ranged GET returns the range asked for, clipped to the blob's end, and says which it returned.
pub async fn ranged_get(store: &dyn BlobStore) {
    ranged_get_read_through(store, store).await;
}

/// [`ranged_get`] with the blobs written through `writer` and read through `reader`.
pub async fn ranged_get_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "range").await;
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    writer.put_blob(&c, "r.mp4", Bytes::from(data.clone()), &PutOptions::default()).await.unwrap();
    let got = reader.get_blob(&c, "r.mp4", Some(100..1100)).await.unwrap();
    assert_eq!(got.range, 100..1100);
    assert_eq!(got.meta.size, 10_000, "get_blob with a range: meta.size must be the whole blob's size");
    let chunks: Vec<Bytes> = futures::TryStreamExt::try_collect(got.stream).await.unwrap();
    assert_eq!(chunks.concat(), &data[100..1100], "get_blob: ranged bytes differ");
    let tail = reader.get_blob(&c, "r.mp4", Some(9_990..20_000)).await.unwrap();
    assert_eq!(tail.range, 9_990..10_000, "get_blob: a range past the end is clipped");
    writer.delete_container(&c).await.unwrap();
}

/// A store may keep what it read by range (a local directory keeps the file
/// mapped): a replaced blob, new metadata or a deleted blob show in the next
/// ranged read, and bytes already handed out stay the old ones.
pub async fn ranged_get_after_a_change(store: &dyn BlobStore) {
    async fn read(store: &dyn BlobStore, c: &str, range: std::ops::Range<u64>) -> (BlobMeta, Vec<u8>) {
        let got = store.get_blob(c, "v.mp4", Some(range)).await.unwrap();
        let chunks: Vec<Bytes> = futures::TryStreamExt::try_collect(got.stream).await.unwrap();
        (got.meta, chunks.concat())
    }
    let c = fresh(store, "range-change").await;
    let first: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let etag1 = store.put_blob(&c, "v.mp4", Bytes::from(first.clone()), &PutOptions::default()).await.unwrap();
    let held = store.get_blob(&c, "v.mp4", Some(0..4_000)).await.unwrap();
    let (meta, bytes) = read(store, &c, 10..20).await;
    assert_eq!((meta.etag.as_str(), bytes.as_slice()), (etag1.as_str(), &first[10..20]));

    let second: Vec<u8> = (0..=255u8).rev().cycle().take(5_000).collect();
    let etag2 = store.put_blob(&c, "v.mp4", Bytes::from(second.clone()), &PutOptions::default()).await.unwrap();
    let (meta, bytes) = read(store, &c, 10..20).await;
    assert_eq!(meta.size, 5_000, "a ranged read after the blob was replaced gave the old size");
    assert_eq!((meta.etag.as_str(), bytes.as_slice()), (etag2.as_str(), &second[10..20]), "old bytes after a replace");
    let held: Vec<Bytes> = futures::TryStreamExt::try_collect(held.stream).await.unwrap();
    assert_eq!(held.concat(), &first[..4_000], "bytes read before the replace changed under their reader");

    let mut md = BTreeMap::new();
    md.insert("k".into(), "v".into());
    let etag3 = store.set_metadata(&c, "v.mp4", &md, &Condition::None).await.unwrap();
    let (meta, _) = read(store, &c, 0..1).await;
    assert_eq!((meta.etag, meta.metadata), (etag3, md), "a ranged read after set_metadata gave the old metadata");

    assert!(store.delete_blob(&c, "v.mp4", &Condition::None).await.unwrap());
    let e = store.get_blob(&c, "v.mp4", Some(0..1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "a ranged read of a deleted blob: {e}");
    store.delete_container(&c).await.unwrap();
}

/// An empty blob can be written, headed and read back as zero bytes.
pub async fn zero_length_blob(store: &dyn BlobStore) {
    zero_length_blob_read_through(store, store).await;
}

/// [`zero_length_blob`] with the blobs written through `writer` and read through `reader`.
pub async fn zero_length_blob_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "empty").await;
    writer.put_blob(&c, "empty.txt", Bytes::new(), &PutOptions::default()).await.unwrap();
    let head = reader.head_blob(&c, "empty.txt").await.unwrap();
    assert_eq!(head.size, 0);
    let (_, got) = reader.get_bytes(&c, "empty.txt").await.unwrap();
    assert!(got.is_empty(), "zero-length blob returned bytes");
    writer.delete_container(&c).await.unwrap();
}

/// Blob names with spaces, unicode and reserved characters round-trip and list as written.
pub async fn names_with_spaces_and_unicode(store: &dyn BlobStore) {
    names_with_spaces_and_unicode_read_through(store, store).await;
}

/// [`names_with_spaces_and_unicode`] with the blobs written through `writer` and read through `reader`.
pub async fn names_with_spaces_and_unicode_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "names").await;
    let names = ["Big Buck Bunny.ism", "dir/sub dir/a+b=c&d.mp4", "Ünïcødé 映画.mp4", "100%.txt"];
    for n in names {
        writer.put_blob(&c, n, Bytes::from(n.as_bytes().to_vec()), &PutOptions::default()).await.unwrap();
    }
    for n in names {
        let (_, got) = reader.get_bytes(&c, n).await.unwrap_or_else(|e| panic!("get '{n}': {e}"));
        assert_eq!(got, n.as_bytes(), "blob '{n}' content");
    }
    let mut listed: Vec<String> = reader.list_all(&c, "").await.unwrap().into_iter().map(|b| b.name).collect();
    listed.sort();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "list_blobs: names must come back exactly as written");
    writer.delete_container(&c).await.unwrap();
}

/// Names a path-based store could fold together or into its own bookkeeping:
/// each is a blob of its own, listed as written, with its own properties.
pub async fn names_that_paths_would_merge(store: &dyn BlobStore) {
    names_that_paths_would_merge_read_through(store, store).await;
}

/// [`names_that_paths_would_merge`] with the blobs written through `writer` and read through `reader`.
pub async fn names_that_paths_would_merge_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "paths").await;
    let names = [
        "a",
        "a/",
        "a//b",
        "a/b",
        "/a",
        "//",
        " a ",
        "%",
        "%25",
        "take#2",
        ".mirrorcast/meta/a.json",
        ".mirrorcast/container",
        ".hidden",
    ];
    for (i, n) in names.iter().enumerate() {
        let mut options = PutOptions::default();
        options.properties.content_type = Some(format!("test/{i}"));
        // The forged sidecar says "a" is 999 bytes of video/forged.
        let body = if n.ends_with(".json") {
            Bytes::from_static(br#"{"etag":"\"x\"","size":999,"last_modified":"2020-01-01T00:00:00Z","properties":{"content_type":"video/forged"},"metadata":{}}"#)
        } else {
            Bytes::from(format!("blob {i}"))
        };
        writer.put_blob(&c, n, body, &options).await.unwrap_or_else(|e| panic!("put {n:?}: {e}"));
    }
    let listed: Vec<String> = reader.list_all(&c, "").await.unwrap().into_iter().map(|b| b.name).collect();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "list_blobs: every name once, exactly as written");
    for (i, n) in names.iter().enumerate() {
        let (meta, got) = reader.get_bytes(&c, n).await.unwrap_or_else(|e| panic!("get {n:?}: {e}"));
        assert_eq!(meta.properties.content_type, Some(format!("test/{i}")), "{n:?}: properties of another blob");
        if !n.ends_with(".json") {
            assert_eq!(got, format!("blob {i}").as_bytes(), "{n:?}: bytes of another blob");
        }
    }
    assert!(
        reader.list_containers(&c).await.unwrap().contains(&c),
        "a blob named like a marker must not undo its container"
    );
    writer.delete_container(&c).await.unwrap();
}

/// Listing by prefix returns only matching names, in order, and pages follow their markers to the end.
pub async fn list_with_prefix_and_pagination(store: &dyn BlobStore) {
    list_with_prefix_and_pagination_read_through(store, store).await;
}

/// [`list_with_prefix_and_pagination`] with the blobs written through `writer` and read through `reader`.
pub async fn list_with_prefix_and_pagination_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "list").await;
    for i in 0..7 {
        writer
            .put_blob(&c, &format!("seg/{i:03}.m4s"), Bytes::from(vec![i as u8; i + 1]), &PutOptions::default())
            .await
            .unwrap();
    }
    writer.put_blob(&c, "other.txt", Bytes::from_static(b"x"), &PutOptions::default()).await.unwrap();

    let mut options = ListOptions { prefix: Some("seg/".into()), max_results: Some(3), ..Default::default() };
    let mut pages = 0;
    let mut names = Vec::new();
    loop {
        let page = reader.list_blobs(&c, &options).await.unwrap();
        assert!(page.blobs.len() <= 3, "list_blobs: page larger than max_results");
        pages += 1;
        names.extend(page.blobs.into_iter().map(|b| (b.name, b.size)));
        match page.next_marker {
            Some(m) if !m.is_empty() => options.marker = Some(m),
            _ => break,
        }
    }
    assert_eq!(pages, 3, "list_blobs: 7 blobs by 3 must take 3 pages");
    let expected: Vec<(String, u64)> = (0..7).map(|i| (format!("seg/{i:03}.m4s"), i as u64 + 1)).collect();
    assert_eq!(names, expected, "list_blobs: prefix listing in name order with sizes");
    assert_eq!(reader.list_all(&c, "").await.unwrap().len(), 8);
    writer.delete_container(&c).await.unwrap();
}

/// Staged blocks stay invisible until committed, and commit in the order listed with the given properties.
pub async fn staged_blocks_commit_in_order(store: &dyn BlobStore) {
    let c = fresh(store, "blocks").await;
    store.put_block(&c, "big.mp4", "block-b", Bytes::from_static(b"world")).await.unwrap();
    store.put_block(&c, "big.mp4", "block-a", Bytes::from_static(b"hello ")).await.unwrap();
    assert!(store.head_opt(&c, "big.mp4").await.unwrap().is_none(), "staged blocks must not be visible before commit");
    let mut options = PutOptions::default();
    options.properties.content_type = Some("video/mp4".into());
    options.properties.content_md5 = Some(b64_md5(b"hello world"));
    options.metadata.insert("k".into(), "v".into());
    store.put_block_list(&c, "big.mp4", &["block-a".into(), "block-b".into()], &options).await.unwrap();
    let (meta, got) = store.get_bytes(&c, "big.mp4").await.unwrap();
    assert_eq!(got, Bytes::from_static(b"hello world"), "put_block_list: blocks committed out of order");
    assert_eq!(meta.properties.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.properties.content_md5, Some(b64_md5(b"hello world")), "put_block_list: Content-MD5 not kept");
    assert_eq!(meta.metadata.get("k").map(String::as_str), Some("v"));
    store.delete_container(&c).await.unwrap();
}

/// `IfNotExists` and `IfMatch` refuse with `PreconditionFailed` and change nothing (skipped without [`crate::Capability::conditional_writes`]).
pub async fn conditional_writes(store: &dyn BlobStore) {
    if !store.capability().conditional_writes {
        return;
    }
    let c = fresh(store, "cond").await;
    let create = PutOptions { condition: Condition::IfNotExists, ..Default::default() };
    let etag = store.put_blob(&c, "r.json", Bytes::from_static(b"{}"), &create).await.unwrap();
    let again = store.put_blob(&c, "r.json", Bytes::from_static(b"{}"), &create).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::PreconditionFailed, "IfNotExists on an existing blob: {again}");

    let update = PutOptions { condition: Condition::IfMatch(etag.clone()), ..Default::default() };
    let etag2 = store.put_blob(&c, "r.json", Bytes::from_static(b"{\"v\":2}"), &update).await.unwrap();
    assert_ne!(etag, etag2, "a write must change the ETag");
    let stale = store.put_blob(&c, "r.json", Bytes::from_static(b"{\"v\":3}"), &update).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed, "IfMatch with a stale ETag: {stale}");
    let (_, got) = store.get_bytes(&c, "r.json").await.unwrap();
    assert_eq!(got, Bytes::from_static(b"{\"v\":2}"), "a failed conditional write must not change the blob");

    let stale_delete = store.delete_blob(&c, "r.json", &Condition::IfMatch(etag)).await.unwrap_err();
    assert_eq!(stale_delete.kind(), ErrorKind::PreconditionFailed, "delete with a stale ETag: {stale_delete}");
    assert!(store.delete_blob(&c, "r.json", &Condition::IfMatch(etag2)).await.unwrap());
    store.delete_container(&c).await.unwrap();
}

/// `set_metadata` replaces the whole metadata, changes the ETag, and refuses a stale `IfMatch`.
pub async fn metadata_replace(store: &dyn BlobStore) {
    let c = fresh(store, "meta").await;
    let mut options = PutOptions::default();
    options.metadata.insert("a".into(), "1".into());
    let etag = store.put_blob(&c, "m.bin", Bytes::from_static(b"data"), &options).await.unwrap();
    let mut md = BTreeMap::new();
    md.insert("b".into(), "2".into());
    let etag2 = store.set_metadata(&c, "m.bin", &md, &Condition::IfMatch(etag.clone())).await.unwrap();
    assert_ne!(etag, etag2);
    let head = store.head_blob(&c, "m.bin").await.unwrap();
    assert_eq!(head.metadata, md, "set_metadata must replace the metadata");
    let stale = store.set_metadata(&c, "m.bin", &md, &Condition::IfMatch(etag)).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed);
    store.delete_container(&c).await.unwrap();
}

/// Deleting a blob says `true`, deleting it again says `false`, and it is gone.
pub async fn delete_blob(store: &dyn BlobStore) {
    let c = fresh(store, "delete").await;
    store.put_blob(&c, "d.txt", Bytes::from_static(b"x"), &PutOptions::default()).await.unwrap();
    assert!(store.delete_blob(&c, "d.txt", &Condition::None).await.unwrap());
    assert!(!store.delete_blob(&c, "d.txt", &Condition::None).await.unwrap(), "deleting a missing blob returns false");
    assert!(store.head_opt(&c, "d.txt").await.unwrap().is_none());
    store.delete_container(&c).await.unwrap();
}

/// Missing blobs and containers give `NotFound` on read, and `false` on delete.
pub async fn missing_things_are_not_found(store: &dyn BlobStore) {
    missing_things_are_not_found_read_through(store, store).await;
}

/// [`missing_things_are_not_found`] with the blobs written through `writer` and read through `reader`.
pub async fn missing_things_are_not_found_read_through(writer: &dyn BlobStore, reader: &dyn BlobStore) {
    let c = fresh(writer, "missing").await;
    let e = reader.head_blob(&c, "nope").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "head of a missing blob: {e}");
    let e = reader.get_blob(&c, "nope", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "get of a missing blob: {e}");
    let gone = container_name("gone");
    let e = reader.list_blobs(&gone, &ListOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "listing a missing container: {e}");
    assert!(!writer.delete_container(&gone).await.unwrap(), "deleting a missing container returns false");
    writer.delete_container(&c).await.unwrap();
}

/// [`crate::upload_reader`] cuts a stream into blocks that commit to the same bytes and Content-MD5.
pub async fn streamed_upload_in_blocks(store: &dyn BlobStore) {
    let c = fresh(store, "upload").await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let options = UploadOptions { block_size: 64 * 1024, concurrency: 3, ..Default::default() };
    let up = upload_reader(store, &c, "up.mp4", std::io::Cursor::new(data.clone()), &options).await.unwrap();
    assert_eq!(up.bytes, 300_000);
    assert_eq!(up.content_md5, b64_md5(&data));
    let (meta, got) = store.get_bytes(&c, "up.mp4").await.unwrap();
    assert_eq!(got.as_ref(), data.as_slice(), "upload_reader: bytes differ");
    assert_eq!(meta.properties.content_md5, Some(b64_md5(&data)), "upload_reader: Content-MD5 not stored");
    store.delete_container(&c).await.unwrap();
}

/// Stored access policies: read-modify-write keeps the others, a stale
/// version is refused, more than five are refused. Skipped where unsupported.
pub async fn stored_access_policies(store: &dyn BlobStore) {
    if !store.capability().stored_access_policies {
        return;
    }
    let c = fresh(store, "policies").await;
    let empty = store.get_container_policies(&c).await.expect("get_container_policies");
    assert!(empty.policies.is_empty(), "a new container has no stored policies: {:?}", empty.policies);
    let at = |mins: i64| {
        let t = chrono::Utc::now() + chrono::Duration::minutes(mins);
        chrono::DateTime::from_timestamp(t.timestamp(), 0)
    };
    let policy =
        |id: &str, p: Permissions| StoredPolicy { id: id.into(), start: at(-5), expiry: at(15), permissions: p };
    let theirs = policy("someone-else", Permissions::READ);
    store.set_container_policies(&c, std::slice::from_ref(&theirs), Some(&empty.version)).await.expect("set policies");
    let read = store.get_container_policies(&c).await.unwrap();
    assert_eq!(read.policies, vec![theirs.clone()], "set_container_policies: not read back as written");
    // Read, modify, write: the existing identifier stays.
    let mut both = read.policies.clone();
    both.push(policy("mirrorcast-x", Permissions::READ | Permissions::LIST));
    // Versions may have one-second resolution (Azure's Last-Modified): let a second pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    store.set_container_policies(&c, &both, Some(&read.version)).await.expect("read-modify-write");
    let after = store.get_container_policies(&c).await.unwrap();
    assert_eq!(after.policies, both, "read-modify-write must keep the existing identifier");
    let stale = store.set_container_policies(&c, &[], Some(&read.version)).await;
    assert_eq!(
        stale.map_err(|e| e.kind()).unwrap_err(),
        ErrorKind::PreconditionFailed,
        "a write at a stale version must be refused"
    );
    assert_eq!(store.get_container_policies(&c).await.unwrap().policies, both, "a refused write changes nothing");
    let six: Vec<StoredPolicy> =
        (0..=MAX_STORED_POLICIES).map(|i| policy(&format!("p{i}"), Permissions::READ)).collect();
    assert!(
        store.set_container_policies(&c, &six, None).await.is_err(),
        "more than five stored policies must be refused"
    );
    store.set_container_policies(&c, &[], None).await.expect("removing every policy");
    assert!(store.get_container_policies(&c).await.unwrap().policies.is_empty());
    store.delete_container(&c).await.unwrap();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{InMemoryStore, Limits, Throttled};

    #[tokio::test]
    async fn in_memory_store_passes_the_conformance_suite() {
        super::run_all(&InMemoryStore::new()).await;
    }

    /// With caps that are on (so every request and every chunk goes through
    /// the buckets) but never reached.
    #[tokio::test]
    async fn throttled_store_passes_the_conformance_suite() {
        let limits = Arc::new(Limits::new(Some(100_000.0), Some(1 << 40)));
        super::run_all(&Throttled::new(Arc::new(InMemoryStore::new()), limits.clone())).await;
        assert!(limits.requests().unwrap().granted() > 100, "the suite's requests did not go through the caps");
        assert!(limits.bytes().unwrap().granted() > 300_000, "the suite's bytes did not go through the caps");
    }
}
