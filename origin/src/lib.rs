//! mirrorcast-origin: the streaming endpoint of one data center, as the Media
//! Services origin was. `/<locator-guid>/<path>` is resolved through the data
//! center's own records (locator → asset → container); plain files are served
//! with ranges and validators, and HLS/DASH are packaged on the fly from the
//! `.ism` and its progressive MP4s (see [`request`] for the URL shapes).
//!
//! A request goes down: [`router`](mod@router) (handlers, the tower stacks) → [`request`]
//! (the path → what it asks for, traversal refused here) → `records` (locator
//! resolution) → [`Origin`] → `respond` (plain file, manifest or playlist,
//! segment) → `renditions` and `bodies` (the caches) → `moov` and `upstream`
//! (storage reads).
//!
//! - [`packaging`]: manifests from the renditions' indexes (pure).
//! - [`smooth`]: the Smooth client manifest from the renditions' indexes (pure).
//! - [`filtering`]: dynamic manifest filters applied to the renditions before packaging (pure).
//! - [`validators`]: ETag and Last-Modified of packaged responses, conditional requests (pure).
//! - [`encoding`]: gzip of packaged manifests for clients that accept it (pure).
//! - [`metrics`]: counters for `/metrics`.
//! - [`key_paths`]: where key requests go (the contract between the manifests and key delivery).
//! - `content_keys`: the one place content keys are opened under the KEK, kept zeroed-on-drop (key delivery and `encrypted` use it).
//! - [`key_delivery`]: content keys to viewers per their content key policy (the token check: [`key_delivery::token`]).
//! - `encrypted`: protected locators served encrypted (policy, keys opened under the KEK, manifests, segments).
//! - [`segment_body`]: a media segment's body as slices of the bytes read (no copy of its samples).
//! - `segment_cache`: packaged segments and ranges of stored files kept in memory in front of storage.

mod access_layer;
mod audio_labels;
mod audio_only;
mod bodies;
mod content_keys;
mod cors;
pub mod encoding;
mod encrypted;
mod fail;
mod filter_records;
pub mod filtering;
mod headers;
mod iframes;
pub mod key_delivery;
pub mod key_paths;
pub mod metrics;
mod moofs;
mod moov;
mod origin;
pub mod packaging;
mod records;
mod refresh_ahead;
mod renditions;
pub mod request;
mod request_deadline;
mod respond;
pub mod router;
pub mod segment_body;
mod segment_cache;
#[cfg(test)]
mod segment_cache_tests;
mod segment_range;
pub mod smooth;
pub mod smooth_text;
pub mod subtitles;
#[cfg(test)]
mod test_clip;
#[cfg(test)]
mod test_store;
mod ts_carriage;
mod upstream;
pub mod validators;

/// The response header naming the data center that answered ([`OriginConfig::name`]).
pub use mirrorcast_core::streaming::ORIGIN_HEADER;
/// `mirrorcast serve --max-connections`' default (the accept loop is [`mirrorcast_http`]'s).
pub use mirrorcast_http::DEFAULT_MAX_CONNECTIONS;
pub use origin::{Origin, OriginConfig, RequiredHeader};
pub use router::{metrics_router, router};
/// `mirrorcast serve --cache-size`' default, from the machine's memory.
pub use segment_cache::default_cache_bytes;
