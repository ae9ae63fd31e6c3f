//! The front's live state: each origin's health and probe history, which origin
//! is active, request counts and the switch-overs. Probes write it under one
//! mutex, held only for a few field updates; requests read the routing and
//! bump their counters through atomics, never taking the mutex (the front's
//! profile under load showed three locks per request).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderValue, Uri};
use chrono::{DateTime, Utc};
use tracing::warn;

use crate::config::FrontConfig;
use crate::health::{Health, Tracker};
use crate::route;

/// Probe results kept per origin (the page's health history).
pub const HISTORY: usize = 120;
/// Switch-overs kept.
pub const SWITCHES: usize = 100;

/// One probe's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeResult {
    /// When the probe ended.
    pub at: DateTime<Utc>,
    /// The origin answered with a 2xx in time: what the health tracker counts.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub ms: u64,
    /// The HTTP status, when one came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed (a kind, never a URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The requests moved from one origin to another.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Switch {
    /// When the probe result that caused it came.
    pub at: DateTime<Utc>,
    /// The origin that had the requests, by name; `None` when none was active.
    pub from: Option<String>,
    /// The origin that has them now, by name.
    pub to: Option<String>,
    /// The health change behind it, for people (`a down after 3 failed probe(s): …`).
    pub reason: String,
}

#[derive(Debug)]
pub(crate) struct OriginState {
    pub tracker: Tracker,
    pub since: DateTime<Utc>,
    pub history: VecDeque<ProbeResult>,
    pub probes: u64,
}

/// One origin's request counters, bumped by requests without the board's lock.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Responses this origin gave to viewers (proxied) or viewers sent to it (redirected).
    pub requests: AtomicU64,
    /// Attempts that failed before the first byte and were tried elsewhere (or given up).
    pub failed_attempts: AtomicU64,
}

/// What requests read of the board: each origin's health and the active origin, copied out
/// of it by the probes (under the board's lock) whenever they change.
#[derive(Debug)]
struct Routing {
    health: Vec<AtomicU8>,
    /// [`NO_ORIGIN`] when none is active.
    active: AtomicUsize,
}

const NO_ORIGIN: usize = usize::MAX;

fn health_code(h: Health) -> u8 {
    match h {
        Health::Unknown => 0,
        Health::Up => 1,
        Health::Down => 2,
    }
}

fn health_of(code: u8) -> Health {
    match code {
        0 => Health::Unknown,
        1 => Health::Up,
        _ => Health::Down,
    }
}

#[derive(Debug)]
pub(crate) struct Board {
    pub origins: Vec<OriginState>,
    pub active: Option<usize>,
    pub switches: VecDeque<Switch>,
}

/// A front: its configuration, its board, its HTTP client.
#[derive(Debug)]
pub struct Front {
    /// What the front was started with, checked by [`Front::new`].
    pub config: FrontConfig,
    pub(crate) board: Mutex<Board>,
    routing: Routing,
    pub(crate) counts: Vec<Counts>,
    /// Each origin's base URL and the parts of it every request's URI is made of, parsed once.
    targets: Vec<Target>,
    /// Each origin's name as the `x-mirrorcast-origin` value.
    origin_headers: Vec<Option<HeaderValue>>,
    /// The probes' client.
    pub(crate) client: reqwest::Client,
    /// The viewers' requests' client.
    pub(crate) upstream: crate::proxy::Upstream,
    /// Woken on every change of an origin's health: requests waiting on an origin
    /// that goes down give up on it at once instead of waiting out their timeout.
    pub(crate) health_changed: tokio::sync::Notify,
    /// When the front was made (shown on the status page).
    pub started: DateTime<Utc>,
}

