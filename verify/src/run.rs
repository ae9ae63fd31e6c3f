//! Running the checks over the selected assets, all assets in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use mirrorcast_core::catalog::{AssetRecord, Catalog, Index};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::Locator;
use mirrorcast_core::spool::Spool;
use mirrorcast_core::store::{BlobKind, BlobMeta, BlobStore, BlobStoreExt};
use mirrorcast_core::{ErrorKind, Result};

use crate::readonly::ReadOnly;
use crate::report::{AssetVerdict, AssetVerdicts, Check, Entry, Marker, Report, Side};
use crate::{blobs, manifest, mp4, records};

/// How `verify` runs: depth, what of A it audits, how many assets at once.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Download and hash both sides (implies `audit_source`).
    pub deep: bool,
    /// Read A's manifests and MP4 box heads even for an asset whose listings
    /// prove B holds A's bytes: then they only audit A itself (a dangling
    /// reference, a truncated MP4 that the copy holds byte for byte).
    pub audit_source: bool,
    /// Assets checked at once; with `deep`, each hashes up to
    /// [`DEEP_BLOBS_PER_ASSET`] blobs at once (fewer if `parallel` is smaller).
    pub parallel: usize,
    /// With `deep`, a blob larger than this is read in ranges of this size,
    /// several pairs (A's and B's) at once, compared in order; a smaller one
    /// is one GET per side. 0: every blob is one GET per side.
    pub range_size: u64,
    /// With `deep`, the bytes read and not yet compared and hashed, across the
    /// whole run (every blob, both sides), whatever the number or size of the blobs.
    pub memory_budget: u64,
    /// A's and B's key-encryption keys, to compare content keys by keyed hash; without them a
    /// protected locator's keys are `!` (not compared).
    pub keks: mirrorcast_core::replicate::Keks,
    /// Keep every `=` entry for the report (JSON lists them); false keeps only their
    /// counts, which is all the text and JUnit reports print.
    pub same_entries: bool,
}

/// Assets checked at once by default: a small asset costs two listings, so
/// this many keep the service busy (rclone check runs 16 checkers), and each
/// holds only its two listings in memory (and, where B differs, a few 64 KiB heads).
pub const DEFAULT_PARALLEL: usize = 32;

/// Blobs of one asset hashed at once with `deep` (bounds downloads in flight
/// to `parallel` x this).
pub const DEEP_BLOBS_PER_ASSET: usize = 8;

/// `deep`'s range size when ranged reads are asked for (`--deep-range-mib 4`): the copy's block size.
pub const DEFAULT_RANGE_SIZE: u64 = 4 * 1024 * 1024;

/// `deep`'s read-ahead budget by default: 8 ranges ahead on each side of one large blob.
pub const DEFAULT_MEMORY_BUDGET: u64 = 64 * 1024 * 1024;

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            deep: false,
            audit_source: false,
            parallel: DEFAULT_PARALLEL,
            // Off by default, as the streamed copy's ranged reads: on Azurite (W3, `cargo xtask
            // bench --only W3-verify`) one GET per blob took 17 s where 4 MiB ranges took 181 s.
            range_size: 0,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            keks: Default::default(),
            same_entries: true,
        }
    }
}

/// One data center as verify reads it.
struct View {
    store: Arc<dyn BlobStore>,
    catalog: Catalog,
}

impl View {
    fn new(store: Arc<dyn BlobStore>) -> Self {
        let store: Arc<dyn BlobStore> = Arc::new(ReadOnly(store));
        View { catalog: Catalog::new(store.clone()), store }
    }
}

/// Diffs B against A for the `selected` assets (all of A's when `None`). Each asset's
/// entries are kept in a temporary file in `TMPDIR` (see [`AssetVerdicts`]).
pub async fn verify(
    a: (&str, Arc<dyn BlobStore>, &str),
    b: (&str, Arc<dyn BlobStore>, &str),
    selected: Option<&[AssetId]>,
    options: &VerifyOptions,
) -> Result<Report> {
    verify_spooled(Spool::new(), a, b, selected, options).await
}

