//! Each `.ism`'s renditions with their MP4 indexes: the one cache of indexes
//! (weighted by index bytes within the index budget, so the budget is the
//! bound), and the parsed `.ism`s they are built from.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::ErrorKind;
use mirrorcast_media::captions::{self, Captions};
use mirrorcast_media::fragment::{Index, TrackIndex};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use mirrorcast_media::text_samples::{self, TextCodec, TextSample};
use mirrorcast_media::ts::Counters;
use mirrorcast_media::webvtt::WebVtt;
use quick_cache::sync::Cache;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::fail::Fail;
use crate::metrics::{Metrics, Waited};
use crate::moofs;
use crate::moov;
use crate::packaging::Rendition;
use crate::records::file_of;
use crate::subtitles::{sidecar_kind, TextBody, TextTrack, MAX_SIDECAR_BYTES};
use crate::upstream::{Upstream, Version};

/// A larger `.ism` is refused (one names a few renditions in a few KiB).
const MAX_ISM_BYTES: u64 = 1024 * 1024;
/// How long a parsed `.ism` is reused before it is read again.
pub(crate) const MANIFEST_TTL: Duration = Duration::from_secs(30);

/// A rendition's index and the blob version it was read from.
#[derive(Debug, Clone)]
pub(crate) struct Indexed {
    pub(crate) version: Version,
    pub(crate) index: Arc<Index>,
}

/// A parsed `.ism` and the blob version it was read from.
#[derive(Debug)]
pub(crate) struct Parsed {
    manifest: ServerManifest,
    pub(crate) version: Version,
}

/// Every rendition of one `.ism` with its index: built once per manifest TTL, not per request.
#[derive(Debug)]
pub(crate) struct Renditions {
    pub(crate) list: Vec<OwnedRendition>,
    /// The `.ism`'s text tracks whose sidecars were read and checked (the others are left
    /// out, with the reason logged), with the version each was read at.
    pub(crate) texts: Vec<(TextTrack, Version)>,
    /// The fragmented ones among them as renditions: their DASH and Smooth segments are cut
    /// from their files as a video's are.
    pub(crate) text_renditions: Vec<OwnedRendition>,
    /// CEA-608/708 captions found in the SEI of the reference video's first samples.
    pub(crate) captions: Captions,
    pub(crate) parsed: Arc<Parsed>,
    at: Instant,
    /// Set by the one request that starts the re-read of the `.ism` in the background once
    /// `at` is past the TTL; every request goes on with this entry meanwhile.
    refreshing: AtomicBool,
}

impl Renditions {
    /// The rendition at `bitrate` of `stream`.
    pub(crate) fn pick(&self, bitrate: u64, stream: &str) -> Result<&OwnedRendition, Fail> {
        self.list
            .iter()
            .chain(&self.text_renditions)
            .find(|r| r.bitrate == bitrate && r.stream.eq_ignore_ascii_case(stream))
            .ok_or(Fail::NotFound("no such quality level"))
    }

    /// The text track at `bitrate` named `stream`, if it is one.
    pub(crate) fn text(&self, bitrate: u64, stream: &str) -> Option<&(TextTrack, Version)> {
        self.texts.iter().find(|(t, _)| t.bitrate == bitrate && t.stream.eq_ignore_ascii_case(stream))
    }

    /// The rendition whose fragments text segments follow: the first video, else the first audio.
    pub(crate) fn reference(&self) -> Result<&OwnedRendition, Fail> {
        let first = |kind| self.list.iter().find(|r| r.kind == kind);
        first(TrackKind::Video).or_else(|| first(TrackKind::Audio)).ok_or(Fail::Media)
    }
}

/// A rendition with its index, owned (the manifest functions borrow from it).
#[derive(Debug)]
pub(crate) struct OwnedRendition {
    pub(crate) kind: TrackKind,
    stream: String,
    bitrate: u64,
    track_id: u32,
    /// The `.ism`'s `systemLanguage` (else the MP4's, when it is made a [`Rendition`]).
    language: Option<String>,
    pub(crate) file: String,
    pub(crate) index: Indexed,
    /// MPEG-TS continuity counters at each fragment's start, counted once (at the first TS
    /// request), not per segment; `None`: TS cannot carry this track.
    ts_counters: std::sync::OnceLock<Option<Counters>>,
}