impl Front {
    /// A front over checked `config`; nothing is probed until [`Front::start_probes`].
    pub fn new(config: FrontConfig) -> Result<Arc<Front>, mirrorcast_core::Error> {
        config.check()?;
        let now = Utc::now();
        let origins = config
            .origins
            .iter()
            .map(|_| OriginState { tracker: Tracker::default(), since: now, history: VecDeque::new(), probes: 0 })
            .collect::<Vec<_>>();
        let health: Vec<Health> = origins.iter().map(|o| o.tracker.health()).collect();
        let active = route::choose(&health, None, config.failback);
        // Redirects pass through to the viewer; decompression is the viewer's business.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.upstream_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| mirrorcast_core::Error::new(mirrorcast_core::ErrorKind::Other, e.to_string()))?;
        let routing = Routing {
            health: health.iter().map(|h| AtomicU8::new(health_code(*h))).collect(),
            active: AtomicUsize::new(active.unwrap_or(NO_ORIGIN)),
        };
        let counts = config.origins.iter().map(|_| Counts::default()).collect();
        let targets = config.origins.iter().map(|o| Target::new(&o.base)).collect::<Result<_, _>>()?;
        let origin_headers = config.origins.iter().map(|o| HeaderValue::from_str(&o.name).ok()).collect();
        let upstream = upstream_client(&config)?;
        Ok(Arc::new(Front {
            board: Mutex::new(Board { origins, active, switches: VecDeque::new() }),
            routing,
            counts,
            targets,
            origin_headers,
            health_changed: tokio::sync::Notify::new(),
            client,
            upstream,
            started: now,
            config,
        }))
    }

