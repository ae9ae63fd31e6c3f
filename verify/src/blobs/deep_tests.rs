//! `deep` on blobs larger than a range: a difference anywhere is found, a bad
//! read is an error and never a pass, and the bytes read ahead stay within the budget.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_core::store::{
    Access, AdaptiveLimit, BlobMeta, BlobStore, BlobStoreExt, Capability, Condition, ContainerPolicies, CopySource,
    Error, ErrorKind, GetResult, InMemoryStore, ListOptions, ListPage, Permissions, PutOptions, Result, SignedUrl,
    StoreIdentity, StoredPolicy,
};

use super::{deep, DeepReads};
use crate::report::{Entry, Marker, Side};

const MIB: usize = 1 << 20;
/// Larger than three 1 MiB ranges: a first, two middle and a short last one.
const LARGE: usize = 3 * MIB + MIB / 2;

/// How a GET of one range of one blob goes wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The body ends after half the range, without an error.
    ShortBody,
    /// Half the range, then the connection fails.
    ErrorMidway,
    /// The body goes on past the range.
    LongBody,
}

/// An in-memory store whose GETs take a moment (so reads overlap), count the
/// bytes asked for and not yet read to the end or dropped, and can fail one range.
#[derive(Debug, Default)]
struct Probe {
    inner: InMemoryStore,
    /// (blob, range start, fault).
    fault: Mutex<Option<(String, u64, Fault)>>,
    outstanding: Arc<AtomicU64>,
    most_outstanding: Arc<AtomicU64>,
    ranged_gets: AtomicUsize,
}

/// Subtracts a GET's bytes from the outstanding count when its body is dropped.
struct Outstanding(Arc<AtomicU64>, u64);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

impl Probe {
    async fn put(&self, container: &str, name: &str, data: Vec<u8>) {
        let _ = self.inner.create_container(container).await;
        self.inner.put_blob(container, name, Bytes::from(data), &PutOptions::default()).await.unwrap();
    }

    /// `data` committed from one block under a stored Content-MD5 of `md5_of`'s
    /// bytes (the service does not check a block list's).
    async fn put_with_md5_of(&self, container: &str, name: &str, data: Vec<u8>, md5_of: &[u8]) {
        use base64::Engine as _;
        use md5::Digest as _;
        let _ = self.inner.create_container(container).await;
        self.inner.put_block(container, name, "b0", Bytes::from(data)).await.unwrap();
        let mut put = PutOptions::default();
        put.properties.content_md5 = Some(base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(md5_of)));
        self.inner.put_block_list(container, name, &["b0".into()], &put).await.unwrap();
    }

    async fn listing(&self, container: &str) -> Vec<BlobMeta> {
        self.inner.list_all(container, "").await.unwrap()
    }
}

/// Deterministic bytes that differ from offset to offset.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn reads() -> DeepReads {
    DeepReads::new(MIB as u64, 4 * MIB as u64)
}

/// One GET per blob and side (the default), compared in 1 MiB blocks.
fn one_get() -> DeepReads {
    DeepReads::new(0, 4 * MIB as u64)
}

async fn deep_of(a: &Probe, b: &Probe, reads: &DeepReads) -> Vec<Entry> {
    let (la, lb) = (a.listing("c").await, b.listing("c").await);
    deep(a, b, "c", (&la, &lb), 8, reads).await
}

#[tokio::test]
async fn one_byte_differing_in_a_middle_or_the_last_range_is_a_difference() {
    let (a, b) = (Probe::default(), Probe::default());
    let mut middle = content(LARGE);
    middle[MIB + MIB / 2] ^= 1;
    let mut last = content(LARGE);
    last[LARGE - 1] ^= 0x80;
    for (name, in_b) in [("same.mp4", content(LARGE)), ("middle.mp4", middle), ("last.mp4", last)] {
        a.put("c", name, content(LARGE)).await;
        b.put("c", name, in_b).await;
    }
    for (how, reads) in [("ranges", reads()), ("one GET", one_get())] {
        let ranged_before = a.ranged_gets.load(Ordering::SeqCst);
        let entries = deep_of(&a, &b, &reads).await;
        let of = |n: &str| entries.iter().filter(|e| e.path == n).map(|e| (e.marker, e.side)).collect::<Vec<_>>();
        assert_eq!(of("middle.mp4"), [(Marker::Differs, Side::B)], "{how}: {entries:#?}");
        assert_eq!(of("last.mp4"), [(Marker::Differs, Side::B)], "{how}: {entries:#?}");
        assert_eq!(of("same.mp4"), [], "{how}: equal bytes compared in blocks are equal: {entries:#?}");
        let detail = |n: &str| entries.iter().find(|e| e.path == n).map(|e| e.detail.clone()).unwrap_or_default();
        assert!(detail("middle.mp4").ends_with(&format!("first at byte {}", MIB + MIB / 2)), "{how}: {entries:#?}");
        assert!(detail("last.mp4").ends_with(&format!("first at byte {}", LARGE - 1)), "{how}: {entries:#?}");
        let ranged = a.ranged_gets.load(Ordering::SeqCst) - ranged_before;
        if how == "ranges" {
            assert!(ranged >= 3 * 4, "each large blob is read in its 4 ranges");
        } else {
            assert_eq!(ranged, 0, "one GET per blob reads no range");
        }
    }
}