impl OwnedRendition {
    pub(crate) fn track(&self) -> Result<&TrackIndex, Fail> {
        let index = &self.index.index;
        if self.kind == TrackKind::Text {
            return text_track(index).ok_or(Fail::Media);
        }
        let handler = if self.kind == TrackKind::Audio { "soun" } else { "vide" };
        index
            .track(self.track_id)
            .filter(|t| t.info.handler == handler)
            .or_else(|| index.by_handler(handler))
            .ok_or(Fail::Media)
    }

    pub(crate) fn ts_counters(&self, track: &TrackIndex) -> Result<&Counters, Fail> {
        self.ts_counters.get_or_init(|| Counters::of(track).ok()).as_ref().ok_or(Fail::Media)
    }

    pub(crate) fn as_rendition(&self) -> Result<Rendition<'_>, Fail> {
        let track = self.track()?;
        Ok(Rendition {
            kind: self.kind,
            stream: &self.stream,
            bitrate: self.bitrate,
            language: crate::audio_labels::language(self.language.as_deref(), track),
            track,
        })
    }
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
            |(i, o): &(usize, &OwnedRendition)| !list[..*i].iter().any(|p| Arc::ptr_eq(&p.index.index, &o.index.index));
        let indexes: u64 =
            list.iter().enumerate().filter(first_of_its_index).map(|(_, o)| o.index.index.weight()).sum();
        // Parsed sidecars count too: a 100,000-cue file weighs as much as a long index.
        let texts: u64 = value.texts.iter().map(|(t, _)| t.weight()).sum::<u64>()
            + value.text_renditions.iter().map(|r| r.index.index.weight()).sum::<u64>();
        (indexes + texts).max(1)
    }
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

/// Parsed `.ism`s by (container, `.ism`), with when each was read.
type ParsedManifests = Cache<(String, String), (Instant, Arc<Parsed>)>;

/// The renditions of every `.ism` asked for lately, by (container, `.ism`). A clone shares
/// the caches (a background refresh holds one).
#[derive(Clone)]
pub(crate) struct RenditionCache {
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    manifests: Arc<ParsedManifests>,
    /// quick_cache: weighted, small, no background threads.
    renditions: Arc<Cache<(String, String), Arc<Renditions>, RenditionsWeight>>,
}

impl RenditionCache {
    /// A cache holding at most `index_bytes` of indexes.
    pub(crate) fn new(upstream: Arc<Upstream>, metrics: Arc<Metrics>, index_bytes: u64) -> RenditionCache {
        RenditionCache {
            upstream,
            metrics,
            manifests: Arc::new(Cache::new(1024)),
            renditions: Arc::new(one_shard(1024, index_bytes, RenditionsWeight)),
        }
    }

