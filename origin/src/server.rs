//! The HTTP side of the origin. Handlers stay small: resolve the locator,
//! then serve a file or hand indexes to [`crate::packaging`] and
//! [`mirrorcast_media::fragment`].

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::TryStreamExt;
use mirrorcast_core::catalog::{AssetRecord, Catalog, CATALOG_CONTAINER};
use mirrorcast_core::delivery::Servable;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{Locator, LocatorType};
use mirrorcast_core::store::{BlobMeta, BlobStore, ListOptions};
use mirrorcast_core::ErrorKind;
use mirrorcast_media::fragment::{box_header, Index};
use mirrorcast_media::ism::{ServerManifest, TrackKind};
use mirrorcast_media::smooth_fragment::smooth_fragment_parts;
use mirrorcast_media::ts::{ts_segment, Counters};
use quick_cache::sync::Cache;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, warn};

use crate::encoding;
use crate::metrics::Metrics;
use crate::packaging::{self, Rendition};
use crate::range::{self, Ranged};
use crate::request::{self, Format, Target};
use crate::segment_body::ChainBody;
use crate::smooth;
use crate::stall::{StallGuard, WRITE_STALL_LIMIT};
use crate::validators::{self, Validators};

/// A larger `moov` is refused rather than held (hours of 60 fps need a few MiB).
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
/// The first read of a rendition: with `moov` first (as `mirrorcast encode` writes), the whole index in one GET.
const FIRST_READ_BYTES: u64 = 256 * 1024;
/// A larger `.ism` is refused (one names a few renditions in a few KiB).
const MAX_ISM_BYTES: u64 = 1024 * 1024;
/// Longest file name quoted in an error body (error bodies stay short).
const MAX_NAME_IN_BODY: usize = 40;
/// Longest reason in an error body.
const MAX_REASON_IN_BODY: usize = 60;
/// How long a parsed `.ism` is reused before it is read again.
const MANIFEST_TTL: Duration = Duration::from_secs(30);
/// How long a found locator and its asset record are reused: a deleted locator stops
/// working within this; its start and expiry are still checked on every request.
const RECORD_TTL: Duration = Duration::from_secs(5);
const MANIFEST_CACHE_CONTROL: &str = "public, max-age=10";
const MEDIA_CACHE_CONTROL: &str = "public, max-age=86400";

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
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            index_cache_bytes: 256 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(10),
            name: None,
        }
    }
}

/// The version of a source blob a response is made from.
#[derive(Debug, Clone)]
struct Version {
    /// The store's ETag: a later read of other bytes is noticed by it.
    etag: String,
    /// What stays equal while the bytes do, in any data center (see [`validators`]).
    tag: String,
    last_modified: Option<chrono::DateTime<Utc>>,
}

impl Version {
    fn of(meta: &BlobMeta) -> Version {
        Version {
            etag: meta.etag.clone(),
            tag: validators::content_tag(meta.properties.content_md5.as_deref(), &meta.etag),
            last_modified: meta.last_modified,
        }
    }

    fn source(&self) -> (&str, Option<chrono::DateTime<Utc>>) {
        (&self.tag, self.last_modified)
    }
}

/// A rendition's index and the blob version it was read from.
#[derive(Debug, Clone)]
struct Indexed {
    version: Version,
    index: Arc<Index>,
}

/// Every rendition of one `.ism` with its index: built once per manifest TTL, not per request.
/// The only holder of indexes, so they are counted once against the budget.
#[derive(Debug)]
struct Renditions {
    list: Vec<Owned>,
    /// A rendition whose samples are in movie fragments (not in its moov): nothing of
    /// this `.ism` is packaged until the origin can cut such files (kept, so the
    /// refusal costs no storage read).
    fragmented: Option<String>,
    parsed: Arc<Parsed>,
    at: Instant,
    /// Set by the one request that re-reads the `.ism` once `at` is past the TTL; the
    /// others go on with this entry meanwhile instead of all re-reading it at once.
    refreshing: AtomicBool,
}

/// Releases a claimed refresh when the refreshing request ends, whether or not it succeeded.
struct Refresh<'a>(&'a AtomicBool);

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Clone)]
struct RenditionsWeight;

impl quick_cache::Weighter<(String, String), Arc<Renditions>> for RenditionsWeight {
    fn weight(&self, _key: &(String, String), value: &Arc<Renditions>) -> u64 {
        // Each index once, though a file's audio and video tracks share it.
        let list = &value.list;
        let first_of_its_index =
            |(i, o): &(usize, &Owned)| !list[..*i].iter().any(|p| Arc::ptr_eq(&p.index.index, &o.index.index));
        list.iter().enumerate().filter(first_of_its_index).map(|(_, o)| o.index.index.weight()).sum::<u64>().max(1)
    }
}

#[derive(Clone)]
struct BodyWeight;

