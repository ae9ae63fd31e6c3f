//! Which data center answered: every response of an origin carries its name, so a
//! client behind a front (a drill, an operator with curl) can tell A from B.

use axum::http::HeaderValue;
use axum::middleware;
use axum::response::Response;
use axum::Router;

pub use mirrorcast_core::streaming::ORIGIN_HEADER;

/// `app` with [`ORIGIN_HEADER`]` = name` on every response (a name that is not a valid
/// header value is left out rather than failing the origin).
pub fn named(app: Router, name: &str) -> Router {
    let Ok(value) = HeaderValue::from_str(name) else {
        return app;
    };
    app.layer(middleware::map_response(move |mut response: Response| {
        let value = value.clone();
        async move {
            response.headers_mut().insert(ORIGIN_HEADER, value);
            response
        }
    }))
}
