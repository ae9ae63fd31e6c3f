//! Setting a response header from text.

use axum::http::{header::HeaderName, HeaderMap, HeaderValue};

/// Sets `name` to `value`; a value that is not a valid header is left out rather than failing the response.
pub(crate) fn insert(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}
