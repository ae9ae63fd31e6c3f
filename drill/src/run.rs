//! The drill's HTTP side: a player per rendition (and per format) fetching at
//! real-time pace through the base URL, following redirects, retrying a failed
//! request like a player would; the kill command run at its moment; what arrived
//! saved per rendition. Everything seen goes into the [`DrillReport`]. Stopped (a
//! signal, in the CLI), the players stop where they are, the kill is not run if it
//! was not yet, nothing is saved, and the report says it was interrupted.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirrorcast_core::id::LocatorId;
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_core::Error;
use mirrorcast_media::encryption::{ContentKey, KeyId};
use url::Url;

use crate::player::Playhead;
use crate::playlist::{self, top_of_each_kind, Rendition};
use crate::report::{self, Arrival, DrillReport, HttpError, KillResult, ManifestResult, RenditionResult};
use crate::save::SaveFile;
use crate::segment;
use crate::token::{BearerToken, TOKEN_ENV};
use crate::{envelope, licence};
use mirrorcast_core::process_group::ProcessGroup;

/// The response header naming the origin that answered (set by `mirrorcast serve`).
pub use mirrorcast_core::streaming::ORIGIN_HEADER;

/// Which streaming protocol a player speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// HLS: a master playlist, then one media playlist per rendition.
    Hls,
    /// DASH: one MPD naming every rendition.
    Dash,
}

impl StreamFormat {
    /// `hls` or `dash`: as `--format` takes it and as the report and saved file names show it.
    pub fn name(self) -> &'static str {
        match self {
            StreamFormat::Hls => "hls",
            StreamFormat::Dash => "dash",
        }
    }
}

/// Which renditions each player follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The best video and the best (or default) audio, as a player on a good network shows.
    Top,
    /// Every rendition the manifest names, each as its own player.
    All,
}

/// What to play, how a player behaves, and when to kill; checked by [`run`] before any request.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    /// Where the viewer connects: a front, or one origin.
    pub base: Url,
    /// The streaming locator whose URLs are played.
    pub locator: LocatorId,
    /// The primary file, e.g. `Big Buck Bunny.ism`.
    pub ism: String,
    /// The formats to play, each with its own players; at least one.
    pub formats: Vec<StreamFormat>,
    /// Which renditions get a player.
    pub selection: Selection,
    /// A shell command, run once at `kill_at`.
    pub kill: Option<String>,
    /// Seconds after the start; default: half the stream's duration.
    pub kill_at: Option<f64>,
    /// Or: once every player holds this many media segments (a moment between two
    /// requests, when no request is in flight to the origin being killed).
    pub kill_after: Option<usize>,
    /// Play at most this many seconds of media.
    pub duration: Option<f64>,
    /// Seconds of media before playback starts.
    pub start_buffer: f64,
    /// Seconds of media kept ahead of playback.
    pub buffer: f64,
    /// Longest stall that still counts as "missed nothing".
    pub max_stall: f64,
    /// Times a failed request is tried again before the segment is missed.
    pub retries: u32,
    /// How long one request may take, answer and body, before it counts as failed.
    pub request_timeout: Duration,
    /// Write each rendition's init and media segments to `<dir>/<format>-<rendition>.mp4`.
    pub save: Option<PathBuf>,
    /// The viewer's bearer token, sent with licence and key requests (never with segments).
    pub token: Option<BearerToken>,
}

