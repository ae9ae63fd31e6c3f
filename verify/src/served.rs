//! Readiness: what two origins *serve*, compared. For every origin locator of A,
//! the Smooth, HLS (master and every media playlist) and DASH manifests and, per
//! track (each video rendition, each audio language, each text track, the I-frame
//! playlists, the audio-only variant: [`served_tracks`]), the initialization segment
//! and the first and last media segment are fetched from A's origin and from B's, one
//! pair at a time per asset (`parallel` assets at once), and their bytes compared; each entry names its track (a protected
//! locator's encrypted ones too: both must encrypt alike). A protected locator is asked
//! only for what its streaming policy serves (no HLS over TS for `cenc`). The filters a
//! locator binds apply to all of these (the origins apply them); then the manifests and
//! media playlists again with each of the asset's filters (`filter=NAME`), reported under
//! its name (their segment URLs are the unfiltered ones, already compared). The fetching is
//! the caller's ([`Fetch`]): this module knows URLs as text, never an HTTP type.
//! Reads A's records only; writes nothing.

use std::collections::HashSet;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use mirrorcast_core::catalog::filters::FilterScope;
use mirrorcast_core::catalog::{Catalog, Index};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::{Locator, LocatorType};
use mirrorcast_core::protection::streaming_policy::Packaging;
use mirrorcast_core::protection::StreamingPolicy;
use mirrorcast_core::store::BlobStore;
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_core::Result;
use mirrorcast_media::hls::Playlist;

use crate::readonly::ReadOnly;
use crate::report::{AssetVerdict, Check, Entry, Marker, Report, Side};
use crate::served_tracks::{self, Track};

/// What came back from one GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// A response: its status and body.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The whole body, as received.
        body: Vec<u8>,
    },
    /// No response at all (cannot connect, timed out), in a few words.
    Failed(String),
}

/// Fetches a URL (following redirects). Implemented by the binary with its HTTP client.
#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    /// GETs `url`; never fails: a failure to get any response is [`Fetched::Failed`].
    async fn get(&self, url: &str) -> Fetched;
}

/// One origin: the data center's name and the base of its streaming URLs.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The data center's name, for the report.
    pub name: &'a str,
    /// The base URL its streaming URLs start with (an origin or a front).
    pub base: &'a str,
}

/// Compares what `a` and `b` serve for A's origin locators (of the `selected` assets, or all),
/// `parallel` assets at once; the report lists the assets in the catalog's order whatever the
/// order their fetches finish in.
pub async fn verify_served(
    records: Arc<dyn BlobStore>,
    a: Served<'_>,
    b: Served<'_>,
    selected: Option<&[AssetId]>,
    fetch: &dyn Fetch,
    parallel: usize,
) -> Result<Report> {
    let catalog = Catalog::new(Arc::new(ReadOnly(records)));
    let index = catalog.index().await?;
    if let Some(missing) = selected.and_then(|s| s.iter().find(|id| !index.assets.contains_key(id))) {
        return Err(mirrorcast_core::Error::not_found(format!(
            "asset {missing} not found in data center '{}'",
            a.name
        )));
    }
    let (catalog, index) = (&catalog, &index);
    let verdicts = stream::iter(index.assets.iter().filter(|(id, _)| selected.is_none_or(|s| s.contains(id))))
        .map(|(id, entry)| async move {
            let locators: Vec<_> =
                index.locators_of(id).filter(|l| l.locator_type == LocatorType::OnDemandOrigin).cloned().collect();
            if locators.is_empty() {
                return None;
            }
            let entries = served_asset(catalog, index, id, &locators, (a, b), fetch).await;
            Some(AssetVerdict::new(id.to_string(), entry.asset.name.clone(), entries))
        })
        // In order: the report is the same whatever finishes first.
        .buffered(parallel.max(1))
        .filter_map(|v| async move { v })
        .collect()
        .await;
    Ok(Report::new(a.name, b.name, false, verdicts))
}

