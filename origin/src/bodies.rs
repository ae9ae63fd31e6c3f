//! Packaged manifests and playlists by ETag, in both codings: a two-hour
//! asset's are made (and gzipped) once, not per request.

use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;

use crate::encoding;

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
}

impl BodyCache {
    pub(crate) fn new() -> BodyCache {
        BodyCache { bodies: Cache::with_weighter(1024, BODY_CACHE_BYTES, BodyWeight) }
    }

    /// The body under `etag`, made by `make` (and gzipped) if it is not kept.
    pub(crate) fn get_or_make(&self, etag: &str, make: impl FnOnce() -> String) -> Arc<Packaged> {
        if let Some(p) = self.bodies.get(etag) {
            return p;
        }
        let identity = Bytes::from(make());
        let p = Arc::new(Packaged { gzip: encoding::gzip(&identity), identity });
        self.bodies.insert(etag.to_owned(), p.clone());
        p
    }
}
