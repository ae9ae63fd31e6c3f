//! Filters from a v3 export: what `az ams asset-filter list` and `az ams account-filter list`
//! print (a JSON array), or the ARM REST list (`{"value": […]}`), or one filter. Each filter
//! is read and checked on its own ([`Filter::from_value`]): a bad one is a rejection naming
//! its field, never the end of the others. Whose filter it is comes from its ARM id
//! (`…/assets/<name>/assetFilters/<filter>` or `…/accountFilters/<filter>`). Pure.

use serde_json::Value;

use crate::error::{Error, Result};
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
