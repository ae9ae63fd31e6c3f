//! What a replication run did, per blob, per asset and in total; the schema of
//! `mirrorcast replicate --json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spool::{Spool, Spooled};
use crate::error::Result;

use crate::copy::CopyStrategy;
use crate::id::{AssetId, LocatorId};
use crate::store::BlobMeta;

/// What happened to one blob of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobStatus {
    /// Copied in this run.
    Copied,
    /// Already in the target with the same size and source ETag (or MD5).
    Skipped,
    /// Would be copied (dry run).
    Planned,
    /// A page or append blob: not media, reported and left alone.
    NotMedia,
    /// Not copied (or not checked): `error` says why.
    Failed,
}

/// One blob of an asset's container and what the run did with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobOutcome {
    /// The blob's name in its container (the same in A and B).
    pub name: String,
    /// What the run did with it.
    pub status: BlobStatus,
    /// Its size in bytes: as listed in A, or as copied.
    pub bytes: u64,
    /// How it was copied (copied blobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<CopyStrategy>,
    /// A's ETag of the blob: as listed, or of the version copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_etag: Option<String>,
    /// Why it failed (failed blobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Copies of this blob tried again by the runner (HTTP retries are counted apart).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts_retried: u32,
}

impl BlobOutcome {
    /// A listed blob's outcome before (or without) a copy: its listed size and ETag.
    pub(crate) fn of(blob: &BlobMeta, status: BlobStatus) -> Self {
        BlobOutcome {
            name: blob.name.clone(),
            status,
            bytes: blob.size,
            strategy: None,
            source_etag: Some(blob.etag.clone()),
            error: None,
            attempts_retried: 0,
        }
    }

    /// A listed blob that failed, and why.
    pub(crate) fn failed(blob: &BlobMeta, error: String, attempts_retried: u32) -> Self {
        BlobOutcome { error: Some(error), attempts_retried, ..Self::of(blob, BlobStatus::Failed) }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where one asset ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetStatus {
    /// Every blob is in B (copied now or already there) and nothing failed.
    Replicated,
    /// Dry run: nothing written.
    Planned,
    /// Not replicable (storage-encrypted): nothing of it was copied.
    Refused,
    /// Finished with failed blobs or records.
    Failed,
    /// Stopped by Ctrl-C before it finished.
    Interrupted,
}

/// One streaming URL of an origin locator in A and the same URL in B.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UrlPair {
    /// The origin locator both URLs go through (same id in A and B).
    pub locator: LocatorId,
    /// The streaming format: `smooth`, `hls`, `hls-cmaf`, `dash` or `dash-cmaf`.
    pub format: String,
    /// The URL at A's streaming origin.
    pub source: String,
    /// The URL at B's streaming origin.
    pub target: String,
}

/// One origin locator of the asset in B.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocatorOutcome {
    /// The locator's id, the same as in A.
    pub id: LocatorId,
    /// `created`, or `kept` when B already had it.
    pub action: String,
}

/// Blob counts by outcome, for one asset or (merged) for the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Blobs copied in this run.
    pub copied: u64,
    /// Blobs already in B, left as they were.
    pub skipped: u64,
    /// Blobs a dry run would copy.
    pub planned: u64,
    /// Blobs that failed.
    pub failed: u64,
    /// Page or append blobs left alone.
    pub not_media: u64,
    /// Bytes copied (in a dry run: bytes that would be).
    pub bytes: u64,
    /// Blobs copied per strategy.
    pub strategies: BTreeMap<String, u64>,
    /// Copies tried again by the runner, summed over the blobs (HTTP retries are counted apart).
    pub retries: u64,
}

impl Counts {
    /// Counts one blob's outcome.
    pub fn add(&mut self, b: &BlobOutcome) {
        match b.status {
            BlobStatus::Copied => {
                self.copied += 1;
                self.bytes += b.bytes;
                if let Some(s) = b.strategy {
                    *self.strategies.entry(s.to_string()).or_default() += 1;
                }
            }
            BlobStatus::Skipped => self.skipped += 1,
            BlobStatus::Planned => {
                self.planned += 1;
                self.bytes += b.bytes;
            }
            BlobStatus::NotMedia => self.not_media += 1,
            BlobStatus::Failed => self.failed += 1,
        }
        self.retries += b.attempts_retried as u64;
    }

