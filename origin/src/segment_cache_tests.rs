//! The hot-segment cache against a store that counts its reads: a warm segment is not
//! read again, concurrent misses are one read, a replaced blob is read again and never
//! served stale, and the byte budget holds.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use chrono::Utc;
use http_body_util::BodyExt as _;
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::store::{BlobStore, PutOptions};
use mirrorcast_media::fragment::Index;
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use tower::ServiceExt as _;

use crate::test_store::Counting;
use crate::{router, Origin, OriginConfig};

const CLIP: &str = "clip.mp4";
const VIDEO_BITRATE: u64 = 600_000;
const AUDIO_BITRATE: u64 = 128_000;

/// One asset (`clip.mp4` and `clip.ism`) published by an origin locator in a counting store.
struct Published {
    store: Arc<Counting>,
    catalog: Catalog,
    container: String,
    asset: AssetId,
    /// `/<locator>/`.
    base: String,
}

/// A 5 s ffmpeg clip of `size`, its bytes and index.
fn clip(size: &str) -> (Bytes, Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = crate::test_clip::clip(dir.path(), CLIP, size);
    (Bytes::from(std::fs::read(dir.path().join(CLIP)).unwrap()), index)
}

async fn publish(bytes: Bytes, delay: Duration) -> Published {
    publish_in(Arc::new(Counting::new(delay)), bytes).await
}

