//! The origin's caches against what must still hold on every request (in-memory store).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use chrono::Utc;
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::store::{BlobStore, InMemoryStore, PutOptions};
use tower::ServiceExt as _;

use super::router;
use crate::records::{KEEP_WARM, RECORD_TTL};
use crate::test_store::Counting;
use crate::{Origin, OriginConfig};

async fn status(app: &axum::Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(Body::empty()).expect("a request");
    app.clone().oneshot(request).await.expect("the router answers").status()
}

/// An origin over an in-memory store holding one asset with `notes.txt` ("hello"), published
/// by an origin locator that expires at `expiry`: the router and the file's path.
async fn serving_notes(expiry: chrono::DateTime<Utc>) -> (axum::Router, String) {
    let (app, path, _) = serving_notes_from(Arc::new(InMemoryStore::new()), expiry).await;
    (app, path)
}

/// [`serving_notes`] from `store`, with the locator's id.
async fn serving_notes_from(
    store: Arc<dyn BlobStore>,
    expiry: chrono::DateTime<Utc>,
) -> (axum::Router, String, LocatorId) {
    serving_notes_with(store, expiry, OriginConfig::default()).await
}

/// [`serving_notes_from`] by an origin with `config`.
async fn serving_notes_with(
    store: Arc<dyn BlobStore>,
    expiry: chrono::DateTime<Utc>,
    config: OriginConfig,
) -> (axum::Router, String, LocatorId) {
    let catalog = Catalog::new(store.clone());
    let asset = Asset::new("a", AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    store.put_blob(&asset.container, "notes.txt", Bytes::from_static(b"hello"), &PutOptions::default()).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    let start = Utc::now() - chrono::Duration::minutes(1);
    let locator = catalog.create_origin_locator(&asset.id, LocatorId::new(), start, expiry, "").await.unwrap();
    let app = router(Origin::new(store, config));
    (app, format!("/{}/notes.txt", locator.id.guid()), locator.id)
}

/// `n` concurrent requests of `path`: each one's status and how long it took (on tokio's clock).
async fn concurrently(app: &axum::Router, path: &str, n: usize) -> Vec<(StatusCode, Duration)> {
    let asks: Vec<_> = (0..n)
        .map(|_| {
            let (app, path) = (app.clone(), path.to_owned());
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                (status(&app, &path).await, start.elapsed())
            })
        })
        .collect();
    let mut out = Vec::new();
    for ask in asks {
        out.push(ask.await.expect("a request"));
    }
    out
}

/// A store whose record reads take 100 ms (on a paused clock: the time is exact).
fn slow_records() -> Arc<Counting> {
    Arc::new(Counting::new(Duration::ZERO).with_record_delay(Duration::from_millis(100)))
}

/// A locator in steady use (8 concurrent requests every 250 ms for three record TTLs) is read
/// again ahead of its TTL in the background: no request after the first waits for the records,
/// and the reads are one locator and one asset read per refresh, not one per request.
#[tokio::test(start_paused = true)]
async fn a_locator_in_steady_use_is_read_again_ahead_and_no_request_waits_for_it() {
    let store = slow_records();
    let (app, path, _) = serving_notes_from(store.clone(), Utc::now() + chrono::Duration::hours(1)).await;
    let before = store.record_reads();
    assert_eq!(concurrently(&app, &path, 8).await[0].0, StatusCode::OK, "the first: read, and kept");
    assert_eq!(store.record_reads() - before, 2, "8 concurrent first requests: one locator and one asset read");

    let step = Duration::from_millis(250);
    let steps = (3 * RECORD_TTL.as_millis() / step.as_millis()) as usize;
    let mut waited = Vec::new();
    for n in 0..steps {
        tokio::time::sleep(step).await;
        for (status, took) in concurrently(&app, &path, 8).await {
            assert_eq!(status, StatusCode::OK, "step {n}");
            if !took.is_zero() {
                waited.push((n, took));
            }
        }
    }
    assert!(waited.is_empty(), "requests waited for the records (step, time): {waited:?}");
    let refreshes = (store.record_reads() - before - 2) / 2;
    let at_most = (3 * RECORD_TTL.as_millis() / (RECORD_TTL * 4 / 5).as_millis()) as u32 + 1;
    assert!((3..=at_most).contains(&refreshes), "{refreshes} refreshes in three TTLs of steady use");
}

/// After a while unused (kept warm no longer, then past the TTL), concurrent requests wait for one
/// read, not one each;
/// an unknown locator's concurrent requests share its one failed read, and its next request
/// reads again (a locator created meanwhile is served at once).
#[tokio::test(start_paused = true)]
async fn concurrent_requests_past_the_ttl_share_one_read_whatever_its_answer() {
    let store = slow_records();
    let (app, path, _) = serving_notes_from(store.clone(), Utc::now() + chrono::Duration::hours(1)).await;
    assert_eq!(status(&app, &path).await, StatusCode::OK);
    tokio::time::sleep(KEEP_WARM + RECORD_TTL).await;
    let before = store.record_reads();
    for (status, took) in concurrently(&app, &path, 20).await {
        assert_eq!((status, took), (StatusCode::OK, Duration::from_millis(200)), "one locator and one asset read");
    }
    assert_eq!(store.record_reads() - before, 2, "20 requests past the TTL: one read of each record");

    let unknown = format!("/{}/notes.txt", LocatorId::new().guid());
    let before = store.record_reads();
    for (status, took) in concurrently(&app, &unknown, 20).await {
        assert_eq!((status, took), (StatusCode::NOT_FOUND, Duration::from_millis(100)), "one read's time");
    }
    assert_eq!(store.record_reads() - before, 1, "20 requests of an unknown locator: one read");
    assert_eq!(status(&app, &unknown).await, StatusCode::NOT_FOUND);
    assert_eq!(store.record_reads() - before, 2, "a failure is not kept: the next request reads again");
}