impl quick_cache::Weighter<String, Arc<Packaged>> for BodyWeight {
    fn weight(&self, _key: &String, value: &Arc<Packaged>) -> u64 {
        (value.identity.len() + value.gzip.len()) as u64 + 64
    }
}

/// A packaged manifest or playlist in both codings, compressed once when made.
#[derive(Debug)]
struct Packaged {
    identity: Bytes,
    gzip: Bytes,
}

/// A weighted cache in one shard. quick_cache splits its budget between shards and
/// refuses an item heavier than its shard's share: a two-hour rendition's index
/// (~25 MB) was refused or evicted by its neighbours, depending on where its key
/// hashed, and rebuilt from the moov on every request. One shard admits any item
/// up to (nearly) the whole budget; a lookup is a short lock either way.
fn one_shard<K: Eq + std::hash::Hash + Clone, V: Clone, W: quick_cache::Weighter<K, V> + Clone>(
    items: usize,
    bytes: u64,
    weighter: W,
) -> Cache<K, V, W> {
    let options = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(items)
        .weight_capacity(bytes)
        .shards(1)
        .build()
        .expect("items and weight capacity are set");
    Cache::with_options(options, weighter, Default::default(), Default::default())
}

/// Bytes of packaged manifests and playlists kept, by ETag (a two-hour MPD is ~64 KiB).
const BODY_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A parsed `.ism` and the blob version it was read from.
#[derive(Debug)]
struct Parsed {
    manifest: ServerManifest,
    version: Version,
}

/// One data center's origin: its records, its blobs, its caches.
pub struct Origin {
    catalog: Catalog,
    store: Arc<dyn BlobStore>,
    config: OriginConfig,
    manifests: Cache<(String, String), (Instant, Arc<Parsed>)>,
    records: Cache<uuid::Uuid, (Instant, Arc<(Locator, AssetRecord)>)>,
    /// Each `.ism`'s renditions with their MP4 indexes, weighted by index bytes within the
    /// index budget (quick_cache: weighted, small, no background threads). It is the one
    /// cache of indexes: an index is never held twice, so the budget is the bound.
    renditions: Cache<(String, String), Arc<Renditions>, RenditionsWeight>,
    /// Packaged manifests and playlists by ETag: a two-hour asset's are made once, not per request.
    bodies: Cache<String, Arc<Packaged>, BodyWeight>,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin").field("store", &self.store.describe()).finish_non_exhaustive()
    }
}

/// Why a request failed. The client sees a status and a short fixed body;
/// the log sees the reason and an error kind, never a storage URL.
#[derive(Debug)]
enum Fail {
    NotFound(&'static str),
    Unsatisfiable(u64),
    Storage(ErrorKind),
    Media,
    /// A rendition this origin cannot package faithfully (its samples are in `moof`s):
    /// 501 naming it, rather than a manifest of nothing or another file's manifest.
    Fragmented(String),
    /// What the locator's delivery terms do not allow (a protected stream, a download
    /// of a streaming-only locator): 403 with a short reason, never a key.
    Forbidden(String),
    /// What the locator asks for and this origin does not do yet (filters bound to it): 501.
    Unimplemented(String),
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
                (StatusCode::FORBIDDEN, format!("{}\n", request::at_most(&why, MAX_REASON_IN_BODY))).into_response()
            }
            Fail::Unimplemented(why) => {
                debug!(target: "mirrorcast_origin", "501: {why}");
                (StatusCode::NOT_IMPLEMENTED, format!("{}\n", request::at_most(&why, MAX_REASON_IN_BODY)))
                    .into_response()
            }
            Fail::Fragmented(file) => {
                debug!(target: "mirrorcast_origin", "501: {file} is a fragmented MP4");
                let name = request::at_most(file.rsplit('/').next().unwrap_or(&file), MAX_NAME_IN_BODY);
                (StatusCode::NOT_IMPLEMENTED, format!("fragmented rendition: {name}\n")).into_response()
            }
        }
    }
}

