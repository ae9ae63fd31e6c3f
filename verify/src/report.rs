//! The verdict: entries with rclone-check markers, counts, and three renderings.
//!
//! JSON schema (stable; fields are only ever added):
//! `{ "source", "target", "deep", "identical": bool, "counts": {"same","missing","extra","differs","errors"},
//!    "assets": [ { "id", "name", "counts": {…}, "entries": [ {"marker","check","side","path","detail"} ] } ],
//!    "requests": {"source","target"} }` (`requests` when the caller counted them)
//! `marker` is one of `= - + * !`; `check` one of blob, asset, file-info, locator, url, manifest, mp4, http;
//! `side` is `a`, `b` or `both`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Marker {
    #[serde(rename = "=")]
    Same,
    #[serde(rename = "-")]
    Missing,
    #[serde(rename = "+")]
    Extra,
    #[serde(rename = "*")]
    Differs,
    #[serde(rename = "!")]
    Error,
}

impl Marker {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Blob,
    Asset,
    FileInfo,
    Locator,
    Url,
    Manifest,
    Mp4,
    /// What the two origins serve (`verify --http`).
    Http,
}

impl Check {
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
        }
    }
}

/// Which data center an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A,
    B,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub marker: Marker,
    pub check: Check,
    pub side: Side,
    pub path: String,
    pub detail: String,
}

impl Entry {
    pub fn new(marker: Marker, check: Check, side: Side, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Entry { marker, check, side, path: path.into(), detail: detail.into() }
    }

    /// `- blob "x.mp4": missing in B`
    pub fn line(&self) -> String {
        let side = match self.side {
            Side::A => " (in A)",
            _ => "",
        };
        format!("{} {:<9} \"{}\"{side}: {}", self.marker.symbol(), self.check.name(), self.path, self.detail)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub same: u64,
    pub missing: u64,
    pub extra: u64,
    pub differs: u64,
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

    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.differs
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssetVerdict {
    pub id: String,
    pub name: String,
    pub counts: Counts,
    pub entries: Vec<Entry>,
}

impl AssetVerdict {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub deep: bool,
    pub identical: bool,
    pub counts: Counts,
    pub assets: Vec<AssetVerdict>,
    /// Requests the run sent to each side (filled in by the caller, which owns the stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestsSent>,
}

/// Requests sent to the source (A) and the target (B).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsSent {
    pub source: u64,
    pub target: u64,
}

impl Report {
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
