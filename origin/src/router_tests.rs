//! The origin's caches against what must still hold on every request (in-memory store).

use std::sync::Arc;

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
use crate::records::RECORD_TTL;
use crate::{Origin, OriginConfig};

async fn status(app: &axum::Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(Body::empty()).expect("a request");
    app.clone().oneshot(request).await.expect("the router answers").status()
}

/// An origin over an in-memory store holding one asset with `notes.txt` ("hello"), published
/// by an origin locator that expires at `expiry`: the router and the file's path.
async fn serving_notes(expiry: chrono::DateTime<Utc>) -> (axum::Router, String) {
    let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
    let catalog = Catalog::new(store.clone());
    let asset = Asset::new("a", AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    store.put_blob(&asset.container, "notes.txt", Bytes::from_static(b"hello"), &PutOptions::default()).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    let start = Utc::now() - chrono::Duration::minutes(1);
    let locator = catalog.create_origin_locator(&asset.id, LocatorId::new(), start, expiry, "").await.unwrap();
    let app = router(Origin::new(store, OriginConfig::default()));
    (app, format!("/{}/notes.txt", locator.id.guid()))
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
