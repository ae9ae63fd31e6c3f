//! mirrorcast-origin: the streaming endpoint of one data center, as the Media
//! Services origin was. `/<locator-guid>/<path>` is resolved through the data
//! center's own records (locator → asset → container); plain files are served
//! with ranges and validators, and HLS/DASH are packaged on the fly from the
//! `.ism` and its progressive MP4s (see [`request`] for the URL shapes).
//!
//! - [`request`]: the path → what it asks for (traversal refused here).
//! - [`range`]: the `Range` header.
//! - [`packaging`]: manifests from the renditions' indexes (pure).
//! - [`smooth`]: the Smooth client manifest from the renditions' indexes (pure).
//! - [`validators`]: ETag and Last-Modified of packaged responses, conditional requests (pure).
//! - [`encoding`]: gzip of packaged manifests for clients that accept it (pure).
//! - [`metrics`]: counters for `/metrics`.
//! - [`access_log`]: the common-log-format lines, written in batches off the serving threads.
//! - [`segment_body`]: a media segment's body as slices of the bytes read (no copy of its samples).
//! - [`server`]: the HTTP side: handlers, tower layers, the accept loop.
//! - [`stall`]: cutting off a client that stops reading its response.

pub mod access_log;
pub mod encoding;
pub mod metrics;
pub mod packaging;
pub mod range;
pub mod request;
pub mod segment_body;
pub mod server;
pub mod smooth;
pub mod stall;
#[cfg(test)]
mod test_clip;
pub mod validators;

/// The response header naming the data center that answered ([`OriginConfig::name`]).
pub use mirrorcast_core::streaming::ORIGIN_HEADER;
pub use server::{router, serve, ConnectionLimits, Origin, OriginConfig, DEFAULT_MAX_CONNECTIONS};