/// One asset's origin `locators` at both origins, one URL pair at a time.
async fn served_asset(
    catalog: &Catalog,
    index: &Index,
    id: &AssetId,
    locators: &[Locator],
    (a, b): (Served<'_>, Served<'_>),
    fetch: &dyn Fetch,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let primary = match catalog.get_asset(id).await {
        Ok(record) => record.value.files.iter().find(|f| f.is_primary).map(|f| f.name.clone()),
        Err(e) => {
            entries.push(Entry::new(Marker::Error, Check::Http, Side::A, id.to_string(), format!("asset record: {e}")));
            None
        }
    };
    match primary {
        Some(primary) => {
            // The asset's own filters, by the name a URL gives them.
            let filters: Vec<&str> = index
                .filters
                .iter()
                .filter(|((scope, _), _)| *scope == FilterScope::Asset(*id))
                .map(|(_, f)| f.name.as_str())
                .collect();
            for locator in locators {
                let urls = StreamingUrls::new(a.base, &locator.id, &primary);
                let mut pair = Pair {
                    a: urls.clone(),
                    a_base: a.base,
                    b_base: b.base,
                    seen: HashSet::new(),
                    policy: protecting_policy(catalog, locator).await,
                    filter: None,
                };
                pair.compare(fetch, &mut entries).await;
                for name in &filters {
                    let mut filtered = Pair {
                        a: urls.with_filter(name),
                        seen: HashSet::new(),
                        policy: pair.policy.clone(),
                        filter: Some(name),
                        ..pair
                    };
                    filtered.compare(fetch, &mut entries).await;
                }
            }
        }
        None if entries.is_empty() => entries.push(Entry::new(
            Marker::Error,
            Check::Http,
            Side::A,
            id.to_string(),
            "no primary (.ism) file: nothing to stream",
        )),
        None => {}
    }
    entries
}

/// The streaming policy of a protected locator (one whose policy encrypts), from A's records;
/// `None` for a clear one, or when the policy cannot be read (then every format is asked for,
/// and the origins' answers say what is wrong).
async fn protecting_policy(catalog: &Catalog, locator: &mirrorcast_core::model::Locator) -> Option<StreamingPolicy> {
    let name = locator.delivery.streaming_policy_name.as_deref()?;
    catalog.get_streaming_policy(name).await.ok().filter(StreamingPolicy::is_protected)
}

/// The same locator's URLs at both origins.
struct Pair<'a> {
    a: StreamingUrls,
    a_base: &'a str,
    b_base: &'a str,
    /// URLs compared already: an I-frame playlist's segments are its variant's, say.
    seen: HashSet<String>,
    /// A protected locator's streaming policy: only what it serves is compared.
    policy: Option<StreamingPolicy>,
    /// The asset filter the URLs apply, if any: manifests and media playlists only, each entry naming it.
    filter: Option<&'a str>,
}