    /// Adds `other`'s counts to these (an asset's into the run's).
    pub fn merge(&mut self, other: &Counts) {
        self.copied += other.copied;
        self.skipped += other.skipped;
        self.planned += other.planned;
        self.failed += other.failed;
        self.not_media += other.not_media;
        self.bytes += other.bytes;
        self.retries += other.retries;
        for (k, v) in &other.strategies {
            *self.strategies.entry(k.clone()).or_default() += v;
        }
    }
}

/// What the run did with one asset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssetReport {
    /// The asset's id, the same in A and B.
    pub id: AssetId,
    /// A's name of the asset (empty when its record could not be read).
    pub name: String,
    /// The asset's container, the same name in A and B.
    pub container: String,
    /// Where the asset ended up.
    pub status: AssetStatus,
    /// Proven unchanged since the last run from the listings alone: nothing was written.
    #[serde(default)]
    pub unchanged: bool,
    /// Why the asset failed or was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Things the operator should know that did not fail the asset (e.g. a
    /// container with no free stored-policy slot, so the copy SAS was ad hoc).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether B publishes the asset (origin locators): only once every blob is there.
    #[serde(default)]
    pub published: bool,
    /// Copy grants issued for this asset (a renewal issues another), all revoked at the end.
    #[serde(default)]
    pub grants_issued: u32,
    /// Its blobs' counts (flattened into the asset's JSON object).
    #[serde(flatten)]
    pub counts: Counts,
    /// The origin locators B has for it, created or kept.
    pub locators: Vec<LocatorOutcome>,
    /// Both streaming URLs per origin locator and format (once it is published).
    pub urls: Vec<UrlPair>,
    /// Every blob of its container and what the run did with it.
    pub blobs: Vec<BlobOutcome>,
    /// The content keys and policies its locators need, carried to B (keys re-wrapped, never shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<super::CarriedRecord>,
}

/// One side's credential as the run found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SideAccess {
    /// The data center's name, as configured.
    pub data_center: String,
    /// `source` or `target`.
    pub role: String,
    /// `account key`, `sas`, `token`…
    pub credential: String,
    /// What the credential grants (SAS letters); absent when it does not limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// What the run needs there (SAS letters).
    pub needed: String,
    /// When the credential expires, where it says (a SAS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<chrono::DateTime<chrono::Utc>>,
    /// Reached at a read-only (geo-secondary) endpoint.
    pub read_only: bool,
}

/// The run's totals over all its assets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Assets the run took (the selection, this shard's part of it).
    pub assets: u64,
    /// Assets replicated, or planned in a dry run.
    pub replicated: u64,
    /// Assets refused (storage-encrypted).
    pub refused: u64,
    /// Assets that failed or were interrupted.
    pub failed_assets: u64,
    /// Assets proven unchanged (nothing written for them).
    #[serde(default)]
    pub unchanged: u64,
    /// The blob counts of all assets (flattened into the JSON object).
    #[serde(flatten)]
    pub counts: Counts,
    /// Requests the storage backends sent again (throttling, transient errors).
    pub http_retries: u64,
    /// Requests sent to each side by the whole run (retries included): what the run cost.
    #[serde(default)]
    pub requests: RequestCounts,
    /// The run's wall-clock time, in seconds.
    pub seconds: f64,
}

impl Totals {
    /// Counts one asset's report in (the requests are counted apart, see `meter`).
    pub(crate) fn add(&mut self, a: &AssetReport) {
        self.assets += 1;
        self.counts.merge(&a.counts);
        self.unchanged += a.unchanged as u64;
        match a.status {
            AssetStatus::Replicated | AssetStatus::Planned => self.replicated += 1,
            AssetStatus::Refused => self.refused += 1,
            AssetStatus::Failed | AssetStatus::Interrupted => self.failed_assets += 1,
        }
    }
}