impl DrillConfig {
    fn check(&self) -> Result<(), Error> {
        if !matches!(self.base.scheme(), "http" | "https") || self.base.host_str().is_none() {
            return Err(Error::invalid_input(format!("--front '{}' must be an http:// or https:// URL", self.base)));
        }
        if self.base.query().is_some() || self.base.fragment().is_some() || !self.base.username().is_empty() {
            // The streaming paths are appended to it; and what a query or user part holds may be secret.
            return Err(Error::invalid_input(
                "--front must be a base URL without a query, fragment or user (e.g. http://127.0.0.1:8000)",
            ));
        }
        if self.formats.is_empty() {
            return Err(Error::invalid_input("no format to play: use --format hls, dash or both"));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.start_buffer) || !positive(self.buffer) || self.buffer < self.start_buffer {
            return Err(Error::invalid_input(
                "--start-buffer and --buffer must be positive, --buffer at least --start-buffer",
            ));
        }
        if self.duration.is_some_and(|d| !positive(d)) {
            return Err(Error::invalid_input("--duration must be positive"));
        }
        if self.kill_at.is_some_and(|k| !(k.is_finite() && k >= 0.0)) {
            return Err(Error::invalid_input("--kill-at must be zero or more seconds"));
        }
        if self.kill_at.is_some() && self.kill.is_none() {
            return Err(Error::invalid_input("--kill-at needs --kill CMD"));
        }
        if self.kill_after.is_some() && (self.kill.is_none() || self.kill_at.is_some()) {
            return Err(Error::invalid_input("--kill-after needs --kill CMD, and not --kill-at"));
        }
        if self.kill_after == Some(0) {
            return Err(Error::invalid_input("--kill-after must be at least 1 segment"));
        }
        if self.kill.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(Error::invalid_input("--kill is empty: give a shell command"));
        }
        if !(self.max_stall.is_finite() && self.max_stall >= 0.0) {
            return Err(Error::invalid_input("--max-stall must be zero or more seconds"));
        }
        if self.ism.is_empty() || !self.ism.to_ascii_lowercase().ends_with(".ism") {
            return Err(Error::invalid_input(format!(
                "--ism '{}' is not a server manifest name such as 'Big Buck Bunny.ism'",
                self.ism
            )));
        }
        Ok(())
    }
}

/// The drill's clock and what every player saw.
struct Shared {
    client: reqwest::Client,
    start: Instant,
    config: DrillConfig,
    errors: Mutex<Vec<HttpError>>,
    arrivals: Mutex<Vec<Arrival>>,
    /// Media segments each player has dealt with (`usize::MAX` once it is done), for --kill-after.
    handled: Mutex<Vec<usize>>,
    progress: tokio::sync::watch::Sender<()>,
    /// HLS AES-128 keys by key URI, fetched once while loading (zeroed when the drill ends).
    keys: Mutex<HashMap<Url, Arc<ContentKey>>>,
    /// Set once the drill is to stop before the end.
    stop: tokio::sync::watch::Receiver<bool>,
}

struct Fetched {
    body: Vec<u8>,
    origin: Option<String>,
}

impl Shared {
    /// Player `player` has dealt with `count` media segments.
    fn handled(&self, player: usize, count: usize) {
        if let Some(h) = self.handled.lock().unwrap_or_else(|p| p.into_inner()).get_mut(player) {
            *h = count;
        }
        self.progress.send_replace(());
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Completes once the drill is to stop (never, if it is not).
    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn sleep_until(&self, at: f64) {
        let wait = at - self.now();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// One GET, its body whole, within the request timeout.
    async fn get_once(&self, url: &Url) -> Result<Fetched, (Option<u16>, String, Option<String>)> {
        let attempt = async {
            let response = self.client.get(url.clone()).send().await.map_err(|e| (None, describe(&e), None))?;
            let origin = response.headers().get(ORIGIN_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let status = response.status();
            if !status.is_success() {
                return Err((Some(status.as_u16()), format!("HTTP {}", status.as_u16()), origin));
            }
            let body = response.bytes().await.map_err(|e| (None, describe(&e), origin.clone()))?;
            Ok(Fetched { body: body.to_vec(), origin })
        };
        match tokio::time::timeout(self.config.request_timeout, attempt).await {
            Ok(done) => done,
            Err(_) => Err((None, format!("no answer within {:?}", self.config.request_timeout), None)),
        }
    }

    fn error(&self, format: StreamFormat, url: &Url, status: Option<u16>, error: String, origin: Option<String>) {
        let e = HttpError {
            at: self.now(),
            format: format.name().into(),
            path: url.path().to_owned(),
            status,
            error,
            origin,
        };
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }

    /// A GET tried again like a player does (`retries` more times, short back-off); each
    /// failed attempt is an error the client saw. `check` refuses a body that came but is wrong.
    async fn get(
        &self,
        format: StreamFormat,
        url: &Url,
        check: impl Fn(&[u8]) -> Result<(), String>,
    ) -> Option<Fetched> {
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
            }
            match self.get_once(url).await {
                Ok(f) => match check(&f.body) {
                    Ok(()) => return Some(f),
                    Err(why) => self.error(format, url, Some(200), why, f.origin),
                },
                Err((status, why, origin)) => self.error(format, url, status, why, origin),
            }
        }
        None
    }
}

/// reqwest's error in a few words, without its URL.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_redirect() {
        "bad redirect"
    } else if e.is_body() || e.is_decode() {
        "response body cut off"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(cause) if !cause.contains("://") => format!("{what}: {cause}"),
        _ => what.to_owned(),
    }
}

