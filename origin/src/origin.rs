//! One data center's origin: its settings and the parts that own its state
//! (records, renditions, packaged bodies, the upstream), and the one place a
//! resolved request is sent down to the response it asks for.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::protection::KeyEncryptionKey;
use mirrorcast_core::store::BlobStore;

use crate::bodies::BodyCache;
use crate::content_keys::ContentKeys;
use crate::encrypted::{Keyring, Packing};
use crate::fail::Fail;
use crate::filter_records::FilterRecords;
use crate::filtering::Filters;
use crate::key_delivery::KeyServer;
use crate::metrics::Metrics;
use crate::records::Records;
use crate::renditions::RenditionCache;
use crate::request::Target;
use crate::respond::packaged::Packager;
use crate::respond::{fragment, plain, Pick};
use crate::segment_cache::SegmentCache;
use crate::upstream::Upstream;

/// The settings of one origin; [`Default`] is what `mirrorcast serve` starts with.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// Bytes of MP4 indexes kept in memory.
    pub index_cache_bytes: u64,
    /// A request whose response has not started by then gets 408.
    pub request_timeout: Duration,
    /// The data center's name, sent as `x-mirrorcast-origin` on every response so a client
    /// behind a front (a drill, an operator with curl) can tell A from B. A name that is not a
    /// valid header value is left out rather than failing the origin.
    pub name: Option<String>,
    /// A storage call not answered by then (its own retries included) is a 503.
    pub upstream_timeout: Duration,
    /// Bytes of packaged segments and ranges of stored files kept in memory (0: none).
    pub segment_cache_bytes: u64,
    /// A blob kept in the segment cache is confirmed by storage at most this often: a replaced
    /// blob is served new within it (zero: confirmed on every request).
    pub segment_revalidate: Duration,
    /// A header every request must carry with this value (a CDN's shared secret, as Front Door's
    /// `X-Azure-FDID`), else 403 with no media; `/healthz` is exempt (probes carry none).
    pub required_header: Option<RequiredHeader>,
    /// Whether `/metrics` is on the viewers' listener (false: only on [`crate::metrics_router`]'s).
    pub metrics_on_main: bool,
    /// The data center's key-encryption key: it opens the content keys of protected locators
    /// (none: those are refused with a 503 naming it) and, for key delivery, content keys and
    /// HS256 token keys (none: key requests are a 503, which a front takes to another data center).
    pub kek: Option<Arc<dyn KeyEncryptionKey>>,
}

/// A header name and the value requests must carry in it; the value never in `Debug`.
#[derive(Clone)]
pub struct RequiredHeader {
    /// The header.
    pub name: axum::http::HeaderName,
    /// Its value, compared in constant time.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for RequiredHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequiredHeader").field("name", &self.name).field("value", &"<redacted>").finish()
    }
}

impl RequiredHeader {
    /// Whether `given` is the value, in time that does not depend on where they differ.
    pub fn matches(&self, given: Option<&[u8]>) -> bool {
        let Some(given) = given else { return false };
        let mut differ = u8::from(given.len() != self.value.len());
        for (i, want) in self.value.iter().enumerate() {
            differ |= want ^ given.get(i).copied().unwrap_or(!want);
        }
        differ == 0
    }
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            index_cache_bytes: 256 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(10),
            name: None,
            segment_cache_bytes: crate::segment_cache::default_cache_bytes(),
            segment_revalidate: crate::segment_cache::REVALIDATE,
            required_header: None,
            metrics_on_main: true,
            kek: None,
        }
    }
}

/// One data center's origin: its records, its blobs, its caches.
pub struct Origin {
    pub(crate) config: OriginConfig,
    pub(crate) records: Records,
    /// The filter records requests name (bound to their locator or in their URL).
    pub(crate) filters: FilterRecords,
    /// Key delivery (`/keys/…`).
    pub(crate) keys: KeyServer,
    pub(crate) upstream: Arc<Upstream>,
    /// Protected locators' encryption: their policies and keys (opened by [`ContentKeys`]).
    pub(crate) keyring: Keyring,
    renditions: RenditionCache,
    bodies: BodyCache,
    segments: SegmentCache,
    /// The origin's counters, served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin").field("store", &self.upstream.store.describe()).finish_non_exhaustive()
    }
}

impl Origin {
    /// An origin serving the assets recorded in `store` (its records and blobs), with empty caches.
    pub fn new(store: Arc<dyn BlobStore>, config: OriginConfig) -> Arc<Origin> {
        let metrics = Arc::new(Metrics::default());
        let upstream = Arc::new(Upstream::new(store, config.upstream_timeout, metrics.clone()));
        // One opener of content keys for key delivery and encrypted packaging alike.
        let content_keys = Arc::new(ContentKeys::new(config.kek.clone()));
        Arc::new(Origin {
            records: Records::new(upstream.clone()),
            filters: FilterRecords::new(upstream.clone()),
            keys: KeyServer::new(upstream.clone(), content_keys.clone()),
            keyring: Keyring::new(upstream.clone(), content_keys),
            renditions: RenditionCache::new(upstream.clone(), metrics.clone(), config.index_cache_bytes),
            bodies: BodyCache::new(metrics.clone()),
            segments: SegmentCache::new(
                upstream.clone(),
                config.segment_cache_bytes,
                config.segment_revalidate,
                metrics.clone(),
            ),
            upstream,
            config,
            metrics,
        })
    }

    /// The response to `target` of `asset` (its locator resolved and allowed), packaged with
    /// `filters`, encrypted as `packing` says (a protected locator's).
    pub(crate) async fn respond(
        &self,
        method: &Method,
        target: &Target,
        asset: &AssetRecord,
        filters: &Filters,
        headers: &HeaderMap,
        packing: Option<&Packing>,
    ) -> Result<Response, Fail> {
        let packager = Packager { renditions: &self.renditions, bodies: &self.bodies, packing };
        match target {
            Target::File(name) => plain::respond(&self.upstream, &self.segments, method, asset, name, headers).await,
            Target::Manifest { ism, format, .. } => {
                packager.manifest(asset, target, ism, *format, filters, headers).await
            }
            Target::Playlist { ism, bitrate, stream, format } | Target::IFrames { ism, bitrate, stream, format } => {
                let pick = Pick { ism, bitrate: *bitrate, stream, format: *format, packing };
                packager.playlist(asset, target, pick, filters, headers).await
            }
            Target::Fragment { ism, bitrate, stream, time, format, .. } => {
                let pick = Pick { ism, bitrate: *bitrate, stream, format: *format, packing };
                fragment::respond(&self.renditions, &self.segments, asset, target, pick, *time, headers).await
            }
        }
    }
}
