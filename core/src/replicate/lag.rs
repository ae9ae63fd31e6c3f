//! Replica lag: per asset, whether B holds A's current version, and if not since
//! when A changed — the recovery point if A died now. From the same listings a
//! no-op replicate reads (both catalogs, then each selected asset's container on
//! both sides); nothing is written to either side.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::plan::AssetPlan;
use super::publish::{self, INCOMPLETE};
use super::{Selection, Side};
use crate::catalog::{AssetEntry, Index};
use crate::error::Result;
use crate::id::AssetId;
use crate::model::{Locator, LocatorType};

/// Where one asset of A stands in B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LagState {
    /// B holds A's current version: every blob, the record and every origin locator.
    Current,
    /// B lacks something of A's current version (see the reasons).
    Behind,
    /// Replicate refuses it (storage-encrypted: its key belongs to A); B will never hold it.
    Unreplicable,
    /// Its records failed their checks, or a listing failed: nothing could be told.
    Error,
}

/// What B lacks of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LagReason {
    /// B has no record of the asset.
    NotInB,
    /// The last run into B did not complete the replica.
    Incomplete,
    /// Blobs of A that B lacks, or holds in another version.
    Blobs {
        /// How many.
        count: u64,
        /// Their bytes in A.
        bytes: u64,
    },
    /// A's record (name, options, file infos) changed since B's replica was made.
    Record,
    /// Origin locators of A that B lacks, or A's locators changed (times).
    Locators {
        /// A's origin locators B has no record of.
        missing: u64,
    },
}

/// One asset's lag.
#[derive(Debug, Clone, Serialize)]
pub struct AssetLag {
    /// The asset's id.
    pub id: AssetId,
    /// Its name in A.
    pub name: String,
    /// Where it stands.
    pub state: LagState,
    /// What B lacks (empty when current).
    pub reasons: Vec<LagReason>,
    /// The oldest change of A that B lacks: when the listings say (blobs' and
    /// records' last-modified times); `None` when current or not told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Seconds from `since` to the measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    /// Bytes of A's blobs that B lacks.
    pub bytes_behind: u64,
    /// Why nothing could be told (state `error`) or why replicate refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The totals: the figures an alert reads.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LagTotals {
    /// Assets measured.
    pub assets: u64,
    /// Assets B holds as A has them.
    pub current: u64,
    /// Assets B lacks something of.
    pub behind: u64,
    /// Assets replicate refuses (storage-encrypted).
    pub unreplicable: u64,
    /// Assets nothing could be told of.
    pub errors: u64,
    /// Bytes of A's blobs that B lacks.
    pub bytes_behind: u64,
    /// Blobs of A that B lacks.
    pub blobs_behind: u64,
    /// The oldest change of A that B lacks (the recovery point if A died now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_change: Option<DateTime<Utc>>,
    /// Seconds from `oldest_change` to the measurement; 0 when B is current.
    pub oldest_change_age_seconds: i64,
}

/// `mirrorcast lag`'s report (its `--json` schema).
#[derive(Debug, Clone, Serialize)]
pub struct LagReport {
    /// Data center A's name.
    pub source: String,
    /// Data center B's name.
    pub target: String,
    /// When the listings were read.
    pub measured_at: DateTime<Utc>,
    /// Per asset, in A's order.
    pub assets: Vec<AssetLag>,
    /// Assets B holds that A no longer has (what `replicate --delete` would remove; not lag).
    pub only_in_b: u64,
    /// The totals.
    pub totals: LagTotals,
}

impl LagReport {
    /// 0 when B is current, 1 when B is behind, 2 when something could not be told.
    pub fn exit_code(&self) -> u8 {
        match (self.totals.errors, self.totals.behind) {
            (0, 0) => 0,
            (0, _) => 1,
            _ => 2,
        }
    }

