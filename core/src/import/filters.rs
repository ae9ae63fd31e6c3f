//! The filters of an export planned and written: an asset filter onto its asset (imported
//! now or already in the data center), an account filter onto the data center; a filter
//! the data center has alike exists, one it has otherwise is a conflict, left as it is.
//! A locator is written only when every filter it binds will mean a filter.

use std::collections::{BTreeMap, BTreeSet};

use super::{ImportAction, ImportLine, Note, RecordId};
use crate::ams::{ExportLocator, ExportedFilter, RecordKind};
use crate::catalog::filters::FilterScope;
use crate::catalog::index::Index;
use crate::catalog::Catalog;
use crate::error::{ErrorKind, Result};
use crate::id::AssetId;
use crate::model::filter::Filter;

/// The filters to write, and every filter (scope, lower-case name) the data center will hold.
#[derive(Default)]
pub(super) struct FilterPlan<'a> {
    pub(super) new: Vec<&'a ExportedFilter>,
    known: BTreeSet<(FilterScope, String)>,
}

fn scope(f: &ExportedFilter) -> FilterScope {
    f.asset.map_or(FilterScope::Account, FilterScope::Asset)
}

pub(super) fn filter_line<'a>(f: &'a ExportedFilter, action: ImportAction, message: Option<String>) -> ImportLine<'a> {
    ImportLine {
        kind: RecordKind::Filter,
        id: Some(RecordId::Text(&f.filter.name)),
        action,
        source: &f.source,
        message: message.map(Note::Text),
    }
}

fn compare<'a>(existing: &Filter, f: &'a ExportedFilter) -> ImportLine<'a> {
    if existing.same_as(&f.filter) {
        filter_line(f, ImportAction::Exists, None)
    } else {
        let message = format!("{} has a filter '{}' with other terms; left as it is", scope(f), existing.name);
        filter_line(f, ImportAction::Conflict, Some(message))
    }
}

/// Decides each filter of the export against the catalog's `index` and the assets planned:
/// `assets_ok` will be in the data center, `assets_refused` will not. Decided lines go to `lines`.
pub(super) fn plan_filters<'a>(
    index: &Index,
    filters: &'a [ExportedFilter],
    assets_ok: &BTreeSet<AssetId>,
    assets_refused: &BTreeSet<AssetId>,
    problems: &BTreeMap<&str, &str>,
    lines: &mut Vec<ImportLine<'a>>,
    on_record: &(dyn Fn() + Sync),
) -> FilterPlan<'a> {
    let mut plan = FilterPlan { new: Vec::new(), known: index.filters.keys().cloned().collect() };
    for f in filters {
        let key = (scope(f), f.filter.name.to_ascii_lowercase());
        let refused = |action, message: String| filter_line(f, action, Some(message));
        let decided = match f.asset {
            Some(a) if assets_refused.contains(&a) => {
                Some(refused(ImportAction::Conflict, format!("its asset {a} was not imported")))
            }
            Some(a) if !assets_ok.contains(&a) && !index.assets.contains_key(&a) => Some(refused(
                ImportAction::Invalid,
                format!("its asset {a} is neither in the export nor (valid) in this data center"),
            )),
            _ => match (index.filters.get(&key), problems.get(key.0.path(&key.1).as_str())) {
                (Some(existing), _) => Some(compare(existing, f)),
                (None, Some(problem)) => {
                    Some(refused(ImportAction::Conflict, format!("exists, but {problem}; left as it is")))
                }
                (None, None) => None,
            },
        };
        match decided {
            Some(line) => {
                on_record();
                lines.push(line);
            }
            None => {
                plan.known.insert(key);
                plan.new.push(f);
            }
        }
    }
    plan
}

impl FilterPlan<'_> {
    /// Why `l` cannot be written: the first filter it binds that neither its asset nor the
    /// account will have.
    pub(super) fn unbound(&self, l: &ExportLocator) -> Option<String> {
        let missing = l.delivery.filters.iter().find(|name| {
            let name = name.to_ascii_lowercase();
            !self.known.contains(&(FilterScope::Asset(l.asset_id), name.clone()))
                && !self.known.contains(&(FilterScope::Account, name))
        })?;
        Some(format!(
            "it binds filter '{}', which neither asset {} nor the account has (in this export or this data center)",
            missing.chars().take(128).collect::<String>(),
            l.asset_id
        ))
    }
}

