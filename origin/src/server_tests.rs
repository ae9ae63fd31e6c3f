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

use super::{catch_panics, router, Origin, OriginConfig, RECORD_TTL};
use axum::routing::get;
use axum::Router;

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

#[tokio::test]
async fn a_panicking_handler_is_a_short_500_that_leaks_nothing() {
    async fn boom() -> &'static str {
        panic!("secret detail sig=abc")
    }
    let app = Router::new().route("/boom", get(boom)).layer(catch_panics());
    let req = axum::http::Request::get("/boom").body(Body::empty()).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"internal error\n");
}

/// Past `max_connections`, a new client waits in the backlog (its request is not read) until
/// an open connection closes; then it is served.
#[tokio::test]
async fn a_connection_past_the_limit_waits_until_one_closes() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/ok", get(|| async { "ok" }));
    let limits = super::ConnectionLimits { max_connections: 1, ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve(listener, app, limits, async move {
        let _ = stopped.await;
    }));
    async fn ask(stream: &mut tokio::net::TcpStream) -> String {
        stream.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"), "the first connection is served");
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(500), ask(&mut second)).await;
    assert!(waiting.is_err(), "a second connection past the limit of one was served: {waiting:?}");
    drop(first);
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