async fn publish_in(store: Arc<Counting>, bytes: Bytes) -> Published {
    let catalog = Catalog::new(store.clone());
    let asset = Asset::new("a", AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    let track = |kind, id, bitrate, name: &str| IsmTrack {
        kind,
        src: CLIP.into(),
        system_bitrate: bitrate,
        track_id: id,
        track_name: Some(name.into()),
        language: None,
    };
    let ism = ServerManifest {
        title: None,
        client_manifest: None,
        tracks: vec![
            track(TrackKind::Video, 1, VIDEO_BITRATE, "video"),
            track(TrackKind::Audio, 2, AUDIO_BITRATE, "audio"),
        ],
    };
    let put = PutOptions::default();
    store.put_blob(&asset.container, "clip.ism", Bytes::from(ism.to_xml()), &put).await.unwrap();
    store.put_blob(&asset.container, CLIP, bytes, &put).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    let start = Utc::now() - chrono::Duration::minutes(1);
    let expiry = Utc::now() + chrono::Duration::hours(1);
    let locator = catalog.create_origin_locator(&asset.id, LocatorId::new(), start, expiry, "").await.unwrap();
    Published { store, catalog, container: asset.container, asset: asset.id, base: format!("/{}/", locator.id.guid()) }
}

impl Published {
    fn origin(&self, cache_bytes: u64, revalidate: Duration) -> (axum::Router, Arc<Origin>) {
        let config =
            OriginConfig { segment_cache_bytes: cache_bytes, segment_revalidate: revalidate, ..Default::default() };
        let origin = Origin::new(self.store.clone(), config);
        (router(origin.clone()), origin)
    }

    /// Every CMAF segment of the clip's video and audio tracks (`index`).
    fn segments(&self, index: &Index) -> Vec<String> {
        let mut out = Vec::new();
        for (handler, stream, bitrate) in [("vide", "video", VIDEO_BITRATE), ("soun", "audio", AUDIO_BITRATE)] {
            for f in &index.by_handler(handler).unwrap().fragments {
                let at = format!("{}clip.ism/QualityLevels({bitrate})/Fragments({stream}={}", self.base, f.start);
                out.push(format!("{at},format=m3u8-cmaf)"));
            }
        }
        out
    }

    /// [`Self::segments`], and the first video fragment as Smooth and as MPEG-TS.
    fn all_formats(&self, index: &Index) -> Vec<String> {
        let first = index.by_handler("vide").unwrap().fragments[0].start;
        let at = format!("{}clip.ism/QualityLevels({VIDEO_BITRATE})/Fragments(video={first}", self.base);
        let mut out = self.segments(index);
        out.extend([format!("{at})"), format!("{at},format=m3u8-aapl)")]);
        out
    }

    async fn replace(&self, bytes: Bytes) {
        self.store.put_blob(&self.container, CLIP, bytes, &PutOptions::default()).await.unwrap();
        self.catalog.regenerate_files(&self.asset).await.unwrap();
    }
}

async fn get(app: &axum::Router, path: &str, range: Option<&str>) -> (StatusCode, Bytes) {
    let mut request = Request::get(path);
    if let Some(r) = range {
        request = request.header("range", r);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.expect("the router answers");
    let status = response.status();
    (status, response.into_body().collect().await.expect("a body").to_bytes())
}

/// What an origin without a cache serves for each path (read from the same store, not counted after).
async fn reference(p: &Published, paths: &[String]) -> Vec<Bytes> {
    let (app, _) = p.origin(0, Duration::ZERO);
    let mut out = Vec::new();
    for path in paths {
        let (status, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        out.push(body);
    }
    p.store.gets.lock().unwrap().clear();
    p.store.heads.lock().unwrap().clear();
    out
}

fn metric(origin: &Origin, name: &str) -> u64 {
    let text = origin.metrics.render();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// 100 viewers start the same asset at once and make 1,000 segment requests between them:
/// each distinct range of the rendition is read from storage once (the first viewers' misses
/// wait for one read), and every response is the segment an uncached origin serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_assets_segments_are_read_once_however_many_viewers_ask_at_once() {
    let (bytes, index) = clip("320x180");
    let p = publish(bytes, Duration::from_millis(30)).await;
    let paths = p.segments(&index);
    let expected = reference(&p, &paths).await;
    let (app, origin) = p.origin(64 * 1024 * 1024, Duration::from_secs(60));

    let viewers: Vec<_> = (0..100)
        .map(|v| {
            let (app, paths, expected) = (app.clone(), paths.clone(), expected.clone());
            tokio::spawn(async move {
                for i in 0..10 {
                    let at = (v + i) % paths.len();
                    let (status, body) = get(&app, &paths[at], None).await;
                    assert_eq!(status, StatusCode::OK, "{}", paths[at]);
                    assert!(body == expected[at], "{}: not the segment an uncached origin serves", paths[at]);
                }
            })
        })
        .collect();
    for v in viewers {
        v.await.expect("a viewer");
    }

    // Each distinct range once: the segments', and the moov's (the index, built once). The
    // captions scan of the video's first samples is the one other read (once per `.ism` build,
    // not through the segment cache): it may be the first segment's range.
    let mut reads = p.store.gets_of(CLIP);
    let video = index.tracks.iter().find(|t| t.info.avc.is_some()).expect("a video track");
    if let Some(scan) = mirrorcast_media::captions::scan_range(video) {
        if let Some((_, n)) = reads.iter_mut().find(|(r, _)| r.as_ref() == Some(&scan)) {
            *n -= 1;
        }
    }
    let twice: Vec<_> = reads.iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "ranges read more than once: {twice:?}");
    assert!(reads.len() <= paths.len() + 3, "{} reads for {} distinct segments", reads.len(), paths.len());
    // The index's own HEAD (its size); no hit asked storage again within the interval.
    assert_eq!(p.store.heads_of(CLIP), 1, "versions confirmed by the reads themselves");
    let hits = metric(&origin, "mirrorcast_origin_segment_cache_hits_total");
    let misses = metric(&origin, "mirrorcast_origin_segment_cache_misses_total");
    assert_eq!((hits + misses, misses), (1000, paths.len() as u64), "one miss per distinct segment");
}

/// A replaced rendition (new ETag) is read again at once when versions are confirmed on every
/// request, and after the interval otherwise: never the old bytes once storage said so.
#[tokio::test]
async fn a_replaced_rendition_is_read_again_and_never_served_stale() {
    let ((old_bytes, old_index), (new_bytes, new_index)) = (clip("320x180"), clip("160x90"));
    let p = publish(old_bytes, Duration::ZERO).await;
    let paths = p.all_formats(&old_index);
    assert_eq!(paths, p.all_formats(&new_index), "the same segment times in both clips");
    let (app, confirming) = p.origin(64 * 1024 * 1024, Duration::ZERO);
    let (slow, _) = p.origin(64 * 1024 * 1024, Duration::from_millis(300));
    let old = reference(&p, &paths).await;
    for path in &paths {
        assert_eq!(get(&app, path, None).await.0, StatusCode::OK);
        assert_eq!(get(&slow, path, None).await.0, StatusCode::OK);
    }
    let warm = p.store.reads_of(CLIP);
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(get(&app, path, None).await.1, old[i], "warm");
    }
    assert_eq!(p.store.reads_of(CLIP), warm, "a warm segment is not read again");
    // Confirmed on every request: each hit waited for its version's HEAD, and /metrics says so.
    let waited = metric(&confirming, r#"mirrorcast_origin_storage_waits_total{on="versions"}"#);
    assert!(waited >= paths.len() as u64, "{waited} waits on versions for {} warm requests", paths.len());

    p.replace(new_bytes).await;
    let new = reference(&p, &paths).await;
    assert_ne!(new[0], old[0]);
    for (i, path) in paths.iter().enumerate() {
        let (status, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body == new[i], "{path}: the replaced rendition's bytes were served");
    }

    // Confirmed every 300 ms: the new bytes once the interval has passed.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for (i, path) in paths.iter().enumerate() {
        let (status, body) = get(&slow, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body == new[i], "{path}: stale past the revalidation interval");
    }
}

/// The cache never holds more than its budget, and a segment larger than the whole budget is
/// served (the right bytes) but not kept: asked again, it is read again.
#[tokio::test]
async fn the_byte_budget_holds_and_a_segment_larger_than_it_is_served_not_kept() {
    let (bytes, index) = clip("320x180");
    let p = publish(bytes, Duration::ZERO).await;
    let paths = p.segments(&index);
    let expected = reference(&p, &paths).await;
    let largest = expected.iter().map(Bytes::len).max().unwrap() as u64;
    let budget = largest + largest / 2;
    let (app, origin) = p.origin(budget, Duration::from_secs(60));
    for round in 0..3 {
        for (i, path) in paths.iter().enumerate() {
            let (status, body) = get(&app, path, None).await;
            assert_eq!((status, body == expected[i]), (StatusCode::OK, true), "{path}, round {round}");
            let held = metric(&origin, "mirrorcast_origin_segment_cache_bytes");
            assert!(held <= budget, "{held} bytes held, over the {budget}-byte budget");
        }
    }
    assert!(metric(&origin, "mirrorcast_origin_segment_cache_evictions_total") > 0, "the budget made room");

    let big = expected.iter().position(|b| b.len() as u64 == largest).unwrap();
    let (tiny, origin) = p.origin(1024, Duration::from_secs(60));
    let before = p.store.reads_of(CLIP);
    for _ in 0..2 {
        let (status, body) = get(&tiny, &paths[big], None).await;
        assert_eq!((status, body == expected[big]), (StatusCode::OK, true));
    }
    assert_eq!(metric(&origin, "mirrorcast_origin_segment_cache_bytes"), 0, "nothing kept");
    assert!(p.store.reads_of(CLIP) - before >= 2, "read on each request, since it cannot be kept");
}

/// Ranged reads of a stored file: concurrent requests of one range are one read, a warm range
/// is not read again, and the file replaced is served new once its version is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ranges_of_a_stored_file_are_read_once_and_a_replaced_file_is_read_again() {
    let (bytes, _) = clip("320x180");
    let (replacement, _) = clip("160x90");
    let p = publish(bytes.clone(), Duration::from_millis(30)).await;
    let (app, _) = p.origin(64 * 1024 * 1024, Duration::ZERO);
    let path = format!("{}{CLIP}", p.base);
    let asks: Vec<_> = (0..50)
        .map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { get(&app, &path, Some("bytes=100-1099")).await })
        })
        .collect();
    for ask in asks {
        let (status, body) = ask.await.unwrap();
        assert_eq!((status, &body[..]), (StatusCode::PARTIAL_CONTENT, &bytes[100..1100]));
    }
    assert_eq!(p.store.gets_of(CLIP), vec![(Some(100..1100), 1)], "50 concurrent requests, one read");
    assert_eq!(get(&app, &path, Some("bytes=100-1099")).await.1, bytes.slice(100..1100));
    assert_eq!(p.store.reads_of(CLIP), 1, "warm: not read again");

    p.replace(replacement.clone()).await;
    let (status, body) = get(&app, &path, Some("bytes=100-1099")).await;
    assert_eq!((status, body), (StatusCode::PARTIAL_CONTENT, replacement.slice(100..1100)), "the new file's bytes");
}