fn file_name(format: StreamFormat, rendition: &str) -> String {
    let clean: String =
        rendition.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    format!("{}-{clean}.mp4", format.name())
}

/// Streams, kills, reports. An `Err` is bad input only; everything that happens
/// while streaming is in the report. Once `stop` completes the drill ends early: the
/// report says `interrupted`, and no `--save` file is kept.
pub async fn run(config: DrillConfig, stop: impl Future<Output = ()> + Send + 'static) -> Result<DrillReport, Error> {
    config.check()?;
    if let Some(dir) = &config.save {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid_input(format!("--save {}: cannot create the folder: {e}", dir.display())))?;
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(config.request_timeout)
        .build()
        .map_err(|e| Error::invalid_input(format!("cannot set up the HTTP client: {e}")))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopper = tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let shared = Arc::new(Shared {
        client,
        start: Instant::now(),
        config: config.clone(),
        errors: Mutex::new(Vec::new()),
        arrivals: Mutex::new(Vec::new()),
        handled: Mutex::new(Vec::new()),
        progress: tokio::sync::watch::channel(()).0,
        keys: Mutex::new(HashMap::new()),
        stop: stop_rx,
    });
    let urls = StreamingUrls::new(config.base.as_str(), &config.locator, &config.ism);

    let mut manifests = Vec::new();
    let mut players: Vec<(StreamFormat, Rendition)> = Vec::new();
    for &format in &config.formats {
        let url = match format {
            StreamFormat::Hls => &urls.hls,
            StreamFormat::Dash => &urls.dash,
        };
        let url = Url::parse(url).map_err(|e| Error::invalid_input(format!("the manifest URL: {e}")))?;
        let (read, renditions) = tokio::select! {
            loaded = load(&shared, format, &url) => loaded,
            () = shared.stopped() => break,
        };
        manifests.extend(read);
        players.extend(renditions.into_iter().map(|r| (format, limit(r, config.duration))));
    }

    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let longest = players.iter().map(|(_, r)| r.duration()).fold(0.0, f64::max);
    let moment = match config.kill_after {
        Some(n) => Moment::AfterSegments(n),
        None => Moment::At(config.kill_at.unwrap_or_else(|| shared.now() + longest / 2.0)),
    };
    *shared.handled.lock().unwrap_or_else(|p| p.into_inner()) = vec![0; players.len()];
    let kill = config.kill.clone().map(|command| {
        let shared = shared.clone();
        tokio::spawn(run_kill(shared, command, moment, done_rx))
    });

    let mut tasks = Vec::new();
    for (player, (format, rendition)) in players.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let result = play(&shared, player, format, rendition).await;
            shared.handled(player, usize::MAX);
            result
        }));
    }
    let mut renditions = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => renditions.push(r),
            Err(e) => return Err(Error::new(mirrorcast_core::ErrorKind::Other, format!("a player task failed: {e}"))),
        }
    }
    let _ = done_tx.send(true);
    let interrupted = shared.is_stopped();
    stopper.abort();
    let kill = match kill {
        Some(k) => {
            Some(k.await.map_err(|e| Error::new(mirrorcast_core::ErrorKind::Other, format!("the kill task: {e}")))?)
        }
        None => None,
    };

    let arrivals = shared.arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let failover = kill.as_ref().and_then(|k| k.at).map(|at| report::failover(&arrivals, at));
    let errors = std::mem::take(&mut *shared.errors.lock().unwrap_or_else(|p| p.into_inner()));
    let mut report = DrillReport {
        base: config.base.as_str().trim_end_matches('/').to_owned(),
        locator: config.locator.guid(),
        selection: match config.selection {
            Selection::Top => "top".into(),
            Selection::All => "all".into(),
        },
        max_stall: config.max_stall,
        seconds: shared.now(),
        missed_nothing: false,
        interrupted,
        manifests,
        renditions,
        kill,
        failover,
        errors,
    };
    report.judge();
    Ok(report)
}