    pub(crate) fn board(&self) -> MutexGuard<'_, Board> {
        // A panic elsewhere never leaves the board half-written (updates are plain assignments).
        self.board.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `path_and_query` (a request's, starting with `/`) on `origin`'s base URL, as the url
    /// crate spells it (dot segments resolved, what a URL may not hold percent-encoded).
    pub(crate) fn url(&self, origin: usize, path_and_query: &str) -> url::Url {
        let base = &self.targets[origin].base;
        let (path, query) = path_and_query.split_once('?').map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let mut url = base.clone();
        match base.path() {
            "/" | "" => url.set_path(path),
            prefix => url.set_path(&format!("{prefix}{path}")),
        }
        url.set_query(query);
        url
    }

    /// The URI a request for `path_and_query` is sent to on `origin`: [`Front::url`]'s spelling.
    /// A path the url crate would leave as it is (the usual one: no dot segment, nothing it
    /// encodes) on a base without a path is used as it came, sharing its bytes: building and
    /// parsing the URL per request was a few percent of the front's CPU under segment load.
    pub(crate) fn uri(&self, origin: usize, path_and_query: &PathAndQuery) -> Option<Uri> {
        let target = &self.targets[origin];
        if !target.prefixed && spelled_as_is(path_and_query.as_str()) {
            let mut parts = axum::http::uri::Parts::default();
            parts.scheme = Some(target.scheme.clone());
            parts.authority = Some(target.authority.clone());
            parts.path_and_query = Some(path_and_query.clone());
            return Uri::from_parts(parts).ok();
        }
        Uri::try_from(self.url(origin, path_and_query.as_str()).as_str()).ok()
    }

    /// The `Host` header the requests to `origin` carry (hyper's client would make the same
    /// one from the URI on every request, formatted anew each time).
    pub(crate) fn host(&self, origin: usize) -> &HeaderValue {
        &self.targets[origin].host
    }

    /// `origin`'s name as an `x-mirrorcast-origin` value.
    pub(crate) fn origin_header(&self, origin: usize) -> Option<&HeaderValue> {
        self.origin_headers[origin].as_ref()
    }

    /// The origin routed to now, if any.
    pub fn active(&self) -> Option<usize> {
        Some(self.routing.active.load(Ordering::Acquire)).filter(|&a| a != NO_ORIGIN)
    }

    /// The origins a request tries, in order.
    pub fn attempt_order(&self) -> Vec<usize> {
        let health: Vec<Health> = (0..self.routing.health.len()).map(|i| self.health(i)).collect();
        route::attempt_order(&health, self.active())
    }

    /// The health of `origin` (an index into the configured origins) as the probes last left it.
    pub fn health(&self, origin: usize) -> Health {
        health_of(self.routing.health[origin].load(Ordering::Acquire))
    }

    /// Completes once `origin` is down (at once if it is already).
    pub async fn went_down(&self, origin: usize) {
        loop {
            // Created before the check: a change between the two is not missed.
            let changed = self.health_changed.notified();
            if self.health(origin) == Health::Down {
                return;
            }
            changed.await;
        }
    }

    pub(crate) fn count_request(&self, origin: usize) {
        self.counts[origin].requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_failed_attempt(&self, origin: usize) {
        self.counts[origin].failed_attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a probe result: health, then the active origin, may change.
    pub fn record_probe(&self, origin: usize, result: ProbeResult) {
        let thresholds = self.config.probe.thresholds;
        let name = &self.config.origins[origin].name;
        let mut board = self.board();
        let at = result.at;
        let ok = result.ok;
        let why = result.error.clone().or(result.status.map(|s| format!("HTTP {s}")));
        let state = &mut board.origins[origin];
        state.probes += 1;
        if state.history.len() == HISTORY {
            state.history.pop_front();
        }
        state.history.push_back(result);
        let Some(now) = state.tracker.observe(ok, thresholds) else { return };
        // Published before the waiters are woken: they read it.
        self.routing.health[origin].store(health_code(now), Ordering::Release);
        // Health changes and switch-overs are logged as warnings: the default filter shows them.
        self.health_changed.notify_waiters();
        state.since = at;
        let reason = match now {
            Health::Down => {
                let n = state.tracker.failures_in_a_row();
                let why = why.unwrap_or_else(|| "failed".to_owned());
                warn!(target: "mirrorcast_front", "origin '{name}' is down ({n} failed probe(s) in a row; last: {why})");
                format!("{name} down after {n} failed probe(s): {why}")
            }
            _ => {
                let n = state.tracker.successes_in_a_row();
                warn!(target: "mirrorcast_front", "origin '{name}' is up ({n} good probe(s) in a row)");
                format!("{name} up after {n} good probe(s)")
            }
        };
        let health: Vec<Health> = board.origins.iter().map(|o| o.tracker.health()).collect();
        let Some(next) = route::choose(&health, board.active, self.config.failback) else {
            warn!(target: "mirrorcast_front", "no origin is up; requests still try them all");
            return;
        };
        if Some(next) == board.active {
            return;
        }
        let names = |i: Option<usize>| i.map(|i| self.config.origins[i].name.clone());
        let switch = Switch { at, from: names(board.active), to: names(Some(next)), reason };
        warn!(
            target: "mirrorcast_front",
            "requests now go to '{}' (were going to '{}'): {}",
            switch.to.as_deref().unwrap_or("-"),
            switch.from.as_deref().unwrap_or("-"),
            switch.reason
        );
        board.active = Some(next);
        self.routing.active.store(next, Ordering::Release);
        if board.switches.len() == SWITCHES {
            board.switches.pop_front();
        }
        board.switches.push_back(switch);
    }
}

/// One origin's base URL and what a request's URI on it is made of.
#[derive(Debug)]
struct Target {
    /// As the url crate parsed it (the way for paths it would spell otherwise).
    base: url::Url,
    scheme: Scheme,
    authority: Authority,
    /// The base has a path of its own (`https://host/prefix`): requests' paths are appended to it.
    prefixed: bool,
    /// `host[:port]`, the port only when not the scheme's default (as hyper's client writes it).
    host: HeaderValue,
}

impl Target {
    fn new(base: &str) -> Result<Target, mirrorcast_core::Error> {
        let bad = |e: &dyn std::fmt::Display| mirrorcast_core::Error::invalid_input(format!("an origin's URL: {e}"));
        let base = url::Url::parse(base).map_err(|e| bad(&e))?;
        let parsed = Uri::try_from(base.as_str()).map_err(|e| bad(&e))?;
        let (Some(scheme), Some(authority)) = (parsed.scheme().cloned(), parsed.authority().cloned()) else {
            return Err(bad(&"no scheme or host"));
        };
        // url drops a scheme's default port: a port left is not the default.
        let host = match base.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        let host = HeaderValue::from_str(&host).map_err(|e| bad(&e))?;
        let prefixed = !matches!(base.path(), "/" | "");
        Ok(Target { base, scheme, authority, prefixed, host })
    }
}

/// Whether the url crate spells `path_and_query` on a base without a path exactly as it is:
/// it starts with `/`, holds only printable ASCII that no URL component percent-encodes, and
/// no path segment is a dot segment (`.`, `..`, or one with `%2e`, which url resolves).
fn spelled_as_is(path_and_query: &str) -> bool {
    let plain = |b: u8| (0x21..0x7f).contains(&b) && !b"\"#<>\\^`{|}'".contains(&b);
    let path = path_and_query.split_once('?').map_or(path_and_query, |(p, _)| p);
    let dot_segment = |s: &str| s == "." || s == ".." || s.contains("%2e") || s.contains("%2E");
    path.starts_with('/') && path_and_query.bytes().all(plain) && !path.split('/').any(dot_segment)
}

/// The proxy's client: pooled keep-alive connections (every idle one kept for 30 s, as the
/// probes' reqwest client did), TCP_NODELAY, the connect timeout; `https://` origins checked
/// against the same roots as reqwest's (webpki-roots); no redirect followed, no body decoded.
fn upstream_client(config: &FrontConfig) -> Result<crate::proxy::Upstream, mirrorcast_core::Error> {
    use hyper_util::client::legacy::connect::HttpConnector;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.upstream_timeout));
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| mirrorcast_core::Error::new(mirrorcast_core::ErrorKind::Other, e.to_string()))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OriginSpec;