/// While A's and B's bytes are equal one MD5 serves both sides' stored
/// Content-MD5; from the first differing byte each side has its own. Each
/// stored MD5 is checked against its own side's bytes, whichever way they are read.
#[tokio::test]
async fn each_sides_stored_md5_is_checked_against_its_own_bytes() {
    let (a, b) = (Probe::default(), Probe::default());
    let good = content(LARGE);
    let mut changed = content(LARGE);
    changed[2 * MIB + 7] ^= 1;
    // Equal bytes, B's stored MD5 is not theirs.
    a.put_with_md5_of("c", "stale_b.mp4", good.clone(), &good).await;
    b.put_with_md5_of("c", "stale_b.mp4", good.clone(), &changed).await;
    // Different bytes, each side's stored MD5 its own bytes': only the bytes differ.
    a.put_with_md5_of("c", "apart.mp4", good.clone(), &good).await;
    b.put_with_md5_of("c", "apart.mp4", changed.clone(), &changed).await;
    // Different bytes, A's stored MD5 is B's bytes' and B's is A's.
    a.put_with_md5_of("c", "crossed.mp4", good.clone(), &changed).await;
    b.put_with_md5_of("c", "crossed.mp4", changed.clone(), &good).await;
    // A small blob (one block): equal bytes, A's stored MD5 wrong.
    a.put_with_md5_of("c", "small.ism", good[..1000].to_vec(), &good[..999]).await;
    b.put_with_md5_of("c", "small.ism", good[..1000].to_vec(), &good[..1000]).await;
    // An empty blob: nothing to read, A's stored MD5 still checked.
    a.put_with_md5_of("c", "empty.vtt", Vec::new(), b"x").await;
    b.put_with_md5_of("c", "empty.vtt", Vec::new(), b"").await;
    let stored = "stored Content-MD5 does not match the bytes";
    for (how, reads) in [("ranges", reads()), ("one GET", one_get())] {
        let entries = deep_of(&a, &b, &reads).await;
        let of = |n: &str| {
            entries.iter().filter(|e| e.path == n).map(|e| (e.marker, e.side, e.detail.clone())).collect::<Vec<_>>()
        };
        assert_eq!(of("stale_b.mp4"), [(Marker::Differs, Side::B, stored.to_owned())], "{how}: {entries:#?}");
        let differ = format!("bytes differ, first at byte {}", 2 * MIB + 7);
        assert_eq!(of("apart.mp4"), [(Marker::Differs, Side::B, differ.clone())], "{how}: {entries:#?}");
        assert_eq!(
            of("crossed.mp4"),
            [
                (Marker::Differs, Side::A, stored.to_owned()),
                (Marker::Differs, Side::B, stored.to_owned()),
                (Marker::Differs, Side::B, differ)
            ],
            "{how}: {entries:#?}"
        );
        assert_eq!(of("small.ism"), [(Marker::Differs, Side::A, stored.to_owned())], "{how}: {entries:#?}");
        assert_eq!(of("empty.vtt"), [(Marker::Differs, Side::A, stored.to_owned())], "{how}: {entries:#?}");
    }
}

#[tokio::test]
async fn a_short_or_failed_range_is_an_error_never_a_pass_or_a_difference() {
    for (fault, at) in [(Fault::ShortBody, MIB as u64), (Fault::ErrorMidway, 2 * MIB as u64), (Fault::ShortBody, 0)] {
        let (a, b) = (Probe::default(), Probe::default());
        a.put("c", "v.mp4", content(LARGE)).await;
        b.put("c", "v.mp4", content(LARGE)).await;
        *b.fault.lock().unwrap() = Some(("v.mp4".into(), at, fault));
        let entries = deep_of(&a, &b, &reads()).await;
        assert!(
            entries.len() == 1 && entries[0].marker == Marker::Error && entries[0].path == "v.mp4",
            "{fault:?} at {at}: {entries:#?}"
        );
    }
}