/// The first `duration` seconds of media (at least one segment).
fn limit(mut r: Rendition, duration: Option<f64>) -> Rendition {
    if let Some(max) = duration {
        let mut total = 0.0;
        let keep = r.segments.iter().take_while(|s| {
            let fits = total < max;
            total += s.duration;
            fits
        });
        let n = keep.count().max(1);
        r.segments.truncate(n);
    }
    r
}

/// The manifest of one format and the renditions to play from it.
async fn load(shared: &Shared, format: StreamFormat, url: &Url) -> (Vec<ManifestResult>, Vec<Rendition>) {
    let mut results = Vec::new();
    let mut record = |url: &Url, ok: bool, origin: Option<String>, detail: Option<String>| {
        results.push(ManifestResult { format: format.name().into(), path: url.path().to_owned(), ok, origin, detail });
    };
    let Some(top) = shared.get(format, url, |_| Ok(())).await else {
        record(url, false, None, Some("could not be fetched".into()));
        return (results, Vec::new());
    };
    let mut key_uris: Vec<Url> = Vec::new();
    let selection = shared.config.selection;
    let renditions = match format {
        StreamFormat::Dash => {
            let text = String::from_utf8_lossy(&top.body);
            match playlist::dash(&text, url) {
                Ok(all) => {
                    record(url, true, top.origin, None);
                    if let Some(licence) = licence(shared, &text, url).await {
                        results.push(licence);
                    }
                    match selection {
                        Selection::Top => top_of_each_kind(&all),
                        Selection::All => all,
                    }
                }
                Err(e) => {
                    record(url, false, top.origin, Some(e.0));
                    Vec::new()
                }
            }
        }
        StreamFormat::Hls => match playlist::hls_master(&top.body, url) {
            Ok(entries) => {
                record(url, true, top.origin, None);
                let chosen = match selection {
                    Selection::Top => top_of_each_kind(&entries),
                    Selection::All => entries,
                };
                let mut out = Vec::new();
                for entry in chosen {
                    match shared.get(format, &entry.playlist, |_| Ok(())).await {
                        None => record(&entry.playlist, false, None, Some("could not be fetched".into())),
                        Some(media) => match playlist::hls_media(&entry, &media.body) {
                            Ok(r) => {
                                record(&entry.playlist, true, media.origin, None);
                                for uri in r.segments.iter().filter_map(|s| s.key.as_ref().map(|k| &k.uri)) {
                                    if !key_uris.contains(uri) {
                                        key_uris.push(uri.clone());
                                    }
                                }
                                out.push(r);
                            }
                            Err(e) => record(&entry.playlist, false, media.origin, Some(e.0)),
                        },
                    }
                }
                out
            }
            Err(e) => {
                record(url, false, top.origin, Some(e.0));
                Vec::new()
            }
        },
    };
    // An AES-128 stream's keys, each asked for once as a player does before its first segment.
    for uri in key_uris {
        results.push(aes128_key(shared, &uri).await);
    }
    (results, renditions)
}

/// An HLS AES-128 key, asked for through the base URL with the viewer's token as a player does
/// (tried again like a segment, but not once refused): its line in the report. The key is kept in
/// memory for the segments only, never shown or saved.
async fn aes128_key(shared: &Shared, url: &Url) -> ManifestResult {
    let mut result =
        ManifestResult { format: "key".into(), path: url.path().to_owned(), ok: false, origin: None, detail: None };
    for attempt in 0..=shared.config.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
        }
        let answer = async {
            let (response, origin) = send_with_token(shared, shared.client.get(url.clone())).await?;
            let bytes = read_at_most(response, 17).await.map_err(|e| (None, describe(&e), origin.clone()))?;
            let key: [u8; 16] = bytes[..].try_into().map_err(|_| {
                (
                    Some(200),
                    format!(
                        "an AES-128 key is 16 bytes; {} came",
                        if bytes.len() > 16 { "more".to_owned() } else { bytes.len().to_string() }
                    ),
                    origin.clone(),
                )
            })?;
            Ok((key, origin))
        };
        match tokio::time::timeout(shared.config.request_timeout, answer).await {
            Ok(Ok((key, origin))) => {
                let key = Arc::new(ContentKey::new(KeyId([0; 16]), key));
                shared.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(url.clone(), key);
                result.ok = true;
                result.origin = origin;
                result.detail = Some("AES-128 key".into());
                return result;
            }
            Ok(Err((status, why, origin))) => {
                shared.error(StreamFormat::Hls, url, status, why, origin);
                if let Some(detail) = status.and_then(|s| refused_token(s, shared.config.token.is_some())) {
                    result.detail = Some(detail.replace("licence server", "key server"));
                    return result;
                }
            }
            Err(_) => shared.error(
                StreamFormat::Hls,
                url,
                None,
                format!("no answer within {:?}", shared.config.request_timeout),
                None,
            ),
        }
    }
    result.detail = Some("the AES-128 key could not be had".into());
    result
}