/// What the locator's delivery terms let it serve of `target`: a protected stream
/// nothing (until the origin can encrypt), a download-only locator no stream, a
/// streaming-only locator no file, a filtered locator no unfiltered stream.
fn allowed(locator: &Locator, asset: &AssetRecord, target: &Target) -> Result<(), Fail> {
    let servable = locator.delivery.servable(asset.asset.options);
    let streaming = !matches!(target, Target::File(_));
    match servable {
        Servable::Protected(why) => Err(Fail::Forbidden(format!("protected stream ({why})"))),
        s if streaming && !s.streams() => Err(Fail::Forbidden("download only: no streaming".to_owned())),
        s if !streaming && !s.downloads() => Err(Fail::Forbidden("streaming only: no download".to_owned())),
        _ if streaming && !locator.delivery.filters.is_empty() => {
            Err(Fail::Unimplemented("locator filters are not implemented".to_owned()))
        }
        _ => Ok(()),
    }
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

impl Origin {
    pub fn new(store: Arc<dyn BlobStore>, config: OriginConfig) -> Arc<Origin> {
        Arc::new(Origin {
            catalog: Catalog::new(store.clone()),
            manifests: Cache::new(1024),
            records: Cache::new(4096),
            renditions: one_shard(1024, config.index_cache_bytes, RenditionsWeight),
            bodies: Cache::with_weighter(1024, BODY_CACHE_BYTES, BodyWeight),
            store,
            config,
            metrics: Metrics::default(),
        })
    }

    /// A storage call, timed for the metrics.
    async fn timed<T, E: Into<mirrorcast_core::Error>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Fail> {
        let start = Instant::now();
        let out = tokio::time::timeout(self.config.upstream_timeout, call).await;
        self.metrics.upstream(start.elapsed(), matches!(out, Ok(Ok(_))));
        match out {
            Ok(done) => Ok(done.map_err(Into::into)?),
            Err(_) => Err(Fail::Storage(ErrorKind::Transient)),
        }
    }

    /// The origin locator valid now and its asset (shared with the record cache, not copied).
    async fn resolve(&self, guid: uuid::Uuid) -> Result<Arc<(Locator, AssetRecord)>, Fail> {
        let records = match self.records.get(&guid).filter(|(at, _)| at.elapsed() < RECORD_TTL) {
            Some((_, found)) => found,
            None => {
                let found = Arc::new(self.read_records(guid).await?);
                self.records.insert(guid, (Instant::now(), found.clone()));
                found
            }
        };
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

    /// An origin locator and its asset, from the records (unknown ones are not cached).
    async fn read_records(&self, guid: uuid::Uuid) -> Result<(Locator, AssetRecord), Fail> {
        let locator = match self.timed(self.catalog.get_locator(&LocatorId::from_uuid(guid))).await {
            Err(Fail::NotFound(_)) => return Err(Fail::NotFound("no such locator")),
            other => other?,
        };
        if locator.locator_type != LocatorType::OnDemandOrigin {
            return Err(Fail::NotFound("not an origin locator"));
        }
        match self.timed(self.catalog.get_asset(&locator.asset_id)).await {
            Err(Fail::NotFound(_)) => Err(Fail::NotFound("locator of a missing asset")),
            other => Ok((locator, other?.value)),
        }
    }

    async fn handle(
        &self,
        method: &Method,
        target: &Target,
        asset: &AssetRecord,
        headers: &HeaderMap,
    ) -> Result<Response, Fail> {
        match target {
            Target::File(name) => self.plain(method, asset, name, headers).await,
            Target::Manifest { ism, format } => self.manifest(asset, target, ism, *format, headers).await,
            Target::Playlist { ism, bitrate, stream, format } => {
                let renditions = self.renditions(asset, ism).await?;
                let r = pick(&renditions.list, *bitrate, stream)?;
                let rendition = r.as_rendition()?;
                let v = validators::packaged(
                    &target.canonical(),
                    &[renditions.parsed.version.source(), r.index.version.source()],
                );
                Ok(self.packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
                    packaging::hls_media(&rendition, *format)
                }))
            }
            Target::Fragment { ism, bitrate, stream, time, format } => {
                let renditions = self.renditions(asset, ism).await?;
                let r = pick(&renditions.list, *bitrate, stream)?;
                // A fragment's bytes depend on its rendition only, not on the `.ism`.
                let v = validators::packaged(&target.canonical(), &[r.index.version.source()]);
                if validators::not_modified(headers, &v.etag, v.last_modified) {
                    return Ok(not_modified(&v, MEDIA_CACHE_CONTROL));
                }
                let mut resp = self.fragment(asset, ism, r, *time, *format).await?;
                set_validators(resp.headers_mut(), &v);
                Ok(resp)
            }
        }
    }

    fn has_file<'a>(asset: &'a AssetRecord, name: &str) -> Result<&'a mirrorcast_core::model::AssetFile, Fail> {
        asset.files.iter().find(|f| f.name == name).ok_or(Fail::NotFound("not a file of the asset"))
    }

    async fn plain(
        &self,
        method: &Method,
        asset: &AssetRecord,
        name: &str,
        headers: &HeaderMap,
    ) -> Result<Response, Fail> {
        let file = Self::has_file(asset, name)?;
        let container = &asset.asset.container;
        let meta = self.timed(self.store.head_blob(container, name)).await?;
        let etag = validators::plain_etag(meta.properties.content_md5.as_deref(), &meta.etag);
        let mut h = HeaderMap::new();
        insert(&mut h, header::CONTENT_TYPE, &file.mime_type);
        insert(&mut h, header::ETAG, &etag);
        insert(&mut h, header::ACCEPT_RANGES, "bytes");
        insert(&mut h, header::CACHE_CONTROL, cache_control_for(name));
        if let Some(at) = meta.last_modified {
            insert(&mut h, header::LAST_MODIFIED, &httpdate::fmt_http_date(at.into()));
        }
        if validators::not_modified(headers, &etag, meta.last_modified) {
            return Ok((StatusCode::NOT_MODIFIED, h).into_response());
        }
        let wanted = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        let (status, range) = match range::resolve(wanted, meta.size) {
            Ranged::Unsatisfiable => return Err(Fail::Unsatisfiable(meta.size)),
            Ranged::Whole => (StatusCode::OK, None),
            Ranged::Part(r) => {
                insert(&mut h, header::CONTENT_RANGE, &format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size));
                (StatusCode::PARTIAL_CONTENT, Some(r))
            }
        };
        let length = range.as_ref().map_or(meta.size, |r| r.end - r.start);
        insert(&mut h, header::CONTENT_LENGTH, &length.to_string());
        if method == Method::HEAD {
            return Ok((status, h).into_response());
        }
        let got = self.timed(self.store.get_blob(container, name, range)).await?;
        let body = Body::from_stream(got.stream.map_err(|e| std::io::Error::other(e.kind().to_string())));
        Ok((status, h, body).into_response())
    }

    async fn manifest(
        &self,
        asset: &AssetRecord,
        target: &Target,
        ism: &str,
        format: Format,
        headers: &HeaderMap,
    ) -> Result<Response, Fail> {
        let all = self.renditions(asset, ism).await?;
        let renditions: Vec<Rendition<'_>> = all.list.iter().map(Owned::as_rendition).collect::<Result<_, _>>()?;
        let sources: Vec<_> = std::iter::once(all.parsed.version.source())
            .chain(all.list.iter().map(|o| o.index.version.source()))
            .collect();
        let v = validators::packaged(&target.canonical(), &sources);
        if renditions.is_empty() || renditions.iter().any(|r| r.track.fragments.is_empty()) {
            // Nothing to cut: a manifest of no segments would be a 200 that plays nothing.
            return Err(Fail::Media);
        }
        Ok(match format {
            Format::Smooth => self.packaged_text(headers, &v, "text/xml; charset=utf-8", || {
                smooth::client_manifest(&renditions).to_xml()
            }),
            f if f.is_hls() => self.packaged_text(headers, &v, "application/vnd.apple.mpegurl", || {
                packaging::hls_master(&renditions, format)
            }),
            _ => self.packaged_text(headers, &v, "application/dash+xml", || packaging::dash(&renditions, format)),
        })
    }

    /// A packaged manifest or playlist: 304 when the client's copy is current, else
    /// its text, made (and gzipped) once per ETag (which names its target, sources
    /// and packager); gzipped for a client that accepts it, under its own ETag.
    fn packaged_text(
        &self,
        headers: &HeaderMap,
        v: &Validators,
        content_type: &str,
        make: impl FnOnce() -> String,
    ) -> Response {
        let gzip = encoding::accepts_gzip(headers);
        let coded;
        let chosen = if gzip {
            coded = Validators { etag: encoding::gzip_etag(&v.etag), last_modified: v.last_modified };
            &coded
        } else {
            v
        };
        let mut response = conditional(headers, chosen, MANIFEST_CACHE_CONTROL, || {
            let packaged = match self.bodies.get(&v.etag) {
                Some(p) => p,
                None => {
                    let identity = Bytes::from(make());
                    let p = Arc::new(Packaged { gzip: encoding::gzip(&identity), identity });
                    self.bodies.insert(v.etag.clone(), p.clone());
                    p
                }
            };
            let body = if gzip { packaged.gzip.clone() } else { packaged.identity.clone() };
            let mut r = (StatusCode::OK, body).into_response();
            insert(r.headers_mut(), header::CONTENT_TYPE, content_type);
            if gzip {
                r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        });
        // Either coding may be sent for this URL: caches key on the request's Accept-Encoding.
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        response
    }

    async fn fragment(
        &self,
        asset: &AssetRecord,
        ism: &str,
        r: &Owned,
        time: Option<u64>,
        format: Format,
    ) -> Result<Response, Fail> {
        let track = r.track()?;
        let mime = match (format, r.kind) {
            (f, _) if f.is_ts() => "video/MP2T",
            (_, TrackKind::Audio) => "audio/mp4",
            _ => "video/mp4",
        };
        let body = match time {
            // A Smooth client makes its own moov from the manifest's codec private data.
            None if format == Format::Smooth || format.is_ts() => {
                return Err(Fail::NotFound("Smooth and TS have no init segment"))
            }
            None => Body::from(r.index.index.init_segment(track).map_err(|_| Fail::Media)?),
            Some(t) => {
                let (number, fragment) = track.fragment_at(t).ok_or(Fail::NotFound("no fragment at that time"))?;
                let range = track.byte_range(fragment);
                // The blob's metadata alone, no Version (its content tag is a String per segment).
                let (meta, data) = self.read_bytes(&asset.asset.container, &r.file, Some(range)).await?;
                if meta.etag != r.index.version.etag {
                    // The rendition was replaced: forget the old index, let the client ask again.
                    self.renditions.remove(&(asset.asset.container.clone(), ism.to_owned()));
                    return Err(Fail::Storage(ErrorKind::Transient));
                }
                // CMAF and Smooth: the samples go out as slices of what was read, not copied.
                let parts = match format {
                    Format::HlsTs | Format::HlsAapl => {
                        ts_segment(track, number, &data, r.ts_counters(track)?).map(Body::from)
                    }
                    Format::Smooth => smooth_fragment_parts(track, number, data.len())
                        .map(|p| Body::new(ChainBody::segment(p, &data))),
                    _ => track.media_segment_parts(number, data.len()).map(|p| Body::new(ChainBody::segment(p, &data))),
                };
                parts.map_err(|_| Fail::Media)?
            }
        };
        let length = http_body::Body::size_hint(&body).exact();
        let mut resp = (StatusCode::OK, body).into_response();
        if let Some(length) = length {
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        insert(resp.headers_mut(), header::CONTENT_TYPE, mime);
        insert(resp.headers_mut(), header::CACHE_CONTROL, MEDIA_CACHE_CONTROL);
        Ok(resp)
    }

    /// Bytes of a blob (or of `range` of it) in memory, and the blob's version.
    async fn get_range(
        &self,
        container: &str,
        name: &str,
        range: Option<Range<u64>>,
    ) -> Result<(Version, Bytes), Fail> {
        let (meta, bytes) = self.read_bytes(container, name, range).await?;
        Ok((Version::of(&meta), bytes))
    }

    /// A whole blob of at most `limit` bytes in memory. The blob's own length (not its
    /// record's) is checked before its body is read, and the body is cut off past the
    /// limit: a huge blob under a small record costs no memory.
    async fn read_at_most(&self, container: &str, name: &str, limit: u64) -> Result<(BlobMeta, Bytes), Fail> {
        let got = self.timed(self.store.get_blob(container, name, None)).await?;
        if got.meta.size > limit {
            debug!(target: "mirrorcast_origin", "{name}: {} bytes, over the {limit}-byte bound", got.meta.size);
            return Err(Fail::Media);
        }
        let meta = got.meta;
        let mut buf = BytesMut::with_capacity(meta.size as usize);
        let mut stream = got.stream;
        let read = tokio::time::timeout(self.config.upstream_timeout, async {
            while let Some(chunk) = stream.try_next().await? {
                if (buf.len() + chunk.len()) as u64 > limit {
                    return Ok(Err(Fail::Media));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok::<_, mirrorcast_core::Error>(Ok(()))
        })
        .await;
        read.map_err(|_| Fail::Storage(ErrorKind::Transient))???;
        Ok((meta, buf.freeze()))
    }

    /// Bytes of a blob (or of `range` of it) in memory, and the blob's metadata.
    async fn read_bytes(
        &self,
        container: &str,
        name: &str,
        range: Option<Range<u64>>,
    ) -> Result<(BlobMeta, Bytes), Fail> {
        let got = self.timed(self.store.get_blob(container, name, range)).await?;
        let meta = got.meta;
        let start = Instant::now();
        let read = tokio::time::timeout(self.config.upstream_timeout, got.stream.try_collect::<Vec<Bytes>>()).await;
        self.metrics.upstream(start.elapsed(), matches!(read, Ok(Ok(_))));
        let mut chunks = read.map_err(|_| Fail::Storage(ErrorKind::Transient))??;
        // A store that answers in one chunk (a local directory does) is not copied.
        if chunks.len() == 1 {
            return Ok((meta, chunks.pop().unwrap_or_default()));
        }
        let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        chunks.iter().for_each(|c| buf.extend_from_slice(c));
        Ok((meta, buf.freeze()))
    }

    async fn server_manifest(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Parsed>, Fail> {
        // A server manifest is a few KiB; a huge one is refused, not held (the records say its size).
        if Self::has_file(asset, ism)?.size > MAX_ISM_BYTES {
            return Err(Fail::Media);
        }
        let key = (asset.asset.container.clone(), ism.to_owned());
        if let Some((at, m)) = self.manifests.get(&key) {
            if at.elapsed() < MANIFEST_TTL {
                return Ok(m);
            }
        }
        let (meta, bytes) = self.read_at_most(&asset.asset.container, ism, MAX_ISM_BYTES).await?;
        let version = Version::of(&meta);
        let text = std::str::from_utf8(&bytes).map_err(|_| Fail::Media)?;
        let parsed = Arc::new(Parsed { manifest: ServerManifest::parse(text).map_err(|_| Fail::Media)?, version });
        self.manifests.insert(key, (Instant::now(), parsed.clone()));
        Ok(parsed)
    }

    /// Every video and audio track the `.ism` names, with its file's index. One request
    /// builds a missing entry while the others with the same key wait for it (a cold
    /// two-hour asset is indexed once, not once per concurrent request); once the entry
    /// is past the TTL, one request re-reads the `.ism` (reusing the indexes of files it
    /// still names) while the others go on with the entry they have.
    async fn renditions(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Renditions>, Fail> {
        let renditions = self.cached_renditions(asset, ism).await?;
        match &renditions.fragmented {
            Some(file) => Err(Fail::Fragmented(file.clone())),
            None => Ok(renditions),
        }
    }

    /// [`Self::renditions`], fragmented ones included.
    async fn cached_renditions(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Renditions>, Fail> {
        let key = (asset.asset.container.clone(), ism.to_owned());
        let found = match self.renditions.get_value_or_guard_async(&key).await {
            Ok(found) => found,
            Err(guard) => {
                let built = Arc::new(self.build_renditions(asset, ism, None).await?);
                // Too heavy for the budget: served to this request and its waiters, not kept.
                let _ = guard.insert(built.clone());
                return Ok(built);
            }
        };
        if found.at.elapsed() < MANIFEST_TTL || found.refreshing.swap(true, Ordering::AcqRel) {
            // Each rendition's index is served from memory: counted as the index cache hit it is.
            found.list.iter().for_each(|_| self.metrics.index_lookup(true));
            return Ok(found);
        }
        let _refresh = Refresh(&found.refreshing);
        let built = Arc::new(self.build_renditions(asset, ism, Some(&found)).await?);
        self.renditions.insert(key, built.clone());
        Ok(built)
    }

    async fn build_renditions(
        &self,
        asset: &AssetRecord,
        ism: &str,
        previous: Option<&Renditions>,
    ) -> Result<Renditions, Fail> {
        let server = self.server_manifest(asset, ism).await?;
        let base = ism.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut out = Vec::new();
        for t in &server.manifest.tracks {
            if t.kind == TrackKind::Text {
                continue;
            }
            let file = join(base, &t.src);
            Self::has_file(asset, &file)?;
            // One index per file: a file's audio and video tracks share it, and a refresh keeps it.
            let known = out
                .iter()
                .chain(previous.map_or(&[][..], |p| &p.list[..]))
                .find(|o| o.file == file)
                .map(|o| o.index.clone());
            let index = match known {
                Some(index) => {
                    self.metrics.index_lookup(true);
                    index
                }
                None => self.index(&asset.asset.container, &file).await?,
            };
            let stream = match t.kind {
                TrackKind::Video => "video".to_owned(),
                _ => t.track_name.clone().unwrap_or_else(|| "audio".to_owned()),
            };
            out.push(Owned {
                kind: t.kind,
                stream,
                bitrate: t.system_bitrate,
                track_id: t.track_id,
                language: t.language.clone(),
                file,
                index,
                ts_counters: std::sync::OnceLock::new(),
            });
        }
        let fragmented = out.iter().find(|o| o.index.index.fragmented).map(|o| o.file.clone());
        Ok(Renditions { list: out, fragmented, parsed: server, at: Instant::now(), refreshing: AtomicBool::new(false) })
    }

    /// The index of a rendition, built from ranged reads of its `moov` (kept by [`Self::renditions`]).
    async fn index(&self, container: &str, name: &str) -> Result<Indexed, Fail> {
        self.metrics.index_lookup(false);
        let meta = self.timed(self.store.head_blob(container, name)).await?;
        let size = meta.size;
        let (version, first) = self.get_range(container, name, Some(0..size.min(FIRST_READ_BYTES))).await?;
        let mut pos = 0u64;
        let mut moov = None;
        for _ in 0..64 {
            if pos >= size {
                break;
            }
            let head = if pos + 16 <= first.len() as u64 {
                first.slice(pos as usize..pos as usize + 16)
            } else {
                self.get_range(container, name, Some(pos..(pos + 16).min(size))).await?.1
            };
            let h = box_header(&head).ok_or(Fail::Media)?;
            let box_size = h.size.unwrap_or(size - pos);
            // A 64-bit size near 2^64 must not overflow: checked, not added.
            if box_size < h.header_len || pos.checked_add(box_size).is_none_or(|end| end > size) {
                return Err(Fail::Media);
            }
            if &h.kind == b"moov" {
                if box_size > MAX_MOOV_BYTES {
                    return Err(Fail::Media);
                }
                moov = Some(if pos + box_size <= first.len() as u64 {
                    first.slice(pos as usize..(pos + box_size) as usize)
                } else {
                    self.get_range(container, name, Some(pos..pos + box_size)).await?.1
                });
                break;
            }
            pos += box_size;
        }
        let moov = moov.ok_or(Fail::Media)?;
        let index = Index::from_moov(&moov).map_err(|e| {
            debug!(target: "mirrorcast_origin", "index of a rendition: {e}");
            Fail::Media
        })?;
        Ok(Indexed { version, index: Arc::new(index) })
    }

    async fn healthy(&self) -> bool {
        let probe = ListOptions { max_results: Some(1), ..Default::default() };
        self.timed(self.store.list_blobs(CATALOG_CONTAINER, &probe)).await.is_ok()
    }
}

/// A rendition with its index, owned (the manifest functions borrow from it).
#[derive(Debug)]
struct Owned {
    kind: TrackKind,
    stream: String,
    bitrate: u64,
    track_id: u32,
    /// The `.ism`'s `systemLanguage`.
    language: Option<String>,
    file: String,
    index: Indexed,
    /// MPEG-TS continuity counters at each fragment's start, counted once (at the first TS
    /// request), not per segment; `None`: TS cannot carry this track.
    ts_counters: std::sync::OnceLock<Option<Counters>>,
}

impl Owned {
    fn track(&self) -> Result<&mirrorcast_media::fragment::TrackIndex, Fail> {
        let handler = if self.kind == TrackKind::Audio { "soun" } else { "vide" };
        let index = &self.index.index;
        index
            .track(self.track_id)
            .filter(|t| t.info.handler == handler)
            .or_else(|| index.by_handler(handler))
            .ok_or(Fail::Media)
    }

    fn ts_counters(&self, track: &mirrorcast_media::fragment::TrackIndex) -> Result<&Counters, Fail> {
        self.ts_counters.get_or_init(|| Counters::of(track).ok()).as_ref().ok_or(Fail::Media)
    }

    fn as_rendition(&self) -> Result<Rendition<'_>, Fail> {
        Ok(Rendition {
            kind: self.kind,
            stream: &self.stream,
            bitrate: self.bitrate,
            language: self.language.as_deref(),
            track: self.track()?,
        })
    }
}

fn pick<'a>(renditions: &'a [Owned], bitrate: u64, stream: &str) -> Result<&'a Owned, Fail> {
    renditions
        .iter()
        .find(|r| r.bitrate == bitrate && r.stream.eq_ignore_ascii_case(stream))
        .ok_or(Fail::NotFound("no such quality level"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn set_validators(h: &mut HeaderMap, v: &Validators) {
    insert(h, header::ETAG, &v.etag);
    if let Some(at) = v.last_modified {
        insert(h, header::LAST_MODIFIED, &httpdate::fmt_http_date(at.into()));
    }
}

/// 304 with the validators and caching a 200 would have had.
fn not_modified(v: &Validators, cache_control: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    set_validators(r.headers_mut(), v);
    insert(r.headers_mut(), header::CACHE_CONTROL, cache_control);
    r
}

/// A packaged response under its validators: 304 when the client's copy is
/// current (nothing is made), else `make()` with ETag and Last-Modified.
fn conditional(headers: &HeaderMap, v: &Validators, cache_control: &str, make: impl FnOnce() -> Response) -> Response {
    if validators::not_modified(headers, &v.etag, v.last_modified) {
        return not_modified(v, cache_control);
    }
    let mut r = make();
    set_validators(r.headers_mut(), v);
    insert(r.headers_mut(), header::CACHE_CONTROL, cache_control);
    r
}

/// Manifests change when an asset is re-encoded; media files do not.
fn cache_control_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let manifest = [".ism", ".ismc", ".m3u8", ".mpd", ".xml", ".json"].iter().any(|e| lower.ends_with(e));
    if manifest {
        MANIFEST_CACHE_CONTROL
    } else {
        MEDIA_CACHE_CONTROL
    }
}

/// Takes the whole request: extracting its headers as a `HeaderMap` would clone them.
async fn stream(State(origin): State<Arc<Origin>>, request: Request) -> Response {
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "method not allowed\n")
            .into_response();
    }
    let req = match request::parse(uri.path()) {
        Ok(r) => r,
        Err(request::Refused::Unsupported(argument)) => {
            debug!(target: "mirrorcast_origin", "refused argument: {argument}");
            let body = format!("unsupported argument: {argument}\n");
            return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
                .into_response();
        }
        Err(why) => {
            debug!(target: "mirrorcast_origin", "refused path: {why:?}");
            return Fail::NotFound("refused path").into_response();
        }
    };
    let outcome = match origin.resolve(req.locator).await {
        Ok(records) => match allowed(&records.0, &records.1, &req.target) {
            Ok(()) => origin.handle(method, &req.target, &records.1, headers).await,
            Err(f) => Err(f),
        },
        Err(f) => Err(f),
    };
    outcome.unwrap_or_else(IntoResponse::into_response)
}

async fn healthz(State(origin): State<Arc<Origin>>) -> Response {
    if origin.healthy().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "storage or records unreachable\n").into_response()
    }
}

async fn metrics(State(origin): State<Arc<Origin>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], origin.metrics.render()).into_response()
}