/// Requests sent, per side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests sent to A (the source).
    pub source: u64,
    /// Requests sent to B (the target).
    pub target: u64,
    /// Diagnostic: the same requests by operation and side, where the backend counts them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_operations: BTreeMap<String, u64>,
    /// The same for B: requests by operation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_operations: BTreeMap<String, u64>,
    /// The adaptive limit on each side's requests in flight: its ceiling, lowest and final
    /// values and the path it took (halved on overload, grown on answers), where the backend keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_limit: Option<crate::store::LimitReport>,
    /// The same for B: its adaptive limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_limit: Option<crate::store::LimitReport>,
}

/// A replication run's full report: what `mirrorcast replicate --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id; its journal entries in B are under it.
    pub run_id: String,
    /// The source data center's name (A).
    pub source: String,
    /// The target data center's name (B).
    pub target: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Whether Ctrl-C stopped the run before it finished.
    pub interrupted: bool,
    /// What each side's credential allowed and what the run needed of it.
    #[serde(default)]
    pub access: Vec<SideAccess>,
    /// Records in A that failed their checks and belong to no asset of A
    /// (a locator of an unknown asset, a record not named after an id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_problems: Vec<crate::catalog::RecordProblem>,
    /// Per asset, sorted by name, then id (kept in a temporary file during a run, see [`AssetReports`]).
    pub assets: AssetReports,
    /// The run's totals, its request costs included.
    pub totals: Totals,
    /// What `--delete` planned and did (absent without `--delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<super::DeletionReport>,
}

/// The journal's one entry per run: totals and each asset's status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// The source data center's name (A).
    pub source: String,
    /// The target data center's name (B).
    pub target: String,
    /// Whether Ctrl-C stopped the run before it finished.
    pub interrupted: bool,
    /// The run's totals.
    pub totals: Totals,
    /// One line per asset.
    pub assets: Vec<SummaryLine>,
    /// Records in A that failed their checks and belong to no asset (as in the run's report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_problems: Vec<crate::catalog::RecordProblem>,
    /// `--delete` runs: totals, and why nothing was deleted if so (the list is `<run-id>/deletions.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<super::DeletionSummary>,
}

/// One asset's line in the journal's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryLine {
    /// The asset's id.
    pub id: AssetId,
    /// Where the asset ended up.
    pub status: AssetStatus,
    /// Whether it was proven unchanged (nothing written).
    pub unchanged: bool,
    /// Why it failed or was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Summary {
    /// The journal's summary of a run's report.
    pub fn of(report: &RunReport) -> Self {
        Summary {
            run_id: report.run_id.clone(),
            source: report.source.clone(),
            target: report.target.clone(),
            interrupted: report.interrupted,
            totals: report.totals.clone(),
            assets: report
                .assets
                .lines()
                .iter()
                .map(|a| SummaryLine { id: a.id, status: a.status, unchanged: a.unchanged, errors: a.errors.clone() })
                .collect(),
            record_problems: report.record_problems.clone(),
            deletions: report.deletions.as_ref().map(super::DeletionSummary::of),
        }
    }
}

impl RunReport {
    /// Whether the run should end with exit code 1.
    pub fn has_failures(&self) -> bool {
        self.interrupted
            || !self.record_problems.is_empty()
            || self.deletions.as_ref().is_some_and(super::DeletionReport::has_failures)
            || self
                .assets
                .lines()
                .iter()
                .any(|a| matches!(a.status, AssetStatus::Failed | AssetStatus::Refused | AssetStatus::Interrupted))
    }
}

/// What a run keeps in memory of one asset: what the journal's summary, the exit code and
/// the report's order need. The rest of its report is in [`AssetReports`]' spool.
#[derive(Debug, Clone)]
pub struct AssetLine {
    /// The asset's id.
    pub id: AssetId,
    /// A's name of the asset (the report's order is by name, then id).
    pub name: String,
    /// Where the asset ended up.
    pub status: AssetStatus,
    /// Whether it was proven unchanged (nothing written).
    pub unchanged: bool,
    /// Why it failed or was refused.
    pub errors: Vec<String>,
    /// Whether its report has streaming URLs.
    pub has_urls: bool,
    /// Where its full report lies in the spool (reports held in memory: none).
    at: Option<Spooled>,
}

