//! The export's records resolved against each other: v3 asset names within their
//! accounts, files onto their assets, locators onto their policies and assets,
//! duplicates collapsed or refused; each record kept or rejected with a reason.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeDelta;

use super::arm::Accounts;
use super::filters::{RawFilter, RawOwner};
use super::read::{Parsed, Policy, Raw, Refusal, V2Locator, V3Asset, V3Locator};
use super::{Export, ExportAsset, ExportFile, ExportLocator, ExportedFilter, RecordKind, Rejected};
use crate::delivery::Delivery;
use crate::id::{AssetId, PolicyId};
use crate::model::{Asset, LocatorType, Permissions};

/// v3 asset names, by name and account, each with the assets (or why they are
/// invalid) that carry it there. Lookups touch a few entries, whatever the
/// size of the export: a hostile one may name a million assets alike.
#[derive(Default)]
struct V3Names(BTreeMap<(String, Option<usize>), BTreeSet<NamedAsset>>);

/// The asset a v3 name stands for, or why it is invalid.
type NamedAsset = Result<AssetId, String>;

/// What carries a v3 name: the account (if known) and the asset (or why it is invalid).
type Carrier<'a> = (Option<usize>, &'a NamedAsset);

/// How many carriers a message names.
const SHOWN: usize = 5;

impl V3Names {
    fn add(&mut self, name: String, account: Option<usize>, asset: Result<AssetId, String>) {
        self.0.entry((name, account)).or_default().insert(asset);
    }

    /// Every carrier of `name`, in any account.
    fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = Carrier<'a>> + 'a {
        let (from, to) = ((name.to_owned(), None), (name.to_owned(), Some(usize::MAX)));
        self.0.range(from..=to).flat_map(|((_, a), set)| set.iter().map(move |r| (*a, r)))
    }

    /// The carriers of `name` in `account`, or with no account.
    fn in_account<'a>(&'a self, name: &str, account: usize) -> impl Iterator<Item = Carrier<'a>> + 'a {
        let of = |a: Option<usize>| {
            self.0.get(&(name.to_owned(), a)).into_iter().flat_map(move |set| set.iter().map(move |r| (a, r)))
        };
        of(Some(account)).chain(of(None))
    }

    /// The asset `name` is in `account`: one with no account counts as in any
    /// account; a name that stays ambiguous is refused, never guessed.
    fn resolve(&self, name: &str, account: Option<usize>, accounts: &Accounts) -> Result<AssetId, String> {
        let carrier = |(a, r): Carrier| {
            let what = r.as_ref().map_or_else(|_| "an invalid asset".to_owned(), |id| id.to_string());
            format!("{what} in {}", accounts.describe(a))
        };
        let listed = |carriers: Vec<Carrier>| {
            let more = if carriers.len() > SHOWN { " and more" } else { "" };
            let shown: Vec<String> = carriers.into_iter().take(SHOWN).map(carrier).collect();
            format!("{}{more}", shown.join(", "))
        };
        let mut candidates: Vec<Carrier> = match account {
            Some(a) => self.in_account(name, a).take(SHOWN + 1).collect(),
            None => self.all(name).take(SHOWN + 1).collect(),
        };
        candidates.dedup_by(|x, y| x.1 == y.1);
        match candidates.as_slice() {
            [] => match self.all(name).take(SHOWN + 1).collect::<Vec<_>>() {
                others if others.is_empty() => Err(format!("its asset '{name}' is not in this export")),
                others => Err(format!(
                    "its asset '{name}' is not in its {} in this export (only {} carry that name)",
                    accounts.describe(account),
                    listed(others)
                )),
            },
            [(_, only)] => (*only).clone(),
            _ => Err(format!(
                "its asset name '{name}' is ambiguous: {} carry it{}; refused rather than attached to the wrong asset",
                listed(candidates),
                if account.is_none() { ", and the locator has no ARM id saying which account it is in" } else { "" }
            )),
        }
    }
}

