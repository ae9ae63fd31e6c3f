//! Filters from a v3 export: what `az ams asset-filter list` and `az ams account-filter list`
//! print (a JSON array), or the ARM REST list (`{"value": […]}`), or one filter. Each filter
//! is read and checked on its own ([`Filter::from_value`]): a bad one is a rejection naming
//! its field, never the end of the others. Whose filter it is comes from its ARM id
//! (`…/assets/<name>/assetFilters/<filter>` or `…/accountFilters/<filter>`). Pure.
//!
//! In a full export (`mirrorcast import`) filters are entities among the others: v3 ones as
//! above, v2 `Filters` and `AssetFilters` (PascalCase, `PropertyConditions` with `Operator`,
//! Int64 as text, OData's `__metadata` and `results` wrappers) read into the v3 shape first,
//! so both pass the one set of checks `filter create` makes.

use serde_json::{Map, Value};

use super::arm::{self, Accounts};
use super::fields::string;
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::model::filter::Filter;

/// Whose filter an exported one is, as its ARM id says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOwner {
    /// An asset filter of the v3 asset of this name.
    Asset(String),
    /// An account filter.
    Account,
    /// The export gives no ARM id (or one of neither shape).
    Unknown,
}

/// One filter of an export: whose, and the filter or why it is refused.
#[derive(Debug)]
pub struct ExportFilter {
    /// Its name as the export gives it (or its place in the list), for the report.
    pub label: String,
    /// Whose filter it is.
    pub owner: FilterOwner,
    /// The filter, checked, or why it is refused.
    pub filter: Result<Filter>,
}

fn owner_of(id: Option<&str>) -> FilterOwner {
    let Some(id) = id else { return FilterOwner::Unknown };
    let parts: Vec<&str> = id.split('/').collect();
    let at = |name: &str| parts.iter().position(|p| p.eq_ignore_ascii_case(name));
    if let (Some(assets), Some(_)) = (at("assets"), at("assetFilters")) {
        if let Some(name) = parts.get(assets + 1).filter(|n| !n.is_empty()) {
            return FilterOwner::Asset((*name).to_owned());
        }
    }
    if at("accountFilters").is_some() {
        return FilterOwner::Account;
    }
    FilterOwner::Unknown
}

/// Every filter of an export document, each read or refused on its own.
pub fn read_filter_export(text: &str) -> Result<Vec<ExportFilter>> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| Error::invalid_input(format!("a filter export is not JSON: {e}")))?;
    let items: Vec<&Value> = match &doc {
        Value::Array(list) => list.iter().collect(),
        Value::Object(o) => match o.get("value") {
            Some(Value::Array(list)) => list.iter().collect(),
            _ => vec![&doc],
        },
        _ => return Err(Error::invalid_input("a filter export is neither a list nor a filter")),
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item.get("name").and_then(Value::as_str);
            let label = name.map_or_else(|| format!("filter #{}", i + 1), |n| n.chars().take(128).collect());
            let owner = owner_of(item.get("id").and_then(Value::as_str));
            ExportFilter { label, owner, filter: Filter::from_value(item, None) }
        })
        .collect())
}

/// Whose filter an export entity is, as read: a v3 asset is named, resolved with the others.
#[derive(Debug)]
pub(super) enum RawOwner {
    /// An account filter: the data center's.
    Account,
    /// A v2 asset filter's `ParentAssetId`.
    V2Asset(AssetId),
    /// A v3 asset filter: its asset's name in the account of its ARM id.
    V3Asset { name: String, account: usize },
}

/// A filter entity of a full export, read and checked; its owner still to resolve.
#[derive(Debug)]
pub(super) struct RawFilter {
    pub(super) owner: RawOwner,
    pub(super) filter: Filter,
}

/// Whether an entity is a filter, and of which version: v3 by its ARM type or its camelCase
/// fields, v2 by its PascalCase ones.
pub(super) fn filter_version(o: &Map<String, Value>, arm_type: &str) -> Option<u8> {
    let props = o.get("properties").and_then(Value::as_object);
    let has = |k: &str| o.contains_key(k) || props.is_some_and(|p| p.contains_key(k));
    if arm_type.ends_with("/assetfilters")
        || arm_type.ends_with("/accountfilters")
        || ["presentationTimeRange", "firstQuality", "tracks"].iter().any(|k| has(k))
    {
        return Some(3);
    }
    ["PresentationTimeRange", "FirstQuality", "Tracks"].iter().any(|k| o.contains_key(*k)).then_some(2)
}

/// A v3 filter entity: checked, its owner from its ARM id (an asset filter without one is
/// refused: which asset it belongs to is not guessed).
pub(super) fn v3_filter(e: &Value, accounts: &mut Accounts) -> std::result::Result<RawFilter, String> {
    let filter = Filter::from_value(e, None).map_err(|e| e.to_string())?;
    let arm_type = string(e, "type")?.unwrap_or_default().to_ascii_lowercase();
    let owner = match string(e, "id")? {
        Some(id) => arm_owner(&id, &filter.name, accounts)?,
        None if arm_type.ends_with("/accountfilters") => RawOwner::Account,
        None => {
            return Err("a v3 filter needs its ARM id (…/assets/<asset>/assetFilters/<name> or \
                        …/accountFilters/<name>): whose filter it is is not guessed"
                .into())
        }
    };
    Ok(RawFilter { owner, filter })
}