#[tokio::test]
async fn a_short_whole_blob_read_is_an_error_too() {
    let (a, b) = (Probe::default(), Probe::default());
    a.put("c", "small.mp4", content(1000)).await;
    b.put("c", "small.mp4", content(1000)).await;
    *a.fault.lock().unwrap() = Some(("small.mp4".into(), 0, Fault::ShortBody));
    let entries = deep_of(&a, &b, &reads()).await;
    assert!(entries.len() == 1 && entries[0].marker == Marker::Error, "{entries:#?}");
}

/// One GET per side of a blob over several blocks: a body that ends early, fails
/// midway or goes on too long (on either side) is an error, never a pass or a difference.
#[tokio::test]
async fn a_one_get_body_short_failed_or_long_is_an_error() {
    for fault in [Fault::ShortBody, Fault::ErrorMidway, Fault::LongBody] {
        for faulty_side in ["a", "b"] {
            let (a, b) = (Probe::default(), Probe::default());
            a.put("c", "v.mp4", content(LARGE)).await;
            b.put("c", "v.mp4", content(LARGE)).await;
            let faulty = if faulty_side == "a" { &a } else { &b };
            *faulty.fault.lock().unwrap() = Some(("v.mp4".into(), 0, fault));
            let entries = deep_of(&a, &b, &one_get()).await;
            assert!(
                entries.len() == 1 && entries[0].marker == Marker::Error && entries[0].path == "v.mp4",
                "{fault:?} in {faulty_side}: {entries:#?}"
            );
        }
    }
}

/// A blob replaced between the listing and the read (a new ETag) is an error,
/// on either side and either way of reading.
#[tokio::test]
async fn a_blob_replaced_since_the_listing_is_an_error() {
    for (how, reads) in [("ranges", reads()), ("one GET", one_get())] {
        for replaced in ["a", "b"] {
            let (a, b) = (Probe::default(), Probe::default());
            a.put("c", "v.mp4", content(LARGE)).await;
            b.put("c", "v.mp4", content(LARGE)).await;
            let (la, lb) = (a.listing("c").await, b.listing("c").await);
            let side = if replaced == "a" { &a } else { &b };
            side.put("c", "v.mp4", content(LARGE)).await;
            let entries = deep(&a, &b, "c", (&la, &lb), 8, &reads).await;
            assert!(
                entries.len() == 1 && entries[0].marker == Marker::Error && entries[0].detail.contains("changed"),
                "{how}, {replaced} replaced: {entries:#?}"
            );
        }
    }
}

#[tokio::test]
async fn bytes_asked_for_stay_within_the_budget_however_many_large_blobs() {
    // Both sides in one store, so one counter sees every read of the run.
    let store = Probe::default();
    for i in 0..6 {
        store.put("c", &format!("v{i}.mp4"), content(LARGE)).await;
    }
    let listing = store.listing("c").await;
    let reads = reads();
    let entries = deep(&store, &store, "c", (&listing, &listing), 8, &reads).await;
    assert!(entries.is_empty(), "{entries:#?}");
    let most = store.most_outstanding.load(Ordering::SeqCst);
    assert!(most <= 4 * MIB as u64, "{most} bytes asked for at once, over the 4 MiB budget");
    assert!(most > MIB as u64, "ranges are read ahead in parallel, not one at a time ({most})");
    assert_eq!(store.outstanding.load(Ordering::SeqCst), 0);
}

