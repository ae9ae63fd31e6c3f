//! CORS on every route: the answers `tower_http::cors::CorsLayer` gives with the origin's
//! rules (any origin; GET, HEAD, OPTIONS, POST; the request headers players and key
//! requests send; the validators and lengths exposed), with their header values made once.
//! tower-http's layer is cloned with its lists on every request and joins its `Vary` anew
//! for each response; under segment load that showed in the origin's profile. The tests
//! hold the two to the same answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response};

/// The methods a browser may use across origins: POST and the headers after it are the
/// ClearKey licence requests and key tokens (`/keys/…`).
const ALLOW_METHODS: [Method; 4] = [Method::GET, Method::HEAD, Method::OPTIONS, Method::POST];
const ALLOW_HEADERS: [HeaderName; 5] =
    [header::RANGE, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::AUTHORIZATION, header::CONTENT_TYPE];
const EXPOSE_HEADERS: [HeaderName; 4] =
    [header::CONTENT_LENGTH, header::CONTENT_RANGE, header::ETAG, header::LAST_MODIFIED];
/// What a preflight's answer depends on (tower-http's default `Vary`).
const VARY: [HeaderName; 3] =
    [header::ORIGIN, header::ACCESS_CONTROL_REQUEST_METHOD, header::ACCESS_CONTROL_REQUEST_HEADERS];

/// The header values, made once.
struct Values {
    vary: HeaderValue,
    allow_methods: HeaderValue,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
}

fn joined<'a>(items: impl IntoIterator<Item = &'a str>, separator: &str) -> HeaderValue {
    let text = items.into_iter().collect::<Vec<_>>().join(separator);
    HeaderValue::from_str(&text).expect("names of methods and headers are valid header text")
}

/// Wraps a service in [`Cors`].
#[derive(Clone)]
pub(crate) struct CorsLayer {
    values: Arc<Values>,
}

impl CorsLayer {
    pub(crate) fn new() -> CorsLayer {
        let values = Values {
            vary: joined(VARY.iter().map(HeaderName::as_str), ", "),
            allow_methods: joined(ALLOW_METHODS.iter().map(Method::as_str), ","),
            allow_headers: joined(ALLOW_HEADERS.iter().map(HeaderName::as_str), ","),
            expose_headers: joined(EXPOSE_HEADERS.iter().map(HeaderName::as_str), ","),
        };
        CorsLayer { values: Arc::new(values) }
    }
}

impl<S> tower::Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner, values: self.values.clone() }
    }
}

/// Answers every `OPTIONS` as a preflight itself (the inner service never sees it); adds the
/// CORS headers to every other response of `inner`.
#[derive(Clone)]
pub(crate) struct Cors<S> {
    inner: S,
    values: Arc<Values>,
}

impl<S, B, ResBody> tower::Service<Request<B>> for Cors<S>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = (request.method() != Method::OPTIONS).then(|| self.inner.call(request));
        CorsFuture { inner, values: self.values.clone() }
    }
}

pin_project_lite::pin_project! {
    /// The inner response with the CORS headers, or (no inner future) a preflight's answer.
    pub(crate) struct CorsFuture<F> {
        #[pin]
        inner: Option<F>,
        values: Arc<Values>,
    }
}

impl<F, ResBody, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let v = &**this.values;
        let Some(inner) = this.inner.as_pin_mut() else {
            let mut response = Response::new(ResBody::default());
            let h = response.headers_mut();
            h.insert(header::VARY, v.vary.clone());
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.allow_methods.clone());
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.allow_headers.clone());
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            return Poll::Ready(Ok(response));
        };
        let mut response = std::task::ready!(inner.poll(cx))?;
        let h = response.headers_mut();
        // A response's own `Vary` (a manifest's Accept-Encoding) is kept: this one is added.
        h.append(header::VARY, v.vary.clone());
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.expose_headers.clone());
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// tower-http's layer with the rules the origin had it apply.
    fn tower_http_layer() -> tower_http::cors::CorsLayer {
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods(ALLOW_METHODS)
            .allow_headers(ALLOW_HEADERS)
            .expose_headers(EXPOSE_HEADERS)
    }

    /// A response with a header of its own, a `Vary` and an `Access-Control-Allow-Origin` to be overridden.
    async fn answer(_: Request<Body>) -> Result<Response<Body>, Infallible> {
        let mut r = Response::new(Body::from("x"));
        r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("https://a.example"));
        r.headers_mut().insert(header::ETAG, HeaderValue::from_static("\"e\""));
        Ok(r)
    }

    fn request(method: Method, origin: bool) -> Request<Body> {
        let mut b = Request::builder().method(method).uri("/x/Big.ism/manifest");
        if origin {
            b = b
                .header(header::ORIGIN, "https://player.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization");
        }
        b.body(Body::empty()).unwrap()
    }

    /// Status, headers (each name's values in order, names sorted) and body.
    async fn seen(r: Response<Body>) -> (u16, Vec<(String, Vec<String>)>, Vec<u8>) {
        let mut headers: Vec<(String, Vec<String>)> = r
            .headers()
            .keys()
            .map(|k| {
                let values = r.headers().get_all(k).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
                (k.as_str().to_owned(), values)
            })
            .collect();
        headers.sort();
        let status = r.status().as_u16();
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap().to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn every_answer_is_the_one_tower_http_gave() {
        for method in [Method::GET, Method::HEAD, Method::POST, Method::OPTIONS] {
            for origin in [true, false] {
                let ours = CorsLayer::new().layer(tower::service_fn(answer)).oneshot(request(method.clone(), origin));
                let theirs = tower_http_layer()
                    .layer(tower::service_fn(answer))
                    .oneshot(request(method.clone(), origin))
                    .await
                    .unwrap()
                    .map(Body::new);
                let (ours, theirs) = (seen(ours.await.unwrap()).await, seen(theirs).await);
                assert_eq!(ours, theirs, "{method} (Origin sent: {origin})");
            }
        }
    }

    #[tokio::test]
    async fn a_preflight_never_reaches_the_routes_and_other_requests_keep_their_vary() {
        let routes = tower::service_fn(|_: Request<Body>| async { Err::<Response<Body>, _>("reached the routes") });
        let preflight = CorsLayer::new().layer(routes).oneshot(request(Method::OPTIONS, true)).await.unwrap();
        assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,HEAD,OPTIONS,POST");
        let get = CorsLayer::new().layer(tower::service_fn(answer)).oneshot(request(Method::GET, true)).await.unwrap();
        let vary: Vec<_> = get.headers().get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "origin, access-control-request-method, access-control-request-headers"]);
        assert_eq!(get.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            get.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "content-length,content-range,etag,last-modified"
        );
    }
}
