//! The front's routes inside its tower layers. `/_front/…` and `/healthz` are
//! the front's own; every other path is a viewer's, proxied or redirected.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use tower_http::timeout::TimeoutLayer;
use tracing::info;

use crate::board::Front;
use crate::framing;
use crate::proxy::{self, ORIGIN_HEADER};

/// The status page: one HTML file, no build step; it polls `/_front/status`.
const PAGE: &str = include_str!("page.html");

/// The player scripts the page may load, and where they are under `--players`.
const PLAYERS: [(&str, &str); 2] =
    [("hls.min.js", "hls.js/dist/hls.min.js"), ("dash.all.min.js", "dashjs/dist/dash.all.min.js")];

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], PAGE).into_response()
}

async fn status(State(front): State<Arc<Front>>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(front.status())).into_response()
}

/// hls.js or dash.js from the `--players` folder (only those two files).
async fn player_script(State(front): State<Arc<Front>>, Path(file): Path<String>) -> Response {
    let (Some(dir), Some((_, relative))) = (&front.config.players, PLAYERS.iter().find(|(name, _)| *name == file))
    else {
        return (StatusCode::NOT_FOUND, "no such player script (start the front with --players DIR)\n").into_response();
    };
    match tokio::fs::read(dir.join(relative)).await {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, "public, max-age=3600")], bytes)
                .into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "player script not found under --players\n").into_response(),
    }
}

/// The front's own health: 200 while some origin is usable.
async fn healthz(State(front): State<Arc<Front>>) -> Response {
    let any = (0..front.config.origins.len()).any(|i| front.health(i).usable());
    if any {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no origin is up\n").into_response()
    }
}

async fn viewer(State(front): State<Arc<Front>>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    proxy::dispatch(&front, request.method().clone(), request.uri(), request.headers(), peer).await
}

/// One line per request in the common log format plus the origin that
/// answered (target `mirrorcast_front::access`); the path only, never a query.
async fn access_log(request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let method = request.method().clone();
    let path: String = request.uri().path().chars().take(512).collect();
    let version = request.version();
    let response = next.run(request).await;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    info!(
        target: "mirrorcast_front::access",
        "{} - - [{}] \"{method} {path} {version:?}\" {} {} {}",
        peer.as_deref().unwrap_or("-"),
        Utc::now().format("%d/%b/%Y:%H:%M:%S %z"),
        response.status().as_u16(),
        header(header::CONTENT_LENGTH.as_str()),
        header(ORIGIN_HEADER),
    );
    response
}

/// The front's routes: `/_front/` (page), `/_front/status` (JSON),
/// `/_front/players/<script>`, `/healthz`; everything else goes to an origin.
pub fn router(front: Arc<Front>) -> Router {
    Router::new()
        .route("/_front", get(|| async { Redirect::permanent("/_front/") }))
        .route("/_front/", get(page))
        .route("/_front/status", get(status))
        .route("/_front/players/{file}", get(player_script))
        .route("/_front/{*rest}", get(|| async { (StatusCode::NOT_FOUND, "not found\n") }))
        .route("/healthz", get(healthz))
        .fallback(viewer)
        .layer(middleware::from_fn(framing::refuse_bodies))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, front.config.request_timeout))
        .layer(middleware::from_fn(access_log))
        .with_state(front)
}