/// A locator deleted while in steady use (its entry refreshed ahead, never past its TTL) is
/// refused within the TTL of its deletion, and from then on.
#[tokio::test(start_paused = true)]
async fn a_locator_deleted_while_in_steady_use_is_refused_within_the_ttl() {
    let store = slow_records();
    let (app, path, locator) = serving_notes_from(store.clone(), Utc::now() + chrono::Duration::hours(1)).await;
    let step = Duration::from_millis(250);
    let mut deleted_at = None;
    let mut refused_at = None;
    for n in 0..(4 * RECORD_TTL.as_millis() / step.as_millis()) {
        if n == 10 {
            assert!(Catalog::new(store.clone()).delete_locator(&locator).await.unwrap());
            deleted_at = Some(tokio::time::Instant::now());
        }
        let statuses: Vec<_> = concurrently(&app, &path, 4).await.into_iter().map(|(s, _)| s).collect();
        match (refused_at, statuses.iter().all(|s| *s == StatusCode::OK)) {
            (None, true) => {}
            (None, false) => {
                assert!(statuses.iter().all(|s| *s == StatusCode::NOT_FOUND), "step {n}: {statuses:?}");
                refused_at = Some(tokio::time::Instant::now());
            }
            (Some(_), _) => assert!(statuses.iter().all(|s| *s == StatusCode::NOT_FOUND), "served again at step {n}"),
        }
        tokio::time::sleep(step).await;
    }
    let (deleted_at, refused_at) = (deleted_at.unwrap(), refused_at.expect("refused after its deletion"));
    assert!(refused_at - deleted_at <= RECORD_TTL, "refused {:?} after its deletion", refused_at - deleted_at);
}

/// The record cache keeps a locator for a few seconds; its expiry is not
/// postponed by that: the first request after it is refused.
#[tokio::test]
async fn a_cached_locator_past_its_expiry_is_refused_at_once() {
    let lifetime = std::time::Duration::from_millis(1500);
    assert!(lifetime < RECORD_TTL, "the expiry must fall while the record is still cached");
    let expiry = Utc::now() + chrono::Duration::from_std(lifetime).unwrap();
    let (app, path) = serving_notes(expiry).await;

    assert_eq!(status(&app, &path).await, StatusCode::OK, "valid: served, and now cached");
    let left = (expiry - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + std::time::Duration::from_millis(20)).await;
    assert_eq!(status(&app, &path).await, StatusCode::NOT_FOUND, "expired: refused although still cached");
}

/// The one Range parser tells ffmpeg's `bytes=<size>-` apart for the relay; the origin still
/// answers it 416 (no byte of the file is there), and ignores a header it cannot use.
#[tokio::test]
async fn a_range_from_the_end_of_a_file_is_416_and_an_unusable_one_is_ignored() {
    let (app, path) = serving_notes(Utc::now() + chrono::Duration::hours(1)).await;
    let ranged = |range: &'static str| {
        let request = Request::get(&path).header("range", range).body(Body::empty()).expect("a request");
        app.clone().oneshot(request)
    };
    let at_end = ranged("bytes=5-").await.unwrap();
    assert_eq!(at_end.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(at_end.headers()["content-range"], "bytes */5");
    for unusable in ["bytes=0-1,3-4", "bytes=3-1", "items=0-1"] {
        assert_eq!(ranged(unusable).await.unwrap().status(), StatusCode::OK, "{unusable}");
    }
    assert_eq!(ranged("bytes=1-2").await.unwrap().status(), StatusCode::PARTIAL_CONTENT);
}

/// A response not started within `--request-timeout` is an empty 408 at that time, whatever
/// the routes still wait for (here the records); in time, the same request is answered.
#[tokio::test(start_paused = true)]
async fn a_request_not_answered_within_the_request_timeout_is_a_408_at_the_timeout() {
    let config = OriginConfig { request_timeout: Duration::from_millis(60), ..OriginConfig::default() };
    let (app, path, _) = serving_notes_with(slow_records(), Utc::now() + chrono::Duration::hours(1), config).await;
    let start = tokio::time::Instant::now();
    let request = Request::get(&path).body(Body::empty()).expect("a request");
    let late = app.clone().oneshot(request).await.expect("the router answers");
    assert_eq!((late.status(), start.elapsed()), (StatusCode::REQUEST_TIMEOUT, Duration::from_millis(60)));
    let body = axum::body::to_bytes(late.into_body(), 64).await.unwrap();
    assert!(body.is_empty(), "{body:?}");
    let config = OriginConfig { request_timeout: Duration::from_millis(500), ..OriginConfig::default() };
    let (app, path, _) = serving_notes_with(slow_records(), Utc::now() + chrono::Duration::hours(1), config).await;
    assert_eq!(status(&app, &path).await, StatusCode::OK, "two record reads of 100 ms each fit in 500 ms");
}
