//! Azure Media Services exports read into mirrorcast's records, and records
//! written back in Media Services' v2 shape, so a library keeps its ids (and
//! its old URLs their paths) and old scripts can read what mirrorcast prints.
//!
//! Two export shapes are read, in any mix of documents:
//! - v2 REST JSON: an OData feed (`{"odata.metadata": …, "value": […]}`,
//!   `{"d": {"results": […]}}`), a bare array or a single entity; PascalCase
//!   Assets, Files, AccessPolicies and Locators with numeric enums, possibly
//!   nested by `$expand` (`Files`, `Locators`, `AccessPolicy`).
//! - v3 JSON as `az ams asset list` / `az ams streaming-locator list` print it
//!   (camelCase, or ARM resources with a `properties` object).
//!
//! Pure: no I/O (the caller hands over a serde deserializer per document).
//! Documents are read entity by entity ([`ExportReader`]), each kept only as
//! what resolution needs. Every record that cannot be taken is rejected with
//! a reason, after the checks the catalog would make when writing it; the
//! rest are returned for the caller to write. v3 asset names resolve within
//! the account their ARM ids name.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserializer, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::AssetRecord;
use crate::delivery::Delivery;
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::model::{AccessPolicy, Asset, AssetOptions, Locator, LocatorType, Permissions};

mod arm;
mod document;

use arm::Account;

/// The longest access policy taken from an export: 1000 years.
pub const MAX_POLICY_MINUTES: u64 = 1000 * 365 * 24 * 60;

/// What kind of record a report line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Asset,
    File,
    AccessPolicy,
    Locator,
    Unknown,
}

/// A record of the export that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// `<document>#<index>`: where the record is.
    pub source: String,
    pub kind: RecordKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub reason: String,
}

/// A file info the export lists for an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportFile {
    pub name: String,
    pub size: u64,
}

/// An asset to import, with the files the export lists (used when its
/// container holds no blobs to make file infos from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportAsset {
    pub source: String,
    pub asset: Asset,
    pub files: Vec<ExportFile>,
}

/// A locator to import, with the terms of its access policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportLocator {
    pub source: String,
    pub id: LocatorId,
    pub asset_id: AssetId,
    pub locator_type: LocatorType,
    pub start_time: Option<DateTime<Utc>>,
    pub expiration: DateTime<Utc>,
    pub policy_name: String,
    pub duration_minutes: u64,
    pub permissions: Permissions,
    /// Its streaming policy, content key ids and filters (v3): kept on the locator record.
    pub delivery: Delivery,
}

/// An export, read: what can be imported, and what cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Export {
    pub assets: Vec<ExportAsset>,
    pub locators: Vec<ExportLocator>,
    /// Invalid records (bad ids, containers, enums, times, references, duplicates).
    pub rejected: Vec<Rejected>,
    /// Valid records that are deliberately not carried over (SAS locators).
    pub skipped: Vec<Rejected>,
}

/// An export read document by document, each entity parsed into what
/// resolution needs as it is read (the documents are never held whole).
#[derive(Debug, Default)]
pub struct ExportReader {
    raw: Raw,
}

impl ExportReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one document of the export (`name` says where its records are in
    /// the report): an array of records, an OData feed or one record. Returns
    /// how many of its entities look like export records.
    pub fn read_document<'de, D: Deserializer<'de>>(&mut self, name: &str, document: D) -> Result<usize, D::Error> {
        let raw = &mut self.raw;
        let mut index = 0usize;
        let mut recognised = 0usize;
        document::for_each_entity(document, &mut |entity| {
            if raw.take(format!("{name}#{index}"), entity) {
                recognised += 1;
            }
            index += 1;
        })?;
        Ok(recognised)
    }

    /// The export: every record resolved (names, policies, references) or rejected.
    pub fn finish(self) -> Export {
        self.raw.resolve()
    }
}