    /// The report in the Prometheus text exposition format: totals labelled with both data centers.
    pub fn to_prometheus(&self) -> String {
        let labels = format!("from=\"{}\",to=\"{}\"", escape_label(&self.source), escape_label(&self.target));
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(s, "# HELP mirrorcast_lag_assets Assets of A by where they stand in B.");
        let _ = writeln!(s, "# TYPE mirrorcast_lag_assets gauge");
        for (state, n) in
            [("current", t.current), ("behind", t.behind), ("unreplicable", t.unreplicable), ("error", t.errors)]
        {
            let _ = writeln!(s, "mirrorcast_lag_assets{{{labels},state=\"{state}\"}} {n}");
        }
        for (name, help, value) in [
            ("mirrorcast_lag_bytes_behind", "Bytes of A's blobs that B lacks.", t.bytes_behind as f64),
            ("mirrorcast_lag_blobs_behind", "Blobs of A that B lacks.", t.blobs_behind as f64),
            (
                "mirrorcast_lag_oldest_change_age_seconds",
                "Age of the oldest change of A that B lacks (0 when B is current): the recovery point if A died now.",
                t.oldest_change_age_seconds as f64,
            ),
            (
                "mirrorcast_lag_measured_timestamp_seconds",
                "When the listings were read (Unix time).",
                self.measured_at.timestamp() as f64,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {value}");
        }
        s
    }
}

/// A label value as the Prometheus text format wants it: backslash, quote and line feed escaped.
pub fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Measures how far `target` is behind `source` for the selected assets,
/// `parallel` assets at a time. Reads only: listings of both catalogs and of each
/// selected asset's container on both sides.
pub async fn measure(source: Side<'_>, target: Side<'_>, selection: &Selection, parallel: usize) -> Result<LagReport> {
    let (a_index, b_index) = futures::try_join!(source.catalog.index(), target.catalog.index())?;
    let ids = super::selected(selection, &a_index, source)?;
    let known = a_index.asset_ids();
    let measured_at = Utc::now();
    let (a_index, b_index) = (&a_index, &b_index);
    let assets: Vec<AssetLag> = stream::iter(ids)
        .map(|id| async move { asset_lag(source, target, id, a_index, b_index, measured_at).await })
        .buffered(parallel.clamp(1, 64))
        .collect()
        .await;
    let only_in_b = match selection {
        Selection::All => b_index.assets.keys().filter(|id| !known.contains(id)).count() as u64,
        Selection::Assets(_) => 0,
    };
    let totals = totals(&assets, measured_at);
    Ok(LagReport {
        source: source.name.to_owned(),
        target: target.name.to_owned(),
        measured_at,
        assets,
        only_in_b,
        totals,
    })
}

fn totals(assets: &[AssetLag], measured_at: DateTime<Utc>) -> LagTotals {
    let mut t = LagTotals { assets: assets.len() as u64, ..Default::default() };
    for a in assets {
        match a.state {
            LagState::Current => t.current += 1,
            LagState::Behind => t.behind += 1,
            LagState::Unreplicable => t.unreplicable += 1,
            LagState::Error => t.errors += 1,
        }
        t.bytes_behind += a.bytes_behind;
        for r in &a.reasons {
            if let LagReason::Blobs { count, .. } = r {
                t.blobs_behind += count;
            }
        }
        if let Some(since) = a.since {
            t.oldest_change = Some(t.oldest_change.map_or(since, |o| o.min(since)));
        }
    }
    t.oldest_change_age_seconds = t.oldest_change.map_or(0, |o| (measured_at - o).num_seconds().max(0));
    t
}

async fn asset_lag(
    source: Side<'_>,
    target: Side<'_>,
    id: AssetId,
    a_index: &Index,
    b_index: &Index,
    measured_at: DateTime<Utc>,
) -> AssetLag {
    let mut lag = AssetLag {
        id,
        name: String::new(),
        state: LagState::Error,
        reasons: Vec::new(),
        since: None,
        age_seconds: None,
        bytes_behind: 0,
        error: None,
    };
    let problems: Vec<&str> = a_index.problems_of(&id).map(|p| p.message.as_str()).collect();
    let Some(entry) = a_index.assets.get(&id).filter(|_| problems.is_empty()) else {
        lag.error = Some(format!("its records in '{}' failed their checks: {}", source.name, problems.join("; ")));
        return lag;
    };
    lag.name = entry.asset.name.clone();
    if entry.asset.options.is_storage_encrypted() {
        lag.state = LagState::Unreplicable;
        lag.error = Some("storage-encrypted: its key belongs to the source, replicate refuses it".to_owned());
        return lag;
    }
    match compare(source, target, entry, a_index, b_index).await {
        Ok((reasons, since, bytes)) => {
            lag.state = if reasons.is_empty() { LagState::Current } else { LagState::Behind };
            lag.reasons = reasons;
            lag.since = since;
            lag.age_seconds = since.map(|s| (measured_at - s).num_seconds().max(0));
            lag.bytes_behind = bytes;
        }
        Err(e) => lag.error = Some(e.to_string()),
    }
    lag
}

/// What B lacks of `entry`, the oldest such change's time, and the bytes behind.
async fn compare(
    source: Side<'_>,
    target: Side<'_>,
    entry: &AssetEntry,
    a_index: &Index,
    b_index: &Index,
) -> Result<(Vec<LagReason>, Option<DateTime<Utc>>, u64)> {
    let asset = &entry.asset;
    let plan = AssetPlan::read(
        source.catalog.store().as_ref(),
        target.catalog.store().as_ref(),
        &asset.container,
        false,
        false,
    )
    .await?;
    let origin_locators: Vec<&Locator> =
        a_index.locators_of(&asset.id).filter(|l| l.locator_type == LocatorType::OnDemandOrigin).collect();
    let b_entry = b_index.assets.get(&asset.id);
    let mut changes: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut reasons = Vec::new();
    let bytes: u64 = plan.to_copy.iter().map(|b| b.size).sum();
    if plan.to_copy.is_empty() && publish::is_unchanged(entry, &origin_locators, &plan.target_blobs, b_entry, b_index) {
        return Ok((reasons, None, 0));
    }
    match b_entry {
        None => {
            reasons.push(LagReason::NotInB);
            changes.push(entry.modified.or(Some(asset.created)));
        }
        Some(b) if b.from.as_deref() == Some(INCOMPLETE) => reasons.push(LagReason::Incomplete),
        Some(_) => {}
    }
    if !plan.to_copy.is_empty() {
        reasons.push(LagReason::Blobs { count: plan.to_copy.len() as u64, bytes });
        changes.extend(plan.to_copy.iter().map(|b| b.last_modified));
    }
    let missing: Vec<&&Locator> =
        origin_locators.iter().filter(|l| b_index.locators.get(&l.id).is_none_or(|m| m.asset_id != asset.id)).collect();
    if !missing.is_empty() {
        reasons.push(LagReason::Locators { missing: missing.len() as u64 });
        changes.extend(missing.iter().map(|l| a_index.locator_modified.get(&l.id).copied()));
    }
    // Every blob and locator is there, yet the fingerprint differs: A's record (or a
    // locator's times) changed since the replica was made. The change is the oldest of
    // those records written after B's replica record; the newest of them if the clocks
    // say none was.
    if let (Some(b), true) = (b_entry, reasons.is_empty()) {
        reasons.push(LagReason::Record);
        let written: Vec<DateTime<Utc>> = std::iter::once(entry.modified)
            .chain(origin_locators.iter().map(|l| a_index.locator_modified.get(&l.id).copied()))
            .flatten()
            .collect();
        let after_replica = written.iter().filter(|t| b.modified.is_none_or(|r| **t > r)).min();
        changes.push(after_replica.or(written.iter().max()).copied());
    }
    // The oldest change B lacks; changes whose time the store does not say count as now.
    let since = changes.into_iter().flatten().min();
    Ok((reasons, since, bytes))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::catalog::Catalog;
    use crate::id::LocatorId;
    use crate::model::{Asset, AssetOptions};
    use crate::replicate::{ReplicateOptions, Replicator};
    use crate::store::{BlobStore, BlobStoreExt, InMemoryStore, PutOptions};

    async fn put(catalog: &Catalog, asset: &Asset, name: &str, bytes: &'static [u8]) {
        catalog
            .store()
            .put_blob(&asset.container, name, Bytes::from_static(bytes), &PutOptions::default())
            .await
            .unwrap();
    }

    async fn replicate(a: &Catalog, b: &Catalog) {
        let replicator = Replicator::new(side("a", a), side("b", b), ReplicateOptions::default());
        let report = replicator.run(&Selection::All).await.unwrap();
        assert!(!report.has_failures(), "{report:?}");
    }

    fn side<'a>(name: &'a str, catalog: &'a Catalog) -> Side<'a> {
        Side { name, catalog, origin: "https://origin" }
    }

    /// Every blob's ETag and every container's stored policies: any write changes one.
    async fn snapshot(store: &dyn BlobStore) -> Vec<String> {
        let mut out = Vec::new();
        for c in store.list_containers("").await.unwrap() {
            out.push(format!("{c} {:?}", store.get_container_policies(&c).await.unwrap().policies));
            for b in store.list_all(&c, "").await.unwrap() {
                out.push(format!("{c}/{} {}", b.name, b.etag));
            }
        }
        out
    }

    #[tokio::test]
    async fn lag_names_exactly_what_b_lacks_and_writes_nothing() {
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let kept = Asset::new("Kept", AssetOptions::None);
        let changed = Asset::new("Changed", AssetOptions::None);
        for asset in [&kept, &changed] {
            a.create_asset(asset).await.unwrap();
            put(&a, asset, "v.mp4", b"video").await;
        }
        let now = Utc::now();
        a.create_origin_locator(&kept.id, LocatorId::new(), now, now + chrono::Duration::days(1), "https://a")
            .await
            .unwrap();
        replicate(&a, &b).await;

        let report = measure(side("a", &a), side("b", &b), &Selection::All, 4).await.unwrap();
        assert_eq!((report.totals.current, report.totals.behind, report.exit_code()), (2, 0, 0), "{report:?}");
        assert_eq!(report.totals.oldest_change_age_seconds, 0);

        // A changes: a blob rewritten, a new asset, a new locator on the kept asset.
        put(&a, &changed, "v.mp4", b"video, re-encoded").await;
        let new = Asset::new("New", AssetOptions::None);
        a.create_asset(&new).await.unwrap();
        put(&a, &new, "n.mp4", b"new").await;
        a.create_origin_locator(&kept.id, LocatorId::new(), now, now + chrono::Duration::days(1), "https://a")
            .await
            .unwrap();
        let (before_a, before_b) = (snapshot(a.store().as_ref()).await, snapshot(b.store().as_ref()).await);
        let report = measure(side("a", &a), side("b", &b), &Selection::All, 4).await.unwrap();
        assert_eq!(snapshot(a.store().as_ref()).await, before_a, "lag wrote to A");
        assert_eq!(snapshot(b.store().as_ref()).await, before_b, "lag wrote to B");

        let by_name: std::collections::BTreeMap<&str, &AssetLag> =
            report.assets.iter().map(|l| (l.name.as_str(), l)).collect();
        assert_eq!(by_name["Changed"].reasons, vec![LagReason::Blobs { count: 1, bytes: 17 }]);
        assert_eq!(by_name["Changed"].bytes_behind, 17);
        assert_eq!(by_name["New"].reasons, vec![LagReason::NotInB, LagReason::Blobs { count: 1, bytes: 3 }]);
        assert_eq!(by_name["Kept"].reasons, vec![LagReason::Locators { missing: 1 }]);
        for l in &report.assets {
            assert_eq!(l.state, LagState::Behind, "{l:?}");
            assert!(l.since.is_some_and(|s| s <= report.measured_at), "{l:?}");
        }
        let t = &report.totals;
        assert_eq!((t.behind, t.current, t.blobs_behind, t.bytes_behind, report.exit_code()), (3, 0, 2, 20, 1));
        assert_eq!(t.oldest_change, report.assets.iter().filter_map(|l| l.since).min());

        // Replicated again: current.
        replicate(&a, &b).await;
        let report = measure(side("a", &a), side("b", &b), &Selection::All, 4).await.unwrap();
        assert_eq!((report.totals.current, report.exit_code()), (3, 0), "{report:?}");
    }

    #[tokio::test]
    async fn a_rewritten_record_is_behind_by_its_record_and_an_unknown_asset_is_an_error() {
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let asset = Asset::new("Clip", AssetOptions::None);
        a.create_asset(&asset).await.unwrap();
        put(&a, &asset, "v.mp4", b"video").await;
        replicate(&a, &b).await;
        // The record rewritten (its file infos made again): a new version of it.
        a.regenerate_files(&asset.id).await.unwrap();
        let report = measure(side("a", &a), side("b", &b), &Selection::Assets(vec![asset.id]), 1).await.unwrap();
        assert_eq!(report.assets[0].reasons, vec![LagReason::Record], "{report:?}");
        assert_eq!(report.exit_code(), 1);

        let unknown = measure(side("a", &a), side("b", &b), &Selection::Assets(vec![AssetId::new()]), 1).await;
        assert!(unknown.unwrap_err().to_string().contains("not found"));
    }

    #[test]
    fn the_prometheus_text_labels_both_data_centers_and_escapes_them() {
        let report = LagReport {
            source: "a\"x".to_owned(),
            target: "b".to_owned(),
            measured_at: Utc::now(),
            assets: Vec::new(),
            only_in_b: 0,
            totals: LagTotals { behind: 2, bytes_behind: 7, ..Default::default() },
        };
        let text = report.to_prometheus();
        assert!(text.contains("mirrorcast_lag_assets{from=\"a\\\"x\",to=\"b\",state=\"behind\"} 2"), "{text}");
        assert!(text.contains("mirrorcast_lag_bytes_behind{from=\"a\\\"x\",to=\"b\"} 7"), "{text}");
    }
}