    fn front(failback: bool) -> Arc<Front> {
        let origins = ["a=http://127.0.0.1:1", "b=http://127.0.0.1:2"].map(|s| OriginSpec::parse(s).unwrap());
        let mut config = FrontConfig::new(origins.to_vec());
        config.failback = failback;
        Front::new(config).unwrap()
    }

    fn probe(f: &Front, origin: usize, ok: bool) {
        let error = (!ok).then(|| "connection refused".to_owned());
        f.record_probe(origin, ProbeResult { at: Utc::now(), ok, ms: 1, status: ok.then_some(200), error });
    }

    #[test]
    fn the_requests_move_to_b_after_k_failures_of_a_and_back_after_m_good_probes() {
        let f = front(true);
        probe(&f, 0, true);
        probe(&f, 1, true);
        assert_eq!(f.active(), Some(0));
        for _ in 0..2 {
            probe(&f, 0, false);
        }
        assert_eq!(f.active(), Some(0), "two failures are tolerated");
        probe(&f, 0, false);
        assert_eq!(f.active(), Some(1));
        assert_eq!(f.attempt_order(), [1, 0]);
        for _ in 0..3 {
            probe(&f, 0, true);
        }
        assert_eq!(f.active(), Some(0), "failback after M good probes");
        let board = f.board();
        let moves: Vec<_> = board.switches.iter().map(|s| (s.from.clone().unwrap(), s.to.clone().unwrap())).collect();
        assert_eq!(moves, [("a".to_owned(), "b".to_owned()), ("b".to_owned(), "a".to_owned())]);
        assert!(board.switches[0].reason.contains("connection refused"), "{:?}", board.switches[0]);
    }

