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

/// The record cache keeps a locator for a few seconds; its expiry is not
/// postponed by that: the first request after it is refused.
#[tokio::test]
async fn a_cached_locator_past_its_expiry_is_refused_at_once() {
    let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
    let catalog = Catalog::new(store.clone());
    let asset = Asset::new("a", AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    store.put_blob(&asset.container, "notes.txt", Bytes::from_static(b"hello"), &PutOptions::default()).await.unwrap();
    catalog.regenerate_files(&asset.id).await.unwrap();
    let now = Utc::now();
    let lifetime = std::time::Duration::from_millis(1500);
    assert!(lifetime < RECORD_TTL, "the expiry must fall while the record is still cached");
    let expiry = now + chrono::Duration::from_std(lifetime).unwrap();
    let locator = catalog
        .create_origin_locator(&asset.id, LocatorId::new(), now - chrono::Duration::minutes(1), expiry, "")
        .await
        .unwrap();
    let app = router(Origin::new(store, OriginConfig::default()));
    let path = format!("/{}/notes.txt", locator.id.guid());

    assert_eq!(status(&app, &path).await, StatusCode::OK, "valid: served, and now cached");
    let left = (expiry - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + std::time::Duration::from_millis(20)).await;
    assert_eq!(status(&app, &path).await, StatusCode::NOT_FOUND, "expired: refused although still cached");
}