#[async_trait]
impl BlobStore for Probe {
    async fn get_blob(&self, c: &str, n: &str, r: Option<Range<u64>>) -> Result<GetResult> {
        let got = self.inner.get_blob(c, n, r.clone()).await?;
        let len = got.range.end - got.range.start;
        if r.is_some() {
            self.ranged_gets.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.outstanding.fetch_add(len, Ordering::SeqCst) + len;
        self.most_outstanding.fetch_max(now, Ordering::SeqCst);
        let guard = Outstanding(self.outstanding.clone(), len);
        // The answer takes a moment, as over a network: reads in flight overlap.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let fault = self.fault.lock().unwrap().clone().filter(|(name, at, _)| name == n && *at == got.range.start);
        let body: Vec<Bytes> = got.stream.try_collect().await?;
        let body: Bytes = body.concat().into();
        let half = body.slice(..body.len() / 2);
        let chunks: Vec<Result<Bytes>> = match fault {
            None => vec![Ok(body)],
            Some((_, _, Fault::ShortBody)) => vec![Ok(half)],
            Some((_, _, Fault::ErrorMidway)) => {
                vec![Ok(half), Err(Error::new(ErrorKind::Transient, "connection reset by peer"))]
            }
            Some((_, _, Fault::LongBody)) => vec![Ok(body), Ok(Bytes::from_static(b"more"))],
        };
        let stream = stream::iter(chunks).map(move |c| {
            let _held = &guard;
            c
        });
        Ok(GetResult { stream: stream.boxed(), ..got })
    }
    fn describe(&self) -> String {
        "probe".into()
    }
    fn capability(&self) -> Capability {
        self.inner.capability()
    }
    fn request_retries(&self) -> u64 {
        self.inner.request_retries()
    }
    fn requests_sent(&self) -> u64 {
        self.inner.requests_sent()
    }
    fn requests_by_operation(&self) -> BTreeMap<String, u64> {
        self.inner.requests_by_operation()
    }
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint()
    }
    fn identity(&self) -> Option<StoreIdentity> {
        self.inner.identity()
    }
    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        self.inner.adaptive_limit()
    }
    fn access(&self) -> Access {
        self.inner.access()
    }
    async fn create_container(&self, c: &str) -> Result<bool> {
        self.inner.create_container(c).await
    }
    async fn delete_container(&self, c: &str) -> Result<bool> {
        self.inner.delete_container(c).await
    }
    async fn list_containers(&self, p: &str) -> Result<Vec<String>> {
        self.inner.list_containers(p).await
    }
    async fn list_blobs(&self, c: &str, o: &ListOptions) -> Result<ListPage> {
        self.inner.list_blobs(c, o).await
    }
    async fn head_blob(&self, c: &str, n: &str) -> Result<BlobMeta> {
        self.inner.head_blob(c, n).await
    }
    async fn put_blob(&self, c: &str, n: &str, d: Bytes, o: &PutOptions) -> Result<String> {
        self.inner.put_blob(c, n, d, o).await
    }
    async fn put_block(&self, c: &str, n: &str, id: &str, d: Bytes) -> Result<()> {
        self.inner.put_block(c, n, id, d).await
    }
    async fn put_block_list(&self, c: &str, n: &str, ids: &[String], o: &PutOptions) -> Result<String> {
        self.inner.put_block_list(c, n, ids, o).await
    }
    async fn set_metadata(&self, c: &str, n: &str, m: &BTreeMap<String, String>, k: &Condition) -> Result<String> {
        self.inner.set_metadata(c, n, m, k).await
    }
    async fn delete_blob(&self, c: &str, n: &str, k: &Condition) -> Result<bool> {
        self.inner.delete_blob(c, n, k).await
    }
    async fn signed_url(
        &self,
        c: &str,
        b: Option<&str>,
        p: Permissions,
        e: chrono::DateTime<chrono::Utc>,
    ) -> Result<SignedUrl> {
        self.inner.signed_url(c, b, p, e).await
    }
    async fn scoped(&self, c: &str, p: Permissions, e: chrono::DateTime<chrono::Utc>) -> Result<Arc<dyn BlobStore>> {
        self.inner.scoped(c, p, e).await
    }
    async fn copy_from_url(&self, c: &str, n: &str, s: &CopySource, o: &PutOptions) -> Result<String> {
        self.inner.copy_from_url(c, n, s, o).await
    }
    async fn put_block_from_url(&self, c: &str, n: &str, id: &str, s: &CopySource, r: Range<u64>) -> Result<()> {
        self.inner.put_block_from_url(c, n, id, s, r).await
    }
    async fn get_container_policies(&self, c: &str) -> Result<ContainerPolicies> {
        self.inner.get_container_policies(c).await
    }
    async fn set_container_policies(&self, c: &str, p: &[StoredPolicy], v: Option<&str>) -> Result<String> {
        self.inner.set_container_policies(c, p, v).await
    }
    async fn signed_url_for_policy(&self, c: &str, b: Option<&str>, id: &str) -> Result<SignedUrl> {
        self.inner.signed_url_for_policy(c, b, id).await
    }
    async fn scoped_for_policy(&self, c: &str, id: &str) -> Result<Arc<dyn BlobStore>> {
        self.inner.scoped_for_policy(c, id).await
    }
}