/// Writes one planned filter (never over another); its asset was written unless in `not_created`.
pub(super) async fn create_filter<'a>(
    catalog: &Catalog,
    f: &'a ExportedFilter,
    not_created: &BTreeSet<Option<AssetId>>,
) -> Result<ImportLine<'a>> {
    if f.asset.is_some() && not_created.contains(&f.asset) {
        let message = format!("its asset {} was not imported", f.asset.map(|a| a.to_string()).unwrap_or_default());
        return Ok(filter_line(f, ImportAction::Conflict, Some(message)));
    }
    match catalog.create_filter(scope(f), &f.filter).await {
        Ok(()) => Ok(filter_line(f, ImportAction::Created, None)),
        // Written by someone else since the plan.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Ok(compare(&catalog.get_filter(scope(f), &f.filter.name).await?, f))
        }
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound) => {
            Ok(filter_line(f, ImportAction::Invalid, Some(e.to_string())))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;

    use super::super::import_export;
    use super::*;
    use crate::ams::{read_export, Export};
    use crate::model::AssetRecord;
    use crate::store::InMemoryStore;

    fn export(edit: impl Fn(&str, String) -> String) -> Export {
        let doc = |name: &str, text: &str| {
            (name.to_owned(), serde_json::from_str::<Value>(&edit(name, text.to_owned())).unwrap())
        };
        read_export(&[
            doc("assets.json", include_str!("../../../tests/data/ams/v3/assets.json")),
            doc("asset-filters.json", include_str!("../../../tests/data/ams/v3/asset-filters.json")),
            doc("account-filters.json", include_str!("../../../tests/data/ams/v3/account-filters.json")),
            doc("streaming-locators.json", include_str!("../../../tests/data/ams/v3/streaming-locators.json")),
        ])
        .unwrap()
    }

    fn actions(report: &super::super::ImportReport<'_>, kind: RecordKind) -> Vec<(String, ImportAction)> {
        report.records.iter().filter(|l| l.kind == kind).map(|l| (l.source.to_owned(), l.action)).collect()
    }

    #[tokio::test]
    async fn filters_are_imported_onto_their_assets_and_the_account_and_found_again() {
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let export = export(|_, t| t);
        let done = import_export(&catalog, "", &export, false, &|| {}).await.unwrap();
        assert!(!done.has_failures(), "{:?}", done.records);
        assert_eq!((done.totals.filters, done.totals.created), (5, 2 + 5 + 3));
        let tears = export.assets.iter().find(|a| a.asset.name.starts_with("tears")).unwrap().asset.id;
        let elephants = export.assets.iter().find(|a| a.asset.name.starts_with("elephants")).unwrap().asset.id;
        assert_eq!(catalog.list_filters(FilterScope::Asset(tears)).await.unwrap().records.len(), 2);
        let mobile = catalog.resolve_filter(&elephants, "mobile").await.unwrap();
        assert_eq!(mobile.scope, FilterScope::Asset(elephants), "the asset's own wins over the account's");
        assert_eq!(catalog.resolve_filter(&tears, "mobile").await.unwrap().scope, FilterScope::Account);
        let bound = export.locators.iter().find(|l| !l.delivery.filters.is_empty()).unwrap();
        assert_eq!(catalog.get_locator(&bound.id).await.unwrap().delivery.filters, ["low"]);

        let again = import_export(&catalog, "", &export, false, &|| {}).await.unwrap();
        assert_eq!(again.totals.exists, 10, "{:?}", again.records);
        assert_eq!(again.totals.created, 0);
    }

    #[tokio::test]
    async fn a_locator_binding_a_missing_filter_and_a_filter_of_a_refused_asset_are_not_written() {
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let export = export(|name, text| match name {
            "streaming-locators.json" => text.replace("\"low\"", "\"nope\""),
            "account-filters.json" => text.replace("\"first300\"", "\"First300\""),
            _ => text,
        });
        // Elephants is here under another name: a conflict, so its filter is not written.
        let mut elephants = export.assets.iter().find(|a| a.asset.name.starts_with("elephants")).unwrap().asset.clone();
        elephants.name = "someone else's".into();
        catalog.create_asset_with(&AssetRecord { asset: elephants.clone(), files: Vec::new() }, None).await.unwrap();
        // An account filter of that name, but other terms: left as it is.
        catalog.create_filter(FilterScope::Account, &Filter::with_first_quality("first300", 1)).await.unwrap();

        let report = import_export(&catalog, "", &export, false, &|| {}).await.unwrap();
        assert!(report.has_failures());
        let line = |source: &str| report.records.iter().find(|l| l.source.starts_with(source)).unwrap();
        let unbound =
            report.records.iter().find(|l| l.kind == RecordKind::Locator && l.action == ImportAction::Invalid);
        let why = unbound.unwrap().message.as_ref().unwrap().to_string();
        assert!(why.contains("binds filter 'nope'"), "{why}");
        assert_eq!(line("asset-filters.json#2").action, ImportAction::Conflict, "the refused asset's filter");
        assert_eq!(line("account-filters.json#0").action, ImportAction::Conflict);
        assert!(line("account-filters.json#0").message.as_ref().unwrap().to_string().contains("other terms"));
        assert_eq!(
            catalog.get_filter(FilterScope::Account, "first300").await.unwrap().first_quality.unwrap().bitrate,
            1
        );
        assert!(catalog.list_filters(FilterScope::Asset(elephants.id)).await.unwrap().records.is_empty());
        assert_eq!(actions(&report, RecordKind::Filter).iter().filter(|(_, a)| *a == ImportAction::Created).count(), 3);
    }
}