    /// Every video and audio track the `.ism` names, with its file's index. One request
    /// builds a missing entry while the others with the same key wait for it (a cold
    /// two-hour asset is indexed once, not once per concurrent request); once the entry
    /// is past the TTL, one request starts a re-read of the `.ism` in the background (reusing
    /// the indexes of files it still names whose blobs are the ones indexed: one HEAD each) and
    /// every request goes on with the entry it has.
    /// A re-read that finds the `.ism` gone or unusable drops the entry (the next request
    /// builds it, and is refused as a first request would be); one storage failed keeps it.
    pub(crate) async fn get(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Renditions>, Fail> {
        self.cached(asset, ism).await
    }

    /// Forgets the renditions of `ism` (a rendition was replaced: the next request reads them again).
    pub(crate) fn forget(&self, asset: &AssetRecord, ism: &str) {
        self.renditions.remove(&(asset.asset.container.clone(), ism.to_owned()));
    }

    /// [`Self::get`].
    async fn cached(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Renditions>, Fail> {
        let key = (asset.asset.container.clone(), ism.to_owned());
        let found = match self.renditions.get(&key) {
            Some(found) => found,
            None => {
                // A build from storage, this request's or another's: a wait, counted.
                let started = Instant::now();
                let waited = || {
                    let took = started.elapsed();
                    self.metrics.waited(Waited::Renditions, took);
                    debug!(target: "mirrorcast_origin", "a request waited {took:?} for the renditions of {ism}");
                };
                match self.renditions.get_value_or_guard_async(&key).await {
                    Ok(found) => {
                        waited();
                        found
                    }
                    Err(guard) => {
                        let built = self.build(asset, ism, None).await.map(Arc::new);
                        waited();
                        let built = built?;
                        // Too heavy for the budget: served to this request and its waiters, not kept.
                        let _ = guard.insert(built.clone());
                        return Ok(built);
                    }
                }
            }
        };
        if found.at.elapsed() >= MANIFEST_TTL && !found.refreshing.swap(true, Ordering::AcqRel) {
            self.refresh(key, asset.clone(), found.clone());
        }
        // Each rendition's index is served from memory: counted as the index cache hit it is.
        found.list.iter().for_each(|_| self.metrics.index_lookup(true));
        Ok(found)
    }

    /// Builds `previous` again in the background and puts it in its place (not over a newer one).
    fn refresh(&self, key: (String, String), asset: AssetRecord, previous: Arc<Renditions>) {
        let cache = self.clone();
        tokio::spawn(async move {
            let _refresh = Refresh(&previous.refreshing);
            match cache.build(&asset, &key.1, Some(&previous)).await {
                Ok(built) => {
                    let built = Arc::new(built);
                    cache.renditions.entry(&key, Some(Duration::ZERO), |_, entry| {
                        if Arc::ptr_eq(entry, &previous) {
                            *entry = built;
                        }
                        quick_cache::sync::EntryAction::Retain(())
                    });
                }
                Err(Fail::Storage(kind)) => {
                    debug!(target: "mirrorcast_origin", "renditions of {}: not refreshed ({kind:?})", key.1);
                }
                Err(_) => {
                    cache.renditions.remove_if(&key, |entry| Arc::ptr_eq(entry, &previous));
                }
            }
        });
    }

    async fn build(&self, asset: &AssetRecord, ism: &str, previous: Option<&Renditions>) -> Result<Renditions, Fail> {
        let server = self.server_manifest(asset, ism).await?;
        let base = ism.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut out: Vec<OwnedRendition> = Vec::new();
        let mut texts = Vec::new();
        let mut text_renditions = Vec::new();
        for t in &server.manifest.tracks {
            if t.kind == TrackKind::Text {
                let file = join(base, &t.src);
                if sidecar_kind(&file).is_some() {
                    texts.extend(self.text(asset, &file, t, texts.len()).await?);
                } else if let Some((text, rendition)) = self.fragmented_text(asset, &file, t, texts.len()).await? {
                    texts.push((text, rendition.index.version.clone()));
                    text_renditions.push(rendition);
                }
                continue;
            }
            let file = join(base, &t.src);
            file_of(asset, &file)?;
            // One index per file: a file's audio and video tracks share it, and a refresh keeps
            // it while storage says the blob is the one indexed (a replaced rendition is read anew).
            let mut known = out.iter().find(|o| o.file == file).map(|o| o.index.clone());
            if known.is_none() {
                if let Some(kept) = previous.and_then(|p| p.list.iter().find(|o| o.file == file)) {
                    let now = self.upstream.head(&asset.asset.container, &file).await?;
                    known = (now.etag == kept.index.version.etag).then(|| kept.index.clone());
                }
            }
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
            out.push(OwnedRendition {
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
        let captions = match previous.filter(|p| same_reference(p, &out)) {
            Some(p) => p.captions,
            None => self.captions(asset, &out).await?,
        };
        Ok(Renditions {
            list: out,
            texts,
            text_renditions,
            captions,
            parsed: server,
            at: Instant::now(),
            refreshing: AtomicBool::new(false),
        })
    }

    async fn server_manifest(&self, asset: &AssetRecord, ism: &str) -> Result<Arc<Parsed>, Fail> {
        // A server manifest is a few KiB; a huge one is refused, not held (the records say its size).
        if file_of(asset, ism)?.size > MAX_ISM_BYTES {
            return Err(Fail::Media);
        }
        let key = (asset.asset.container.clone(), ism.to_owned());
        if let Some((at, m)) = self.manifests.get(&key) {
            if at.elapsed() < MANIFEST_TTL {
                return Ok(m);
            }
        }
        let (meta, bytes) = self.upstream.read_at_most(&asset.asset.container, ism, MAX_ISM_BYTES).await?;
        let version = Version::of(&meta);
        let text = std::str::from_utf8(&bytes).map_err(|_| Fail::Media)?;
        let parsed = Arc::new(Parsed { manifest: ServerManifest::parse(text).map_err(|_| Fail::Media)?, version });
        self.manifests.insert(key, (Instant::now(), parsed.clone()));
        Ok(parsed)
    }

    /// A text track's sidecar read and checked; `None` (the reason logged) when it cannot be
    /// offered: not a file of the asset, too large, malformed, not a sidecar. Storage failures
    /// are errors: a manifest without its subtitles is not made from a failed read.
    async fn text(
        &self,
        asset: &AssetRecord,
        file: &str,
        t: &IsmTrack,
        n: usize,
    ) -> Result<Option<(TextTrack, Version)>, Fail> {
        let skip = |why: &str| {
            warn!(target: "mirrorcast_origin", "text track {file} of {} left out: {why}", asset.asset.container);
            Ok(None)
        };
        let Ok(record) = file_of(asset, file) else { return skip("not a file of the asset") };
        if record.size > MAX_SIDECAR_BYTES {
            return skip(&format!("{} bytes, more than {MAX_SIDECAR_BYTES}", record.size));
        }
        let (meta, bytes) = match self.upstream.read_at_most(&asset.asset.container, file, MAX_SIDECAR_BYTES).await {
            Ok(read) => read,
            Err(Fail::Media) => return skip(&format!("larger than {MAX_SIDECAR_BYTES} bytes")),
            Err(Fail::NotFound(_)) => return skip("not in storage"),
            Err(e) => return Err(e),
        };
        match TextTrack::read(t, n, file, bytes) {
            Ok(text) => Ok(Some((text, Version::of(&meta)))),
            Err(why) => skip(&why),
        }
    }

    /// A fragmented text track (`.ismt`, `.cmft`: `stpp` or `wvtt` samples in `moof`s) indexed
    /// as a rendition is, its samples read (one ranged read, at most [`MAX_SIDECAR_BYTES`]) into
    /// cues; `None` (the reason logged) when it cannot be offered. Storage failures are errors.
    async fn fragmented_text(
        &self,
        asset: &AssetRecord,
        file: &str,
        t: &IsmTrack,
        n: usize,
    ) -> Result<Option<(TextTrack, OwnedRendition)>, Fail> {
        let skip = |why: &str| {
            warn!(target: "mirrorcast_origin", "text track {file} of {} left out: {why}", asset.asset.container);
            Ok(None)
        };
        if file_of(asset, file).is_err() {
            return skip("not a file of the asset");
        }
        let container = &asset.asset.container;
        let indexed = match self.index(container, file).await {
            Ok(indexed) => indexed,
            Err(Fail::Media) => return skip("not a fragmented text track of stpp or wvtt samples that can be indexed"),
            Err(Fail::NotFound(_)) => return skip("not in storage"),
            Err(e) => return Err(e),
        };
        let Some(track) = text_track(&indexed.index) else { return skip("no stpp or wvtt track") };
        let codec = TextCodec::of(&track.info.codec).expect("text_track checked it");
        let span = track.offsets.iter().zip(&track.info.sample_sizes).fold(None, |span: Option<(u64, u64)>, (o, s)| {
            let end = o + *s as u64;
            Some(span.map_or((*o, end), |(a, b)| (a.min(*o), b.max(end))))
        });
        let cues = match span {
            None => WebVtt::default(),
            Some((from, to)) if to - from > MAX_SIDECAR_BYTES => {
                return skip(&format!("its samples span {} bytes, more than {MAX_SIDECAR_BYTES}", to - from))
            }
            Some((from, to)) => {
                let (meta, data) = match self.upstream.read_bytes(container, file, Some(from..to)).await {
                    Ok(read) => read,
                    Err(Fail::Storage(kind)) => return Err(Fail::Storage(kind)),
                    Err(e) => return skip(&format!("its samples could not be read ({e:?})")),
                };
                if meta.etag != indexed.version.etag {
                    return Err(Fail::Storage(ErrorKind::Transient));
                }
                let ms = |units: i128| (units.max(0) * 1000 / track.info.timescale.max(1) as i128) as u64;
                let samples = (0..track.offsets.len()).map(|i| {
                    let at = (track.offsets[i] - from) as usize;
                    let start = track.info.decode_times[i] as i128 - track.media_start as i128;
                    TextSample {
                        start_ms: ms(start),
                        end_ms: ms(start + track.durations[i] as i128),
                        data: &data[at..at + track.info.sample_sizes[i] as usize],
                    }
                });
                match text_samples::cues(codec, samples) {
                    Ok(cues) => cues,
                    Err(e) => return skip(&e.to_string()),
                }
            }
        };
        let text = TextTrack::named(t, n, TextBody::Fragmented { codec, cues, track: Box::new(track.clone()) });
        let rendition = OwnedRendition {
            kind: TrackKind::Text,
            stream: text.stream.clone(),
            bitrate: t.system_bitrate,
            track_id: track.info.track_id,
            language: t.language.clone(),
            file: file.to_owned(),
            index: indexed,
            ts_counters: std::sync::OnceLock::new(),
        };
        Ok(Some((text, rendition)))
    }

    /// The captions in the first samples of the first video rendition (one ranged read, at most
    /// [`captions::MAX_SCAN_BYTES`]); none for a fragmented or non-H.264 one.
    async fn captions(&self, asset: &AssetRecord, list: &[OwnedRendition]) -> Result<Captions, Fail> {
        let Some(video) = list.iter().find(|r| r.kind == TrackKind::Video && !r.index.index.fragmented) else {
            return Ok(Captions::default());
        };
        let Ok(track) = video.track() else { return Ok(Captions::default()) };
        let Some(range) = captions::scan_range(track) else { return Ok(Captions::default()) };
        let start = range.start;
        match self.upstream.read_bytes(&asset.asset.container, &video.file, Some(range)).await {
            Ok((_, data)) => Ok(captions::in_track(track, start, &data)),
            // Worth a retry: the manifest is not made without the scan.
            Err(Fail::Storage(kind)) if matches!(kind, ErrorKind::Throttled | ErrorKind::Transient) => {
                Err(Fail::Storage(kind))
            }
            // A moov naming bytes the file lacks: its segments will fail, its manifest need not.
            Err(e) => {
                debug!(target: "mirrorcast_origin", "captions of {}: not scanned ({e:?})", video.file);
                Ok(Captions::default())
            }
        }
    }

    /// The index of a rendition, built from its `moov`, and from its `moof`s when its samples
    /// are in movie fragments (kept by [`Self::get`]).
    async fn index(&self, container: &str, name: &str) -> Result<Indexed, Fail> {
        self.metrics.index_lookup(false);
        let found = moov::read_moov(&self.upstream, container, name).await?;
        let mut index = Index::from_moov(&found.moov).map_err(|e| {
            debug!(target: "mirrorcast_origin", "index of a rendition: {e}");
            Fail::Media
        })?;
        if index.fragmented {
            index = moofs::index_fragmented(&self.upstream, container, name, &found).await?;
        }
        Ok(Indexed { version: found.version, index: Arc::new(index) })
    }
}

/// Whether `list`'s first video rendition has the index `previous`'s had (its captions stand).
fn same_reference(previous: &Renditions, list: &[OwnedRendition]) -> bool {
    let first = |l: &[OwnedRendition]| l.iter().find(|r| r.kind == TrackKind::Video).map(|r| r.index.index.clone());
    match (first(&previous.list), first(list)) {
        (Some(a), Some(b)) => Arc::ptr_eq(&a, &b),
        (None, None) => true,
        _ => false,
    }
}

/// The first text track (`subt`, `text`, `sbtl` handler) of `index` whose samples are `stpp` or `wvtt`.
fn text_track(index: &Index) -> Option<&TrackIndex> {
    index
        .tracks
        .iter()
        .find(|t| matches!(t.info.handler.as_str(), "subt" | "text" | "sbtl") && TextCodec::of(&t.info.codec).is_some())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}