/// A kept segment in steady use (8 concurrent requests every 100 ms) has its version confirmed
/// ahead of the interval in the background: no request waits for a HEAD, one HEAD per refresh
/// at most. Replaced meanwhile, it is served new within the interval, never old again after.
#[tokio::test(start_paused = true)]
async fn a_kept_segment_in_steady_use_is_confirmed_ahead_and_no_request_waits_for_it() {
    let ((old_bytes, index), (new_bytes, _)) = (clip("320x180"), clip("160x90"));
    let store = Counting::new(Duration::from_millis(20)).with_head_delay(Duration::from_millis(50));
    let p = publish_in(Arc::new(store), old_bytes).await;
    let path = p.segments(&index)[0].clone();
    let old = reference(&p, std::slice::from_ref(&path)).await.remove(0);
    let revalidate = crate::segment_cache::REVALIDATE;
    let (app, _) = p.origin(64 * 1024 * 1024, revalidate);
    assert_eq!(get(&app, &path, None).await, (StatusCode::OK, old.clone()), "cold: read and kept");
    let heads = p.store.heads_of(CLIP);

    let step = Duration::from_millis(100);
    let steps = (3 * revalidate.as_millis() / step.as_millis()) as usize;
    for n in 0..steps {
        tokio::time::sleep(step).await;
        for (status, body, took) in concurrently(&app, &path, 8).await {
            assert_eq!((status, body == old), (StatusCode::OK, true), "step {n}");
            assert!(took.is_zero(), "step {n}: a request waited {took:?} for storage");
        }
    }
    let confirmations = p.store.heads_of(CLIP) - heads;
    let at_most = (3 * revalidate.as_millis() / (revalidate * 4 / 5).as_millis()) as u32 + 1;
    assert!((2..=at_most).contains(&confirmations), "{confirmations} HEADs in three intervals of steady use");

    p.replace(new_bytes).await;
    let new = reference(&p, std::slice::from_ref(&path)).await.remove(0);
    assert_ne!(new, old);
    let replaced_at = tokio::time::Instant::now();
    let mut new_since = None;
    for n in 0..steps {
        for (status, body, _) in concurrently(&app, &path, 8).await {
            assert_eq!(status, StatusCode::OK, "step {n}");
            match (new_since, body == new) {
                (None, true) => new_since = Some(tokio::time::Instant::now()),
                (Some(_), false) => panic!("step {n}: the old bytes again after the new ones"),
                (_, fresh) => assert!(fresh || body == old, "step {n}: neither version"),
            }
        }
        tokio::time::sleep(step).await;
    }
    let served_new_after = new_since.expect("the new bytes served") - replaced_at;
    assert!(served_new_after <= revalidate, "the replaced rendition served new {served_new_after:?} after");
}