impl Pair<'_> {
    /// B's URL for one of A's: the same path under B's base.
    fn at_b(&self, a_url: &str) -> String {
        format!("{}{}", self.b_base.trim_end_matches('/'), StreamingUrls::relative(a_url, self.a_base))
    }

    async fn compare(&mut self, fetch: &dyn Fetch, entries: &mut Vec<Entry>) {
        let policy = self.policy.clone();
        let serves = |p: Packaging| policy.as_ref().is_none_or(|policy| policy.serves(p));
        let smooth = self.a.smooth.clone();
        if serves(Packaging::Smooth) {
            if let Some(manifest) = self.same(fetch, &smooth, None, entries).await {
                if self.filter.is_none() {
                    let tracks = text(&manifest).and_then(|t| served_tracks::smooth_fragments(t, &smooth));
                    self.compare_tracks(fetch, &smooth, tracks, entries).await;
                }
            }
        }
        if serves(Packaging::Dash) {
            for mpd_url in [self.a.dash.clone(), self.a.dash_cmaf.clone()] {
                if let Some(mpd) = self.same(fetch, &mpd_url, None, entries).await {
                    if self.filter.is_none() {
                        let tracks = text(&mpd).and_then(|t| served_tracks::dash_representations(t, &mpd_url));
                        self.compare_tracks(fetch, &mpd_url, tracks, entries).await;
                    }
                }
            }
        }
        // HLS over MPEG-TS (what apps embed) and over CMAF (fMP4, with init segments).
        for (master_url, packaging) in
            [(self.a.hls.clone(), Packaging::HlsTs), (self.a.hls_cmaf.clone(), Packaging::HlsCmaf)]
        {
            if serves(packaging) {
                self.compare_hls(fetch, &master_url, entries).await;
            }
        }
    }

    /// Each track's sampled URLs; a manifest that could not be followed is an error entry.
    async fn compare_tracks(
        &mut self,
        fetch: &dyn Fetch,
        manifest_url: &str,
        tracks: Result<Vec<Track>, String>,
        entries: &mut Vec<Entry>,
    ) {
        match tracks {
            Ok(tracks) => {
                for track in tracks {
                    for url in &track.urls {
                        self.same(fetch, url, Some(&track.label), entries).await;
                    }
                }
            }
            Err(why) => entries.push(Entry::new(
                Marker::Error,
                Check::Http,
                Side::A,
                self.path(manifest_url),
                format!("cannot follow the manifest: {why}"),
            )),
        }
    }

    /// Every media playlist of A's master (variants, I-frame playlists, audio languages,
    /// subtitles), and per playlist its init, first and last segment.
    async fn compare_hls(&mut self, fetch: &dyn Fetch, master_url: &str, entries: &mut Vec<Entry>) {
        let Some(master) = self.same(fetch, master_url, None, entries).await else { return };
        let Ok(Playlist::Master(m)) = Playlist::parse(&master) else {
            entries.push(Entry::new(
                Marker::Error,
                Check::Http,
                Side::A,
                self.path(master_url),
                "not an HLS master playlist",
            ));
            return;
        };
        for track in served_tracks::hls_playlists(&m, master_url) {
            let label = Some(track.label.as_str());
            for url in &track.urls {
                let Some(media) = self.same(fetch, url, label, entries).await else { continue };
                let Ok(Playlist::Media(p)) = Playlist::parse(&media) else {
                    entries.push(
                        Entry::new(Marker::Error, Check::Http, Side::A, self.path(url), "not an HLS media playlist")
                            .with_track(label.map(str::to_owned)),
                    );
                    continue;
                };
                if self.filter.is_some() {
                    continue;
                }
                for segment in served_tracks::hls_segments(&p, url) {
                    self.same(fetch, &segment, label, entries).await;
                }
            }
        }
    }

    fn path<'u>(&self, a_url: &'u str) -> &'u str {
        StreamingUrls::relative(a_url, self.a_base)
    }

    /// One URL at both origins (once per locator): an entry named by its track, and A's body
    /// when A served it.
    async fn same(
        &mut self,
        fetch: &dyn Fetch,
        a_url: &str,
        track: Option<&str>,
        entries: &mut Vec<Entry>,
    ) -> Option<Vec<u8>> {
        if !self.seen.insert(a_url.to_owned()) {
            return None;
        }
        let b_url = self.at_b(a_url);
        let (got_a, got_b) = futures::join!(fetch.get(a_url), fetch.get(&b_url));
        let (marker, side, mut detail, body) = compare(got_a, got_b);
        if let Some(name) = self.filter {
            detail = format!("filter '{name}': {detail}");
        }
        entries
            .push(Entry::new(marker, Check::Http, side, self.path(a_url), detail).with_track(track.map(str::to_owned)));
        body
    }
}

/// A manifest's text; one that is not UTF-8 cannot be followed.
fn text(body: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_owned())
}

/// The verdict on one URL: marker, side, detail, and A's body when A served it.
fn compare(a: Fetched, b: Fetched) -> (Marker, Side, String, Option<Vec<u8>>) {
    let a_body = match a {
        Fetched::Response { status: 200, body } => body,
        Fetched::Response { status, body } => {
            let detail = match reason(&body) {
                Some(why) => format!("A's origin answered {status}: {why}"),
                None => format!("A's origin answered {status}"),
            };
            return (Marker::Error, Side::A, detail, None);
        }
        Fetched::Failed(why) => return (Marker::Error, Side::A, format!("A's origin: {why}"), None),
    };
    match b {
        Fetched::Response { status: 200, body } if body == a_body => {
            (Marker::Same, Side::Both, format!("{} bytes", a_body.len()), Some(a_body))
        }
        Fetched::Response { status: 200, body } => {
            let at = a_body.iter().zip(&body).position(|(x, y)| x != y).unwrap_or(a_body.len().min(body.len()));
            let detail = format!(
                "served bytes differ: {} in A, {} in B, first difference at byte {at}",
                a_body.len(),
                body.len()
            );
            (Marker::Differs, Side::Both, detail, Some(a_body))
        }
        Fetched::Response { status: 404, .. } => {
            (Marker::Missing, Side::B, "B's origin answered 404".into(), Some(a_body))
        }
        Fetched::Response { status, .. } => {
            (Marker::Differs, Side::B, format!("A's origin answered 200, B's {status}"), Some(a_body))
        }
        Fetched::Failed(why) => (Marker::Error, Side::B, format!("B's origin: {why}"), Some(a_body)),
    }
}