/// One line per request in the common log format ([`access_log`], target `mirrorcast_origin::access`);
/// the path only, never a query string.
async fn access_log(State(origin): State<Arc<Origin>>, request: Request, next: Next) -> Response {
    let logged = crate::access_log::enabled();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let method = request.method().clone();
    // A clone shares the request's bytes (no copy).
    let uri = logged.then(|| request.uri().clone());
    let version = request.version();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let length = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    origin.metrics.response(status);
    if method != Method::HEAD {
        origin.metrics.bytes(length.unwrap_or(0));
    }
    if let Some(uri) = uri {
        let path = uri.path();
        let path = &path[..path.char_indices().nth(512).map_or(path.len(), |(at, _)| at)];
        with_log_time(|time| {
            crate::access_log::record(format_args!(
                "{} - - [{time}] \"{method} {path} {version:?}\" {status} {}",
                OrDash(peer),
                OrDash(length)
            ));
        });
    }
    response
}

/// A log field: its value, or `-` when there is none.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Calls `write` with now in the common log format, formatted once a second per thread
/// (strftime per request showed in profiles).
fn with_log_time(write: impl FnOnce(&str)) {
    thread_local! {
        static STAMP: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = Utc::now();
    STAMP.with(|stamp| {
        let mut stamp = stamp.borrow_mut();
        if stamp.0 != now.timestamp() {
            *stamp = (now.timestamp(), now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        }
        write(&stamp.1);
    })
}

/// The origin's routes inside its tower layers: CORS, a request timeout,
/// a body limit (GET and HEAD carry none), the access log.
pub fn router(origin: Arc<Origin>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::RANGE, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE])
        .expose_headers([header::CONTENT_LENGTH, header::CONTENT_RANGE, header::ETAG, header::LAST_MODIFIED]);
    // Two stacks, each outermost first: every `Router::layer` call wraps the routes in another
    // boxed service, cloned and boxed again on every request (it showed in the serve profile).
    // The timeout is outside the routes' conversion of bodies (it needs a default body).
    let named =
        origin.config.name.as_deref().and_then(|n| HeaderValue::from_str(n).ok()).map(|name| {
            SetResponseHeaderLayer::overriding(header::HeaderName::from_static(crate::ORIGIN_HEADER), name)
        });
    let outer = tower::ServiceBuilder::new()
        .option_layer(named)
        .layer(middleware::from_fn_with_state(origin.clone(), access_log))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, origin.config.request_timeout));
    // Error bodies quote a little of the request: never to be sniffed as anything but text.
    let nosniff =
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let inner = tower::ServiceBuilder::new()
        .layer(nosniff)
        .layer(RequestBodyLimitLayer::new(16 * 1024))
        .map_request(with_body)
        .layer(cors)
        .layer(catch_panics());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(stream)
        .layer(inner)
        .layer(outer)
        .with_state(origin)
}

