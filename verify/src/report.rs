//! The verdict: entries with rclone-check markers, counts, and three renderings.
//!
//! JSON schema (stable; fields are only ever added):
//! `{ "source", "target", "deep", "identical": bool, "counts": {"same","missing","extra","differs","errors"},
//!    "assets": [ { "id", "name", "counts": {…}, "entries": [ {"marker","check","side","path","detail","track"?} ] } ],
//!    "requests": {"source","target"} }` (`requests` when the caller counted them)
//! A run's `=` entries are listed when it kept them ([`crate::VerifyOptions::same_entries`]); their counts always are.
//! `marker` is one of `= - + * !`; `check` one of blob, asset, file-info, locator, url, manifest, mp4, http;
//! `side` is `a`, `b` or `both`; `track` (only when known, `verify --http`) names the track a URL
//! belongs to: `audio es "aac_es"`, `subtitles en "English"`, `video 320x180 600000 bps`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use mirrorcast_core::spool::{Spool, Spooled};
use mirrorcast_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    pub assets: AssetVerdicts,
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

/// What a run keeps in memory of one asset's verdict: what the order, the counts and the
/// exit code need. Its entries are in [`AssetVerdicts`]' spool.
#[derive(Debug, Clone)]
struct VerdictLine {
    id: String,
    name: String,
    counts: Counts,
    /// Where its entries lie in the spool; none when it kept none (or they are held in memory).
    at: Option<Spooled>,
}

impl VerdictLine {
    fn of(v: &AssetVerdict, at: Option<Spooled>) -> Self {
        VerdictLine { id: v.id.clone(), name: v.name.clone(), counts: v.counts.clone(), at }
    }

    /// Whether any of its entries is printed by the text and JUnit reports (not `=`).
    fn has_differences(&self) -> bool {
        self.counts.differences() > 0 || self.counts.errors > 0
    }
}

/// The assets' verdicts, sorted by name, then id. A run keeps each asset's entries in a
/// temporary file (`mirrorcast_core::spool`) and only its id, name and counts in memory, so
/// its memory does not grow with every blob of the library (one `=` entry each); they are
/// read back one asset at a time to be printed. A report read from JSON holds them in
/// memory. Serialized, it is the list of [`AssetVerdict`]s either way.
#[derive(Debug, Clone)]
pub struct AssetVerdicts {
    lines: Vec<VerdictLine>,
    held: Held,
    /// Entries that are not `=`, per check name (the text summary's).
    per_check: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone)]
enum Held {
    /// Each line's entries in the spool at its `at`; `=` entries only when `same_entries`.
    Spool { spool: Arc<Spool<Vec<Entry>>>, same_entries: bool },
    /// The verdicts themselves, in the lines' order.
    Memory(Vec<AssetVerdict>),
}

impl AssetVerdicts {
    /// Verdicts whose entries are written to `spool` as they are pushed; `=` entries too
    /// when `same_entries` (JSON lists them; text and JUnit print only their counts).
    pub fn spooled(spool: Arc<Spool<Vec<Entry>>>, same_entries: bool) -> Self {
        AssetVerdicts { lines: Vec::new(), held: Held::Spool { spool, same_entries }, per_check: BTreeMap::new() }
    }

    /// Verdicts held in memory, put in the report's order.
    pub fn in_memory(mut verdicts: Vec<AssetVerdict>) -> Self {
        sort_by_name(&mut verdicts, |v| (&v.name, &v.id));
        Self::as_held(verdicts)
    }

    /// Verdicts held in memory in the order given.
    fn as_held(verdicts: Vec<AssetVerdict>) -> Self {
        let mut per_check = BTreeMap::new();
        for v in &verdicts {
            count_per_check(&mut per_check, &v.entries);
        }
        AssetVerdicts {
            lines: verdicts.iter().map(|v| VerdictLine::of(v, None)).collect(),
            held: Held::Memory(verdicts),
            per_check,
        }
    }

    /// Adds one asset's verdict (call [`AssetVerdicts::sort`] once all are in). A verdict
    /// the spool cannot take (a full disk) is an error: the report would not be whole.
    pub fn push(&mut self, mut verdict: AssetVerdict) -> Result<()> {
        count_per_check(&mut self.per_check, &verdict.entries);
        match &mut self.held {
            Held::Spool { spool, same_entries } => {
                if !*same_entries {
                    verdict.entries.retain(|e| e.marker != Marker::Same);
                }
                let at = if verdict.entries.is_empty() { None } else { Some(spool.append(&verdict.entries)?) };
                self.lines.push(VerdictLine::of(&verdict, at));
            }
            Held::Memory(verdicts) => {
                self.lines.push(VerdictLine::of(&verdict, None));
                verdicts.push(verdict);
            }
        }
        Ok(())
    }

