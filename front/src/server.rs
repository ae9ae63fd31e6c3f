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
use mirrorcast_http::access_log::{self, Line};
use mirrorcast_http::catch_panics;
use tower_http::timeout::TimeoutLayer;

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
    let (parts, body) = request.into_parts();
    let body = if proxy::is_licence_request(&parts.method, &parts.uri) {
        match axum::body::to_bytes(body, proxy::MAX_LICENCE_REQUEST).await {
            Ok(body) => Some(body),
            // The rest of the body is not read: the connection cannot carry another request.
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONNECTION, "close")], "licence request too large\n")
                    .into_response()
            }
        }
    } else {
        None
    };
    proxy::dispatch(&front, parts.method, &parts.uri, parts.headers, peer, body).await
}

/// The tracing target that turns the access log on or off.
pub const ACCESS_LOG_TARGET: &str = "mirrorcast_front::access";

/// One line per request in the common log format plus the origin that answered
/// ([`mirrorcast_http::access_log`], batched off the serving threads); the path only, never a query.
async fn access_log(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO) {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let method = request.method().clone();
    // A clone shares the request's bytes (no copy).
    let uri = request.uri().clone();
    let version = request.version();
    let response = next.run(request).await;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let length = header(header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    let line = Line {
        peer,
        method: &method,
        path: uri.path(),
        version,
        status: response.status().as_u16(),
        length,
        extra: &[header(ORIGIN_HEADER)],
    };
    access_log::record(&line);
    response
}

/// The front's routes: `/_front/` (page), `/_front/status` (JSON),
/// `/_front/players/<script>`, `/healthz`; everything else goes to an origin.
pub fn router(front: Arc<Front>) -> Router {
    let routes = Router::new()
        .route("/_front", get(|| async { Redirect::permanent("/_front/") }))
        .route("/_front/", get(page))
        .route("/_front/status", get(status))
        .route("/_front/players/{file}", get(player_script))
        .route("/_front/{*rest}", get(|| async { (StatusCode::NOT_FOUND, "not found\n") }))
        .route("/healthz", get(healthz))
        .fallback(viewer);
    layered(routes, front)
}

/// `routes` inside the front's tower layers, innermost first: a panic as a short 500, bodies
/// refused, the request timeout, the access log. One stack: every `Router::layer` call wraps the
/// routes in another boxed service, cloned and boxed again on every request (as in the origin's
/// router; it showed in the front's profile under load).
fn layered(routes: Router<Arc<Front>>, front: Arc<Front>) -> Router {
    let stack = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(access_log))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, front.config.request_timeout))
        .layer(middleware::from_fn(framing::refuse_bodies))
        .layer(catch_panics());
    routes.layer(stack).with_state(front)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FrontConfig, OriginSpec};
    use axum::body::Body;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_panicking_route_behind_the_front_is_a_short_500_that_leaks_nothing() {
        async fn boom() -> &'static str {
            panic!("secret detail sig=abc")
        }
        let front = Front::new(FrontConfig::new(vec![OriginSpec::parse("a=http://127.0.0.1:1").unwrap()])).unwrap();
        let app = layered(Router::new().route("/boom", get(boom)), front);
        let response = app.oneshot(axum::http::Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"internal error\n");
    }
}
