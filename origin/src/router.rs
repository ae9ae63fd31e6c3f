//! The origin's routes (`/healthz`, `/metrics`, everything else a locator's
//! path) inside its two tower stacks. A viewer's request goes down: parse the
//! path ([`crate::request`]), resolve the locator (`records`), then
//! `Origin::respond`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use mirrorcast_http::catch_panics;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::debug;

use crate::fail::Fail;
use crate::origin::Origin;
use crate::request;

/// Takes the whole request: extracting its headers as a `HeaderMap` would clone them.
async fn stream(State(origin): State<Arc<Origin>>, request: Request) -> Response {
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "method not allowed\n")
            .into_response();
    }
    let req = match request::parse(uri.path()) {
        Ok(r) => r,
        Err(request::Refused::Unsupported(argument)) => {
            debug!(target: "mirrorcast_origin", "refused argument: {argument}");
            let body = format!("unsupported argument: {argument}\n");
            return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
                .into_response();
        }
        Err(request::Refused::BadFilter(why)) => return Fail::BadFilter(why).into_response(),
        Err(why) => {
            debug!(target: "mirrorcast_origin", "refused path: {why:?}");
            return Fail::NotFound("refused path").into_response();
        }
    };
    let started = std::time::Instant::now();
    let outcome = match origin.records.resolve(req.locator).await {
        Ok(records) => match crate::encrypted::admit(&origin, &records.0, &records.1, &req.target).await {
            Ok(packing) => match origin.filters.for_request(&records.0, &records.1, &req).await {
                Ok(filters) => {
                    origin.respond(method, &req.target, &records.1, &filters, headers, packing.as_ref()).await
                }
                Err(f) => Err(f),
            },
            Err(f) => Err(f),
        },
        Err(f) => Err(f),
    };
    if matches!(req.target, request::Target::Manifest { .. } | request::Target::Playlist { .. }) {
        origin.metrics.manifest_answered(started.elapsed());
    }
    outcome.unwrap_or_else(IntoResponse::into_response)
}

async fn healthz(State(origin): State<Arc<Origin>>) -> Response {
    if origin.upstream.healthy().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "storage or records unreachable\n").into_response()
    }
}

async fn metrics(State(origin): State<Arc<Origin>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], origin.metrics.render()).into_response()
}

/// The tracing target that turns the access log on or off (on at `info`, the default; `RUST_LOG=warn` turns it off).
pub const ACCESS_LOG_TARGET: &str = "mirrorcast_origin::access";

/// The origin's routes inside its tower layers: CORS, a request timeout,
/// a body limit (GET and HEAD carry none), the access log.
pub fn router(origin: Arc<Origin>) -> Router {
    // One stack around the routes, outermost first, applied to the routes as one service
    // rather than by `Router::layer`: every `Router::layer` call wrapped each route in another
    // boxed service, cloned and its future boxed again on every request (four levels deep, it
    // showed in the serve profile); here a request crosses two (the fallback service below and
    // the route it reaches). The request deadline is outside the conversion of bodies (it
    // needs a default body).
    let named =
        origin.config.name.as_deref().and_then(|n| HeaderValue::from_str(n).ok()).map(|name| {
            SetResponseHeaderLayer::overriding(header::HeaderName::from_static(crate::ORIGIN_HEADER), name)
        });
    // Error bodies quote a little of the request: never to be sniffed as anything but text.
    let nosniff =
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let required =
        origin.config.required_header.is_some().then(|| middleware::from_fn_with_state(origin.clone(), require_header));
    let mut routes = Router::new().route("/healthz", get(healthz)).merge(crate::key_delivery::routes::routes());
    if origin.config.metrics_on_main {
        routes = routes.route("/metrics", get(metrics));
    }
    let routes = routes.fallback(stream).with_state(origin.clone());
    let stack = tower::ServiceBuilder::new()
        .option_layer(named)
        .layer(crate::access_layer::AccessLogLayer { metrics: origin.metrics.clone() })
        .layer(crate::request_deadline::DeadlineLayer { limit: origin.config.request_timeout })
        .map_response(IntoResponse::into_response)
        .layer(nosniff)
        .layer(RequestBodyLimitLayer::new(16 * 1024))
        .map_request(with_body)
        .layer(crate::cors::CorsLayer::new())
        .layer(catch_panics())
        .option_layer(required)
        .service(routes);
    Router::new().fallback_service(stack)
}

/// `/metrics` and `/healthz` alone, for a listener that never faces viewers (`--metrics-listen`).
pub fn metrics_router(origin: Arc<Origin>) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(origin)
}

/// Requests without the CDN's shared secret get 403 and no media; `/healthz` answers anyone.
async fn require_header(State(origin): State<Arc<Origin>>, request: Request, next: Next) -> Response {
    let Some(required) = &origin.config.required_header else { return next.run(request).await };
    if request.uri().path() == "/healthz"
        || required.matches(request.headers().get(&required.name).map(|v| v.as_bytes()))
    {
        return next.run(request).await;
    }
    (StatusCode::FORBIDDEN, "forbidden: this origin answers its CDN only\n").into_response()
}

/// The request with its (size-limited) body as the routes take it.
fn with_body<B>(request: axum::http::Request<B>) -> Request
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    request.map(Body::new)
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