/// The records of documents already parsed (file name, JSON).
pub fn read_export(documents: &[(String, Value)]) -> Result<Export, serde_json::Error> {
    let mut reader = ExportReader::new();
    for (name, doc) in documents {
        reader.read_document(name, doc)?;
    }
    Ok(reader.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    V2Asset,
    V2File,
    V2Policy,
    V2Locator,
    V3Asset,
    V3Locator,
}

fn classify(e: &Value) -> Option<Shape> {
    let o = e.as_object()?;
    let props = o.get("properties").and_then(Value::as_object);
    let has = |k: &str| o.contains_key(k) || props.is_some_and(|p| p.contains_key(k));
    let arm_type = o.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    if has("streamingLocatorId") || arm_type.ends_with("/streaminglocators") {
        return Some(Shape::V3Locator);
    }
    if has("assetId") || arm_type.ends_with("/assets") {
        return Some(Shape::V3Asset);
    }
    if has("ParentAssetId") || has("ContentFileSize") {
        return Some(Shape::V2File);
    }
    if has("AccessPolicyId") || has("ExpirationDateTime") {
        return Some(Shape::V2Locator);
    }
    if has("DurationInMinutes") || has("Permissions") {
        return Some(Shape::V2Policy);
    }
    let id = o.get("Id").and_then(Value::as_str).unwrap_or("");
    if has("Options") || has("Uri") || id.to_ascii_lowercase().starts_with("nb:cid:") {
        return Some(Shape::V2Asset);
    }
    None
}

/// A v2 policy as the export states it (its id is not kept: mirrorcast
/// derives policy ids from their terms).
#[derive(Debug, Clone)]
struct Policy {
    name: String,
    minutes: u64,
    permissions: Permissions,
}

/// Why a record is refused, with the id it gave, if any.
#[derive(Debug)]
struct Refusal {
    id: Option<String>,
    reason: String,
}

impl Refusal {
    fn of<'a>(e: &'a Value, id_key: &'a str) -> impl FnOnce(String) -> Refusal + 'a {
        move |reason| Refusal { id: text_id(e, id_key), reason }
    }
}

/// A v2 locator as the export states it; its expiry may come from its policy.
#[derive(Debug)]
struct V2Locator {
    id: LocatorId,
    locator_type: LocatorType,
    asset_id: AssetId,
    policy_id: PolicyId,
    start_time: Result<Option<DateTime<Utc>>, String>,
    expiration: Result<Option<DateTime<Utc>>, String>,
}

impl V2Locator {
    fn parse(e: &Value) -> Result<Self, String> {
        let id = LocatorId::parse(&string(e, "Id")?.ok_or("a locator needs an Id")?).map_err(|e| e.to_string())?;
        let locator_type = locator_type_from_v2(integer(e, "Type")?.ok_or("a locator needs a Type")?)?;
        let asset_id =
            AssetId::parse(&string(e, "AssetId")?.ok_or("a locator needs an AssetId")?).map_err(|e| e.to_string())?;
        let policy_id = PolicyId::parse(&string(e, "AccessPolicyId")?.ok_or("a locator needs an AccessPolicyId")?)
            .map_err(|e| e.to_string())?;
        Ok(V2Locator {
            id,
            locator_type,
            asset_id,
            policy_id,
            start_time: time(e, "StartTime"),
            expiration: time(e, "ExpirationDateTime"),
        })
    }
}

/// A v3 streaming locator's fields, as `az ams streaming-locator list` prints
/// them: what import takes of it (add a field here to carry more over).
#[derive(Debug)]
struct V3Locator {
    id: LocatorId,
    asset_name: String,
    /// The account its ARM `id` names (an index into [`Raw::accounts`]).
    account: Option<usize>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    streaming_policy_name: String,
    /// Its streaming policy, content key ids, default content key policy and filters.
    delivery: Delivery,
}

impl V3Locator {
    fn parse(e: &Value, accounts: &mut Accounts) -> Result<Self, String> {
        let id = LocatorId::parse(
            &string(e, "streamingLocatorId")?.ok_or("a streaming locator needs a streamingLocatorId")?,
        )
        .map_err(|e| e.to_string())?;
        let asset_name = string(e, "assetName")?.ok_or("a streaming locator needs an assetName")?;
        let account = arm_account(e, "streamingLocators")?.map(|a| accounts.index(a));
        let start = time(e, "startTime")?.or(time(e, "created")?);
        let end = time(e, "endTime")?.ok_or("a streaming locator needs an endTime")?;
        let start = start.ok_or("a streaming locator needs a startTime or created")?;
        let streaming_policy_name =
            string(e, "streamingPolicyName")?.unwrap_or_else(|| "Predefined_ClearStreamingOnly".into());
        let delivery = Delivery {
            streaming_policy_name: Some(streaming_policy_name.clone()),
            default_content_key_policy_name: string(e, "defaultContentKeyPolicyName")?,
            content_key_ids: content_key_ids(e)?,
            filters: strings(e, "filters")?,
            delivery_policy_types: Vec::new(),
        };
        Ok(V3Locator { id, asset_name, account, start, end, streaming_policy_name, delivery })
    }
}

/// A v3 asset: its name and account, for the locators that name it.
#[derive(Debug)]
struct V3Asset {
    name: String,
    account: Option<usize>,
    asset: Result<Asset, Refusal>,
}

/// The accounts ARM ids named, each kept once.
#[derive(Debug, Default)]
struct Accounts {
    all: Vec<Account>,
    by_key: BTreeMap<String, usize>,
}

impl Accounts {
    fn index(&mut self, account: Account) -> usize {
        *self.by_key.entry(account.key().to_owned()).or_insert_with(|| {
            self.all.push(account);
            self.all.len() - 1
        })
    }

    fn describe(&self, account: Option<usize>) -> String {
        account.and_then(|i| self.all.get(i)).map_or_else(|| "no account (no ARM id)".to_owned(), ToString::to_string)
    }
}

/// The account of a v3 record from its ARM `id` (`None` without one); an id
/// that is not a Media Services `kind` resource's, or names another record
/// than `name`, is refused: which account the record is in would be a guess.
fn arm_account(e: &Value, kind: &str) -> Result<Option<Account>, String> {
    let Some(id) = string(e, "id")? else { return Ok(None) };
    let arm = arm::parse(&id).filter(|a| a.kind.eq_ignore_ascii_case(kind)).ok_or_else(|| {
        format!(
            "id '{id}' is not the ARM id of a Media Services {kind} resource \
             (/subscriptions/…/resourceGroups/…/providers/Microsoft.Media/mediaservices/<account>/{kind}/<name>)"
        )
    })?;
    if let Some(name) = string(e, "name")? {
        if !arm.name.eq_ignore_ascii_case(&name) {
            return Err(format!("id '{id}' names '{}', not '{name}'", arm.name));
        }
    }
    Ok(Some(arm.account))
}

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

/// The export's records as read: each parsed into what resolution needs.
#[derive(Debug, Default)]
struct Raw {
    accounts: Accounts,
    unknown: Vec<(String, Option<String>)>,
    assets: Vec<Parsed<Asset>>,
    files: Vec<Parsed<(AssetId, ExportFile)>>,
    policies: Vec<Parsed<(PolicyId, Result<Policy, String>)>>,
    locators: Vec<Parsed<V2Locator>>,
    /// v2 assets' content keys and delivery policies (`$expand`ed into the asset), which
    /// every locator of the asset inherits.
    v2_protection: BTreeMap<AssetId, Delivery>,
    v3_assets: Vec<(String, V3Asset)>,
    v3_locators: Vec<Parsed<V3Locator>>,
}

/// A record's place in the export, and what was read of it.
type Parsed<T> = (String, Result<T, Refusal>);

/// The value of `key`, taken out of an object.
fn take_key(e: &mut Value, key: &str) -> Option<Value> {
    e.as_object_mut().and_then(|o| o.remove(key))
}

impl Raw {
    /// Takes one entity of a document; whether it looks like an export record.
    fn take(&mut self, source: String, mut e: Value) -> bool {
        let Some(shape) = classify(&e) else {
            let id = field(&e, "Id").or_else(|| field(&e, "id")).and_then(Value::as_str).map(str::to_owned);
            self.unknown.push((source, id));
            return false;
        };
        match shape {
            Shape::V2Asset => {
                // `$expand=Files,Locators` nests them in the asset.
                if let Some(Value::Array(files)) = take_key(&mut e, "Files") {
                    for (j, f) in files.iter().enumerate() {
                        self.files.push((format!("{source}/Files#{j}"), v2_file(f).map_err(Refusal::of(f, "Id"))));
                    }
                }
                if let Some(Value::Array(locators)) = take_key(&mut e, "Locators") {
                    for (j, l) in locators.into_iter().enumerate() {
                        self.take(format!("{source}/Locators#{j}"), l);
                    }
                }
                let asset = v2_asset(&e).and_then(|asset| {
                    let delivery = v2_protection(&mut e)?;
                    if !delivery.is_default() {
                        self.v2_protection.insert(asset.id, delivery);
                    }
                    Ok(asset)
                });
                self.assets.push((source, asset.map_err(Refusal::of(&e, "Id"))));
            }
            Shape::V2File => self.files.push((source, v2_file(&e).map_err(Refusal::of(&e, "Id")))),
            Shape::V2Policy => self.take_policy(source, &e),
            Shape::V2Locator => {
                if let Some(p @ Value::Object(_)) = take_key(&mut e, "AccessPolicy") {
                    self.take_policy(format!("{source}/AccessPolicy"), &p);
                }
                self.locators.push((source, V2Locator::parse(&e).map_err(Refusal::of(&e, "Id"))));
            }
            Shape::V3Asset => {
                let name = field(&e, "name").and_then(Value::as_str).unwrap_or("").to_owned();
                let account = arm_account(&e, "assets");
                let asset = match &account {
                    Ok(_) => v3_asset(&e),
                    Err(reason) => Err(reason.clone()),
                };
                let id = text_id(&e, "assetId").or_else(|| Some(name.clone()));
                let account = account.ok().flatten().map(|a| self.accounts.index(a));
                let asset = asset.map_err(|reason| Refusal { id, reason });
                self.v3_assets.push((source, V3Asset { name, account, asset }));
            }
            Shape::V3Locator => {
                let locator = V3Locator::parse(&e, &mut self.accounts).map_err(|reason| Refusal {
                    id: text_id(&e, "streamingLocatorId").or_else(|| text_id(&e, "name")),
                    reason,
                });
                self.v3_locators.push((source, locator));
            }
        }
        true
    }

    fn take_policy(&mut self, source: String, e: &Value) {
        let policy = match text_id(e, "Id").map(|t| PolicyId::parse(&t)) {
            Some(Ok(id)) => Ok((id, v2_policy(e))),
            Some(Err(err)) => Err(Refusal { id: text_id(e, "Id"), reason: err.to_string() }),
            None => Err(Refusal { id: None, reason: "an access policy needs an Id".into() }),
        };
        self.policies.push((source, policy));
    }

    fn resolve(self) -> Export {
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
        for (source, policy) in self.policies {
            let (id, parsed) = match policy {
                Ok(p) => p,
                Err(refusal) => {
                    out.reject(source, RecordKind::AccessPolicy, refusal);
                    continue;
                }
            };
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
        for (source, locator) in self.locators {
            let l = match locator {
                Ok(l) => l,
                Err(refusal) => {
                    out.reject(source, RecordKind::Locator, refusal);
                    continue;
                }
            };
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
        for (source, locator) in self.v3_locators {
            let l = match locator {
                Ok(l) => l,
                Err(refusal) => {
                    out.reject(source, RecordKind::Locator, refusal);
                    continue;
                }
            };
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
        out.assets = by_id;
        out.assets.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

impl Export {
    fn reject(&mut self, source: String, kind: RecordKind, refusal: Refusal) {
        self.rejected.push(Rejected { source, kind, id: refusal.id, reason: refusal.reason });
    }
}

/// Keeps one of each id, in the order of the ids: exact duplicates collapse,
/// duplicates with other terms are all rejected (which one is right cannot
/// be known). Sorted in place, so memory holds the records once more at most.
fn dedupe<T, K: Ord + Copy + std::fmt::Display>(
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
        bad.extend(run.drain(..).map(|x| (source(&x).clone(), k, reason.clone())));
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

fn same_asset(a: &Asset, b: &Asset) -> bool {
    (&a.name, a.options, &a.container, &a.alternate_id) == (&b.name, b.options, &b.container, &b.alternate_id)
}

fn same_locator(a: &ExportLocator, b: &ExportLocator) -> bool {
    (a.asset_id, a.locator_type, a.start_time, a.expiration, a.permissions)
        == (b.asset_id, b.locator_type, b.start_time, b.expiration, b.permissions)
}

/// A field of an entity, or of its ARM `properties`.
fn field<'v>(e: &'v Value, key: &str) -> Option<&'v Value> {
    e.get(key).or_else(|| e.get("properties").and_then(|p| p.get(key))).filter(|v| !v.is_null())
}

fn text_id(e: &Value, key: &str) -> Option<String> {
    field(e, key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

/// A list of names (`filters`): absent or null is empty.
fn strings(e: &Value, key: &str) -> Result<Vec<String>, String> {
    match field(e, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key} must hold names, not {v}")))
            .collect(),
        Some(other) => Err(format!("{key} must be a list, not {other}")),
    }
}

/// The ids of a v3 locator's `contentKeys` (`[{"id": …, "type": …, "policyName": …}]`), never their values.
fn content_key_ids(e: &Value) -> Result<Vec<String>, String> {
    match field(e, "contentKeys") {
        None => Ok(Vec::new()),
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| match k.get("id").or_else(|| k.get("Id")) {
                Some(Value::String(id)) => Ok(id.clone()),
                _ => Err("each of contentKeys needs an id".to_owned()),
            })
            .collect(),
        Some(other) => Err(format!("contentKeys must be a list, not {other}")),
    }
}

fn string(e: &Value, key: &str) -> Result<Option<String>, String> {
    match field(e, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be text, not {other}")),
    }
}

/// An integer, as a JSON number or as text (OData writes Int64 as text).
fn integer(e: &Value, key: &str) -> Result<Option<i64>, String> {
    let bad = |v: &Value| format!("{key} must be a whole number, not {v}");
    match field(e, key) {
        None => Ok(None),
        Some(v @ Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(bad(v)),
        },
        Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// A time: RFC 3339, an ISO time without zone (UTC), or OData's `/Date(ms)/`.
fn time(e: &Value, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = string(e, key)? else { return Ok(None) };
    let t = text.trim();
    let bad = || format!("{key} '{t}' is not a time (expected ISO 8601 or /Date(ms)/)");
    if let Some(inner) = t.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits = inner.find(['+', '-']).filter(|&i| i > 0).map_or(inner, |i| &inner[..i]);
        let ms: i64 = digits.parse().map_err(|_| bad())?;
        return Utc.timestamp_millis_opt(ms).single().map(Some).ok_or_else(bad);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(Some(dt.with_timezone(&Utc)));
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").map(|n| Some(n.and_utc())).map_err(|_| bad())
}

/// `Options`: 0 None, 1 StorageEncrypted, 2 CommonEncryptionProtected,
/// 4 EnvelopeEncryptionProtected; names are taken too.
pub fn options_from_v2(value: &Value) -> Result<AssetOptions, String> {
    match value {
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => options_from_number(n),
            Err(_) => s.parse().map_err(|e: crate::Error| e.message().to_owned()),
        },
        Value::Number(n) => n.as_i64().map_or_else(|| Err(format!("unknown asset Options {n}")), options_from_number),
        other => Err(format!("Options must be a number, not {other}")),
    }
}

fn options_from_number(n: i64) -> Result<AssetOptions, String> {
    match n {
        0 => Ok(AssetOptions::None),
        1 => Ok(AssetOptions::StorageEncrypted),
        2 => Ok(AssetOptions::CommonEncryptionProtected),
        4 => Ok(AssetOptions::EnvelopeEncryptionProtected),
        _ => Err(format!("unknown asset Options {n}: expected 0 (None), 1, 2 or 4")),
    }
}

pub fn options_to_v2(options: AssetOptions) -> u8 {
    match options {
        AssetOptions::None => 0,
        AssetOptions::StorageEncrypted => 1,
        AssetOptions::CommonEncryptionProtected => 2,
        AssetOptions::EnvelopeEncryptionProtected => 4,
    }
}

/// v2 `Permissions` bits: Read 1, Write 2, Delete 4, List 8.
pub fn permissions_from_v2(bits: i64) -> Result<Permissions, String> {
    Permissions::from_v2_bits(bits)
}

/// mirrorcast's permissions as v2 bits; add and create count as Write.
pub fn permissions_to_v2(p: Permissions) -> u8 {
    p.to_v2_bits()
}

/// v2 `Type` of a locator: 1 SAS, 2 OnDemandOrigin.
pub fn locator_type_from_v2(n: i64) -> Result<LocatorType, String> {
    match n {
        1 => Ok(LocatorType::Sas),
        2 => Ok(LocatorType::OnDemandOrigin),
        _ => Err(format!("unknown locator Type {n}: expected 1 (SAS) or 2 (OnDemandOrigin)")),
    }
}

pub fn locator_type_to_v2(t: LocatorType) -> u8 {
    match t {
        LocatorType::Sas => 1,
        LocatorType::OnDemandOrigin => 2,
    }
}

/// The container an asset must have: `asset-<guid>` of its id.
fn check_container(id: &AssetId, container: &str) -> Result<(), String> {
    if container == id.container_name() {
        Ok(())
    } else {
        Err(format!("container '{container}' is not {} of asset {id}", id.container_name()))
    }
}

/// A v2 asset's `ContentKeys` and `DeliveryPolicies` (as `$expand` nests them: an
/// array, or an OData `{"results": […]}`), as delivery terms: the keys' ids and the
/// policies' `AssetDeliveryPolicyType` names. An unknown type is kept by its number,
/// and counts as protected.
fn v2_protection(e: &mut Value) -> Result<Delivery, String> {
    let list = |e: &mut Value, key: &str| -> Result<Vec<Value>, String> {
        match take_key(e, key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(Value::Object(mut o)) => match o.remove("results") {
                Some(Value::Array(items)) => Ok(items),
                _ => Err(format!("{key} must be a list")),
            },
            Some(other) => Err(format!("{key} must be a list, not {other}")),
        }
    };
    let mut delivery = Delivery::default();
    for key in list(e, "ContentKeys")? {
        match key.get("Id") {
            Some(Value::String(id)) => delivery.content_key_ids.push(id.clone()),
            _ => return Err("each of ContentKeys needs an Id".into()),
        }
    }
    for policy in list(e, "DeliveryPolicies")? {
        let kind = match policy.get("AssetDeliveryPolicyType") {
            Some(Value::String(name)) if name.parse::<i64>().is_err() => name.clone(),
            Some(v @ (Value::Number(_) | Value::String(_))) => {
                let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                match n {
                    Some(0) => "None".into(),
                    Some(1) => "Blocked".into(),
                    Some(2) => "NoDynamicEncryption".into(),
                    Some(3) => "DynamicEnvelopeEncryption".into(),
                    Some(4) => "DynamicCommonEncryption".into(),
                    Some(5) => "DynamicCommonEncryptionCbcs".into(),
                    _ => format!("AssetDeliveryPolicyType {v}"),
                }
            }
            _ => return Err("each of DeliveryPolicies needs an AssetDeliveryPolicyType".into()),
        };
        delivery.delivery_policy_types.push(kind);
    }
    delivery.validate().map_err(|e| e.message().to_owned())?;
    Ok(delivery)
}

fn v2_asset(e: &Value) -> Result<Asset, String> {
    let text = string(e, "Id")?.ok_or("an asset needs an Id")?;
    let id = AssetId::parse(&text).map_err(|e| e.to_string())?;
    let options = field(e, "Options").map(options_from_v2).transpose()?.unwrap_or_default();
    // `Uri` is the container's URL: its last path segment is the container.
    let container = match string(e, "Uri")? {
        Some(uri) => {
            let path = uri.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
            path.rsplit('/').next().unwrap_or("").to_owned()
        }
        // mirrorcast's own `--output ams` names it outright.
        None => string(e, "ContainerName")?.unwrap_or_else(|| id.container_name()),
    };
    check_container(&id, &container)?;
    checked_asset(Asset {
        id,
        name: string(e, "Name")?.unwrap_or_default(),
        options,
        container,
        alternate_id: string(e, "AlternateId")?.filter(|s| !s.is_empty()),
        created: time(e, "Created")?.unwrap_or_else(Utc::now),
    })
}

fn v3_asset(e: &Value) -> Result<Asset, String> {
    let text = string(e, "assetId")?.ok_or("an asset needs an assetId")?;
    let id = AssetId::parse(&text).map_err(|e| e.to_string())?;
    let container = string(e, "container")?.unwrap_or_else(|| id.container_name());
    check_container(&id, &container)?;
    let options = match string(e, "storageEncryptionFormat")?.as_deref() {
        None | Some("None") => AssetOptions::None,
        Some("MediaStorageClientEncryption") => AssetOptions::StorageEncrypted,
        Some(other) => return Err(format!("unknown storageEncryptionFormat '{other}'")),
    };
    checked_asset(Asset {
        id,
        name: string(e, "name")?.unwrap_or_default(),
        options,
        container,
        alternate_id: string(e, "alternateId")?.filter(|s| !s.is_empty()),
        created: time(e, "created")?.unwrap_or_else(Utc::now),
    })
}

/// The asset passes the checks the catalog makes when it is written (name,
/// alternate id, creation date), so it is refused here, before any write.
fn checked_asset(asset: Asset) -> Result<Asset, String> {
    asset.validate(&asset.id).map_err(|e| e.message().to_owned())?;
    Ok(asset)
}

fn v2_file(e: &Value) -> Result<(AssetId, ExportFile), String> {
    let parent = string(e, "ParentAssetId")?.ok_or("a file needs a ParentAssetId")?;
    let parent = AssetId::parse(&parent).map_err(|e| e.to_string())?;
    let name = string(e, "Name")?.filter(|n| !n.is_empty()).ok_or("a file needs a Name")?;
    let size = integer(e, "ContentFileSize")?.unwrap_or(0);
    let size = u64::try_from(size).map_err(|_| format!("ContentFileSize {size} is negative"))?;
    Ok((parent, ExportFile { name, size }))
}

fn v2_policy(e: &Value) -> Result<Policy, String> {
    let minutes = match field(e, "DurationInMinutes") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => return Err(format!("DurationInMinutes must be a number, not {other}")),
        None => return Err("an access policy needs DurationInMinutes".into()),
    }
    .filter(|m| m.is_finite())
    .ok_or("DurationInMinutes is not a number")?;
    if !(minutes > 0.0 && minutes.ceil() <= MAX_POLICY_MINUTES as f64) {
        return Err(format!("DurationInMinutes {minutes} is out of range (1..={MAX_POLICY_MINUTES})"));
    }
    let bits = integer(e, "Permissions")?.ok_or("an access policy needs Permissions")?;
    Ok(Policy {
        name: string(e, "Name")?.unwrap_or_default(),
        minutes: minutes.ceil() as u64,
        permissions: permissions_from_v2(bits)?,
    })
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

impl ExportLocator {
    /// The access policy of its terms (one a catalog may already hold, by id).
    pub fn policy(&self) -> AccessPolicy {
        AccessPolicy::for_terms(&self.policy_name, self.duration_minutes, self.permissions)
    }

    /// The record it becomes in a data center whose streams are served at `origin`, on `policy`.
    pub fn record(&self, origin: &str, policy: &AccessPolicy) -> Locator {
        Locator {
            id: self.id,
            locator_type: self.locator_type,
            asset_id: self.asset_id,
            policy_id: policy.id,
            start_time: self.start_time,
            expiration: self.expiration,
            path: format!("{}/{}/", origin.trim_end_matches('/'), self.id.guid()),
            delivery: self.delivery.clone(),
        }
    }

    /// Whether `existing` is this locator (same asset, type and times).
    pub fn matches(&self, existing: &Locator) -> bool {
        (existing.asset_id, existing.locator_type, existing.start_time, existing.expiration)
            == (self.asset_id, self.locator_type, self.start_time, self.expiration)
    }
}

/// Whether `existing` is the asset the export describes (same name, options, container).
pub fn same_asset_terms(existing: &Asset, exported: &Asset) -> bool {
    (&existing.name, existing.options, &existing.container) == (&exported.name, exported.options, &exported.container)
}

// Writing back: the v2 shape, for scripts written against Media Services.

/// An OData feed of `entity_set` (`Assets`, `Locators`, `AccessPolicies`).
pub fn v2_feed(entity_set: &str, values: Vec<Value>) -> Value {
    json!({
        "odata.metadata": format!("https://media.windows.net/api/$metadata#{entity_set}"),
        "value": values,
    })
}

/// An asset in the v2 shape, its files expanded (`$expand=Files`).
pub fn v2_asset_json(record: &AssetRecord) -> Value {
    let a = &record.asset;
    let files: Vec<Value> = record
        .files
        .iter()
        .map(|f| {
            json!({
                "Name": f.name,
                "ContentFileSize": f.size.to_string(),
                "ParentAssetId": a.id.to_string(),
                "IsPrimary": f.is_primary,
                "IsEncrypted": f.is_encrypted,
                "MimeType": f.mime_type,
            })
        })
        .collect();
    let mut o = Map::new();
    o.insert("Id".into(), json!(a.id.to_string()));
    o.insert("State".into(), json!(0));
    o.insert("Created".into(), json!(a.created.to_rfc3339()));
    o.insert("AlternateId".into(), json!(a.alternate_id));
    o.insert("Name".into(), json!(a.name));
    o.insert("Options".into(), json!(options_to_v2(a.options)));
    o.insert("FormatOption".into(), json!(0));
    o.insert("ContainerName".into(), json!(a.container));
    o.insert("Files".into(), Value::Array(files));
    Value::Object(o)
}

/// A locator in the v2 shape with its access policy expanded
/// (`$expand=AccessPolicy`). `path` is the locator's base URL, never a signature.
pub fn v2_locator_json(l: &Locator, policy: Option<&AccessPolicy>) -> Value {
    let mut o = Map::new();
    o.insert("Id".into(), json!(l.id.to_string()));
    o.insert("ExpirationDateTime".into(), json!(l.expiration.to_rfc3339()));
    o.insert("Type".into(), json!(locator_type_to_v2(l.locator_type)));
    o.insert("Path".into(), json!(crate::secret::redact_sas(&l.path)));
    o.insert("AccessPolicyId".into(), json!(l.policy_id.to_string()));
    o.insert("AssetId".into(), json!(l.asset_id.to_string()));
    o.insert("StartTime".into(), json!(l.start_time.map(|t| t.to_rfc3339())));
    if let Some(p) = policy {
        let mut policy = v2_policy_json(p);
        // The policy record is shared by every locator of equal terms; its name is the first's.
        // A locator with a streaming policy of its own keeps that name.
        if let Some(name) = &l.delivery.streaming_policy_name {
            policy["Name"] = json!(name);
        }
        o.insert("AccessPolicy".into(), policy);
    }
    if let Some(name) = &l.delivery.streaming_policy_name {
        o.insert("StreamingPolicyName".into(), json!(name));
    }
    if !l.delivery.content_key_ids.is_empty() {
        o.insert("ContentKeyIds".into(), json!(l.delivery.content_key_ids));
    }
    if !l.delivery.filters.is_empty() {
        o.insert("Filters".into(), json!(l.delivery.filters));
    }
    Value::Object(o)
}

pub fn v2_policy_json(p: &AccessPolicy) -> Value {
    json!({
        "Id": p.id.to_string(),
        "Name": p.name,
        "DurationInMinutes": p.duration_minutes as f64,
        "Permissions": permissions_to_v2(p.permissions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, text: &str) -> (String, Value) {
        (name.to_owned(), serde_json::from_str(text).unwrap())
    }

    fn v2() -> Vec<(String, Value)> {
        vec![
            doc("Assets.json", include_str!("../../../tests/data/ams/v2/Assets.json")),
            doc("AccessPolicies.json", include_str!("../../../tests/data/ams/v2/AccessPolicies.json")),
            doc("Locators.json", include_str!("../../../tests/data/ams/v2/Locators.json")),
        ]
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_v2_export_keeps_asset_and_locator_ids_and_skips_sas_locators() {
        let export = read_export(&v2()).unwrap();
        assert!(export.rejected.is_empty(), "{:?}", export.rejected);
        let ids: Vec<String> = export.assets.iter().map(|a| a.asset.id.to_string()).collect();
        assert_eq!(
            ids,
            ["nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e", "nb:cid:UUID:5d2c8a41-93b7-4f6e-a0c2-7e1b9f3d4a86"]
        );
        let sintel = &export.assets[1].asset;
        assert_eq!(sintel.options, AssetOptions::EnvelopeEncryptionProtected);
        assert_eq!(sintel.alternate_id.as_deref(), Some("catalogue-4411"));
        assert_eq!(sintel.created, Utc.timestamp_millis_opt(1_458_002_467_303).unwrap(), "/Date(ms)/ is read");
        assert_eq!(export.assets[0].asset.created, at("2016-03-14T09:21:07.303Z"), "a zone-less time is UTC");

        assert_eq!(export.locators.len(), 2);
        let bunny = export.locators.iter().find(|l| l.id.guid() == "7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
        assert_eq!(bunny.locator_type, LocatorType::OnDemandOrigin);
        assert_eq!(bunny.start_time, Some(at("2016-03-14T09:25:00Z")));
        assert_eq!(bunny.expiration, at("2116-03-14T09:25:00Z"));
        assert_eq!((bunny.duration_minutes, bunny.permissions), (52_560_000, Permissions::READ));
        let sintel_locator = export.locators.iter().find(|l| l.id.guid().starts_with("9d3b2e40")).unwrap();
        assert_eq!(sintel_locator.start_time, None);
        assert_eq!(sintel_locator.permissions, Permissions::READ | Permissions::LIST, "bits 9 = Read + List");

        assert_eq!(export.skipped.len(), 1, "the SAS locator is not carried over");
        let printed = serde_json::to_string(&export).unwrap();
        assert!(!printed.contains("sig="), "a SAS signature of the export never reaches a report: {printed}");
    }

    #[test]
    fn a_v3_export_maps_asset_names_to_ids_and_keeps_locator_ids() {
        let export = read_export(&[
            doc("assets.json", include_str!("../../../tests/data/ams/v3/assets.json")),
            doc("streaming-locators.json", include_str!("../../../tests/data/ams/v3/streaming-locators.json")),
        ])
        .unwrap();
        assert!(export.rejected.is_empty(), "{:?}", export.rejected);
        assert_eq!(export.assets.len(), 2);
        let tears = export.assets.iter().find(|a| a.asset.name == "tears-of-steel-encoded").unwrap();
        assert_eq!(tears.asset.container, "asset-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
        let l = export.locators.iter().find(|l| l.asset_id == tears.asset.id).unwrap();
        assert_eq!(l.id.guid(), "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f");
        assert_eq!(l.start_time, Some(at("2021-06-02T08:20:11.316Z")), "no startTime: from its creation");
        assert_eq!(l.expiration.format("%Y").to_string(), "9999");
        assert_eq!(l.policy_name, "Predefined_ClearStreamingOnly");
        assert!(l.permissions.is_read_only());
    }

    #[test]
    fn hostile_records_are_rejected_one_by_one_and_the_good_ones_kept() {
        let export =
            read_export(&[doc("x.json", include_str!("../../../tests/data/ams/hostile/export.json"))]).unwrap();
        let mut rejected: Vec<usize> =
            export.rejected.iter().map(|r| r.source.trim_start_matches("x.json#").parse::<usize>().unwrap()).collect();
        rejected.sort();
        assert_eq!(rejected, [0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24]);
        let reason = |i: usize| {
            export.rejected.iter().find(|r| r.source == format!("x.json#{i}")).map(|r| r.reason.clone()).unwrap()
        };
        for (i, needle) in [
            (0, "not a valid asset id"),
            (1, "container 'mirrorcast-catalog' is not asset-6e7f8a9b"),
            (2, "unknown asset Options 3"),
            (3, "duplicate id"),
            (7, "negative"),
            (8, "whole number"),
            (9, "out of range"),
            (10, "out of range"),
            (11, "unknown Permissions 16"),
            (14, "read-only access policy"),
            (15, "unknown locator Type 3"),
            (16, "not in this export"),
            (17, "invalid in this export"),
            (18, "not after start"),
            (19, "not a time"),
            (21, "not an asset"),
            (22, "is not asset-6c2de3f4"),
            (23, "invalid in this export"),
            (24, "'nobody' is not in this export"),
        ] {
            assert!(reason(i).contains(needle), "record {i}: '{}' lacks '{needle}'", reason(i));
        }
        assert_eq!(export.assets.len(), 1, "exact duplicates collapse into one");
        assert_eq!(export.assets[0].asset.name, "same twice");
        let locators: Vec<String> = export.locators.iter().map(|l| l.id.guid()).collect();
        assert_eq!(locators, ["5b1cd2e3-f4a5-4b67-9273-fab0c1d2e3f4"]);
    }

    #[test]
    fn v3_names_resolve_within_the_locators_account_and_ambiguity_is_refused() {
        let arm = |account: &str, kind: &str, name: &str| {
            format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Media/mediaservices/{account}/{kind}/{name}"
            )
        };
        let asset = |guid: &str, account: Option<&str>| {
            let mut a = json!({ "assetId": guid, "name": "movie" });
            if let Some(account) = account {
                a["id"] = json!(arm(account, "assets", "movie"));
            }
            a
        };
        let locator = |guid: &str, account: Option<&str>| {
            let mut l = json!({ "streamingLocatorId": guid, "assetName": "movie", "name": "l",
                                "created": "2021-01-01T00:00:00Z", "endTime": "2031-01-01T00:00:00Z" });
            if let Some(account) = account {
                l["id"] = json!(arm(account, "streamingLocators", "l"));
            }
            l
        };
        let (one, two) = ("8a9b0c1d-1111-4a7b-8c9d-0e1f2a3b4c5d", "8a9b0c1d-2222-4a7b-8c9d-0e1f2a3b4c5d");
        let read = |records: Value| read_export(&[("x".to_owned(), records)]).unwrap();

        // Each account's locator gets its own account's asset, whatever the order.
        let export = read(json!([
            asset(one, Some("ams1")),
            asset(two, Some("AMS2")),
            locator("9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2")),
            locator("9b0c1d2e-2222-4c9d-8e0f-2a3b4c5d6e7f", Some("ams1")),
        ]));
        assert!(export.rejected.is_empty(), "{:?}", export.rejected);
        let on = |guid: &str| export.locators.iter().find(|l| l.id.guid() == guid).unwrap().asset_id.guid();
        assert_eq!(
            (on("9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f"), on("9b0c1d2e-2222-4c9d-8e0f-2a3b4c5d6e7f")),
            (two.into(), one.into())
        );

        // No ARM id on the locator: two candidates are refused, one is taken.
        let export = read(json!([
            asset(one, Some("ams1")),
            asset(two, Some("ams2")),
            locator("9b0c1d2e-3333-4c9d-8e0f-2a3b4c5d6e7f", None)
        ]));
        assert!(export.locators.is_empty() && export.rejected[0].reason.contains("ambiguous"), "{:?}", export.rejected);
        let export = read(json!([asset(one, Some("ams1")), locator("9b0c1d2e-3333-4c9d-8e0f-2a3b4c5d6e7f", None)]));
        assert_eq!(export.locators.len(), 1, "{:?}", export.rejected);

        // An asset without an ARM id may be in any account: beside one of the locator's own, ambiguous.
        let export = read(json!([
            asset(one, None),
            asset(two, Some("ams2")),
            locator("9b0c1d2e-4444-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2"))
        ]));
        assert!(export.rejected.iter().any(|r| r.reason.contains("ambiguous")), "{:?}", export.rejected);

        // The name only in another account: refused, saying where it is.
        let export =
            read(json!([asset(one, Some("ams1")), locator("9b0c1d2e-5555-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2"))]));
        assert!(export.rejected[0].reason.contains("not in its account 'ams2'"), "{:?}", export.rejected);
    }

    #[test]
    fn times_that_overflow_or_leave_the_catalogs_range_are_refused_not_panicked_on() {
        let export =
            read_export(&[doc("o.json", include_str!("../../../tests/data/ams/hostile/overflow.json"))]).unwrap();
        assert_eq!(export.rejected.len(), 1, "{:?}", export.rejected);
        assert!(export.rejected[0].reason.contains("past any date"), "{:?}", export.rejected);
        assert_eq!(export.locators.len(), 1);
        let export =
            read_export(&[doc("b.json", include_str!("../../../tests/data/ams/hostile/bad-last-record.json"))])
                .unwrap();
        assert_eq!(export.assets.len(), 2);
        assert!(export.rejected[0].reason.contains("1990"), "{:?}", export.rejected);
    }

    #[test]
    fn records_written_in_the_v2_shape_read_back_the_same() {
        let export = read_export(&v2()).unwrap();
        let record = AssetRecord { asset: export.assets[1].asset.clone(), files: Vec::new() };
        let l = &export.locators[0];
        let policy = AccessPolicy::for_terms(&l.policy_name, l.duration_minutes, l.permissions);
        let locator = Locator {
            id: l.id,
            locator_type: l.locator_type,
            asset_id: l.asset_id,
            policy_id: policy.id,
            start_time: l.start_time,
            expiration: l.expiration,
            path: format!("/{}/", l.id.guid()),
            delivery: Default::default(),
        };
        let written = [
            ("a".to_owned(), v2_feed("Assets", vec![v2_asset_json(&record)])),
            ("l".to_owned(), v2_feed("Locators", vec![v2_locator_json(&locator, Some(&policy))])),
        ];
        let again = read_export(&written).unwrap();
        assert!(again.rejected.is_empty(), "{:?}", again.rejected);
        assert_eq!(again.assets[0].asset, record.asset);
        assert!(again.locators[0].matches(&locator));
        assert_eq!(again.locators[0].permissions, l.permissions);
    }

    #[test]
    fn numeric_enums_map_both_ways() {
        for bits in 1..=15 {
            assert_eq!(permissions_to_v2(permissions_from_v2(bits).unwrap()) as i64, bits);
        }
        assert!(
            permissions_from_v2(0).is_err() && permissions_from_v2(-1).is_err() && permissions_from_v2(16).is_err()
        );
        for n in [0, 1, 2, 4] {
            assert_eq!(options_to_v2(options_from_number(n).unwrap()) as i64, n);
        }
        assert!(options_from_v2(&json!(8)).is_err() && options_from_v2(&json!(-1)).is_err());
        assert_eq!(options_from_v2(&json!("StorageEncrypted")).unwrap(), AssetOptions::StorageEncrypted);
        assert_eq!(locator_type_to_v2(locator_type_from_v2(2).unwrap()), 2);
        assert!(locator_type_from_v2(0).is_err());
    }
}