/// [`verify`] with its entries in `spool` (or the error making it).
async fn verify_spooled(
    spool: Result<Spool<Vec<Entry>>>,
    (a_name, a_store, a_origin): (&str, Arc<dyn BlobStore>, &str),
    (b_name, b_store, b_origin): (&str, Arc<dyn BlobStore>, &str),
    selected: Option<&[AssetId]>,
    options: &VerifyOptions,
) -> Result<Report> {
    // Each asset's entries go to a temporary file as it is done, not to memory (one `=` per
    // blob is most of a large library's report); a TMPDIR that cannot take it stops the run
    // before anything is read.
    let spool = Arc::new(spool?);
    let (a, b) = (View::new(a_store), View::new(b_store));
    // Both catalogs from their listings; every record checked, a bad one is its asset's verdict.
    let (a_index, b_index) = tokio::try_join!(a.catalog.index(), b.catalog.index())?;
    let known = a_index.asset_ids();
    let ids: Vec<AssetId> = match selected {
        Some(ids) => {
            if let Some(missing) = ids.iter().find(|id| !known.contains(id)) {
                return Err(mirrorcast_core::Error::not_found(format!(
                    "asset {missing} not found in {}",
                    a.store.describe()
                )));
            }
            ids.to_vec()
        }
        None => known.iter().copied().collect(),
    };
    // Keys are compared by an HMAC under a key made for this run only.
    let hash = mirrorcast_core::protection::KeyedHash::random();
    let deep_reads = blobs::DeepReads::new(options.range_size, options.memory_budget);
    let ctx = Ctx {
        a: &a,
        b: &b,
        a_origin,
        b_origin,
        a_index: &a_index,
        b_index: &b_index,
        options,
        hash: &hash,
        deep_reads: &deep_reads,
    };

    let mut verdicts = AssetVerdicts::spooled(spool, options.same_entries);
    let mut checked = stream::iter(&ids).map(|id| ctx.asset(*id)).buffer_unordered(options.parallel.max(1));
    while let Some(verdict) = checked.next().await {
        // A full disk stops the run (the assets in flight are dropped): the report would not be whole.
        verdicts.push(verdict)?;
    }
    drop(checked);
    if selected.is_none() {
        for extra in b_index.asset_ids().into_iter().filter(|id| !known.contains(id)) {
            let name = b_index.assets.get(&extra).map(|e| e.asset.name.clone()).unwrap_or_default();
            let e =
                Entry::new(Marker::Extra, Check::Asset, Side::B, extra.to_string(), "asset in B that A does not have");
            verdicts.push(AssetVerdict::new(extra.to_string(), name, vec![e]))?;
        }
        // Records that belong to no asset are named too: a bad record anywhere is a difference.
        let mut orphans = Vec::new();
        for (side, index) in [(Side::A, &a_index), (Side::B, &b_index)] {
            for p in index.orphan_problems() {
                orphans.push(Entry::new(Marker::Differs, Check::Asset, side, &p.path, &p.message));
            }
        }
        if !orphans.is_empty() {
            verdicts.push(AssetVerdict::new("catalog", "records of no asset", orphans))?;
        }
        let account = crate::filters::compare(&a_index, &b_index, |s| {
            *s == mirrorcast_core::catalog::filters::FilterScope::Account
        });
        if !account.is_empty() {
            verdicts.push(AssetVerdict::new("account", "account filters", account))?;
        }
    }
    Ok(Report::of(a_name, b_name, options.deep, verdicts))
}

