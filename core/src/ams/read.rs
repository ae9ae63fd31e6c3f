//! Each entity of an export parsed into what resolution needs, or refused with
//! a reason: its shape (v2 asset, file, access policy, locator; v3 asset,
//! streaming locator) told from its fields, then its fields checked.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::arm::{self, Account, Accounts};
use super::codes::{delivery_policy_type, options_from_v2, options_from_v3};
use super::fields::{content_key_ids, field, integer, string, strings, take_key, text_id, time};
use super::filters::{filter_version, v2_filter, v3_filter, RawFilter};
use super::{ExportFile, MAX_POLICY_MINUTES};
use crate::delivery::Delivery;
use crate::id::{AssetId, LocatorId, PolicyId};
use crate::model::codes::{locator_type_from_code, permissions_from_bits};
use crate::model::{Asset, LocatorType, Permissions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    V2Asset,
    V2File,
    V2Policy,
    V2Locator,
    V3Asset,
    V3Locator,
    V2Filter,
    V3Filter,
}

fn classify(e: &Value) -> Option<Shape> {
    let o = e.as_object()?;
    let props = o.get("properties").and_then(Value::as_object);
    let has = |k: &str| o.contains_key(k) || props.is_some_and(|p| p.contains_key(k));
    let arm_type = o.get("type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    // Before files: a v2 AssetFilter has a ParentAssetId too.
    match filter_version(o, &arm_type) {
        Some(3) => return Some(Shape::V3Filter),
        Some(_) => return Some(Shape::V2Filter),
        None => {}
    }
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
pub(super) struct Policy {
    pub(super) name: String,
    pub(super) minutes: u64,
    pub(super) permissions: Permissions,
}

/// Why a record is refused, with the id it gave, if any.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) id: Option<String>,
    pub(super) reason: String,
}

impl Refusal {
    fn of<'a>(e: &'a Value, id_key: &'a str) -> impl FnOnce(String) -> Refusal + 'a {
        move |reason| Refusal { id: text_id(e, id_key), reason }
    }
}

/// A v2 locator as the export states it; its expiry may come from its policy.
#[derive(Debug)]
pub(super) struct V2Locator {
    pub(super) id: LocatorId,
    pub(super) locator_type: LocatorType,
    pub(super) asset_id: AssetId,
    pub(super) policy_id: PolicyId,
    pub(super) start_time: Result<Option<DateTime<Utc>>, String>,
    pub(super) expiration: Result<Option<DateTime<Utc>>, String>,
}

impl V2Locator {
    fn parse(e: &Value) -> Result<Self, String> {
        let id = LocatorId::parse(&string(e, "Id")?.ok_or("a locator needs an Id")?).map_err(|e| e.to_string())?;
        let locator_type = locator_type_from_code(integer(e, "Type")?.ok_or("a locator needs a Type")?)?;
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
pub(super) struct V3Locator {
    pub(super) id: LocatorId,
    pub(super) asset_name: String,
    /// The account its ARM `id` names (an index into [`Raw::accounts`]).
    pub(super) account: Option<usize>,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    pub(super) streaming_policy_name: String,
    /// Its streaming policy, content key ids, default content key policy and filters.
    pub(super) delivery: Delivery,
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
pub(super) struct V3Asset {
    pub(super) name: String,
    pub(super) account: Option<usize>,
    pub(super) asset: Result<Asset, Refusal>,
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

/// The export's records as read: each parsed into what resolution needs.
#[derive(Debug, Default)]
pub(super) struct Raw {
    pub(super) accounts: Accounts,
    pub(super) unknown: Vec<(String, Option<String>)>,
    pub(super) assets: Vec<Parsed<Asset>>,
    pub(super) files: Vec<Parsed<(AssetId, ExportFile)>>,
    pub(super) policies: Vec<Parsed<(PolicyId, Result<Policy, String>)>>,
    pub(super) locators: Vec<Parsed<V2Locator>>,
    /// v2 assets' content keys and delivery policies (`$expand`ed into the asset), which
    /// every locator of the asset inherits.
    pub(super) v2_protection: BTreeMap<AssetId, Delivery>,
    /// The ids (`nb:adpid:UUID:…`) of v2 assets' delivery policies, when every one has an id:
    /// what binds the asset's locators to the streaming policies made of them.
    pub(super) v2_delivery_policy_ids: BTreeMap<AssetId, Vec<uuid::Uuid>>,
    pub(super) v3_assets: Vec<(String, V3Asset)>,
    pub(super) v3_locators: Vec<Parsed<V3Locator>>,
    /// Filters of both versions, their owners to resolve.
    pub(super) filters: Vec<Parsed<RawFilter>>,
}

/// A record's place in the export, and what was read of it.
pub(super) type Parsed<T> = (String, Result<T, Refusal>);

impl Raw {
    /// Takes one entity of a document; whether it looks like an export record.
    pub(super) fn take(&mut self, source: String, mut e: Value) -> bool {
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
                    let (delivery, policy_ids) = v2_protection(&mut e)?;
                    if !delivery.is_default() {
                        self.v2_protection.insert(asset.id, delivery);
                    }
                    if let Some(ids) = policy_ids.filter(|ids| !ids.is_empty()) {
                        self.v2_delivery_policy_ids.insert(asset.id, ids);
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
            Shape::V2Filter | Shape::V3Filter => {
                let read = if shape == Shape::V2Filter { v2_filter(&e) } else { v3_filter(&e, &mut self.accounts) };
                let id = text_id(&e, "name").or_else(|| text_id(&e, "Name"));
                self.filters.push((source, read.map_err(|reason| Refusal { id, reason })));
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
/// and counts as protected. With them the policies' ids, when each has one.
fn v2_protection(e: &mut Value) -> Result<(Delivery, Option<Vec<uuid::Uuid>>), String> {
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
    let mut policy_ids = Some(Vec::new());
    for policy in list(e, "DeliveryPolicies")? {
        let id = policy.get("Id").and_then(Value::as_str).and_then(|id| v2_guid(id, "nb:adpid:uuid:"));
        match (id, policy_ids.as_mut()) {
            (Some(id), Some(ids)) => ids.push(id),
            _ => policy_ids = None,
        }
        let kind = policy
            .get("AssetDeliveryPolicyType")
            .and_then(delivery_policy_type)
            .ok_or("each of DeliveryPolicies needs an AssetDeliveryPolicyType")?;
        delivery.delivery_policy_types.push(kind);
    }
    delivery.validate().map_err(|e| e.message().to_owned())?;
    Ok((delivery, policy_ids))
}

/// The UUID of a v2 id `<prefix><uuid>` (the prefix compared without case).
pub(super) fn v2_guid(id: &str, prefix: &str) -> Option<uuid::Uuid> {
    let rest =
        id.get(prefix.len()..).filter(|_| id.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)))?;
    uuid::Uuid::parse_str(rest).ok()
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
    let options = options_from_v3(string(e, "storageEncryptionFormat")?.as_deref())?;
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
        permissions: permissions_from_bits(bits)?,
    })
}
