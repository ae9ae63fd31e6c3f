//! The verdict: entries with rclone-check markers, counts, and three renderings.
//!
//! JSON schema (stable; fields are only ever added):
//! `{ "source", "target", "deep", "identical": bool, "counts": {"same","missing","extra","differs","errors"},
//!    "assets": [ { "id", "name", "counts": {…}, "entries": [ {"marker","check","side","path","detail","track"?} ] } ],
//!    "requests": {"source","target"} }` (`requests` when the caller counted them)
//! `marker` is one of `= - + * !`; `check` one of blob, asset, file-info, locator, url, manifest, mp4, http;
//! `side` is `a`, `b` or `both`; `track` (only when known, `verify --http`) names the track a URL
//! belongs to: `audio es "aac_es"`, `subtitles en "English"`, `video 320x180 600000 bps`.

use serde::{Deserialize, Serialize};

/// An entry's verdict, printed as rclone check's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Marker {
    /// `=`: B matches A.
    #[serde(rename = "=")]
    Same,
    /// `-`: in A, missing in B.
    #[serde(rename = "-")]
    Missing,
    /// `+`: in B, not in A.
    #[serde(rename = "+")]
    Extra,
    /// `*`: in both, but different.
    #[serde(rename = "*")]
    Differs,
    /// `!`: could not be checked (a read failed, a manifest did not parse); makes the exit code 2.
    #[serde(rename = "!")]
    Error,
}

impl Marker {
    /// The one-character marker (`=`, `-`, `+`, `*`, `!`).
    pub fn symbol(self) -> char {
        match self {
            Marker::Same => '=',
            Marker::Missing => '-',
            Marker::Extra => '+',
            Marker::Differs => '*',
            Marker::Error => '!',
        }
    }
}

/// What an entry compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A blob's listing (size, MD5, content type, metadata) or, with `--deep`, its bytes.
    Blob,
    /// The asset record (container, options).
    Asset,
    /// A file info record against B's blob (one per blob, sizes equal).
    FileInfo,
    /// An origin locator of A against B's (same, on a read-only policy; no SAS left in B).
    Locator,
    /// A locator's streaming paths, which must match but for the base URL.
    Url,
    /// A file a manifest references.
    Manifest,
    /// An MP4's top-level boxes against its blob size.
    Mp4,
    /// What the two origins serve (`verify --http`).
    Http,
    /// A dynamic manifest filter record (an asset's, or the account's with `--all`).
    Filter,
    /// A content key (compared by keyed hash), content key policy or streaming policy a locator names.
    Protection,
}

impl Check {
    /// The name used in text and JSON (`file-info`, kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Check::Blob => "blob",
            Check::Asset => "asset",
            Check::FileInfo => "file-info",
            Check::Locator => "locator",
            Check::Url => "url",
            Check::Manifest => "manifest",
            Check::Mp4 => "mp4",
            Check::Http => "http",
            Check::Filter => "filter",
            Check::Protection => "protection",
        }
    }
}

/// Which data center an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Data center A, the source.
    A,
    /// Data center B, the target.
    B,
    /// Both data centers (an entry that found them the same, or compared the two).
    Both,
}

/// One finding: what was compared, on which side, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// The verdict.
    pub marker: Marker,
    /// What was compared.
    pub check: Check,
    /// Which data center the entry is about.
    pub side: Side,
    /// The blob name or record id compared.
    pub path: String,
    /// For people: what differs, or why it could not be checked.
    pub detail: String,
    /// The track the compared URL belongs to (`audio es "aac_es"`, `subtitles en "English"`), when
    /// `verify --http` knows it: which language or text track differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
}

impl Entry {
    /// Builds an entry: `path` is what was compared, `detail` the message for people.
    pub fn new(marker: Marker, check: Check, side: Side, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Entry { marker, check, side, path: path.into(), detail: detail.into(), track: None }
    }

    /// The entry named by the track it belongs to (printed after the path).
    pub fn with_track(mut self, track: Option<String>) -> Self {
        self.track = track;
        self
    }

    /// `- blob "x.mp4": missing in B`
    pub fn line(&self) -> String {
        let side = match self.side {
            Side::A => " (in A)",
            _ => "",
        };
        let track = self.track.as_ref().map(|t| format!(" [{t}]")).unwrap_or_default();
        format!("{} {:<9} \"{}\"{track}{side}: {}", self.marker.symbol(), self.check.name(), self.path, self.detail)
    }
}

/// How many entries carry each marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// `=` entries: the same on both sides.
    pub same: u64,
    /// `-` entries: missing in B.
    pub missing: u64,
    /// `+` entries: extra in B.
    pub extra: u64,
    /// `*` entries: different in B.
    pub differs: u64,
    /// `!` entries: could not be checked.
    pub errors: u64,
}

impl Counts {
    fn add(&mut self, m: Marker) {
        match m {
            Marker::Same => self.same += 1,
            Marker::Missing => self.missing += 1,
            Marker::Extra => self.extra += 1,
            Marker::Differs => self.differs += 1,
            Marker::Error => self.errors += 1,
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.same += o.same;
        self.missing += o.missing;
        self.extra += o.extra;
        self.differs += o.differs;
        self.errors += o.errors;
    }

    /// Entries that are differences (missing, extra, differs); errors are counted apart.
    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.differs
    }
}