impl Raw {
    pub(super) fn resolve(self) -> Export {
        let mut out = Export::default();
        for (source, id) in self.unknown {
            let reason = "not an asset, file, access policy or locator record".to_owned();
            out.reject(source, RecordKind::Unknown, Refusal { id, reason });
        }

        // Assets, v2 and v3; names of v3 assets for their locators.
        let mut assets: Vec<ExportAsset> = Vec::new();
        let mut v3_names = V3Names::default();
        for (source, asset) in self.assets {
            match asset {
                Ok(asset) => assets.push(ExportAsset { source, asset, files: Vec::new() }),
                Err(refusal) => out.reject(source, RecordKind::Asset, refusal),
            }
        }
        for (source, V3Asset { name, account, asset }) in self.v3_assets {
            match asset {
                Ok(asset) => {
                    if !name.is_empty() {
                        v3_names.add(name, account, Ok(asset.id));
                    }
                    assets.push(ExportAsset { source, asset, files: Vec::new() });
                }
                Err(refusal) => {
                    if !name.is_empty() {
                        v3_names.add(name.clone(), account, Err(format!("asset '{name}' is invalid in this export")));
                    }
                    out.reject(source, RecordKind::Asset, refusal)
                }
            }
        }
        let (assets, bad_assets) = dedupe(assets, |a| a.asset.id, |a| &a.source, |x, y| same_asset(&x.asset, &y.asset));
        for (source, id, reason) in bad_assets {
            out.reject(source, RecordKind::Asset, Refusal { id: Some(id.to_string()), reason });
        }
        // In the order of their ids (dedupe sorted them): files find theirs by a binary search.
        let mut by_id = assets;

        // Files attach to their asset in this export.
        for (source, file) in self.files {
            match file {
                Ok((parent, file)) => {
                    match by_id.binary_search_by_key(&parent, |a| a.asset.id).ok().and_then(|i| by_id.get_mut(i)) {
                        Some(a) => a.files.push(file),
                        None => {
                            let reason = format!(
                                "file '{}' of asset {parent}, which is not a valid asset of this export",
                                file.name
                            );
                            out.reject(source, RecordKind::File, Refusal { id: None, reason })
                        }
                    }
                }
                Err(refusal) => out.reject(source, RecordKind::File, refusal),
            }
        }

        for a in &mut by_id {
            keep_first_of_each_name(&mut a.files);
        }

        // Access policies by their export ids.
        let mut policies: BTreeMap<PolicyId, Result<Policy, String>> = BTreeMap::new();
        for policy in self.policies {
            let Some((source, (id, parsed))) = out.taken(RecordKind::AccessPolicy, policy) else { continue };
            if let Err(reason) = &parsed {
                out.reject(
                    source.clone(),
                    RecordKind::AccessPolicy,
                    Refusal { id: Some(id.to_string()), reason: reason.clone() },
                );
            }
            let entry = policies.entry(id).or_insert_with(|| parsed.clone());
            if let (Ok(a), Ok(b)) = (&*entry, &parsed) {
                if (a.minutes, a.permissions) != (b.minutes, b.permissions) {
                    let reason = format!("duplicate access policy id {id} with other terms");
                    out.reject(
                        source,
                        RecordKind::AccessPolicy,
                        Refusal { id: Some(id.to_string()), reason: reason.clone() },
                    );
                    *entry = Err(reason);
                }
            }
        }

        // Locators, v2 and v3.
        let mut locators = Vec::new();
        for locator in self.locators {
            let Some((source, l)) = out.taken(RecordKind::Locator, locator) else { continue };
            let id = Some(l.id.to_string());
            // An asset streamed with dynamic encryption stays protected on every locator of it.
            let delivery = self.v2_protection.get(&l.asset_id).cloned().unwrap_or_default();
            match v2_locator(l, &policies, delivery) {
                Ok(Some(l)) => locators.push(ExportLocator { source, ..l }),
                Ok(None) => out.skipped.push(Rejected {
                    source,
                    kind: RecordKind::Locator,
                    id,
                    reason: "SAS locator: not carried over (its signature belongs to the old account)".into(),
                }),
                Err(reason) => out.reject(source, RecordKind::Locator, Refusal { id, reason }),
            }
        }
        for locator in self.v3_locators {
            let Some((source, l)) = out.taken(RecordKind::Locator, locator) else { continue };
            let id = Some(l.id.to_string());
            match v3_names.resolve(&l.asset_name, l.account, &self.accounts).and_then(|asset| v3_locator(l, asset)) {
                Ok(l) => locators.push(ExportLocator { source, ..l }),
                Err(reason) => out.reject(source, RecordKind::Locator, Refusal { id, reason }),
            }
        }
        let (locators, bad_locators) = dedupe(locators, |l| l.id, |l| &l.source, same_locator);
        for (source, id, reason) in bad_locators {
            out.reject(source, RecordKind::Locator, Refusal { id: Some(id.to_string()), reason });
        }
        let invalid_assets: BTreeSet<String> =
            out.rejected.iter().filter(|r| r.kind == RecordKind::Asset).filter_map(|r| r.id.clone()).collect();
        for l in locators {
            if invalid_assets.contains(&l.asset_id.to_string()) {
                let reason = format!("its asset {} is invalid in this export", l.asset_id);
                out.reject(l.source, RecordKind::Locator, Refusal { id: Some(l.id.to_string()), reason });
            } else {
                out.locators.push(l);
            }
        }

        // Filters onto their assets (v3 names within their accounts) or the account.
        let mut filters = Vec::new();
        for filter in self.filters {
            let Some((source, RawFilter { owner, filter })) = out.taken(RecordKind::Filter, filter) else { continue };
            let asset = match owner {
                RawOwner::Account => Ok(None),
                RawOwner::V2Asset(id) => Ok(Some(id)),
                RawOwner::V3Asset { name, account } => v3_names.resolve(&name, Some(account), &self.accounts).map(Some),
            };
            let asset = asset.and_then(|asset| match asset {
                Some(id) if invalid_assets.contains(&id.to_string()) => {
                    Err(format!("its asset {id} is invalid in this export"))
                }
                other => Ok(other),
            });
            match asset {
                Ok(asset) => filters.push(ExportedFilter { source, asset, filter }),
                Err(reason) => out.reject(source, RecordKind::Filter, Refusal { id: Some(filter.name), reason }),
            }
        }
        let (filters, bad_filters) = dedupe(filters, FilterKey::of, |f| &f.source, |a, b| a.filter.same_as(&b.filter));
        for (source, key, reason) in bad_filters {
            out.reject(source, RecordKind::Filter, Refusal { id: Some(key.1), reason });
        }
        out.filters = filters;
        out.filters.sort_by(|a, b| a.source.cmp(&b.source));
        out.assets = by_id;
        out.assets.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

impl Export {
    fn reject(&mut self, source: String, kind: RecordKind, refusal: Refusal) {
        self.rejected.push(Rejected { source, kind, id: refusal.id, reason: refusal.reason });
    }

    /// A record as read, or `None` once its refusal is reported.
    fn taken<T>(&mut self, kind: RecordKind, (source, read): Parsed<T>) -> Option<(String, T)> {
        match read {
            Ok(record) => Some((source, record)),
            Err(refusal) => {
                self.reject(source, kind, refusal);
                None
            }
        }
    }
}

/// Keeps one of each id, in the order of the ids: exact duplicates collapse,
/// duplicates with other terms are all rejected (which one is right cannot
/// be known). Sorted in place, so memory holds the records once more at most.
fn dedupe<T, K: Ord + Clone + std::fmt::Display>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> K,
    source: impl Fn(&T) -> &String,
    same: impl Fn(&T, &T) -> bool,
) -> (Vec<T>, Vec<(String, K, String)>) {
    // Stable: duplicates stay in the export's order, the first one is kept.
    items.sort_by_key(|x| key(x));
    let mut kept = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    let mut run: Vec<T> = Vec::new();
    let mut settle = |run: &mut Vec<T>| {
        let Some(first) = run.first() else { return };
        let k = key(first);
        if run.iter().all(|x| same(x, first)) {
            kept.extend(run.drain(..).take(1));
            return;
        }
        // A few places say where to look; a hostile export may repeat an id a million times.
        const SHOWN: usize = 5;
        let places: Vec<&str> = run.iter().take(SHOWN).map(|x| source(x).as_str()).collect();
        let more = run.len().saturating_sub(SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let reason = format!("duplicate id {k} with other terms (at {}{more})", places.join(", "));
        bad.extend(run.drain(..).map(|x| (source(&x).clone(), k.clone(), reason.clone())));
    };
    for item in items {
        if run.first().is_some_and(|first| key(first) != key(&item)) {
            settle(&mut run);
        }
        run.push(item);
    }
    settle(&mut run);
    (kept, bad)
}

/// A file listed twice is one file (the first); sorted, not scanned per file:
/// an export may list a hundred thousand.
fn keep_first_of_each_name(files: &mut Vec<ExportFile>) {
    let mut by_name: Vec<usize> = (0..files.len()).collect();
    by_name.sort_by(|&i, &j| files[i].name.cmp(&files[j].name).then(i.cmp(&j)));
    let mut keep = vec![true; files.len()];
    for pair in by_name.windows(2) {
        if files[pair[0]].name == files[pair[1]].name {
            keep[pair[1]] = false;
        }
    }
    let mut kept = keep.into_iter();
    files.retain(|_| kept.next().unwrap_or(true));
}

/// A filter's identity: its asset (none: the account's) and its name, which is case-blind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FilterKey(Option<AssetId>, String);

impl FilterKey {
    fn of(f: &ExportedFilter) -> FilterKey {
        FilterKey(f.asset, f.filter.name.to_ascii_lowercase())
    }
}

impl std::fmt::Display for FilterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(asset) => write!(f, "'{}' of asset {asset}", self.1),
            None => write!(f, "'{}' of the account", self.1),
        }
    }
}