struct Ctx<'a> {
    a: &'a View,
    b: &'a View,
    a_origin: &'a str,
    b_origin: &'a str,
    a_index: &'a Index,
    b_index: &'a Index,
    options: &'a VerifyOptions,
    hash: &'a mirrorcast_core::protection::KeyedHash,
    /// `deep`'s one read-ahead budget for the run.
    deep_reads: &'a blobs::DeepReads,
}

/// Whether the listings prove B's container is A's: every blob of A in B and
/// nothing more, alike in size, type and metadata (`compared` is
/// [`blobs::compare`]'s verdict), and every manifest and MP4 of B with A's
/// Content-MD5. Then B's manifests reference what A's do and resolve as in A,
/// and B's MP4s have A's boxes: reading them would audit only A itself.
fn container_is_a_copy(compared: &[Entry], a_blobs: &[BlobMeta], b_blobs: &[BlobMeta]) -> bool {
    let a_listed: BTreeMap<&str, &BlobMeta> = a_blobs.iter().map(|m| (m.name.as_str(), m)).collect();
    compared.iter().all(|e| e.marker == Marker::Same)
        && b_blobs
            .iter()
            .filter(|m| manifest::kind(&m.name).is_some() || mp4::is_mp4(&m.name))
            .all(|m| a_listed.get(m.name.as_str()).is_some_and(|a| listed_equal(a, m)))
}

/// Whether the listings prove B's blob holds A's bytes (as far as verify
/// without `--deep` trusts them): same size, same stored Content-MD5.
fn listed_equal(a: &BlobMeta, b: &BlobMeta) -> bool {
    a.size == b.size && a.properties.content_md5.is_some() && a.properties.content_md5 == b.properties.content_md5
}

async fn list_or_empty(store: &dyn BlobStore, container: &str) -> Result<Vec<BlobMeta>> {
    match store.list_all(container, "").await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        other => Ok(other?),
    }
}