/// The owner an asset filter's or account filter's ARM id names; it must name `filter` too.
fn arm_owner(id: &str, filter: &str, accounts: &mut Accounts) -> std::result::Result<RawOwner, String> {
    let bad = || {
        format!(
            "id '{}' is not the ARM id of an asset filter (/subscriptions/…/mediaservices/<account>/assets/<asset>/\
             assetFilters/<name>) or an account filter (…/mediaservices/<account>/accountFilters/<name>)",
            id.chars().take(300).collect::<String>()
        )
    };
    let parts: Vec<&str> = id.trim().split('/').collect();
    let (resource, kind, name) = match parts.len() {
        13 => (parts[..11].join("/"), parts[11], parts[12]),
        11 => (id.trim().to_owned(), parts[9], parts[10]),
        _ => return Err(bad()),
    };
    if !name.eq_ignore_ascii_case(filter) {
        return Err(format!("id '{id}' names filter '{name}', not '{filter}'"));
    }
    let arm = arm::parse(&resource).ok_or_else(bad)?;
    match (parts.len(), kind) {
        (13, k) if k.eq_ignore_ascii_case("assetFilters") && arm.kind.eq_ignore_ascii_case("assets") => {
            Ok(RawOwner::V3Asset { name: arm.name, account: accounts.index(arm.account) })
        }
        (11, k) if k.eq_ignore_ascii_case("accountFilters") => Ok(RawOwner::Account),
        _ => Err(bad()),
    }
}

/// A v2 `Filter` (account) or `AssetFilter` (with its `ParentAssetId`), read into the v3
/// shape and checked as a v3 one.
pub(super) fn v2_filter(e: &Value) -> std::result::Result<RawFilter, String> {
    let owner = match string(e, "ParentAssetId")? {
        Some(parent) => RawOwner::V2Asset(AssetId::parse(&parent).map_err(|e| e.to_string())?),
        None => RawOwner::Account,
    };
    let mut v3 = v2_as_v3(e);
    if let Some(o) = v3.as_object_mut() {
        // The v2 ids: the filter's own (the platform's) and its asset's, read above.
        o.remove("id");
        o.remove("parentAssetId");
    }
    let filter = Filter::from_value(&v3, None).map_err(|e| e.to_string())?;
    Ok(RawFilter { owner, filter })
}

/// v2 JSON in the v3 shape: keys in camelCase (`PropertyConditions` → `trackSelections`,
/// `Operator` → `operation`), OData's `__metadata` / `odata.*` annotations dropped and its
/// `{"results": […]}` lists unwrapped. Any other key is kept, so the v3 checks name it.
fn v2_as_v3(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(v2_as_v3).collect()),
        Value::Object(o) => {
            if let (Some(Value::Array(items)), true) =
                (o.get("results"), o.keys().all(|k| k == "results" || k == "__metadata"))
            {
                return Value::Array(items.iter().map(v2_as_v3).collect());
            }
            let renamed = o.iter().filter(|(k, _)| !k.starts_with("__") && !k.starts_with("odata.")).map(|(k, v)| {
                let key = match k.as_str() {
                    "PropertyConditions" => "trackSelections".to_owned(),
                    "Operator" => "operation".to_owned(),
                    other => {
                        let mut c = other.chars();
                        c.next().map_or_else(String::new, |f| f.to_ascii_lowercase().to_string() + c.as_str())
                    }
                };
                (key, v2_as_v3(v))
            });
            Value::Object(renamed.collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_az_list_is_read_filter_by_filter_with_each_bad_one_refused_alone() {
        let export = r#"[
          {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Media/mediaservices/ams/assets/Clip-in/assetFilters/mid",
           "name": "mid", "type": "Microsoft.Media/mediaservices/assets/assetFilters", "resourceGroup": "g",
           "presentationTimeRange": {"startTimestamp": 20000000, "endTimestamp": 40000000, "timescale": 10000000}},
          {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Media/mediaservices/ams/accountFilters/bad",
           "name": "bad", "presentationTimeRange": {"startTimestamp": 4, "endTimestamp": 2}},
          {"name": "bare", "firstQuality": {"bitrate": 1}}
        ]"#;
        let read = read_filter_export(export).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].owner, FilterOwner::Asset("Clip-in".into()));
        assert_eq!(read[0].filter.as_ref().unwrap().name, "mid");
        assert_eq!(read[1].owner, FilterOwner::Account);
        assert!(read[1].filter.as_ref().unwrap_err().to_string().contains("endTimestamp"));
        assert_eq!(read[2].owner, FilterOwner::Unknown);
        assert!(read[2].filter.is_ok());
        let arm = r#"{"value": [{"name": "x", "properties": {"firstQuality": {"bitrate": 2}}}]}"#;
        assert_eq!(read_filter_export(arm).unwrap()[0].filter.as_ref().unwrap().first_quality.unwrap().bitrate, 2);
        assert!(read_filter_export("3").is_err() && read_filter_export("{").is_err());
    }
}