/// A protected MPD's ClearKey licence, asked for through the base URL as a player's EME CDM does
/// (POST to the signalled licence URL, tried again like a segment): its line in the report, or
/// `None` for a clear stream. Without the licence the viewer sees nothing, so a refused or wrong
/// one fails the drill. The keys are checked and dropped, never kept or shown.
async fn licence(shared: &Shared, mpd: &str, mpd_url: &Url) -> Option<ManifestResult> {
    let (licence_url, key_ids) = match licence::protection(mpd) {
        licence::Protection::Clear => return None,
        licence::Protection::ClearKey { licence_url, key_ids } => (licence_url, key_ids),
        licence::Protection::Unsupported(why) => {
            return Some(ManifestResult {
                format: "licence".into(),
                path: mpd_url.path().to_owned(),
                ok: false,
                origin: None,
                detail: Some(why),
            })
        }
    };
    let mut result =
        ManifestResult { format: "licence".into(), path: licence_url.clone(), ok: false, origin: None, detail: None };
    let url = match mpd_url.join(&licence_url) {
        Ok(url) => url,
        Err(e) => {
            result.detail = Some(format!("the licence URL '{licence_url}': {e}"));
            return Some(result);
        }
    };
    result.path = url.path().to_owned();
    let body = licence::request(&key_ids);
    for attempt in 0..=shared.config.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
        }
        let sent = shared.client.post(url.clone()).header("content-type", "application/json").body(body.clone());
        let answer = async {
            let (response, origin) = send_with_token(shared, sent).await?;
            let bytes = response.bytes().await.map_err(|e| (None, describe(&e), origin.clone()))?;
            licence::check(&bytes, &key_ids).map_err(|why| (Some(200), why, origin.clone()))?;
            Ok(origin)
        };
        match tokio::time::timeout(shared.config.request_timeout, answer).await {
            Ok(Ok(origin)) => {
                result.ok = true;
                result.origin = origin;
                result.detail = Some(format!("ClearKey licence for {} key id(s)", key_ids.len()));
                return Some(result);
            }
            Ok(Err((status, why, origin))) => {
                shared.error(StreamFormat::Dash, &url, status, why, origin);
                // A refused token stays refused: no viewer's player asks again with it.
                if let Some(detail) = status.and_then(|s| refused_token(s, shared.config.token.is_some())) {
                    result.detail = Some(detail);
                    return Some(result);
                }
            }
            Err(_) => shared.error(
                StreamFormat::Dash,
                &url,
                None,
                format!("no answer within {:?}", shared.config.request_timeout),
                None,
            ),
        }
    }
    result.detail = Some("the ClearKey licence could not be had".into());
    Some(result)
}

/// Why a key or licence request failed: the HTTP status if one came, what to report, the origin that answered.
type Refused = (Option<u16>, String, Option<String>);

/// `request` sent with the viewer's token (if any), as a player sends key and licence requests:
/// a success's response and the origin that answered it, or the refusal (its reason scrubbed of the token).
async fn send_with_token(
    shared: &Shared,
    mut request: reqwest::RequestBuilder,
) -> Result<(reqwest::Response, Option<String>), Refused> {
    if let Some(token) = &shared.config.token {
        request = request.header(reqwest::header::AUTHORIZATION, token.header_value());
    }
    let response = request.send().await.map_err(|e| (None, describe(&e), None))?;
    let origin = response.headers().get(ORIGIN_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = response.status();
    if !status.is_success() {
        let said = refusal_reason(response, shared.config.token.as_ref()).await;
        return Err((Some(status.as_u16()), format!("HTTP {}{said}", status.as_u16()), origin));
    }
    Ok((response, origin))
}

/// At most `limit` bytes of a response's body (a hostile answer is not read whole).
async fn read_at_most(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            None => break,
        }
    }
    Ok(body)
}