/// The first line of a short plain-text error body (`fragmented rendition: X.mp4`), if it is one:
/// why an origin will not serve a URL (a 501 or 403) belongs in the report.
fn reason(body: &[u8]) -> Option<String> {
    const MAX: usize = 100;
    let text = std::str::from_utf8(body.get(..body.len().min(MAX))?).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty() && line.chars().all(|c| !c.is_control())).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mirrorcast_core::id::LocatorId;
    use mirrorcast_core::model::{Asset, AssetOptions};
    use mirrorcast_core::store::{InMemoryStore, PutOptions};

    use super::*;

    /// Both origins serve every URL with its path as the body after a moment; counts GETs in flight.
    #[derive(Default)]
    struct SlowEcho {
        in_flight: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Fetch for SlowEcho {
        async fn get(&self, url: &str) -> Fetched {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let path = url.split_once("//").map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
            Fetched::Response { status: 200, body: path.as_bytes().to_vec() }
        }
    }

    async fn library(assets: usize) -> Arc<dyn BlobStore> {
        let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
        let catalog = Catalog::new(store.clone());
        let now = chrono::Utc::now();
        for i in 0..assets {
            let asset = Asset::new(format!("movie {i}"), AssetOptions::None);
            catalog.create_asset(&asset).await.unwrap();
            let ism = mirrorcast_core::sample::server_manifest("Movie", &[("Movie_1.mp4".into(), 1000)]);
            store.put_blob(&asset.container, "Movie.ism", ism.into(), &PutOptions::default()).await.unwrap();
            catalog.regenerate_files(&asset.id).await.unwrap();
            let hour = chrono::Duration::hours(1);
            let origin = "http://a.example";
            catalog.create_origin_locator(&asset.id, LocatorId::new(), now - hour, now + hour, origin).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn http_honours_parallel_and_reports_alike_whatever_finishes_first() {
        let records = library(6).await;
        let (a, b) = (Served { name: "a", base: "http://a.example" }, Served { name: "b", base: "http://b.example" });
        let one = SlowEcho::default();
        let alone = verify_served(records.clone(), a, b, None, &one, 1).await.unwrap();
        let four = SlowEcho::default();
        let together = verify_served(records, a, b, None, &four, 4).await.unwrap();
        assert_eq!(one.most.load(Ordering::SeqCst), 2, "one asset at a time: A's and B's GET of one URL");
        let most = four.most.load(Ordering::SeqCst);
        assert!(most > 2 && most <= 8, "four assets at a time, each one URL pair: {most} GETs at once");
        assert_eq!(alone.assets.len(), 6);
        assert_eq!(format!("{:?}", alone.assets), format!("{:?}", together.assets));
    }

    fn ok(body: &[u8]) -> Fetched {
        Fetched::Response { status: 200, body: body.to_vec() }
    }

    #[test]
    fn equal_bytes_are_same_and_everything_else_has_its_marker() {
        assert_eq!(compare(ok(b"abc"), ok(b"abc")).0, Marker::Same);
        let (m, side, detail, _) = compare(ok(b"abcd"), ok(b"abXd"));
        assert_eq!((m, side), (Marker::Differs, Side::Both));
        assert!(detail.contains("first difference at byte 2"), "{detail}");
        let (m, _, detail, _) = compare(ok(b"abc"), ok(b"abcdef"));
        assert_eq!(m, Marker::Differs);
        assert!(detail.contains("3 in A, 6 in B, first difference at byte 3"), "{detail}");
        assert_eq!(compare(ok(b"x"), Fetched::Response { status: 404, body: vec![] }).0, Marker::Missing);
        let (m, side, detail, _) = compare(ok(b"x"), Fetched::Response { status: 503, body: vec![] });
        assert_eq!((m, side), (Marker::Differs, Side::B));
        assert!(detail.contains("B's 503"), "{detail}");
        let (m, side, _, body) = compare(ok(b"x"), Fetched::Failed("cannot connect".into()));
        assert_eq!((m, side, body), (Marker::Error, Side::B, Some(b"x".to_vec())));
        let (m, side, _, body) = compare(Fetched::Response { status: 404, body: vec![] }, ok(b"x"));
        assert_eq!((m, side, body), (Marker::Error, Side::A, None), "A must serve what its records name");
    }
}