impl AssetLine {
    fn of(r: &AssetReport, at: Option<Spooled>) -> Self {
        AssetLine {
            id: r.id,
            name: r.name.clone(),
            status: r.status,
            unchanged: r.unchanged,
            errors: r.errors.clone(),
            has_urls: !r.urls.is_empty(),
            at,
        }
    }
}

/// The per-asset reports of a run, sorted by name, then id. A run keeps them in a
/// temporary file (see `spool`) and only one [`AssetLine`] each in memory, so a run's
/// memory does not grow with every blob of the library; they are read back one at a time
/// to be printed. A report read from JSON holds them in memory. Serialized, it is the
/// list of [`AssetReport`]s either way.
#[derive(Debug, Clone)]
pub struct AssetReports {
    lines: Vec<AssetLine>,
    held: Held,
}

#[derive(Debug, Clone)]
enum Held {
    /// Each line's report in the spool at its `at`.
    Spool(Arc<Spool<AssetReport>>),
    /// The reports themselves, in the lines' order.
    Memory(Vec<AssetReport>),
}

impl AssetReports {
    /// Reports written to `spool` as they are pushed.
    pub(crate) fn spooled(spool: Arc<Spool<AssetReport>>) -> Self {
        AssetReports { lines: Vec::new(), held: Held::Spool(spool) }
    }

    /// Room for `n` more lines at once: a list grown by doubling holds up to twice what it needs,
    /// and both its old and new buffers while it grows.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.lines.reserve_exact(n);
    }

    /// Reports held in memory, put in the report's order.
    pub fn in_memory(mut reports: Vec<AssetReport>) -> Self {
        reports.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        AssetReports { lines: reports.iter().map(|r| AssetLine::of(r, None)).collect(), held: Held::Memory(reports) }
    }

    /// Adds one asset's report (call [`AssetReports::sort`] once all are in). Its line is
    /// kept even when writing it to the spool fails, so the summary and the exit code stay
    /// whole; the error says the printed report would not be.
    pub(crate) fn push(&mut self, report: AssetReport) -> Result<()> {
        match &mut self.held {
            Held::Spool(spool) => {
                let at = spool.append(&report);
                self.lines.push(AssetLine::of(&report, at.as_ref().ok().copied()));
                at.map(|_| ())
            }
            Held::Memory(reports) => {
                self.lines.push(AssetLine::of(&report, None));
                reports.push(report);
                Ok(())
            }
        }
    }

    /// Puts the reports in the report's order: by name, then id.
    pub(crate) fn sort(&mut self) {
        match &mut self.held {
            // In place: a run's ids are each once, so no two lines are equal and the order is the stable one.
            Held::Spool(_) => self.lines.sort_unstable_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
            Held::Memory(reports) => *self = AssetReports::in_memory(std::mem::take(reports)),
        }
    }

    /// How many assets the run took.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the run took no asset.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Each asset's line, in the report's order.
    pub fn lines(&self) -> &[AssetLine] {
        &self.lines
    }

    /// Each asset's full report in the report's order, read one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Result<AssetReport>> + '_ {
        self.lines.iter().enumerate().map(move |(i, line)| match (&self.held, line.at) {
            (Held::Memory(reports), _) => Ok(reports[i].clone()),
            (Held::Spool(spool), Some(at)) => spool.read(at),
            (Held::Spool(_), None) => Err(crate::error::Error::new(
                crate::error::ErrorKind::Io,
                format!("asset {}: its report could not be kept (the temporary file could not be written)", line.id),
            )),
        })
    }

    /// Every report, read into memory (small runs and tests).
    pub fn to_vec(&self) -> Result<Vec<AssetReport>> {
        self.iter().collect()
    }
}

