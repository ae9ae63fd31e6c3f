//! The filters a request is packaged with: the locator's bound filters, then the URL's
//! `filter=` names, each resolved through the data center's records (the asset's filter of
//! that name, else the account's), kept a few seconds and read again ahead as locators are.

use std::sync::Arc;

use mirrorcast_core::catalog::{AssetRecord, Catalog};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::filter::Filter;
use mirrorcast_core::model::Locator;

use crate::fail::Fail;
use crate::filtering::Filters;
use crate::metrics::Waited;
use crate::records::{KEEP_WARM, RECORD_TTL};
use crate::refresh_ahead::{RefreshAhead, Reread};
use crate::request::{Request, Target};
use crate::upstream::Upstream;

/// Filter records as the origin reads them, by asset and name (a missing one too, so an
/// unknown name costs no storage read per request).
pub(crate) struct FilterRecords {
    catalog: Catalog,
    upstream: Arc<Upstream>,
    /// A filter as last read (`None`: there was none of that name).
    cache: RefreshAhead<(AssetId, String), Option<Arc<Filter>>>,
}

impl FilterRecords {
    pub(crate) fn new(upstream: Arc<Upstream>) -> FilterRecords {
        let (catalog, reader) = (Catalog::new(upstream.store.clone()), upstream.clone());
        let reread: Reread<(AssetId, String), Option<Arc<Filter>>> = Arc::new(move |(asset, name)| {
            let (catalog, upstream) = (catalog.clone(), reader.clone());
            Box::pin(async move { read(&catalog, &upstream, asset, &name).await })
        });
        let cache = RefreshAhead::new(4096, RECORD_TTL)
            .counted(upstream.metrics.clone(), Waited::Filters)
            .kept_warm(KEEP_WARM, reread);
        FilterRecords { catalog: Catalog::new(upstream.store.clone()), upstream, cache }
    }

    /// The filters `request` through `locator` is packaged with: none for a file or a segment
    /// (their bytes are the same filtered or not); an unknown name is a 400 naming it.
    pub(crate) async fn for_request(
        &self,
        locator: &Locator,
        asset: &AssetRecord,
        request: &Request,
    ) -> Result<Filters, Fail> {
        if !matches!(request.target, Target::Manifest { .. } | Target::Playlist { .. }) {
            return Ok(Filters::default());
        }
        let mut names: Vec<&str> = Vec::new();
        for name in locator.delivery.filters.iter().chain(&request.filters) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name);
            }
        }
        let mut list = Vec::with_capacity(names.len());
        for name in names {
            match self.filter(&asset.asset.id, name).await? {
                Some(f) => list.push(f),
                None => return Err(Fail::BadFilter(format!("unknown filter: {name}"))),
            }
        }
        Ok(Filters { list, from_url: request.filters.clone() })
    }

    async fn filter(&self, asset: &AssetId, name: &str) -> Result<Option<Arc<Filter>>, Fail> {
        let key = (*asset, name.to_ascii_lowercase());
        let read = || {
            let (catalog, upstream, asset, name) =
                (self.catalog.clone(), self.upstream.clone(), *asset, name.to_owned());
            async move { read(&catalog, &upstream, asset, &name).await }
        };
        self.cache.get(&key, read).await
    }
}

/// The filter `name` of `asset` (the asset's, else the account's) from the records; `None`: none.
async fn read(catalog: &Catalog, upstream: &Upstream, asset: AssetId, name: &str) -> Result<Option<Arc<Filter>>, Fail> {
    match upstream.timed(catalog.resolve_filter(&asset, name)).await {
        Ok(scoped) => Ok(Some(Arc::new(scoped.filter))),
        Err(Fail::NotFound(_)) => Ok(None),
        Err(f) => Err(f),
    }
}
