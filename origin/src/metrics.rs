//! Counters for `/metrics`, in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The origin's counters since it started, shared by its handlers; [`Metrics::render`] is `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses by status class: 2xx, 3xx, 4xx, 5xx.
    responses: [AtomicU64; 4],
    bytes_sent: AtomicU64,
    index_hits: AtomicU64,
    index_misses: AtomicU64,
    upstream_requests: AtomicU64,
    upstream_errors: AtomicU64,
    upstream_micros: AtomicU64,
    segment_cache_hits: AtomicU64,
    segment_cache_misses: AtomicU64,
    segment_cache_evictions: AtomicU64,
    segment_cache_bytes: AtomicU64,
    segment_cache_capacity: AtomicU64,
    /// Key requests by [`KeyOutcome`].
    key_requests: [AtomicU64; KeyOutcome::ALL.len()],
    /// Requests that waited on storage (or on a build from it) by [`Waited`], and the time they waited.
    waits: [AtomicU64; Waited::ALL.len()],
    wait_micros: [AtomicU64; Waited::ALL.len()],
    /// Manifests and playlists answered, by the time taken to answer ([`MANIFEST_BUCKETS_MS`]; the last: above).
    manifest_times: [AtomicU64; MANIFEST_BUCKETS_MS.len() + 1],
    manifest_micros: AtomicU64,
    /// Manifest and playlist bodies made (packaged and gzipped), and the time it took.
    bodies_made: AtomicU64,
    body_micros: AtomicU64,
}

/// The upper bounds (ms) of the manifest answer-time histogram's buckets.
const MANIFEST_BUCKETS_MS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 100.0, 1000.0];

/// What a request waited for that the origin reads from storage, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// A locator and its asset record.
    Records,
    /// A filter record.
    Filters,
    /// A protected locator's policy and keys.
    Encryption,
    /// A key's locators (key delivery).
    Keys,
    /// An `.ism`'s renditions built from storage (its `.ism`, indexes, sidecars).
    Renditions,
    /// A segment's source blob version (its `HEAD`), before the segment cache is asked.
    Versions,
}

impl Waited {
    const ALL: [Waited; 6] =
        [Waited::Records, Waited::Filters, Waited::Encryption, Waited::Keys, Waited::Renditions, Waited::Versions];

    /// The `on` label.
    pub fn label(self) -> &'static str {
        match self {
            Waited::Records => "records",
            Waited::Filters => "filters",
            Waited::Encryption => "encryption",
            Waited::Keys => "keys",
            Waited::Renditions => "renditions",
            Waited::Versions => "versions",
        }
    }
}

/// What a key request got, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    /// The key or licence (200).
    Granted,
    /// No token where the policy asks for one (401).
    Unauthorized,
    /// A token the policy refuses, or no policy that delivers the key here (403).
    Forbidden,
    /// No such key (404).
    NotFound,
    /// A licence request that is not one (400, 413).
    BadRequest,
    /// Records unreadable, or no KEK to open the key with (5xx).
    Failed,
}

impl KeyOutcome {
    const ALL: [KeyOutcome; 6] = [
        KeyOutcome::Granted,
        KeyOutcome::Unauthorized,
        KeyOutcome::Forbidden,
        KeyOutcome::NotFound,
        KeyOutcome::BadRequest,
        KeyOutcome::Failed,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            KeyOutcome::Granted => "granted",
            KeyOutcome::Unauthorized => "unauthorized",
            KeyOutcome::Forbidden => "forbidden",
            KeyOutcome::NotFound => "not_found",
            KeyOutcome::BadRequest => "bad_request",
            KeyOutcome::Failed => "failed",
        }
    }
}