impl Serialize for AssetReports {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.held {
            Held::Memory(reports) => reports.serialize(serializer),
            Held::Spool(_) => super::spool::serialize_read_back(serializer, self.len(), self.iter()),
        }
    }
}

impl<'de> Deserialize<'de> for AssetReports {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let reports = Vec::<AssetReport>::deserialize(deserializer)?;
        // As read: the order is the report's own.
        Ok(AssetReports {
            lines: reports.iter().map(|r| AssetLine::of(r, None)).collect(),
            held: Held::Memory(reports),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An asset's report with `blobs` skipped blobs (the spool's tests use it too).
    pub(crate) fn report(name: &str, status: AssetStatus, blobs: usize) -> AssetReport {
        let id = AssetId::new();
        let blobs: Vec<BlobOutcome> = (0..blobs)
            .map(|i| BlobOutcome {
                name: format!("{name}-{i}.ismv"),
                status: BlobStatus::Skipped,
                bytes: 10 * i as u64,
                strategy: None,
                source_etag: Some(format!("\"0x{i}\"")),
                error: None,
                attempts_retried: 0,
            })
            .collect();
        let mut counts = Counts::default();
        blobs.iter().for_each(|b| counts.add(b));
        AssetReport {
            id,
            name: name.to_owned(),
            container: id.container_name(),
            status,
            unchanged: true,
            errors: if status == AssetStatus::Failed { vec![format!("{name} failed")] } else { vec![] },
            warnings: vec![],
            published: true,
            grants_issued: 0,
            counts,
            locators: vec![],
            urls: vec![],
            blobs,
            protection: vec![],
        }
    }

    /// Reports pushed in the order assets finish, some sharing a name.
    fn finished() -> Vec<AssetReport> {
        ["zebra", "apple", "mango", "apple", "", "Zulu", "apple"]
            .iter()
            .enumerate()
            .map(|(i, n)| report(n, if i == 2 { AssetStatus::Failed } else { AssetStatus::Replicated }, i))
            .collect()
    }

    #[test]
    fn spooled_reports_come_back_sorted_by_name_then_id_and_print_as_held_ones() {
        let mut spooled = AssetReports::spooled(Arc::new(Spool::new().unwrap()));
        for r in finished() {
            spooled.push(r).unwrap();
        }
        spooled.sort();
        let back = spooled.to_vec().unwrap();
        let keys: Vec<(String, AssetId)> = back.iter().map(|r| (r.name.clone(), r.id)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "by name, then id");
        assert_eq!(
            keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
            ["", "Zulu", "apple", "apple", "apple", "mango", "zebra"]
        );
        let lines: Vec<(AssetId, AssetStatus)> = spooled.lines().iter().map(|l| (l.id, l.status)).collect();
        assert_eq!(lines, back.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(), "lines in the same order");
        assert_eq!(spooled.lines()[5].errors, ["mango failed"]);

        // The JSON is the list the reports held in memory print, and reads back whole.
        let held = AssetReports::in_memory(back.clone());
        let json = serde_json::to_value(&spooled).unwrap();
        assert_eq!(json, serde_json::to_value(&held).unwrap());
        assert_eq!(
            json.as_array().unwrap()[6]["blobs"].as_array().unwrap().len(),
            0,
            "zebra was pushed first, with no blob"
        );
        let read: AssetReports = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), json);
        assert_eq!(read.lines()[5].status, AssetStatus::Failed);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_report_the_spool_could_not_keep_is_an_error_when_printed_and_its_line_stays() {
        let full = std::fs::OpenOptions::new().read(true).write(true).open("/dev/full").unwrap();
        let mut reports = AssetReports::spooled(Arc::new(Spool::in_file(full, "/full".into())));
        let e = reports.push(report("lost", AssetStatus::Replicated, 2)).unwrap_err();
        assert!(e.to_string().contains("TMPDIR"), "{e}");
        reports.sort();
        assert_eq!(reports.lines().len(), 1, "the summary and the exit code still count it");
        let printed = serde_json::to_string(&reports).unwrap_err().to_string();
        assert!(printed.contains("could not be kept"), "{printed}");
    }
}
