//! Packaged manifests and playlists by ETag, in both codings: a two-hour
//! asset's are made (and gzipped) once, not per request.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use quick_cache::sync::Cache;

use crate::encoding;
use crate::fail::Fail;
use crate::metrics::Metrics;

/// Bytes of packaged manifests and playlists kept (a two-hour MPD is ~64 KiB).
const BODY_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A packaged manifest or playlist in both codings, compressed once when made.
#[derive(Debug)]
pub(crate) struct Packaged {
    identity: Bytes,
    gzip: Bytes,
}

impl Packaged {
    /// The body in the coding asked for (shared, not copied).
    pub(crate) fn body(&self, gzip: bool) -> Bytes {
        if gzip {
            self.gzip.clone()
        } else {
            self.identity.clone()
        }
    }
}

#[derive(Clone)]
struct BodyWeight;

impl quick_cache::Weighter<String, Arc<Packaged>> for BodyWeight {
    fn weight(&self, _key: &String, value: &Arc<Packaged>) -> u64 {
        (value.identity.len() + value.gzip.len()) as u64 + 64
    }
}

/// The packaged bodies kept, by the ETag that names their target, sources and packager.
pub(crate) struct BodyCache {
    bodies: Cache<String, Arc<Packaged>, BodyWeight>,
    metrics: Arc<Metrics>,
}

impl BodyCache {
    pub(crate) fn new(metrics: Arc<Metrics>) -> BodyCache {
        BodyCache { bodies: Cache::with_weighter(1024, BODY_CACHE_BYTES, BodyWeight), metrics }
    }

    /// The body under `etag`, made by `make` (and gzipped) if it is not kept: by one request,
    /// the others asking for it meanwhile wait for that one (a body is never made twice at once).
    /// A `make` that fails is this request's failure; a waiter then makes the body itself.
    pub(crate) async fn get_or_make(
        &self,
        etag: &str,
        make: impl FnOnce() -> Result<String, Fail>,
    ) -> Result<Arc<Packaged>, Fail> {
        if let Some(p) = self.bodies.get(etag) {
            return Ok(p);
        }
        let guard = match self.bodies.get_value_or_guard_async(etag).await {
            Ok(p) => return Ok(p),
            Err(guard) => guard,
        };
        let started = Instant::now();
        let identity = Bytes::from(make()?);
        let p = Arc::new(Packaged { gzip: encoding::gzip(&identity), identity });
        self.metrics.body_made(started.elapsed());
        // Heavier than the budget: served to this request and its waiters, not kept.
        let _ = guard.insert(p.clone());
        Ok(p)
    }
}

#[cfg(test)]
#[path = "bodies_tests.rs"]
mod tests;
