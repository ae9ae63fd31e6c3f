//! The access log and the response counters, as a tower layer around the origin's routes:
//! one line per request in the common log format ([`mirrorcast_http::access_log`]; the path
//! only, never a query string), and `/metrics`' responses and bytes.
//!
//! A layer of its own rather than `axum::middleware::from_fn`: that one clones and boxes the
//! inner service and boxes its future on every request (it showed in the serve profile); this
//! one wraps the inner future in place.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, Method, Uri, Version};
use axum::response::Response;
use mirrorcast_http::access_log::Line;

use crate::metrics::Metrics;
use crate::router::ACCESS_LOG_TARGET;

/// Wraps a service in [`AccessLog`].
#[derive(Clone)]
pub(crate) struct AccessLogLayer {
    pub(crate) metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner, metrics: self.metrics.clone() }
    }
}

/// Logs and counts each response of `inner`.
#[derive(Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// What the line needs of the request, kept while the response is made.
struct Asked {
    peer: Option<IpAddr>,
    method: Method,
    /// `None` when the access log is off (its target disabled): nothing is kept for it.
    uri: Option<Uri>,
    version: Version,
}

impl<S> tower::Service<Request> for AccessLog<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let logged = tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO);
        let asked = Asked {
            peer: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
            method: request.method().clone(),
            // A clone shares the request's bytes (no copy).
            uri: logged.then(|| request.uri().clone()),
            version: request.version(),
        };
        Logged { inner: self.inner.call(request), asked: Some(asked), metrics: self.metrics.clone() }
    }
}

pin_project_lite::pin_project! {
    /// The inner response future; the line is written when it is ready.
    pub(crate) struct Logged<F> {
        #[pin]
        inner: F,
        asked: Option<Asked>,
        metrics: Arc<Metrics>,
    }
}

impl<F> Future for Logged<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = std::task::ready!(this.inner.poll(cx));
        if let Some(asked) = this.asked.take() {
            record(this.metrics, &asked, &response);
        }
        Poll::Ready(Ok(response))
    }
}

fn record(metrics: &Metrics, asked: &Asked, response: &Response) {
    let status = response.status().as_u16();
    let length = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    metrics.response(status);
    if asked.method != Method::HEAD {
        metrics.bytes(length.unwrap_or(0));
    }
    if let Some(uri) = &asked.uri {
        let line = Line {
            peer: asked.peer,
            method: &asked.method,
            path: uri.path(),
            version: asked.version,
            status,
            length,
            extra: &[],
        };
        mirrorcast_http::access_log::record(&line);
    }
}