fn same_asset(a: &Asset, b: &Asset) -> bool {
    (&a.name, a.options, &a.container, &a.alternate_id) == (&b.name, b.options, &b.container, &b.alternate_id)
}

fn same_locator(a: &ExportLocator, b: &ExportLocator) -> bool {
    (a.asset_id, a.locator_type, a.start_time, a.expiration, a.permissions)
        == (b.asset_id, b.locator_type, b.start_time, b.expiration, b.permissions)
}

/// `Ok(None)` for a SAS locator, which is valid but not carried over.
fn v2_locator(
    l: V2Locator,
    policies: &BTreeMap<PolicyId, Result<Policy, String>>,
    delivery: Delivery,
) -> Result<Option<ExportLocator>, String> {
    let policy_id = l.policy_id;
    let policy = match policies.get(&policy_id) {
        Some(Ok(p)) => p.clone(),
        Some(Err(_)) => return Err(format!("its access policy {policy_id} is invalid in this export")),
        None => return Err(format!("its access policy {policy_id} is not in this export")),
    };
    if l.locator_type == LocatorType::Sas {
        return Ok(None);
    }
    if !policy.permissions.is_read_only() {
        return Err(format!(
            "an origin locator needs a read-only access policy; {policy_id} grants '{}'",
            policy.permissions
        ));
    }
    let start_time = l.start_time?;
    let expiration = match l.expiration? {
        Some(t) => t,
        None => {
            let start = start_time.ok_or("a locator needs an ExpirationDateTime or a StartTime")?;
            // Checked: an export's start and duration can add up past any date a time can hold.
            i64::try_from(policy.minutes)
                .ok()
                .and_then(TimeDelta::try_minutes)
                .and_then(|d| start.checked_add_signed(d))
                .ok_or_else(|| {
                    format!(
                        "StartTime {} plus its access policy's {} minutes is past any date a time can hold",
                        start.to_rfc3339(),
                        policy.minutes
                    )
                })?
        }
    };
    if start_time.is_some_and(|s| expiration <= s) {
        return Err(format!("expiry {expiration} is not after start {}", start_time.unwrap_or_default()));
    }
    checked(ExportLocator {
        source: String::new(),
        id: l.id,
        asset_id: l.asset_id,
        locator_type: l.locator_type,
        start_time,
        expiration,
        policy_name: if policy.name.is_empty() { "Streaming policy".into() } else { policy.name },
        duration_minutes: policy.minutes,
        permissions: policy.permissions,
        // The asset's content keys and delivery policies; its Options (CommonEncryptionProtected,
        // EnvelopeEncryptionProtected) protect it too.
        delivery,
    })
    .map(Some)
}