impl Ctx<'_> {
    async fn asset(&self, id: AssetId) -> AssetVerdict {
        let mut entries = Vec::new();
        for (side, index) in [(Side::A, self.a_index), (Side::B, self.b_index)] {
            for p in index.problems_of(&id) {
                // A bad record is a difference in the data (exit 1), not a failure to read (exit 2).
                entries.push(Entry::new(Marker::Differs, Check::Asset, side, &p.path, &p.message));
            }
        }
        let Some(a_entry) = self.a_index.assets.get(&id) else {
            // A's own record failed its checks: nothing of it can be trusted to compare.
            return AssetVerdict::new(id.to_string(), "", entries);
        };
        let container = &a_entry.asset.container;
        let b_bad = self.b_index.bad_assets().any(|(b, _)| b == &id);
        let (a_blobs, b_blobs) = tokio::join!(
            list_or_empty(self.a.store.as_ref(), container),
            list_or_empty(self.b.store.as_ref(), container),
        );
        let b_record = self.b_record(&id, b_blobs.as_deref().unwrap_or_default()).await;
        let b_record = match b_record {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                entries.push(Entry::new(
                    Marker::Error,
                    Check::Asset,
                    Side::B,
                    id.to_string(),
                    format!("could not read: {e}"),
                ));
                None
            }
        };
        let (a_blobs, b_blobs) = match (a_blobs, b_blobs) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                entries.push(Entry::new(
                    Marker::Error,
                    Check::Blob,
                    Side::Both,
                    container,
                    format!("could not list: {e}"),
                ));
                return AssetVerdict::new(id.to_string(), &a_entry.asset.name, entries);
            }
        };
        // A's file infos as A's blobs make them (only the primary is compared).
        let a_record = &AssetRecord {
            asset: a_entry.asset.clone(),
            files: mirrorcast_core::catalog::file_infos(&a_entry.asset, &a_blobs).unwrap_or_default(),
        };
        if !b_bad {
            entries.extend(records::asset(a_record, b_record.as_ref()));
        }
        let a_files: std::collections::BTreeSet<&str> = a_record.files.iter().map(|f| f.name.as_str()).collect();
        let compared = blobs::compare(&a_blobs, &b_blobs, &a_files);
        let structure_needed =
            self.options.deep || self.options.audit_source || !container_is_a_copy(&compared, &a_blobs, &b_blobs);
        entries.extend(compared);
        let a_locs: Vec<Locator> = self.a_index.locators_of(&id).cloned().collect();
        let b_locs: Vec<Locator> = self.b_index.locators_of(&id).cloned().collect();
        entries.extend(records::locators(&a_locs, &b_locs, &self.b_index.policies));
        entries.extend(crate::filters::compare(self.a_index, self.b_index, |s| {
            *s == mirrorcast_core::catalog::filters::FilterScope::Asset(id)
        }));
        let keks = &self.options.keks;
        entries.extend(crate::protection::compare(&self.a.catalog, &self.b.catalog, &a_locs, keks, self.hash).await);
        if let Some(b_record) = &b_record {
            entries.extend(records::file_infos(b_record, &b_blobs));
            entries.extend(records::urls(a_record, b_record, &a_locs, &b_locs, self.a_origin, self.b_origin));
        }
        if structure_needed {
            let (manifests, boxes) =
                tokio::join!(self.manifests(container, &a_blobs, &b_blobs), self.mp4s(container, &a_blobs, &b_blobs));
            entries.extend(manifests);
            entries.extend(boxes);
        }
        if self.options.deep {
            entries.extend(
                blobs::deep(
                    self.a.store.as_ref(),
                    self.b.store.as_ref(),
                    container,
                    (&a_blobs, &b_blobs),
                    self.options.parallel.min(DEEP_BLOBS_PER_ASSET),
                    self.deep_reads,
                )
                .await,
            );
        }
        AssetVerdict::new(id.to_string(), &a_entry.asset.name, entries)
    }

    /// B's record of the asset, if B has one that passed its checks. Its
    /// file infos are not in the listing, but their digest is: when the file
    /// infos B's blobs make have that digest, they are the record's (no
    /// read); otherwise, or for a record without a digest, one GET.
    async fn b_record(&self, id: &AssetId, b_blobs: &[BlobMeta]) -> Result<Option<AssetRecord>> {
        let Some(entry) = self.b_index.assets.get(id) else { return Ok(None) };
        if let Some(files) = &entry.files {
            return Ok(Some(AssetRecord { asset: entry.asset.clone(), files: files.clone() }));
        }
        if let (Some(digest), Ok(files)) =
            (&entry.files_digest, mirrorcast_core::catalog::file_infos(&entry.asset, b_blobs))
        {
            if mirrorcast_core::catalog::index::files_digest(&files).ok().as_ref() == Some(digest) {
                return Ok(Some(AssetRecord { asset: entry.asset.clone(), files }));
            }
        }
        self.b.catalog.get_asset(id).await.map(|r| Some(r.value))
    }

    /// Every file a manifest (on either side) references must be in B with A's size.
    async fn manifests(&self, container: &str, a_blobs: &[BlobMeta], b_blobs: &[BlobMeta]) -> Vec<Entry> {
        let a_sizes: BTreeMap<&str, u64> = a_blobs.iter().map(|m| (m.name.as_str(), m.size)).collect();
        let b_sizes: BTreeMap<&str, u64> = b_blobs.iter().map(|m| (m.name.as_str(), m.size)).collect();
        let a_listed: BTreeMap<&str, &BlobMeta> = a_blobs.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut jobs = Vec::new();
        // B's manifests that the listings prove are A's: they reference what A's do, unread.
        let mut same_as_a = Vec::new();
        for (side, list, store) in [(Side::A, a_blobs, &self.a.store), (Side::B, b_blobs, &self.b.store)] {
            for m in list.iter().filter(|m| manifest::kind(&m.name).is_some()) {
                if side == Side::B && a_listed.get(m.name.as_str()).is_some_and(|a| listed_equal(a, m)) {
                    same_as_a.push(m.name.clone());
                } else {
                    jobs.push((side, m.name.clone(), store.clone()));
                }
            }
        }
        let mut parsed: Vec<(Side, String, std::result::Result<Vec<String>, String>)> = stream::iter(jobs)
            .map(|(side, name, store)| async move {
                let refs = match store.get_bytes(container, &name).await {
                    Ok((_, bytes)) => manifest::references(&name, &bytes),
                    Err(e) => Err(format!("could not read: {e}")),
                };
                (side, name, refs)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for name in same_as_a {
            let refs = parsed.iter().find(|(side, n, _)| *side == Side::A && *n == name).map(|(_, _, r)| r.clone());
            if let Some(refs) = refs {
                parsed.push((Side::B, name, refs));
            }
        }
        let mut out = Vec::new();
        for (side, name, refs) in parsed {
            let refs = match refs {
                Ok(r) => r,
                Err(why) => {
                    out.push(Entry::new(
                        Marker::Differs,
                        Check::Manifest,
                        side,
                        &name,
                        format!("unparseable manifest: {why}"),
                    ));
                    continue;
                }
            };
            let mut bad = 0;
            for r in &refs {
                let in_a = a_sizes.get(r.as_str());
                match (side, in_a, b_sizes.get(r.as_str())) {
                    (Side::A, None, _) => {
                        bad += 1;
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Manifest,
                            Side::A,
                            r,
                            format!("dangling: referenced by '{name}' but missing in A"),
                        ));
                    }
                    (_, _, None) => {
                        bad += 1;
                        out.push(Entry::new(
                            Marker::Missing,
                            Check::Manifest,
                            Side::B,
                            r,
                            format!("referenced by '{name}': missing in B"),
                        ));
                    }
                    (_, Some(sa), Some(sb)) if sa != sb => {
                        bad += 1;
                        out.push(Entry::new(
                            Marker::Differs,
                            Check::Manifest,
                            Side::B,
                            r,
                            format!("referenced by '{name}': {sb} bytes in B, {sa} in A"),
                        ));
                    }
                    _ => {}
                }
            }
            if bad == 0 && side == Side::B {
                out.push(Entry::new(
                    Marker::Same,
                    Check::Manifest,
                    Side::B,
                    &name,
                    format!("{} references, all in B", refs.len()),
                ));
            }
        }
        out
    }

    /// Top-level MP4 boxes add up to the blob size, on both sides.
    async fn mp4s(&self, container: &str, a_blobs: &[BlobMeta], b_blobs: &[BlobMeta]) -> Vec<Entry> {
        let a_listed: BTreeMap<&str, &BlobMeta> = a_blobs.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut jobs = Vec::new();
        for (side, list, store) in [(Side::A, a_blobs, &self.a.store), (Side::B, b_blobs, &self.b.store)] {
            for m in list.iter().filter(|m| m.kind == BlobKind::Block && m.size > 0 && mp4::is_mp4(&m.name)) {
                // B's copy of a blob the listings prove is A's has A's boxes: walked once, in A.
                if side == Side::B && a_listed.get(m.name.as_str()).is_some_and(|a| listed_equal(a, m)) {
                    continue;
                }
                jobs.push((side, m.name.clone(), m.size, store.clone()));
            }
        }
        stream::iter(jobs)
            .map(|(side, name, size, store)| async move {
                match mp4::check(store.as_ref(), container, &name, size).await {
                    Ok(None) => None,
                    Ok(Some(why)) => Some(Entry::new(Marker::Differs, Check::Mp4, side, name, why)),
                    Err(e) => Some(Entry::new(Marker::Error, Check::Mp4, side, name, format!("could not read: {e}"))),
                }
            })
            .buffer_unordered(16)
            .filter_map(|e| async move { e })
            .collect()
            .await
    }
}

#[cfg(test)]
mod tests;
