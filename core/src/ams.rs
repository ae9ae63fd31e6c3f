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
//! Pure: no I/O. Every record that cannot be taken is rejected with a reason;
//! the rest are returned for the caller to write.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::catalog::AssetRecord;
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::model::{AccessPolicy, Asset, AssetOptions, Locator, LocatorType, Permissions};

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

/// The records of one or more documents (file name, parsed JSON).
pub fn read_export(documents: &[(String, Value)]) -> Export {
    let mut raw = Raw::default();
    for (name, doc) in documents {
        for (i, entity) in entities(doc).into_iter().enumerate() {
            raw.classify(format!("{name}#{i}"), entity);
        }
    }
    raw.resolve()
}

/// Whether a document holds anything that looks like an export record.
pub fn looks_like_export(doc: &Value) -> bool {
    entities(doc).iter().any(|e| classify(e).is_some())
}

/// The entities of a document: an OData feed, a bare array or one object.
fn entities(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) => {
            if let Some(Value::Array(items)) = o.get("value") {
                items.iter().collect()
            } else if let Some(d) = o.get("d") {
                match d.get("results") {
                    Some(Value::Array(items)) => items.iter().collect(),
                    _ => vec![d],
                }
            } else {
                vec![doc]
            }
        }
        _ => Vec::new(),
    }
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