/// `n` concurrent requests of `path`: each one's status, body and time (on tokio's clock).
async fn concurrently(app: &axum::Router, path: &str, n: usize) -> Vec<(StatusCode, Bytes, Duration)> {
    let asks: Vec<_> = (0..n)
        .map(|_| {
            let (app, path) = (app.clone(), path.to_owned());
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let (status, body) = get(&app, &path, None).await;
                (status, body, start.elapsed())
            })
        })
        .collect();
    let mut out = Vec::new();
    for ask in asks {
        out.push(ask.await.expect("a request"));
    }
    out
}

/// Past its TTL, a manifest in use has its `.ism` read again in the background: the request
/// that finds it old starts one read and no request waits for it. A `.ism` replaced by one
/// that cannot be read drops the renditions once the read says so: refused, as it would be cold.
#[tokio::test(start_paused = true)]
async fn a_manifest_past_its_ttl_is_read_again_in_the_background_and_no_request_waits_for_it() {
    let (bytes, _) = clip("320x180");
    let p = publish_in(Arc::new(Counting::new(Duration::from_millis(20))), bytes).await;
    let manifest = format!("{}clip.ism/manifest(format=m3u8-cmaf)", p.base);
    let (app, _) = p.origin(64 * 1024 * 1024, crate::segment_cache::REVALIDATE);
    assert_eq!(get(&app, &manifest, None).await.0, StatusCode::OK, "cold: built and kept");
    let ism_reads = p.store.reads_of("clip.ism");

    tokio::time::sleep(crate::renditions::MANIFEST_TTL).await;
    for (status, _, took) in concurrently(&app, &manifest, 8).await {
        assert_eq!((status, took), (StatusCode::OK, Duration::ZERO), "the kept renditions, at once");
    }
    // The background read lands (its reads take 20 ms).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(p.store.reads_of("clip.ism") - ism_reads, 1, "one read of the .ism, in the background");

    p.store
        .put_blob(&p.container, "clip.ism", Bytes::from_static(b"not a manifest"), &PutOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(crate::renditions::MANIFEST_TTL).await;
    assert_eq!(get(&app, &manifest, None).await.0, StatusCode::OK, "kept while the read runs");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_ne!(get(&app, &manifest, None).await.0, StatusCode::OK, "the unusable .ism read: not served");
}
