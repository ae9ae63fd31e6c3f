//! Making the copied blobs a streamable asset in B: its record with file
//! infos and the fingerprint of its source, and A's origin locators with
//! their ids; and telling, from listings alone, that nothing changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use md5::{Digest, Md5};

use super::target_policies::TargetPolicies;
use super::{LocatorOutcome, Side, UrlPair};
use crate::catalog::{file_infos, AssetEntry, AssetRecord, Index, Versioned};
use crate::error::{Error, ErrorKind, Result};
use crate::id::PolicyId;
use crate::model::{AccessPolicy, Asset, AssetFile, Locator, LocatorType, Permissions};
use crate::store::BlobMeta;
use crate::streaming::StreamingUrls;

use super::report::AssetReport;

/// What a replica was made from: A's record version, A's origin locators
/// (id and times), and the blobs B then held (name and size). Kept in B's
/// asset record metadata; equal on the next run means nothing changed.
pub(super) fn fingerprint(
    source: &AssetEntry,
    origin_locators: &[&Locator],
    landed: &BTreeMap<String, BlobMeta>,
) -> String {
    let mut h = Md5::new();
    h.update(format!("record {}\n", source.etag));
    let mut locators: Vec<&&Locator> = origin_locators.iter().collect();
    locators.sort_by_key(|l| l.id);
    for l in locators {
        h.update(format!(
            "locator {} {:?} {}\n",
            l.id,
            l.start_time.map(|t| t.to_rfc3339()),
            l.expiration.to_rfc3339()
        ));
    }
    for (name, b) in landed {
        h.update(format!("blob {} {}\n", name.escape_debug(), b.size));
    }
    format!("v1-{:x}", h.finalize())
}

/// The mark of a replica whose last run did not complete it: still a replica
/// (so `--delete` may remove it once A has), never equal to a fingerprint.
pub(super) const INCOMPLETE: &str = "v1-incomplete";

/// Whether B's replica is provably what A's asset is now: every blob skips
/// (checked by the caller), B's record carries this fingerprint, and B has
/// every origin locator of the asset.
pub(super) fn is_unchanged(
    source: &AssetEntry,
    origin_locators: &[&Locator],
    target_blobs: &BTreeMap<String, BlobMeta>,
    target: Option<&AssetEntry>,
    b_index: &Index,
) -> bool {
    let Some(target) = target else { return false };
    target.from.as_deref() == Some(fingerprint(source, origin_locators, target_blobs).as_str())
        && origin_locators.iter().all(|l| b_index.locators.get(&l.id).is_some_and(|m| m.asset_id == source.asset.id))
}

/// Makes the copied blobs a streamable asset in B.
#[derive(Debug)]
pub(crate) struct Publisher<'a> {
    /// A's streaming origin, for the report's URL pairs.
    source_origin: &'a str,
    target: Side<'a>,
    policies: Arc<TargetPolicies<'a>>,
}

impl<'a> Publisher<'a> {
    pub(crate) fn new(source_origin: &'a str, target: Side<'a>, policies: Arc<TargetPolicies<'a>>) -> Self {
        Publisher { source_origin, target, policies }
    }

    /// B's replica is proven unchanged (see [`is_unchanged`]): it stays as
    /// it is, and the report says what it publishes.
    pub(crate) fn keep(
        &self,
        asset: &Asset,
        target_blobs: &BTreeMap<String, BlobMeta>,
        origin_locators: &[&Locator],
        report: &mut AssetReport,
    ) -> Result<()> {
        let files = file_infos(asset, &target_blobs.values().cloned().collect::<Vec<_>>())?;
        for l in origin_locators {
            report.locators.push(LocatorOutcome { id: l.id, action: "kept".to_owned() });
        }
        self.streaming_urls(&files, origin_locators, report);
        report.published = true;
        Ok(())
    }