    #[tokio::test]
    async fn a_wait_on_an_origin_ends_when_the_probes_take_it_down() {
        let f = front(true);
        probe(&f, 0, true);
        let waiter = f.clone();
        let waiting = tokio::spawn(async move { waiter.went_down(0).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        for _ in 0..3 {
            probe(&f, 0, false);
        }
        waiting.await.unwrap();
        f.went_down(0).await; // already down: at once
    }

    #[test]
    fn a_request_goes_to_the_url_the_base_and_its_path_and_query_spell() {
        for base in ["http://127.0.0.1:8081", "https://origin.example/prefix", "http://h/a/b"] {
            let f = Front::new(FrontConfig::new(vec![OriginSpec::parse(&format!("a={base}")).unwrap()])).unwrap();
            for pq in
                ["/", "/x/y.ism/manifest(format=m3u8-cmaf)", "/a?b=c&d", "/a/../b", "/%41%20b", "/a?", "//x", "/é?ü"]
            {
                let spelled = url::Url::parse(&format!("{}{pq}", f.config.origins[0].base)).unwrap();
                assert_eq!(f.url(0, pq), spelled, "{base} + {pq}");
            }
        }
    }

    #[test]
    fn a_request_is_sent_to_the_uri_the_url_crate_spells_and_carries_the_host_hyper_would_write() {
        let paths = [
            "/",
            "/0f8fad5b-d9cb-469f-a165-70867728950e/Clip.ism/QualityLevels(300000)/Fragments(video=0,format=m3u8-cmaf).m4s",
            "/a?b=c&d",
            "/a?",
            "/a??b",
            "//x",
            "/%41%20b",
            "/%zz",
            "/a/../b",
            "/a/./b",
            "/a/.",
            "/..",
            "/a/%2e%2E/b",
            "/a/.%2e",
            "/.well-known/x",
            "/a..b/c.",
            "/a|b",
            "/a^b",
            "/{x}",
            "/a'b?c'd",
            "/a\\b",
            "/a?b=%22",
            "/é?ü",
            "*",
        ];
        let bases = [
            ("http://127.0.0.1:8081", "127.0.0.1:8081"),
            ("http://h:80", "h"),
            ("https://origin.example:443", "origin.example"),
            ("https://origin.example:8443/prefix", "origin.example:8443"),
            ("http://h/a/b/", "h"),
            ("http://[::1]:9000", "[::1]:9000"),
        ];
        for (base, host) in bases {
            let f = Front::new(FrontConfig::new(vec![OriginSpec::parse(&format!("a={base}")).unwrap()])).unwrap();
            assert_eq!(f.host(0), host, "{base}");
            for pq in paths {
                // What hyper's server would hand over; a path it refuses never reaches the front.
                let Ok(parsed) = pq.parse::<PathAndQuery>() else { continue };
                let sent = f.uri(0, &parsed).map(|u| u.to_string());
                let spelled = Uri::try_from(f.url(0, pq).as_str()).ok().map(|u| u.to_string());
                assert_eq!(sent, spelled, "{base} + {pq}");
                assert!(sent.is_some(), "{base} + {pq}");
            }
        }
        assert!(spelled_as_is(paths[1]), "a segment's path is used as it came");
    }

    #[test]
    fn without_failback_b_keeps_the_requests_once_it_has_them() {
        let f = front(false);
        probe(&f, 1, true);
        for _ in 0..3 {
            probe(&f, 0, false);
        }
        assert_eq!(f.active(), Some(1));
        for _ in 0..10 {
            probe(&f, 0, true);
        }
        assert_eq!(f.active(), Some(1));
        assert_eq!(f.board().switches.len(), 1);
    }

    #[test]
    fn an_origin_failing_every_other_probe_causes_no_switch_at_all() {
        let f = front(true);
        probe(&f, 1, true);
        for i in 0..200 {
            probe(&f, 0, i % 2 == 0);
            probe(&f, 1, true);
        }
        assert_eq!(f.active(), Some(0));
        assert!(f.board().switches.is_empty(), "{:?}", f.board().switches);
        assert_eq!(f.board().origins[0].history.len(), HISTORY, "the history is bounded");
    }
}