    /// Puts the verdicts in the report's order: by name, then id.
    pub fn sort(&mut self) {
        match &mut self.held {
            Held::Spool { .. } => sort_by_name(&mut self.lines, |l| (&l.name, &l.id)),
            Held::Memory(verdicts) => *self = AssetVerdicts::in_memory(std::mem::take(verdicts)),
        }
    }

    /// How many assets were checked.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no asset was checked.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Each asset's verdict in the report's order, read one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Result<AssetVerdict>> + '_ {
        (0..self.lines.len()).map(move |i| self.read(i, true))
    }

    /// Every verdict, read into memory (small runs and tests).
    pub fn to_vec(&self) -> Result<Vec<AssetVerdict>> {
        self.iter().collect()
    }

    /// The `i`th verdict; with `all` false, the entries of an asset without differences
    /// (only `=` entries) are not read back: they would not be printed.
    fn read(&self, i: usize, all: bool) -> Result<AssetVerdict> {
        let line = &self.lines[i];
        let entries = match (&self.held, line.at) {
            (Held::Memory(verdicts), _) => return Ok(verdicts[i].clone()),
            (Held::Spool { .. }, _) if !all && !line.has_differences() => Vec::new(),
            (Held::Spool { .. }, None) => Vec::new(),
            (Held::Spool { spool, .. }, Some(at)) => spool.read(at)?,
        };
        Ok(AssetVerdict { id: line.id.clone(), name: line.name.clone(), counts: line.counts.clone(), entries })
    }

    /// Each verdict for the text and JUnit reports, which print only entries that are not `=`.
    fn differences(&self) -> impl Iterator<Item = Result<AssetVerdict>> + '_ {
        (0..self.lines.len()).map(move |i| self.read(i, false))
    }
}

fn sort_by_name<T>(items: &mut [T], key: impl Fn(&T) -> (&String, &String)) {
    items.sort_by(|a, b| key(a).cmp(&key(b)));
}

fn count_per_check(per_check: &mut BTreeMap<&'static str, u64>, entries: &[Entry]) {
    for e in entries.iter().filter(|e| e.marker != Marker::Same) {
        *per_check.entry(e.check.name()).or_default() += 1;
    }
}

impl Serialize for AssetVerdicts {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.held {
            Held::Memory(verdicts) => verdicts.serialize(serializer),
            Held::Spool { .. } => mirrorcast_core::spool::serialize_read_back(serializer, self.len(), self.iter()),
        }
    }
}

impl<'de> Deserialize<'de> for AssetVerdicts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        // As read: the order is the report's own.
        Ok(AssetVerdicts::as_held(Vec::<AssetVerdict>::deserialize(deserializer)?))
    }
}

impl Report {
    /// The report over `assets` (sorted by name then id), counts summed, `requests` left to the caller.
    pub fn new(source: &str, target: &str, deep: bool, assets: Vec<AssetVerdict>) -> Self {
        Report::of(source, target, deep, AssetVerdicts::in_memory(assets))
    }

    /// The report over `assets`, put in the report's order, counts summed.
    pub fn of(source: &str, target: &str, deep: bool, mut assets: AssetVerdicts) -> Self {
        assets.sort();
        let mut counts = Counts::default();
        for line in &assets.lines {
            counts.merge(&line.counts);
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
    pub fn difference_lines(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for a in self.assets.differences() {
            lines.extend(a?.entries.iter().filter(|e| e.marker != Marker::Same).map(Entry::line));
        }
        Ok(lines)
    }

    /// The report for people: each asset's differences, then a summary line with counts per check.
    pub fn to_text(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_text(&mut out)?;
        Ok(String::from_utf8(out).expect("the report is written from strings"))
    }

    /// [`Report::to_text`], written to `out` one asset at a time.
    pub fn write_text(&self, out: &mut impl Write) -> Result<()> {
        for a in self.assets.differences() {
            let a = a?;
            let c = &a.counts;
            writeln!(
                out,
                "{} \"{}\": {} same, {} missing, {} extra, {} differ, {} errors",
                a.id, a.name, c.same, c.missing, c.extra, c.differs, c.errors
            )
            .map_err(written)?;
            for e in a.entries.iter().filter(|e| e.marker != Marker::Same) {
                writeln!(out, "  {}", e.line()).map_err(written)?;
            }
        }
        let c = &self.counts;
        let per: Vec<String> = self.assets.per_check.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            out,
            "{} asset(s), '{}' vs '{}'{}: {} same, {} missing in B, {} extra in B, {} differ, {} errors{}",
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
        )
        .map_err(written)?;
        out.write_all(if self.identical { b"identical\n" } else { b"NOT identical\n" }).map_err(written)?;
        Ok(())
    }

    /// One test case per asset; each difference a failure, each error an error.
    pub fn to_junit(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_junit(&mut out)?;
        Ok(String::from_utf8(out).expect("the report is written from strings"))
    }

    /// [`Report::to_junit`], written to `out` one asset at a time.
    pub fn write_junit(&self, out: &mut impl Write) -> Result<()> {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let c = &self.counts;
        let lines = &self.assets.lines;
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mirrorcast verify\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n  <testsuite name=\"{} vs {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
            lines.len(),
            lines.iter().filter(|a| a.counts.differences() > 0).count(),
            lines.iter().filter(|a| a.counts.errors > 0).count(),
            esc(&self.source),
            esc(&self.target),
            lines.len(),
            c.differences(),
            c.errors
        )
        .map_err(written)?;
        for a in self.assets.differences() {
            let a = a?;
            writeln!(out, "    <testcase classname=\"{}\" name=\"{}\">", esc(&a.id), esc(&a.name)).map_err(written)?;
            for e in a.entries.iter().filter(|e| e.marker != Marker::Same) {
                let tag = if e.marker == Marker::Error { "error" } else { "failure" };
                writeln!(out, "      <{tag} type=\"{}\" message=\"{}\"/>", e.check.name(), esc(&e.line()))
                    .map_err(written)?;
            }
            out.write_all(b"    </testcase>\n").map_err(written)?;
        }
        out.write_all(b"  </testsuite>\n</testsuites>\n").map_err(written)?;
        Ok(())
    }
}