    /// Records what `landed` in B (with the fingerprint of its source, or the
    /// incomplete mark when `missing` blobs did not land), and publishes it
    /// with A's origin locators once it is whole.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn publish(
        &self,
        source: &AssetEntry,
        existing: Option<&AssetEntry>,
        origin_locators: &[&Locator],
        landed: &BTreeMap<String, BlobMeta>,
        missing: Option<usize>,
        b_index: &Index,
        report: &mut AssetReport,
    ) -> Result<()> {
        let asset = &source.asset;
        // An incomplete replica is still marked as one (see `delete`), never as proven.
        let fingerprint = match missing {
            None => fingerprint(source, origin_locators, landed),
            Some(_) => INCOMPLETE.to_owned(),
        };
        let target_record = self.publish_files(asset, existing, landed, Some(&fingerprint)).await?;
        if let Some(missing) = missing {
            // B never publishes URLs for an asset it does not wholly hold; a later run that completes it does.
            report.warnings.push(format!(
                "not published in '{}': {missing} blob(s) not copied; run replicate again to complete it",
                self.target.name
            ));
            return Ok(());
        }
        self.recreate_locators(asset, &target_record, origin_locators, b_index, report).await?;
        report.published = true;
        Ok(())
    }

    /// Writes B's record of the asset with file infos made from `landed` and
    /// the fingerprint: one write when B had none, else one read and one
    /// conditional write (none when nothing differs).
    async fn publish_files(
        &self,
        asset: &Asset,
        existing: Option<&AssetEntry>,
        landed: &BTreeMap<String, BlobMeta>,
        fingerprint: Option<&str>,
    ) -> Result<AssetRecord> {
        let catalog = self.target.catalog;
        let blobs: Vec<BlobMeta> = landed.values().cloned().collect();
        if existing.is_none() {
            let record = AssetRecord { asset: asset.clone(), files: file_infos(asset, &blobs)? };
            match catalog.create_asset_with(&record, fingerprint).await {
                Ok(()) => return Ok(record),
                // Another run made it meanwhile: update theirs.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        let known = existing.and_then(|e| {
            e.files.clone().map(|files| {
                (
                    Versioned { value: AssetRecord { asset: e.asset.clone(), files }, etag: e.etag.clone() },
                    e.from.clone(),
                )
            })
        });
        catalog.set_files_from(&asset.id, &blobs, fingerprint, known).await
    }

    /// The read-only streaming policy of this duration in B: from B's index,
    /// else read or created once per run.
    async fn streaming_policy(&self, minutes: u64, b_index: &Index) -> Result<AccessPolicy> {
        if let Some(p) = b_index.policies.get(&PolicyId::for_terms(minutes, &Permissions::READ.sas_letters())) {
            return Ok(p.clone());
        }
        self.policies.get_or_create("Streaming policy", minutes, Permissions::READ).await
    }

    /// A's origin locators in B with the same ids (kept when B has them).
    async fn recreate_locators(
        &self,
        asset: &Asset,
        target_record: &AssetRecord,
        origin_locators: &[&Locator],
        b_index: &Index,
        report: &mut AssetReport,
    ) -> Result<()> {
        for l in origin_locators {
            let action = match b_index.locators.get(&l.id) {
                Some(existing) if existing.asset_id == asset.id => "kept",
                Some(existing) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!(
                            "locator {} exists in '{}' for another asset ({})",
                            l.id, self.target.name, existing.asset_id
                        ),
                    ))
                }
                None => {
                    let start = l.start_time.unwrap_or_else(Utc::now);
                    if l.expiration <= start {
                        return Err(Error::invalid_input(format!("locator {}: expiry is not after its start", l.id)));
                    }
                    let minutes = (l.expiration - start).num_minutes().max(1) as u64;
                    let policy = self.streaming_policy(minutes, b_index).await?;
                    let locator = Locator {
                        id: l.id,
                        locator_type: LocatorType::OnDemandOrigin,
                        asset_id: asset.id,
                        policy_id: policy.id,
                        start_time: Some(start),
                        expiration: l.expiration,
                        path: format!("{}/{}/", self.target.origin.trim_end_matches('/'), l.id.guid()),
                        // B streams the locator as A did: protected stays protected.
                        delivery: l.delivery.clone(),
                    };
                    match self
                        .target
                        .catalog
                        .put_locator_from(&locator, &policy, Some(super::delete::REPLICA_MARK))
                        .await
                    {
                        Ok(()) => "created",
                        // Made meanwhile (B's index is from the start of the run): check whose it is.
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                            match self.target.catalog.get_locator(&l.id).await {
                                Ok(m) if m.asset_id == asset.id => "kept",
                                Ok(m) => {
                                    return Err(Error::new(
                                        ErrorKind::AlreadyExists,
                                        format!(
                                            "locator {} exists in '{}' for another asset ({})",
                                            l.id, self.target.name, m.asset_id
                                        ),
                                    ))
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            report.locators.push(LocatorOutcome { id: l.id, action: action.to_owned() });
        }
        self.streaming_urls(&target_record.files, origin_locators, report);
        Ok(())
    }

    /// Both streaming URLs of each origin locator, for the report.
    fn streaming_urls(&self, files: &[AssetFile], origin_locators: &[&Locator], report: &mut AssetReport) {
        let Some(p) = files.iter().find(|f| f.is_primary && f.name.to_ascii_lowercase().ends_with(".ism")) else {
            return;
        };
        for l in origin_locators {
            let a = StreamingUrls::new(self.source_origin, &l.id, &p.name);
            let b = StreamingUrls::new(self.target.origin, &l.id, &p.name);
            for ((format, source), (_, target)) in a.all().into_iter().zip(b.all()) {
                report.urls.push(UrlPair {
                    locator: l.id,
                    format: format.to_owned(),
                    source: source.to_owned(),
                    target: target.to_owned(),
                });
            }
        }
    }
}