fn v3_locator(l: V3Locator, asset_id: AssetId) -> Result<ExportLocator, String> {
    let (start, end) = (l.start, l.end);
    if end <= start {
        return Err(format!("endTime {end} is not after startTime {start}"));
    }
    // The difference of two times always fits a TimeDelta; its minutes are positive here.
    let minutes = u64::try_from(end.signed_duration_since(start).num_minutes()).unwrap_or(0).max(1);
    checked(ExportLocator {
        source: String::new(),
        id: l.id,
        asset_id,
        locator_type: LocatorType::OnDemandOrigin,
        start_time: Some(start),
        expiration: end,
        policy_name: l.streaming_policy_name,
        duration_minutes: minutes,
        permissions: Permissions::READ,
        delivery: l.delivery,
    })
}

/// The locator and the policy it will get pass the checks the catalog makes
/// when they are written, so nothing is refused halfway through the writes.
fn checked(l: ExportLocator) -> Result<ExportLocator, String> {
    let policy = l.policy();
    let locator = l.record("", &policy);
    // The locator's own dates first: a policy too long is most often a start out of range.
    locator.validate(&l.id, Some(&policy)).map_err(|e| e.message().to_owned())?;
    policy.validate(&policy.id).map_err(|e| e.message().to_owned())?;
    Ok(l)
}