impl Metrics {
    /// Counts one response under its status class.
    pub fn response(&self, status: u16) {
        if let Some(c) = self.responses.get((status / 100).saturating_sub(2) as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Adds `n` body bytes sent.
    pub fn bytes(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Relaxed);
    }

    /// Counts one MP4 index lookup: `hit` when the cache had it, a miss when it was built from storage.
    pub fn index_lookup(&self, hit: bool) {
        if hit { &self.index_hits } else { &self.index_misses }.fetch_add(1, Relaxed);
    }

    /// Counts one storage request that took `took` (added to the time spent waiting), failed unless `ok`.
    pub fn upstream(&self, took: Duration, ok: bool) {
        self.upstream_requests.fetch_add(1, Relaxed);
        self.upstream_body(took, ok);
    }

    /// Adds the time spent reading a counted request's body, and counts the request as failed
    /// unless `ok`; the request itself was counted when it was answered.
    pub fn upstream_body(&self, took: Duration, ok: bool) {
        self.upstream_micros.fetch_add(took.as_micros() as u64, Relaxed);
        if !ok {
            self.upstream_errors.fetch_add(1, Relaxed);
        }
    }

    /// Counts one hot-segment cache lookup: `hit` when it was served from memory.
    pub fn segment_cache_lookup(&self, hit: bool) {
        if hit { &self.segment_cache_hits } else { &self.segment_cache_misses }.fetch_add(1, Relaxed);
    }

    /// Counts one entry dropped from the hot-segment cache to keep it within its budget.
    pub fn segment_cache_evicted(&self) {
        self.segment_cache_evictions.fetch_add(1, Relaxed);
    }

    /// The hot-segment cache's bytes held now, and its budget.
    pub fn segment_cache_size(&self, bytes: u64, capacity: u64) {
        self.segment_cache_bytes.store(bytes, Relaxed);
        self.segment_cache_capacity.store(capacity, Relaxed);
    }

    /// Counts one key request (AES-128 key or ClearKey licence) by what it got.
    pub fn key_request(&self, outcome: KeyOutcome) {
        self.key_requests[outcome as usize].fetch_add(1, Relaxed);
    }

    /// Counts one request that waited `took` on storage for `on`.
    pub fn waited(&self, on: Waited, took: Duration) {
        self.waits[on as usize].fetch_add(1, Relaxed);
        self.wait_micros[on as usize].fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// Counts one manifest or playlist answered in `took` (from its parsed path to its response).
    pub fn manifest_answered(&self, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        let bucket = MANIFEST_BUCKETS_MS.iter().position(|&le| ms <= le).unwrap_or(MANIFEST_BUCKETS_MS.len());
        self.manifest_times[bucket].fetch_add(1, Relaxed);
        self.manifest_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// Counts one manifest or playlist body made (packaged, gzipped) in `took`.
    pub fn body_made(&self, took: Duration) {
        self.bodies_made.fetch_add(1, Relaxed);
        self.body_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// All counters in the Prometheus text format, as `/metrics` serves them.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP mirrorcast_origin_responses_total Responses sent, by status class.\n# TYPE mirrorcast_origin_responses_total counter\n");
        for (i, class) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(
                s,
                "mirrorcast_origin_responses_total{{class=\"{class}\"}} {}",
                self.responses[i].load(Relaxed)
            );
        }
        s.push_str("# HELP mirrorcast_origin_key_requests_total Key requests (AES-128 keys, ClearKey licences), by outcome.\n# TYPE mirrorcast_origin_key_requests_total counter\n");
        for outcome in KeyOutcome::ALL {
            let n = self.key_requests[outcome as usize].load(Relaxed);
            let _ = writeln!(s, "mirrorcast_origin_key_requests_total{{outcome=\"{}\"}} {n}", outcome.label());
        }
        s.push_str("# HELP mirrorcast_origin_storage_waits_total Requests that waited on storage, by what they waited for.\n# TYPE mirrorcast_origin_storage_waits_total counter\n");
        for on in Waited::ALL {
            let n = self.waits[on as usize].load(Relaxed);
            let _ = writeln!(s, "mirrorcast_origin_storage_waits_total{{on=\"{}\"}} {n}", on.label());
        }
        s.push_str("# HELP mirrorcast_origin_storage_wait_seconds_total Time requests waited on storage, by what they waited for.\n# TYPE mirrorcast_origin_storage_wait_seconds_total counter\n");
        for on in Waited::ALL {
            let secs = self.wait_micros[on as usize].load(Relaxed) as f64 / 1e6;
            let _ = writeln!(s, "mirrorcast_origin_storage_wait_seconds_total{{on=\"{}\"}} {secs:.6}", on.label());
        }
        s.push_str("# HELP mirrorcast_origin_manifest_seconds Time to answer a manifest or playlist request.\n# TYPE mirrorcast_origin_manifest_seconds histogram\n");
        let mut cumulative = 0;
        for (i, le) in
            MANIFEST_BUCKETS_MS.iter().map(|ms| format!("{}", ms / 1e3)).chain(["+Inf".to_owned()]).enumerate()
        {
            cumulative += self.manifest_times[i].load(Relaxed);
            let _ = writeln!(s, "mirrorcast_origin_manifest_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            s,
            "mirrorcast_origin_manifest_seconds_sum {:.6}\nmirrorcast_origin_manifest_seconds_count {cumulative}",
            self.manifest_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "# HELP mirrorcast_origin_manifest_bodies_made_total Manifest and playlist bodies packaged and gzipped.\n# TYPE mirrorcast_origin_manifest_bodies_made_total counter\nmirrorcast_origin_manifest_bodies_made_total {}",
            self.bodies_made.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP mirrorcast_origin_manifest_body_seconds_total Time spent packaging and gzipping bodies.\n# TYPE mirrorcast_origin_manifest_body_seconds_total counter\nmirrorcast_origin_manifest_body_seconds_total {:.6}",
            self.body_micros.load(Relaxed) as f64 / 1e6
        );
        let simple = [
            ("mirrorcast_origin_sent_bytes_total", "Body bytes sent.", &self.bytes_sent),
            ("mirrorcast_origin_index_cache_hits_total", "MP4 index lookups served from the cache.", &self.index_hits),
            ("mirrorcast_origin_index_cache_misses_total", "MP4 indexes built from ranged reads.", &self.index_misses),
            ("mirrorcast_origin_upstream_requests_total", "Storage requests made.", &self.upstream_requests),
            ("mirrorcast_origin_upstream_errors_total", "Storage requests that failed.", &self.upstream_errors),
            (
                "mirrorcast_origin_segment_cache_hits_total",
                "Segments and ranges served from memory.",
                &self.segment_cache_hits,
            ),
            (
                "mirrorcast_origin_segment_cache_misses_total",
                "Segments and ranges read from storage.",
                &self.segment_cache_misses,
            ),
            (
                "mirrorcast_origin_segment_cache_evictions_total",
                "Entries dropped to stay within the budget.",
                &self.segment_cache_evictions,
            ),
        ];
        for (name, help, v) in simple {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP mirrorcast_origin_upstream_seconds_total Time spent waiting for storage.\n# TYPE mirrorcast_origin_upstream_seconds_total counter\nmirrorcast_origin_upstream_seconds_total {:.6}",
            self.upstream_micros.load(Relaxed) as f64 / 1e6
        );
        let gauges = [
            ("mirrorcast_origin_segment_cache_bytes", "Bytes the segment cache holds.", &self.segment_cache_bytes),
            (
                "mirrorcast_origin_segment_cache_capacity_bytes",
                "The segment cache's budget.",
                &self.segment_cache_capacity,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", v.load(Relaxed));
        }
        s
    }
}