/// The first line of a refusal's body (` (why)`), short, the token scrubbed from it; or nothing.
/// The token is scrubbed before anything is cut, so no part of it can be left.
async fn refusal_reason(response: reqwest::Response, token: Option<&BearerToken>) -> String {
    const SHOWN: usize = 512;
    let limit = SHOWN + token.map_or(0, BearerToken::byte_len);
    let Ok(body) = read_at_most(response, limit).await else { return String::new() };
    reason_line(&body, token)
}

/// A refusal body's first line as reported: scrubbed of the token first, then cut to 120 characters.
fn reason_line(body: &[u8], token: Option<&BearerToken>) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    let text = token.map_or(text.clone(), |t| t.scrub(&text));
    let line: String = text.lines().next().unwrap_or("").trim().chars().take(120).collect();
    if line.is_empty() || line.chars().any(char::is_control) {
        return String::new();
    }
    format!(" ({line})")
}

/// What a 401 or 403 from the licence server means for the drill's token, if that is what it is.
fn refused_token(status: u16, has_token: bool) -> Option<String> {
    match (status, has_token) {
        (401, false) => {
            Some(format!("the licence server asks for a token (HTTP 401): give one with --token-file or {TOKEN_ENV}"))
        }
        (401 | 403, true) => Some(format!(
            "the licence server refused the drill's token (HTTP {status}): check --token-file or {TOKEN_ENV}"
        )),
        _ => None,
    }
}

/// When the kill command runs.
#[derive(Debug, Clone, Copy)]
enum Moment {
    At(f64),
    AfterSegments(usize),
}

