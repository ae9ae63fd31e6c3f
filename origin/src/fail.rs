//! Why a request failed. The client sees a status and a short fixed body;
//! the log sees the reason and an error kind, never a storage URL.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mirrorcast_core::ErrorKind;
use tracing::{debug, warn};

use crate::headers::insert;
use crate::request;

/// Longest reason in an error body.
const MAX_REASON_IN_BODY: usize = 60;
/// Longest codec or file name in an error body.
const MAX_NAME_IN_BODY: usize = 40;

/// Clone: one storage read's failure is the answer of every request that waited for it.
#[derive(Debug, Clone)]
pub(crate) enum Fail {
    NotFound(&'static str),
    Unsatisfiable(u64),
    Storage(ErrorKind),
    Media,
    /// What the locator's delivery terms do not allow (a protected stream, a download
    /// of a streaming-only locator): 403 with a short reason, never a key.
    Forbidden(String),
    /// What this origin cannot serve now but another configured one could (a protected stream
    /// without the data center's KEK, its keys missing): 503 with a short reason, never a key.
    Unavailable(String),
    /// A format that cannot carry a rendition's codec (HEVC or AC-3 in MPEG-TS): 406 naming
    /// both and the format to ask for instead, never a stream a player cannot decode.
    NotCarried {
        /// The rendition's codec (its sample entry type: `hvc1`, `ac-3`).
        codec: String,
        /// The format asked for.
        format: &'static str,
        /// The format that carries it.
        instead: &'static str,
    },
    /// A filter the request names that is unknown, or a combination of filters that leaves
    /// nothing to play: 400 naming it.
    BadFilter(String),
}

impl From<mirrorcast_core::store::Error> for Fail {
    fn from(e: mirrorcast_core::store::Error) -> Self {
        mirrorcast_core::Error::from(e).into()
    }
}

impl From<mirrorcast_core::Error> for Fail {
    fn from(e: mirrorcast_core::Error) -> Self {
        match e.kind() {
            ErrorKind::NotFound => Fail::NotFound("not in storage"),
            kind => Fail::Storage(kind),
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self {
            Fail::NotFound(why) => {
                debug!(target: "mirrorcast_origin", "404: {why}");
                (StatusCode::NOT_FOUND, "not found\n").into_response()
            }
            Fail::Unsatisfiable(size) => {
                let mut r = (StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n").into_response();
                insert(r.headers_mut(), header::CONTENT_RANGE, &format!("bytes */{size}"));
                r
            }
            Fail::Storage(kind) => {
                warn!(target: "mirrorcast_origin", "storage failed: {kind}");
                match kind {
                    ErrorKind::Throttled | ErrorKind::Transient => {
                        (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
                    }
                    _ => (StatusCode::BAD_GATEWAY, "storage error\n").into_response(),
                }
            }
            Fail::Media => {
                warn!(target: "mirrorcast_origin", "a rendition could not be packaged");
                (StatusCode::BAD_GATEWAY, "cannot package this asset\n").into_response()
            }
            Fail::Forbidden(why) => {
                debug!(target: "mirrorcast_origin", "403: {why}");
                // Room for a policy's name and what is refused (a protected stream's file, its format).
                (StatusCode::FORBIDDEN, format!("{}\n", request::at_most(&why, 2 * MAX_REASON_IN_BODY))).into_response()
            }
            Fail::Unavailable(why) => {
                warn!(target: "mirrorcast_origin", "503: {why}");
                let body = format!("{}\n", request::at_most(&why, 2 * MAX_REASON_IN_BODY));
                (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
            }
            Fail::BadFilter(why) => {
                debug!(target: "mirrorcast_origin", "400: {why}");
                (
                    StatusCode::BAD_REQUEST,
                    format!("{}\n", request::at_most(&why, MAX_REASON_IN_BODY + MAX_NAME_IN_BODY)),
                )
                    .into_response()
            }
            Fail::NotCarried { codec, format, instead } => {
                debug!(target: "mirrorcast_origin", "406: {format} cannot carry {codec}");
                let codec = request::at_most(&codec, MAX_NAME_IN_BODY);
                let body = format!("format={format} cannot carry {codec}; ask for format={instead}\n");
                (StatusCode::NOT_ACCEPTABLE, body).into_response()
            }
        }
    }
}
