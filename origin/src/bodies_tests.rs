//! The packaged-body cache: made once for concurrent misses, and never a body its sources or
//! filters no longer make (a cache keyed by URL would serve the old one in both codings).

use std::io::Read as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use chrono::Utc;
use http_body_util::BodyExt as _;
use mirrorcast_core::catalog::filters::FilterScope;
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::filter::Filter;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::store::{BlobStore, Condition, InMemoryStore, PutOptions};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use tower::ServiceExt as _;

use super::BodyCache;
use crate::metrics::Metrics;
use crate::{router, Origin, OriginConfig};

/// Many requests missing one body at once: it is made (and gzipped) once, all get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_make_a_body_once() {
    let bodies = Arc::new(BodyCache::new(Arc::new(Metrics::default())));
    let made = Arc::new(AtomicU32::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (bodies, made, start) = (bodies.clone(), made.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let body = bodies
                    .get_or_make("\"mc3-1\"", || {
                        made.fetch_add(1, Ordering::SeqCst);
                        // Long enough that every other request asks while it is made.
                        std::thread::sleep(Duration::from_millis(100));
                        Ok("#EXTM3U\n".repeat(1000))
                    })
                    .await
                    .unwrap();
                body.body(false)
            })
        })
        .collect();
    for ask in asks {
        assert_eq!(ask.await.unwrap().len(), 8000);
    }
    assert_eq!(made.load(Ordering::SeqCst), 1, "one body made for 8 concurrent misses");
}

/// A failed make is that request's: the next asks again (and is not served an empty body).
#[tokio::test]
async fn a_failed_make_is_not_kept() {
    let bodies = BodyCache::new(Arc::new(Metrics::default()));
    assert!(bodies.get_or_make("\"e\"", || Err(crate::fail::Fail::Media)).await.is_err());
    let body = bodies.get_or_make("\"e\"", || Ok("made".to_owned())).await.unwrap();
    assert_eq!(body.body(false), "made");
}

const VIDEO: u64 = 600_000;
const AUDIO: u64 = 128_000;

fn ism(audio: bool) -> Bytes {
    let track = |kind, id, bitrate, name: &str| IsmTrack {
        kind,
        src: "clip.mp4".into(),
        system_bitrate: bitrate,
        track_id: id,
        track_name: Some(name.into()),
        language: None,
    };
    let mut tracks = vec![track(TrackKind::Video, 1, VIDEO, "video")];
    if audio {
        tracks.push(track(TrackKind::Audio, 2, AUDIO, "audio"));
    }
    Bytes::from(ServerManifest { title: None, client_manifest: None, tracks }.to_xml())
}