async fn run_kill(
    shared: Arc<Shared>,
    command: String,
    moment: Moment,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> KillResult {
    let mut progress = shared.progress.subscribe();
    let due = async {
        match moment {
            Moment::At(at) => shared.sleep_until(at).await,
            Moment::AfterSegments(n) => loop {
                if shared.handled.lock().unwrap_or_else(|p| p.into_inner()).iter().all(|&h| h >= n) {
                    break;
                }
                if progress.changed().await.is_err() {
                    break;
                }
            },
        }
    };
    let not_run =
        |command, note: &str| KillResult { command, at: None, exit_code: None, seconds: 0.0, note: Some(note.into()) };
    tokio::select! {
        biased;
        () = shared.stopped() => return not_run(command, "the drill was stopped first"),
        () = due => {}
        _ = done.wait_for(|d| *d) => return not_run(command, "the stream ended first"),
    }
    let started = shared.now();
    // In a group of its own, so a command that outlives its 120 s, or a drill
    // stopped mid-command, takes what the command started down with it.
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let (exit_code, note) = match spawned {
        Err(e) => (None, Some(format!("could not run sh: {e}"))),
        Ok(mut child) => {
            let mut group = ProcessGroup::led_by(&child);
            tokio::select! {
                waited = tokio::time::timeout(Duration::from_secs(120), child.wait()) => match waited {
                    Ok(Ok(status)) => {
                        group.disarm();
                        (status.code(), None)
                    }
                    Ok(Err(e)) => (None, Some(format!("could not wait for sh: {e}"))),
                    Err(_) => {
                        group.kill();
                        (None, Some("still running after 120 s: stopped, with what it started".into()))
                    }
                },
                () = shared.stopped() => {
                    group.kill();
                    (None, Some("the drill was stopped while it ran: stopped, with what it started".into()))
                }
            }
        }
    };
    KillResult { command, at: Some(started), exit_code, seconds: shared.now() - started, note }
}

/// A segment's AES-128 key and IV.
type Envelope = (Arc<ContentKey>, [u8; 16]);

/// The frames of a media segment as a player sees them: decrypted first when it is AES-128.
fn frames_in(body: &[u8], key: Option<&Envelope>) -> Result<u64, String> {
    let clear = match key {
        Some((key, iv)) => std::borrow::Cow::Owned(envelope::decrypt(key, iv, body)?),
        None => std::borrow::Cow::Borrowed(body),
    };
    segment::frames(&clear).ok_or_else(|| "not a media segment (fMP4 or MPEG-TS)".to_owned())
}

/// One player: the init segment, then every segment at the player's pace; stopped, it
/// ends where it is and keeps no `--save` file.
async fn play(shared: &Shared, player: usize, format: StreamFormat, r: Rendition) -> RenditionResult {
    let config = &shared.config;
    let mut playhead = Playhead::new(config.start_buffer, config.buffer);
    let mut saved = match &config.save {
        Some(dir) => Some(SaveFile::create(dir.join(file_name(format, &r.name))).await),
        None => None,
    };
    let mut out = RenditionResult {
        format: format.name().into(),
        name: r.name.clone(),
        kind: r.kind,
        init: None,
        segments_expected: r.segments.len(),
        segments_received: 0,
        frames_received: 0,
        frames_expected: None,
        media_seconds: r.duration(),
        started_at: None,
        stalls: Vec::new(),
        longest_stall: 0.0,
        origins: BTreeMap::new(),
        missed: Vec::new(),
        saved: None,
        save_error: None,
    };
    let mut missed = Vec::new();
    let played = async {
        if let Some(init) = &r.init {
            let got = shared
                .get(format, init, |b| if b.len() >= 8 { Ok(()) } else { Err("empty init segment".into()) })
                .await;
            out.init = Some(got.is_some());
            if let (Some(f), Some(file)) = (&got, saved.as_mut()) {
                file.write(&f.body).await;
            }
            if got.is_none() {
                out.missed.push(init.path().to_owned());
            }
        }
        let last = r.segments.len().saturating_sub(1);
        for (i, seg) in r.segments.iter().enumerate() {
            shared.sleep_until(playhead.next_fetch_at(shared.now())).await;
            // An AES-128 segment plays only with its key: without it the viewer sees nothing of it.
            let key = match &seg.key {
                Some(k) => match shared.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&k.uri).cloned() {
                    Some(key) => Some((key, k.iv)),
                    None => {
                        playhead.missed(shared.now(), seg.duration, i, i == last);
                        out.missed.push(seg.url.path().to_owned());
                        missed.push((seg.url.clone(), None));
                        shared.handled(player, i + 1);
                        continue;
                    }
                },
                None => None,
            };
            let frames_of = |b: &[u8]| frames_in(b, key.as_ref());
            match shared.get(format, &seg.url, |b| frames_of(b).map(|_| ())).await {
                Some(f) => {
                    let now = shared.now();
                    playhead.arrived(now, seg.duration, i, i == last);
                    out.segments_received += 1;
                    out.frames_received += frames_of(&f.body).unwrap_or(0);
                    *out.origins.entry(f.origin.clone().unwrap_or_else(|| "?".into())).or_default() += 1;
                    shared.arrivals.lock().unwrap_or_else(|p| p.into_inner()).push(Arrival {
                        at: now,
                        origin: f.origin,
                        path: seg.url.path().to_owned(),
                    });
                    if let Some(file) = saved.as_mut() {
                        file.write(&f.body).await;
                    }
                }
                None => {
                    playhead.missed(shared.now(), seg.duration, i, i == last);
                    out.missed.push(seg.url.path().to_owned());
                    missed.push((seg.url.clone(), key.clone()));
                }
            }
            shared.handled(player, i + 1);
        }
        if let Some(file) = saved.take() {
            match file.finish().await {
                Ok(path) => out.saved = Some(path.display().to_string()),
                Err(why) => out.save_error = Some(why),
            }
        }
        // What the viewer should have had: the missed segments counted once more, off the clock.
        let mut expected = Some(out.frames_received);
        for (url, key) in &missed {
            let counted = shared.get_once(url).await.ok().and_then(|f| frames_in(&f.body, key.as_ref()).ok());
            expected = expected.zip(counted).map(|(a, b)| a + b);
        }
        out.frames_expected = expected;
    };
    let stopped = tokio::select! {
        () = played => false,
        () = shared.stopped() => true,
    };
    if stopped {
        // Unfinished, the save file is dropped: its part file goes.
        drop(saved);
        out.frames_expected = None;
    }
    out.started_at = playhead.started_at;
    out.longest_stall = playhead.longest_stall();
    out.stalls = playhead.stalls;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DrillConfig {
        DrillConfig {
            base: Url::parse("http://127.0.0.1:8000").unwrap(),
            locator: LocatorId::new(),
            ism: "Clip.ism".into(),
            formats: vec![StreamFormat::Hls],
            selection: Selection::Top,
            kill: None,
            kill_at: None,
            kill_after: None,
            duration: None,
            start_buffer: 2.0,
            buffer: 4.0,
            max_stall: 0.0,
            retries: 2,
            request_timeout: Duration::from_secs(5),
            save: None,
            token: None,
        }
    }

    #[test]
    fn a_refusal_that_echoes_the_token_shows_no_part_of_it() {
        let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", "A".repeat(300));
        let token = BearerToken::parse(&jwt, "test").unwrap();
        let body = format!("{} refused token {jwt} (expired)\nmore", "x".repeat(80));
        let line = reason_line(body.as_bytes(), Some(&token));
        assert!(line.starts_with(" (xxx") && line.contains("refused token [token]"), "{line}");
        assert!(!line.contains("eyJ") && !line.contains("AAAA"), "{line}");
        assert_eq!(reason_line(b"token expired\n", None), " (token expired)");
        assert_eq!(reason_line(b"", None), "");
    }

    #[test]
    fn a_refused_licence_names_what_to_do_about_the_token() {
        assert!(refused_token(401, false).unwrap().contains("give one with --token-file or MIRRORCAST_DRILL_TOKEN"));
        assert!(refused_token(403, true).unwrap().contains("refused the drill's token (HTTP 403)"));
        assert!(refused_token(401, true).is_some());
        assert_eq!(refused_token(403, false), None, "a 403 without a token is the policy's, not the token's");
        assert_eq!(refused_token(503, true), None, "tried again: another data center may answer");
    }

    #[test]
    fn bad_settings_are_refused_before_anything_is_fetched() {
        assert!(config().check().is_ok());
        type Change = Box<dyn Fn(&mut DrillConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.base = Url::parse("ftp://x/").unwrap()), "--front"),
            (Box::new(|c| c.base = Url::parse("http://x/?sig=abc").unwrap()), "without a query"),
            (Box::new(|c| c.base = Url::parse("http://user:pw@x/").unwrap()), "without a query"),
            (Box::new(|c| c.buffer = 1.0), "--buffer"),
            (Box::new(|c| c.start_buffer = f64::NAN), "--start-buffer"),
            (Box::new(|c| c.kill_at = Some(3.0)), "--kill-at needs --kill"),
            (Box::new(|c| c.kill_after = Some(3)), "--kill-after needs --kill"),
            (
                Box::new(|c| {
                    c.kill = Some("true".into());
                    c.kill_at = Some(1.0);
                    c.kill_after = Some(3);
                }),
                "not --kill-at",
            ),
            (Box::new(|c| c.kill = Some("  ".into())), "--kill is empty"),
            (Box::new(|c| c.duration = Some(0.0)), "--duration"),
            (Box::new(|c| c.max_stall = -1.0), "--max-stall"),
            (Box::new(|c| c.ism = "Clip.mp4".into()), "--ism"),
            (Box::new(|c| c.formats.clear()), "no format"),
        ];
        for (change, needle) in cases {
            let mut c = config();
            change(&mut c);
            let e = c.check().unwrap_err();
            assert_eq!(e.kind(), mirrorcast_core::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn limit_keeps_the_first_seconds_and_at_least_one_segment() {
        let seg = |d| playlist::Segment { url: Url::parse("http://x/s").unwrap(), duration: d, key: None };
        let r = Rendition {
            name: "v".into(),
            kind: playlist::Kind::Video,
            bandwidth: 1,
            default: false,
            init: None,
            segments: vec![seg(2.0), seg(2.0), seg(2.0)],
        };
        assert_eq!(limit(r.clone(), Some(3.0)).segments.len(), 2);
        assert_eq!(limit(r.clone(), Some(0.1)).segments.len(), 1);
        assert_eq!(limit(r.clone(), None).segments.len(), 3);
        assert_eq!(file_name(StreamFormat::Dash, "video-a/b c"), "dash-video-a_b_c.mp4");
    }
}
