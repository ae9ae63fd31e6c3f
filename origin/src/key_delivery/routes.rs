//! The key routes: `GET /keys/aes128/<kid>` (the 16 key bytes) and `POST
//! /keys/clearkey` (a W3C ClearKey licence). Every answer, granted or not, says
//! `Cache-Control: no-store` (and `Pragma: no-cache`): no cache between the viewer and
//! the origin may keep a key, nor a refusal past a policy change. Each request is
//! counted in `/metrics` by outcome.
//!
//! The token comes from `Authorization: Bearer <jwt>` (or Media Services'
//! `Bearer=<jwt>`); an AES-128 key request may carry it as `?token=<jwt>` instead,
//! for native players that cannot set headers. The access log writes the path only.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use percent_encoding::percent_decode_str;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::debug;
use uuid::Uuid;

use super::{clearkey, Denied};
use crate::fail::Fail;
use crate::key_paths::{AES128_KEY_PREFIX, CLEARKEY_LICENSE_PATH};
use crate::metrics::KeyOutcome;
use crate::origin::Origin;

/// The key routes, each answer marked uncacheable.
pub(crate) fn routes() -> Router<Arc<Origin>> {
    Router::new()
        .route(&format!("{AES128_KEY_PREFIX}{{kid}}"), get(aes128))
        .route(CLEARKEY_LICENSE_PATH, post(clearkey_licence))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::PRAGMA, HeaderValue::from_static("no-cache")))
}

/// The bearer token of `Authorization: Bearer <jwt>` or `Bearer=<jwt>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let scheme = value.get(..6).filter(|s| s.eq_ignore_ascii_case("bearer"))?;
    let rest = &value[scheme.len()..];
    let token = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' '))?.trim();
    (!token.is_empty()).then_some(token)
}

/// The `token` argument of a query string, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .and_then(|(_, v)| percent_decode_str(v).decode_utf8().ok().map(|v| v.into_owned()))
        .filter(|v| !v.is_empty())
}

async fn aes128(State(origin): State<Arc<Origin>>, Path(kid): Path<String>, request: Request) -> Response {
    let Ok(id) = Uuid::parse_str(&kid) else {
        return answer(&origin, KeyOutcome::NotFound, (StatusCode::NOT_FOUND, "no such key\n").into_response());
    };
    let from_query = query_token(request.uri().query());
    let token = bearer(request.headers()).or(from_query.as_deref());
    match origin.keys.grant(id, token).await {
        Ok(key) => {
            debug!(target: "mirrorcast_origin", "content key {id}: delivered (AES-128)");
            let body = Body::from(key.key().to_vec());
            let response = ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
            answer(&origin, KeyOutcome::Granted, response)
        }
        Err(denied) => refused(&origin, id, denied),
    }
}

async fn clearkey_licence(State(origin): State<Arc<Origin>>, request: Request) -> Response {
    let token = bearer(request.headers()).map(str::to_owned);
    let body = match axum::body::to_bytes(request.into_body(), clearkey::MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let r = (StatusCode::PAYLOAD_TOO_LARGE, "licence request too large\n").into_response();
            return answer(&origin, KeyOutcome::BadRequest, r);
        }
    };
    let ids = match clearkey::requested_key_ids(&body) {
        Ok(ids) => ids,
        Err(why) => {
            return answer(
                &origin,
                KeyOutcome::BadRequest,
                (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
            )
        }
    };
    // Every key asked for, or none: a licence never holds some keys and hides a refusal.
    let mut keys = Vec::with_capacity(ids.len());
    for id in ids {
        match origin.keys.grant(id, token.as_deref()).await {
            Ok(key) => keys.push((id, key)),
            Err(denied) => return refused(&origin, id, denied),
        }
    }
    debug!(target: "mirrorcast_origin", "ClearKey licence delivered for {} key(s)", keys.len());
    let response = ([(header::CONTENT_TYPE, "application/json")], clearkey::licence(&keys)).into_response();
    answer(&origin, KeyOutcome::Granted, response)
}

/// A refusal: the status and a few words, never key material.
fn refused(origin: &Origin, id: Uuid, denied: Denied) -> Response {
    let (outcome, response) = match denied {
        Denied::UnknownKey => (KeyOutcome::NotFound, (StatusCode::NOT_FOUND, "no such key\n").into_response()),
        Denied::Token(refusal) if refusal.is_missing() => (
            KeyOutcome::Unauthorized,
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], format!("{}\n", refusal.why()))
                .into_response(),
        ),
        Denied::Token(refusal) => {
            (KeyOutcome::Forbidden, (StatusCode::FORBIDDEN, format!("{}\n", refusal.why())).into_response())
        }
        Denied::NoPolicy(why) => (KeyOutcome::Forbidden, (StatusCode::FORBIDDEN, format!("{why}\n")).into_response()),
        Denied::NoKek => (
            KeyOutcome::Failed,
            (StatusCode::SERVICE_UNAVAILABLE, "key delivery is not configured here\n").into_response(),
        ),
        Denied::Unavailable(fail) => (KeyOutcome::Failed, fail_response(fail)),
    };
    debug!(target: "mirrorcast_origin", "content key {id}: {} ({})", response.status(), outcome.label());
    answer(origin, outcome, response)
}

/// A storage failure as the origin answers it, a bad record included.
fn fail_response(fail: Fail) -> Response {
    match fail {
        Fail::NotFound(_) => (StatusCode::SERVICE_UNAVAILABLE, "key unavailable\n").into_response(),
        other => other.into_response(),
    }
}

fn answer(origin: &Origin, outcome: KeyOutcome, response: Response) -> Response {
    origin.metrics.key_request(outcome);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_headers_in_both_forms_and_from_the_query() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(bearer(&with("Bearer abc.def.ghi")), Some("abc.def.ghi"));
        assert_eq!(bearer(&with("bearer=abc.def.ghi")), Some("abc.def.ghi"), "Media Services' form");
        assert_eq!(bearer(&with("BEARER  abc")), Some("abc"));
        for none in ["Bearer", "Bearer ", "Bearerabc", "Basic dXNlcjpwYXNz", "Bear"] {
            assert_eq!(bearer(&with(none)), None, "{none:?}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert_eq!(query_token(Some("a=1&token=abc.d%2De&b=2")).as_deref(), Some("abc.d-e"));
        assert_eq!(query_token(Some("tokens=x&token=")), None);
        assert_eq!(query_token(None), None);
    }
}
