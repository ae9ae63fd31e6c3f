//! A panic in a handler (a bug) becomes a short 500 instead of a dropped
//! connection; its message goes to stderr only, never into the body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

/// The layer; innermost, so the 500 still passes the access log and the other layers.
pub fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    fn internal_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
    }
    CatchPanicLayer::custom(internal_error as fn(_) -> _)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

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
}