fn written(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("could not write the verify report: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn verdict(id: &str, name: &str, differs: bool) -> AssetVerdict {
        let mut entries = vec![
            Entry::new(Marker::Same, Check::Blob, Side::Both, format!("{name}.ism"), "same"),
            Entry::new(Marker::Same, Check::Asset, Side::Both, id, "same"),
        ];
        if differs {
            entries.push(Entry::new(
                Marker::Missing,
                Check::Blob,
                Side::B,
                format!("{name} <&\">.mp4"),
                "missing in B",
            ));
            entries.push(Entry::new(Marker::Error, Check::Mp4, Side::A, format!("{name}.mp4"), "could not read"));
        }
        AssetVerdict::new(id, name, entries)
    }

    /// Verdicts as a run finishes them: out of order, two with one name.
    fn finished() -> Vec<AssetVerdict> {
        let mut v: Vec<AssetVerdict> = (0..30)
            .map(|i| verdict(&format!("id {:02}", 29 - i), &format!("asset {}", (i * 11) % 30), i % 4 == 0))
            .collect();
        v.push(verdict("id 00", "asset 3", true));
        v.push(AssetVerdict::new("account", "account filters", Vec::new()));
        v
    }

    fn spooled_report(spool: Spool<Vec<Entry>>, same_entries: bool) -> Result<Report> {
        let mut verdicts = AssetVerdicts::spooled(Arc::new(spool), same_entries);
        for v in finished() {
            verdicts.push(v)?;
        }
        Ok(Report::of("a", "b", false, verdicts))
    }

    #[test]
    fn spooled_verdicts_come_back_by_name_then_id_and_print_as_held_ones() {
        let spooled = spooled_report(Spool::new().unwrap(), true).unwrap();
        let held = Report::new("a", "b", false, finished());
        let order: Vec<(String, String)> =
            spooled.assets.iter().map(|v| v.map(|v| (v.name, v.id))).collect::<Result<_>>().unwrap();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(order.len(), 32);
        let json = |r: &Report| serde_json::to_string_pretty(r).unwrap();
        assert_eq!(json(&spooled), json(&held));
        assert_eq!(spooled.to_text().unwrap(), held.to_text().unwrap());
        assert_eq!(spooled.to_junit().unwrap(), held.to_junit().unwrap());
        assert_eq!(spooled.exit_code(), 2);
        let read: Report = serde_json::from_str(&json(&spooled)).unwrap();
        assert_eq!(json(&read), json(&held), "round trip");
        assert_eq!(read.to_text().unwrap(), held.to_text().unwrap());
        assert_eq!(read.difference_lines().unwrap(), held.difference_lines().unwrap());

        // Only what text and JUnit print kept: they print the same; JSON has the counts.
        let lean = spooled_report(Spool::new().unwrap(), false).unwrap();
        assert_eq!(lean.to_text().unwrap(), held.to_text().unwrap());
        assert_eq!(lean.to_junit().unwrap(), held.to_junit().unwrap());
        assert_eq!(lean.counts, held.counts);
        assert!(lean.assets.iter().all(|v| v.unwrap().entries.iter().all(|e| e.marker != Marker::Same)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error_naming_where_and_what_to_do() {
        let full = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/full").unwrap();
        let e = spooled_report(Spool::in_file(full(), PathBuf::from("/full/tmp")), true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        let m = e.to_string();
        assert!(m.contains("/full/tmp") && m.contains("TMPDIR") && m.contains("space"), "{m}");
        // Without `=` entries an identical asset writes nothing: only the damaged ones fail.
        let mut lean = AssetVerdicts::spooled(Arc::new(Spool::in_file(full(), PathBuf::from("/full/tmp"))), false);
        lean.push(verdict("id 1", "identical", false)).unwrap();
        assert!(lean.push(verdict("id 2", "damaged", true)).is_err());
    }
}