/// One asset's entries and their counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssetVerdict {
    /// The asset id.
    pub id: String,
    /// The asset's name, by which the report sorts.
    pub name: String,
    /// Its entries counted by marker.
    pub counts: Counts,
    /// Its entries, sorted and without duplicates.
    pub entries: Vec<Entry>,
}

impl AssetVerdict {
    /// An asset's verdict: `entries` sorted, duplicates dropped, counted.
    pub fn new(id: impl Into<String>, name: impl Into<String>, mut entries: Vec<Entry>) -> Self {
        entries.sort();
        entries.dedup();
        let mut counts = Counts::default();
        for e in &entries {
            counts.add(e.marker);
        }
        AssetVerdict { id: id.into(), name: name.into(), counts, entries }
    }
}

/// The whole run's verdict, which the text, JSON and JUnit renderings print.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The name the caller gave A (its data center), printed in the summary.
    pub source: String,
    /// The name the caller gave B.
    pub target: String,
    /// Whether blob bytes were hashed (`--deep`).
    pub deep: bool,
    /// No differences and no errors.
    pub identical: bool,
    /// All assets' counts summed.
    pub counts: Counts,
    /// Each asset checked, sorted by name then id.
    pub assets: Vec<AssetVerdict>,
    /// Requests the run sent to each side (filled in by the caller, which owns the stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestsSent>,
}

/// Requests sent to the source (A) and the target (B).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsSent {
    /// Requests sent to A.
    pub source: u64,
    /// Requests sent to B.
    pub target: u64,
}

impl Report {
    /// The report over `assets` (sorted by name then id), counts summed, `requests` left to the caller.
    pub fn new(source: &str, target: &str, deep: bool, mut assets: Vec<AssetVerdict>) -> Self {
        assets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let mut counts = Counts::default();
        for a in &assets {
            counts.merge(&a.counts);
        }
        Report {
            source: source.into(),
            target: target.into(),
            deep,
            identical: counts.differences() == 0 && counts.errors == 0,
            counts,
            assets,
            requests: None,
        }
    }

    /// 0 identical, 1 differences, 2 errors (something could not be checked).
    pub fn exit_code(&self) -> u8 {
        if self.counts.errors > 0 {
            2
        } else if self.counts.differences() > 0 {
            1
        } else {
            0
        }
    }

    /// Every entry that is not `=`, one per line, for people and for tests.
    pub fn difference_lines(&self) -> Vec<String> {
        self.assets
            .iter()
            .flat_map(|a| a.entries.iter().filter(|e| e.marker != Marker::Same).map(Entry::line))
            .collect()
    }

    /// The report for people: each asset's differences, then a summary line with counts per check.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for a in &self.assets {
            let c = &a.counts;
            out.push_str(&format!(
                "{} \"{}\": {} same, {} missing, {} extra, {} differ, {} errors\n",
                a.id, a.name, c.same, c.missing, c.extra, c.differs, c.errors
            ));
            for e in a.entries.iter().filter(|e| e.marker != Marker::Same) {
                out.push_str(&format!("  {}\n", e.line()));
            }
        }
        let c = &self.counts;
        let mut per_check: std::collections::BTreeMap<&str, u64> = Default::default();
        for e in self.assets.iter().flat_map(|a| &a.entries).filter(|e| e.marker != Marker::Same) {
            *per_check.entry(e.check.name()).or_default() += 1;
        }
        let per: Vec<String> = per_check.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!(
            "{} asset(s), '{}' vs '{}'{}: {} same, {} missing in B, {} extra in B, {} differ, {} errors{}\n",
            self.assets.len(),
            self.source,
            self.target,
            if self.deep { " (deep)" } else { "" },
            c.same,
            c.missing,
            c.extra,
            c.differs,
            c.errors,
            if per.is_empty() { String::new() } else { format!(" [{}]", per.join(", ")) }
        ));
        out.push_str(if self.identical { "identical\n" } else { "NOT identical\n" });
        out
    }

    /// One test case per asset; each difference a failure, each error an error.
    pub fn to_junit(&self) -> String {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let c = &self.counts;
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mirrorcast verify\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n  <testsuite name=\"{} vs {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
            self.assets.len(),
            self.assets.iter().filter(|a| a.counts.differences() > 0).count(),
            self.assets.iter().filter(|a| a.counts.errors > 0).count(),
            esc(&self.source),
            esc(&self.target),
            self.assets.len(),
            c.differences(),
            c.errors
        );
        for a in &self.assets {
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", esc(&a.id), esc(&a.name)));
            for e in a.entries.iter().filter(|e| e.marker != Marker::Same) {
                let tag = if e.marker == Marker::Error { "error" } else { "failure" };
                out.push_str(&format!("      <{tag} type=\"{}\" message=\"{}\"/>\n", e.check.name(), esc(&e.line())));
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}