/// The request with its (size-limited) body as the routes take it.
fn with_body<B>(request: axum::http::Request<B>) -> Request
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    request.map(Body::new)
}

/// A panic in a handler (a bug) becomes a short 500, logged through the access log, instead of
/// a dropped connection; its message goes to stderr only, never into the body.
pub fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    fn internal_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
    }
    CatchPanicLayer::custom(internal_error as fn(_) -> _)
}

/// Largest request head (request line and headers) read; longer gets 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What one server lets its clients hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client that has not sent its request head by then is cut off (slowloris).
    pub header_read_timeout: Duration,
    /// Connections served at once; past it, new ones wait in the listen backlog until one
    /// closes (as nginx's worker_connections), so clients cannot take every file descriptor
    /// (the origin needs some for its storage).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { header_read_timeout: Duration::from_secs(10), max_connections: DEFAULT_MAX_CONNECTIONS }
    }
}

/// Connections served at once unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// At most one "at the connection limit" warning per this long.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes. Each connection is
/// HTTP/1.1 with a deadline on its request head and a bound on its size; at
/// most `limits.max_connections` are served at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let slots =
        Arc::new(tokio::sync::Semaphore::new(limits.max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS)));
    let mut warned: Option<Instant> = None;
    loop {
        if slots.available_permits() == 0 && warned.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
            warn!(target: "mirrorcast_origin", "{} connections open (the limit): new ones wait", limits.max_connections);
            warned = Some(Instant::now());
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => {
                crate::access_log::flush();
                return Ok(());
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    warn!(target: "mirrorcast_origin", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => {
                crate::access_log::flush();
                return Ok(());
            }
        };
        // A segment goes out in several writes (header, then slices of the bytes read): without
        // TCP_NODELAY, Nagle holds the last small one until the client's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            debug!(target: "mirrorcast_origin", "TCP_NODELAY for {peer}: {e}");
        }
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(hyper_util::rt::TokioIo::new(StallGuard::new(stream, WRITE_STALL_LIMIT)), service)
                .await;
            if let Err(e) = served {
                debug!(target: "mirrorcast_origin", "connection from {peer}: {e}");
            }
        });
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
