//! Locator resolution: `/<locator-guid>/…` → the origin locator valid now and
//! its asset, from the data center's records (kept a few seconds, read again ahead
//! of that in the background), and what the locator's delivery terms let it serve.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mirrorcast_core::catalog::{AssetRecord, Catalog};
use mirrorcast_core::delivery::Servable;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{AssetFile, Locator, LocatorType};

use crate::fail::Fail;
use crate::metrics::Waited;
use crate::refresh_ahead::{RefreshAhead, Reread};
use crate::request::Target;
use crate::upstream::Upstream;

/// How long a found locator and its asset record are reused after their read started: a
/// deleted or changed locator stops being served as it was within this (a request that
/// keeps it in use has it read again in the background from 4/5 of this on, and a read
/// that finds it gone refuses it at once); its start and expiry are checked on every request.
pub(crate) const RECORD_TTL: Duration = Duration::from_secs(5);

/// How long after its last request a locator (or filter) is still read again ahead of its TTL
/// without a request: a manifest a CDN revalidates every `max-age` (10 s), or a player's next
/// playlist after a pause, finds it current and does not wait on storage.
pub(crate) const KEEP_WARM: Duration = Duration::from_secs(30);

/// A locator and its asset, as one request sees them.
pub(crate) type Found = Arc<(Locator, AssetRecord)>;

/// The records of one data center, as the origin reads them.
pub(crate) struct Records {
    catalog: Catalog,
    upstream: Arc<Upstream>,
    cache: RefreshAhead<uuid::Uuid, Found>,
}

impl Records {
    pub(crate) fn new(upstream: Arc<Upstream>) -> Records {
        let (catalog, reader) = (Catalog::new(upstream.store.clone()), upstream.clone());
        let reread: Reread<uuid::Uuid, Found> = Arc::new(move |guid| {
            let (catalog, upstream) = (catalog.clone(), reader.clone());
            Box::pin(async move { read(&catalog, &upstream, guid).await.map(Arc::new) })
        });
        let cache = RefreshAhead::new(4096, RECORD_TTL)
            .counted(upstream.metrics.clone(), Waited::Records)
            .kept_warm(KEEP_WARM, reread);
        Records { catalog: Catalog::new(upstream.store.clone()), upstream, cache }
    }

    /// The origin locator valid now and its asset (shared with the record cache, not copied).
    pub(crate) async fn resolve(&self, guid: uuid::Uuid) -> Result<Found, Fail> {
        let read = || {
            let (catalog, upstream) = (self.catalog.clone(), self.upstream.clone());
            async move { read(&catalog, &upstream, guid).await.map(Arc::new) }
        };
        let records = self.cache.get(&guid, read).await?;
        let locator = &records.0;
        let now = Utc::now();
        if locator.start_time.is_some_and(|s| now < s) {
            return Err(Fail::NotFound("locator not started"));
        }
        if now >= locator.expiration {
            return Err(Fail::NotFound("locator expired"));
        }
        Ok(records)
    }
}

/// An origin locator and its asset, from the records.
async fn read(catalog: &Catalog, upstream: &Upstream, guid: uuid::Uuid) -> Result<(Locator, AssetRecord), Fail> {
    let locator = match upstream.timed(catalog.get_locator(&LocatorId::from_uuid(guid))).await {
        Err(Fail::NotFound(_)) => return Err(Fail::NotFound("no such locator")),
        other => other?,
    };
    if locator.locator_type != LocatorType::OnDemandOrigin {
        return Err(Fail::NotFound("not an origin locator"));
    }
    match upstream.timed(catalog.get_asset(&locator.asset_id)).await {
        Err(Fail::NotFound(_)) => Err(Fail::NotFound("locator of a missing asset")),
        other => Ok((locator, other?.value)),
    }
}

/// What the locator's delivery terms let it serve of `target`: a protected stream
/// nothing (until the origin can encrypt), a download-only locator no stream, a
/// streaming-only locator no file (a filtered locator's filters apply in `filter_records`).
pub(crate) fn allowed(locator: &Locator, asset: &AssetRecord, target: &Target) -> Result<(), Fail> {
    let servable = locator.delivery.servable(asset.asset.options);
    let streaming = !matches!(target, Target::File(_));
    match servable {
        Servable::Protected(why) => Err(Fail::Forbidden(format!("protected stream ({why})"))),
        s if streaming && !s.streams() => Err(Fail::Forbidden("download only: no streaming".to_owned())),
        s if !streaming && !s.downloads() => Err(Fail::Forbidden("streaming only: no download".to_owned())),
        _ => Ok(()),
    }
}

/// The asset's file record named `name`: only the files the records list are served.
pub(crate) fn file_of<'a>(asset: &'a AssetRecord, name: &str) -> Result<&'a AssetFile, Fail> {
    asset.files.iter().find(|f| f.name == name).ok_or(Fail::NotFound("not a file of the asset"))
}