/// The filter `f`: only the tracks of `kind` ("Video", "Audio").
fn only(kind: &str) -> Filter {
    let json =
        format!(r#"{{"tracks":[{{"trackSelections":[{{"property":"Type","operation":"Equal","value":"{kind}"}}]}}]}}"#);
    Filter::from_json(&json, Some("f")).unwrap()
}

/// `path` as an identity client and as a gzip one asks for it: both bodies, as text.
async fn both_codings(app: &axum::Router, path: &str) -> [String; 2] {
    let mut out = [String::new(), String::new()];
    for (i, gzip) in [false, true].into_iter().enumerate() {
        let mut request = Request::get(path);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let coded = response.headers().get("content-encoding").is_some();
        assert_eq!(coded, gzip, "{path}: gzip only when asked for");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        out[i] = if gzip {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
            text
        } else {
            String::from_utf8(bytes.to_vec()).unwrap()
        };
    }
    assert_eq!(out[0], out[1], "{path}: one text in both codings");
    out
}

/// A replaced `.ism`, a changed filter and a replaced rendition each change the manifests
/// served (in both codings) once the origin reads them again: the bodies are kept by what they
/// are made from, never by URL.
#[tokio::test(start_paused = true)]
async fn a_manifest_follows_a_replaced_ism_a_changed_filter_and_a_replaced_rendition() {
    let dir = tempfile::tempdir().unwrap();
    crate::test_clip::clip(dir.path(), "clip.mp4", "320x180");
    let clip = Bytes::from(std::fs::read(dir.path().join("clip.mp4")).unwrap());
    crate::test_clip::clip(dir.path(), "smaller.mp4", "160x90");
    let smaller = Bytes::from(std::fs::read(dir.path().join("smaller.mp4")).unwrap());

    let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
    let catalog = Catalog::new(store.clone());
    let asset = Asset::new("a", AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    let put = PutOptions::default();
    store.put_blob(&asset.container, "clip.ism", ism(true), &put).await.unwrap();
    store.put_blob(&asset.container, "clip.mp4", clip, &put).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    catalog.create_filter(FilterScope::Asset(asset.id), &only("Video")).await.unwrap();
    let (start, expiry) = (Utc::now() - chrono::Duration::minutes(1), Utc::now() + chrono::Duration::hours(1));
    let locator = catalog.create_origin_locator(&asset.id, LocatorId::new(), start, expiry, "").await.unwrap();
    let app = router(Origin::new(store.clone(), OriginConfig::default()));
    let base = format!("/{}/clip.ism", locator.id.guid());
    let master = format!("{base}/manifest(format=m3u8-cmaf)");
    let filtered = format!("{base}/manifest(format=m3u8-cmaf,filter=f)");
    let mpd = format!("{base}/manifest(format=mpd-time-cmaf)");
    let playlist = format!("{base}/QualityLevels({VIDEO})/Manifest(video,format=m3u8-cmaf)");

    let [text, _] = both_codings(&app, &master).await;
    assert!(text.contains("TYPE=AUDIO"), "{text}");
    let [text, _] = both_codings(&app, &filtered).await;
    assert!(!text.contains("TYPE=AUDIO"), "the filter keeps the video only: {text}");
    let [old_mpd, _] = both_codings(&app, &mpd).await;
    assert!(old_mpd.contains(r#"width="320""#), "{old_mpd}");
    both_codings(&app, &playlist).await;

    // The filter now keeps the audio as well; the .ism names no audio any more.
    let both = r#"{"tracks":[{"trackSelections":[{"property":"Type","operation":"Equal","value":"Video"}]},{"trackSelections":[{"property":"Type","operation":"Equal","value":"Audio"}]}]}"#;
    let both = Filter::from_json(both, Some("f")).unwrap();
    catalog.put_filter(FilterScope::Asset(asset.id), &both, None, Condition::None).await.unwrap();
    tokio::time::sleep(crate::records::RECORD_TTL).await;
    let [text, _] = both_codings(&app, &filtered).await;
    assert!(text.contains("TYPE=AUDIO"), "the changed filter: {text}");

    store.put_blob(&asset.container, "clip.ism", ism(false), &put).await.unwrap();
    tokio::time::sleep(crate::renditions::MANIFEST_TTL).await;
    // The first request past the TTL is served the kept renditions and starts the re-read.
    both_codings(&app, &master).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for path in [&master, &filtered] {
        let [text, _] = both_codings(&app, path).await;
        assert!(!text.contains("TYPE=AUDIO"), "{path}: the replaced .ism names no audio: {text}");
    }
    let [text, _] = both_codings(&app, &mpd).await;
    assert!(text != old_mpd && !text.contains("audio"), "the replaced .ism's MPD: {text}");

    // The rendition replaced under the same name (the .ism unchanged): its new index is read,
    // though no segment request noticed it.
    store.put_blob(&asset.container, "clip.mp4", smaller, &put).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    tokio::time::sleep(crate::renditions::MANIFEST_TTL).await;
    both_codings(&app, &mpd).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let [text, _] = both_codings(&app, &mpd).await;
    assert!(text.contains(r#"width="160""#) && !text.contains(r#"width="320""#), "the replaced rendition: {text}");
    both_codings(&app, &playlist).await;
}