#[derive(Default)]
struct Raw<'a> {
    assets: Vec<(String, &'a Value)>,
    files: Vec<(String, &'a Value)>,
    policies: Vec<(String, &'a Value)>,
    locators: Vec<(String, &'a Value)>,
    v3_assets: Vec<(String, &'a Value)>,
    v3_locators: Vec<(String, &'a Value)>,
    unknown: Vec<(String, &'a Value)>,
}

impl<'a> Raw<'a> {
    fn classify(&mut self, source: String, e: &'a Value) {
        match classify(e) {
            Some(Shape::V2Asset) => {
                // `$expand=Files,Locators` nests them in the asset.
                for (key, i) in [("Files", 0), ("Locators", 1)] {
                    if let Some(Value::Array(nested)) = e.get(key) {
                        for (j, n) in nested.iter().enumerate() {
                            let s = format!("{source}/{key}#{j}");
                            if i == 0 {
                                self.files.push((s, n));
                            } else {
                                self.classify(s, n);
                            }
                        }
                    }
                }
                self.assets.push((source, e));
            }
            Some(Shape::V2File) => self.files.push((source, e)),
            Some(Shape::V2Policy) => self.policies.push((source, e)),
            Some(Shape::V2Locator) => {
                if let Some(p @ Value::Object(_)) = e.get("AccessPolicy") {
                    self.policies.push((format!("{source}/AccessPolicy"), p));
                }
                self.locators.push((source, e));
            }
            Some(Shape::V3Asset) => self.v3_assets.push((source, e)),
            Some(Shape::V3Locator) => self.v3_locators.push((source, e)),
            None => self.unknown.push((source, e)),
        }
    }

    fn resolve(self) -> Export {
        let mut out = Export::default();
        let reject = |out: &mut Export, source: &str, kind, id: Option<String>, reason: String| {
            out.rejected.push(Rejected { source: source.to_owned(), kind, id, reason })
        };
        for (source, e) in &self.unknown {
            let id = field(e, "Id").or_else(|| field(e, "id")).and_then(Value::as_str).map(str::to_owned);
            reject(
                &mut out,
                source,
                RecordKind::Unknown,
                id,
                "not an asset, file, access policy or locator record".into(),
            );
        }

        // Assets, v2 and v3; names of v3 assets for their locators.
        let mut assets: Vec<ExportAsset> = Vec::new();
        let mut v3_names: BTreeMap<String, Result<AssetId, String>> = BTreeMap::new();
        for (source, e) in &self.assets {
            match v2_asset(e) {
                Ok(asset) => assets.push(ExportAsset { source: source.clone(), asset, files: Vec::new() }),
                Err(reason) => reject(&mut out, source, RecordKind::Asset, text_id(e, "Id"), reason),
            }
        }
        for (source, e) in &self.v3_assets {
            let name = field(e, "name").and_then(Value::as_str).unwrap_or("").to_owned();
            match v3_asset(e) {
                Ok(asset) => {
                    if !name.is_empty() {
                        v3_names.insert(name, Ok(asset.id));
                    }
                    assets.push(ExportAsset { source: source.clone(), asset, files: Vec::new() });
                }
                Err(reason) => {
                    if !name.is_empty() {
                        v3_names.insert(name.clone(), Err(format!("asset '{name}' is invalid in this export")));
                    }
                    reject(&mut out, source, RecordKind::Asset, text_id(e, "assetId").or(Some(name)), reason)
                }
            }
        }
        let (assets, bad_assets) = dedupe(assets, |a| a.asset.id, |a| &a.source, |x, y| same_asset(&x.asset, &y.asset));
        for (source, id, reason) in bad_assets {
            reject(&mut out, &source, RecordKind::Asset, Some(id.to_string()), reason);
        }
        let mut by_id: BTreeMap<AssetId, ExportAsset> = assets.into_iter().map(|a| (a.asset.id, a)).collect();
        let invalid_asset = |id: &AssetId, rejected: &[Rejected]| {
            rejected.iter().any(|r| r.kind == RecordKind::Asset && r.id.as_deref() == Some(&id.to_string()))
        };

        // Files attach to their asset in this export.
        for (source, e) in &self.files {
            match v2_file(e) {
                Ok((parent, file)) => match by_id.get_mut(&parent) {
                    Some(a) => {
                        if !a.files.iter().any(|f| f.name == file.name) {
                            a.files.push(file);
                        }
                    }
                    None => reject(
                        &mut out,
                        source,
                        RecordKind::File,
                        text_id(e, "Id"),
                        format!("file '{}' of asset {parent}, which is not a valid asset of this export", file.name),
                    ),
                },
                Err(reason) => reject(&mut out, source, RecordKind::File, text_id(e, "Id"), reason),
            }
        }

        // Access policies by their export ids.
        let mut policies: BTreeMap<PolicyId, Result<Policy, String>> = BTreeMap::new();
        for (source, e) in &self.policies {
            let id = match text_id(e, "Id").map(|t| PolicyId::parse(&t)) {
                Some(Ok(id)) => id,
                Some(Err(err)) => {
                    reject(&mut out, source, RecordKind::AccessPolicy, text_id(e, "Id"), err.to_string());
                    continue;
                }
                None => {
                    reject(&mut out, source, RecordKind::AccessPolicy, None, "an access policy needs an Id".into());
                    continue;
                }
            };
            let parsed = v2_policy(e);
            if let Err(reason) = &parsed {
                reject(&mut out, source, RecordKind::AccessPolicy, Some(id.to_string()), reason.clone());
            }
            let entry = policies.entry(id).or_insert_with(|| parsed.clone());
            if let (Ok(a), Ok(b)) = (&*entry, &parsed) {
                if (a.minutes, a.permissions) != (b.minutes, b.permissions) {
                    let reason = format!("duplicate access policy id {id} with other terms");
                    reject(&mut out, source, RecordKind::AccessPolicy, Some(id.to_string()), reason.clone());
                    *entry = Err(reason);
                }
            }
        }

        // Locators, v2 and v3.
        let mut locators = Vec::new();
        for (source, e) in &self.locators {
            match v2_locator(e, &policies) {
                Ok(Some(l)) => locators.push(ExportLocator { source: source.clone(), ..l }),
                Ok(None) => out.skipped.push(Rejected {
                    source: source.clone(),
                    kind: RecordKind::Locator,
                    id: text_id(e, "Id"),
                    reason: "SAS locator: not carried over (its signature belongs to the old account)".into(),
                }),
                Err(reason) => reject(&mut out, source, RecordKind::Locator, text_id(e, "Id"), reason),
            }
        }
        for (source, e) in &self.v3_locators {
            match v3_locator(e, &v3_names) {
                Ok(l) => locators.push(ExportLocator { source: source.clone(), ..l }),
                Err(reason) => reject(
                    &mut out,
                    source,
                    RecordKind::Locator,
                    text_id(e, "streamingLocatorId").or_else(|| text_id(e, "name")),
                    reason,
                ),
            }
        }
        let (locators, bad_locators) = dedupe(locators, |l| l.id, |l| &l.source, same_locator);
        for (source, id, reason) in bad_locators {
            reject(&mut out, &source, RecordKind::Locator, Some(id.to_string()), reason);
        }
        for l in locators {
            if invalid_asset(&l.asset_id, &out.rejected) {
                let reason = format!("its asset {} is invalid in this export", l.asset_id);
                reject(&mut out, &l.source, RecordKind::Locator, Some(l.id.to_string()), reason);
            } else {
                out.locators.push(l);
            }
        }
        out.assets = by_id.into_values().collect();
        out.assets.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

/// Keeps one of each id: exact duplicates collapse, duplicates with other
/// terms are all rejected (which one is right cannot be known).
fn dedupe<T, K: Ord + Copy + std::fmt::Display>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    source: impl Fn(&T) -> &String,
    same: impl Fn(&T, &T) -> bool,
) -> (Vec<T>, Vec<(String, K, String)>) {
    let mut groups: BTreeMap<K, Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    let mut kept = Vec::new();
    let mut bad = Vec::new();
    for (k, mut group) in groups {
        if group.iter().all(|x| same(x, &group[0])) {
            kept.push(group.swap_remove(0));
        } else {
            let places: Vec<&str> = group.iter().map(|x| source(x).as_str()).collect();
            let reason = format!("duplicate id {k} with other terms (at {})", places.join(", "));
            bad.extend(group.iter().map(|x| (source(x).clone(), k, reason.clone())));
        }
    }
    (kept, bad)
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
    if !(1..=15).contains(&bits) {
        return Err(format!("unknown Permissions {bits}: expected a sum of Read 1, Write 2, Delete 4, List 8"));
    }
    let mut p = Permissions::NONE;
    for (bit, perm) in
        [(1, Permissions::READ), (2, Permissions::WRITE), (4, Permissions::DELETE), (8, Permissions::LIST)]
    {
        if bits & bit != 0 {
            p = p | perm;
        }
    }
    Ok(p)
}

/// mirrorcast's permissions as v2 bits; add and create count as Write.
pub fn permissions_to_v2(p: Permissions) -> u8 {
    let mut bits = 0;
    if p.contains(Permissions::READ) {
        bits |= 1;
    }
    if p.contains(Permissions::WRITE) || p.contains(Permissions::ADD) || p.contains(Permissions::CREATE) {
        bits |= 2;
    }
    if p.contains(Permissions::DELETE) {
        bits |= 4;
    }
    if p.contains(Permissions::LIST) {
        bits |= 8;
    }
    bits
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
    Ok(Asset {
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
    Ok(Asset {
        id,
        name: string(e, "name")?.unwrap_or_default(),
        options,
        container,
        alternate_id: string(e, "alternateId")?.filter(|s| !s.is_empty()),
        created: time(e, "created")?.unwrap_or_else(Utc::now),
    })
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
    e: &Value,
    policies: &BTreeMap<PolicyId, Result<Policy, String>>,
) -> Result<Option<ExportLocator>, String> {
    let id = LocatorId::parse(&string(e, "Id")?.ok_or("a locator needs an Id")?).map_err(|e| e.to_string())?;
    let locator_type = locator_type_from_v2(integer(e, "Type")?.ok_or("a locator needs a Type")?)?;
    let asset_id =
        AssetId::parse(&string(e, "AssetId")?.ok_or("a locator needs an AssetId")?).map_err(|e| e.to_string())?;
    let policy_id = PolicyId::parse(&string(e, "AccessPolicyId")?.ok_or("a locator needs an AccessPolicyId")?)
        .map_err(|e| e.to_string())?;
    let policy = match policies.get(&policy_id) {
        Some(Ok(p)) => p.clone(),
        Some(Err(_)) => return Err(format!("its access policy {policy_id} is invalid in this export")),
        None => return Err(format!("its access policy {policy_id} is not in this export")),
    };
    if locator_type == LocatorType::Sas {
        return Ok(None);
    }
    if !policy.permissions.is_read_only() {
        return Err(format!(
            "an origin locator needs a read-only access policy; {policy_id} grants '{}'",
            policy.permissions
        ));
    }
    let start_time = time(e, "StartTime")?;
    let expiration = match time(e, "ExpirationDateTime")? {
        Some(t) => t,
        None => {
            start_time.ok_or("a locator needs an ExpirationDateTime or a StartTime")?
                + Duration::minutes(policy.minutes as i64)
        }
    };
    if start_time.is_some_and(|s| expiration <= s) {
        return Err(format!("expiry {expiration} is not after start {}", start_time.unwrap_or_default()));
    }
    Ok(Some(ExportLocator {
        source: String::new(),
        id,
        asset_id,
        locator_type,
        start_time,
        expiration,
        policy_name: if policy.name.is_empty() { "Streaming policy".into() } else { policy.name },
        duration_minutes: policy.minutes,
        permissions: policy.permissions,
    }))
}

fn v3_locator(e: &Value, assets: &BTreeMap<String, Result<AssetId, String>>) -> Result<ExportLocator, String> {
    let id =
        LocatorId::parse(&string(e, "streamingLocatorId")?.ok_or("a streaming locator needs a streamingLocatorId")?)
            .map_err(|e| e.to_string())?;
    let asset_name = string(e, "assetName")?.ok_or("a streaming locator needs an assetName")?;
    let asset_id = match assets.get(&asset_name) {
        Some(Ok(id)) => *id,
        Some(Err(reason)) => return Err(reason.clone()),
        None => return Err(format!("its asset '{asset_name}' is not in this export")),
    };
    let start_time = time(e, "startTime")?.or(time(e, "created")?);
    let expiration = time(e, "endTime")?.ok_or("a streaming locator needs an endTime")?;
    let start = start_time.ok_or("a streaming locator needs a startTime or created")?;
    if expiration <= start {
        return Err(format!("endTime {expiration} is not after startTime {start}"));
    }
    let policy = string(e, "streamingPolicyName")?.unwrap_or_else(|| "Predefined_ClearStreamingOnly".into());
    Ok(ExportLocator {
        source: String::new(),
        id,
        asset_id,
        locator_type: LocatorType::OnDemandOrigin,
        start_time: Some(start),
        expiration,
        policy_name: policy,
        duration_minutes: (expiration - start).num_minutes().max(1) as u64,
        permissions: Permissions::READ,
    })
}

impl ExportLocator {
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
        o.insert("AccessPolicy".into(), v2_policy_json(p));
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
            doc("Assets.json", include_str!("../../tests/data/ams/v2/Assets.json")),
            doc("AccessPolicies.json", include_str!("../../tests/data/ams/v2/AccessPolicies.json")),
            doc("Locators.json", include_str!("../../tests/data/ams/v2/Locators.json")),
        ]
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_v2_export_keeps_asset_and_locator_ids_and_skips_sas_locators() {
        let export = read_export(&v2());
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
            doc("assets.json", include_str!("../../tests/data/ams/v3/assets.json")),
            doc("streaming-locators.json", include_str!("../../tests/data/ams/v3/streaming-locators.json")),
        ]);
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
        let export = read_export(&[doc("x.json", include_str!("../../tests/data/ams/hostile/export.json"))]);
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
    fn records_written_in_the_v2_shape_read_back_the_same() {
        let export = read_export(&v2());
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
        let again = read_export(&written);
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
