//! Filter records: asset filters under `filters/assets/<asset-guid>/<name>.json`, account
//! filters (the data center's own) under `filters/account/<name>.json`. A name is kept in
//! the path in lower case, so two filters of one scope never differ by case only; the
//! record keeps it as given. An asset filter wins over an account filter of the same name
//! ([`Catalog::resolve_filter`]).
//!
//! Like the other records, each blob carries its record as metadata when it is small, so a
//! listing tells them (one request per scope); written conditionally, checked on reading.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::{index, parse_record, Catalog, Checked, RecordProblem, CATALOG_CONTAINER};
use crate::error::{Error, ErrorKind, Result};
use crate::id::AssetId;
use crate::model::filter::{check_name, Filter};
use crate::store::{BlobStoreExt, Condition};

/// Where filter records live in the catalog container.
pub const FILTERS: &str = "filters/";
const ACCOUNT: &str = "filters/account/";
const ASSETS: &str = "filters/assets/";
/// A record larger than this (its base64) is not copied into its blob's metadata (8 KiB in all).
const METADATA_BYTES: usize = 4096;

/// Whose filter it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilterScope {
    /// An asset filter: applies to that asset only.
    Asset(AssetId),
    /// An account filter: any asset of the data center may use it.
    Account,
}

impl std::fmt::Display for FilterScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterScope::Asset(id) => write!(f, "asset {id}"),
            FilterScope::Account => f.write_str("account"),
        }
    }
}

impl FilterScope {
    fn prefix(&self) -> String {
        match self {
            FilterScope::Asset(id) => format!("{ASSETS}{}/", id.guid()),
            FilterScope::Account => ACCOUNT.to_owned(),
        }
    }

    /// The path of the record of filter `name` in this scope.
    pub fn path(&self, name: &str) -> String {
        format!("{}{}.json", self.prefix(), name.to_ascii_lowercase())
    }

    /// The scope a record path is in, and the name its path gives.
    pub fn of_path(path: &str) -> Option<(FilterScope, String)> {
        if let Some(rest) = path.strip_prefix(ACCOUNT) {
            return Some((FilterScope::Account, rest.strip_suffix(".json")?.to_owned()));
        }
        let (guid, file) = path.strip_prefix(ASSETS)?.split_once('/')?;
        let id = index::id_of_path::<AssetId>(&format!("{guid}.json"), "")?;
        Some((FilterScope::Asset(id), file.strip_suffix(".json")?.to_owned()))
    }
}

/// A filter record and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedFilter {
    /// Asset or account.
    pub scope: FilterScope,
    /// The filter.
    pub filter: Filter,
}

/// A filter record's checks: the filter's own, and its name that of its blob.
pub(super) fn check(path_name: &str, filter: &Filter) -> Result<()> {
    filter.validate()?;
    if !filter.name.eq_ignore_ascii_case(path_name) {
        return Err(Error::invalid_input(format!("the record is named '{}', its blob '{path_name}'", filter.name)));
    }
    Ok(())
}

impl Catalog {
    /// Stores a new filter (checked; an asset filter's asset must exist); a filter of that
    /// name in that scope is an `AlreadyExists` error.
    pub async fn create_filter(&self, scope: FilterScope, filter: &Filter) -> Result<()> {
        self.put_filter(scope, filter, None, Condition::IfNotExists).await
    }

    /// Stores `filter` in `scope` on `condition`, marked with `from` (replicate's mark).
    pub async fn put_filter(
        &self,
        scope: FilterScope,
        filter: &Filter,
        from: Option<&str>,
        condition: Condition,
    ) -> Result<()> {
        filter.validate()?;
        if let FilterScope::Asset(id) = &scope {
            self.get_asset(id).await?;
        }
        self.ensure().await?;
        let mut metadata = BTreeMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(filter)?);
        if encoded.len() <= METADATA_BYTES {
            metadata.insert(index::RECORD_KEY.to_owned(), encoded);
        }
        if let Some(f) = from {
            metadata.insert(index::FROM_KEY.to_owned(), f.to_owned());
        }
        let create = condition == Condition::IfNotExists;
        match self.write(&scope.path(&filter.name), filter, metadata, condition).await {
            Ok(_) => Ok(()),
            Err(e) if create && e.kind() == ErrorKind::PreconditionFailed => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{scope} already has a filter '{}' in {}: delete it first (`mirrorcast filter delete`)",
                    filter.name,
                    self.store().describe()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// The filter `name` of `scope`, checked; `NotFound` when there is none.
    pub async fn get_filter(&self, scope: FilterScope, name: &str) -> Result<Filter> {
        check_name(name)?;
        let path = scope.path(name);
        let (_, bytes) = self.store().get_bytes(CATALOG_CONTAINER, &path).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                Error::not_found(format!("{scope} has no filter '{name}' in {}", self.store().describe()))
            }
            _ => e.into(),
        })?;
        let filter: Filter = parse_record(&path, &bytes)?;
        check(name, &filter).map_err(|e| e.context(format!("record '{path}'")))?;
        Ok(filter)
    }

    /// Every filter of `scope` (by name), from one listing, and a problem for each bad record.
    pub async fn list_filters(&self, scope: FilterScope) -> Result<Checked<Filter>> {
        let mut out = self.filters_under(&scope.prefix()).await?;
        out.records.sort_by_key(|s| s.filter.name.to_ascii_lowercase());
        Ok(Checked { records: out.records.into_iter().map(|s| s.filter).collect(), problems: out.problems })
    }

    /// Every filter of the catalog, asset and account ones, from one listing: what
    /// replicate and verify compare.
    pub async fn all_filters(&self) -> Result<Checked<ScopedFilter>> {
        self.filters_under(FILTERS).await
    }

    async fn filters_under(&self, prefix: &str) -> Result<Checked<ScopedFilter>> {
        let listed = match self.store().list_all(CATALOG_CONTAINER, prefix).await {
            Err(e) if e.kind() == mirrorcast_store::ErrorKind::NotFound => return Ok(Checked::default()),
            other => other?,
        };
        let mut out = Checked::default();
        for blob in listed {
            let Some((scope, name)) = FilterScope::of_path(&blob.name) else {
                out.problems.push(RecordProblem::new(&blob.name, None, "not named after a scope and a filter name"));
                continue;
            };
            let asset = match scope {
                FilterScope::Asset(id) => Some(id),
                FilterScope::Account => None,
            };
            let read = match blob.metadata.get(index::RECORD_KEY) {
                Some(encoded) => base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| Error::new(ErrorKind::Corrupt, format!("metadata is not base64: {e}")))
                    .and_then(|bytes| parse_record::<Filter>(&blob.name, &bytes)),
                None => match self.store().get_bytes(CATALOG_CONTAINER, &blob.name).await {
                    Ok((_, bytes)) => parse_record::<Filter>(&blob.name, &bytes),
                    Err(e) if e.kind() == mirrorcast_store::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                },
            };
            match read.and_then(|f| check(&name, &f).map(|()| f)) {
                Ok(filter) => out.records.push(ScopedFilter { scope, filter }),
                Err(e) => out.problems.push(RecordProblem::new(&blob.name, asset, e)),
            }
        }
        Ok(out)
    }

    /// Deletes the filter `name` of `scope`; `Ok(false)` if there was none.
    pub async fn delete_filter(&self, scope: FilterScope, name: &str) -> Result<bool> {
        check_name(name)?;
        Ok(self.store().delete_blob(CATALOG_CONTAINER, &scope.path(name), &Condition::None).await?)
    }

    /// What `name` means for `asset`: its asset filter, else the account filter of that
    /// name; `NotFound` naming it when neither exists.
    pub async fn resolve_filter(&self, asset: &AssetId, name: &str) -> Result<ScopedFilter> {
        for scope in [FilterScope::Asset(*asset), FilterScope::Account] {
            match self.get_filter(scope, name).await {
                Ok(filter) => return Ok(ScopedFilter { scope, filter }),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::not_found(format!("no filter '{name}': neither asset {asset} nor the account has one")))
    }

    /// Deletes every filter of `asset` (its record is going).
    pub(super) async fn delete_asset_filters(&self, asset: &AssetId) -> Result<()> {
        let prefix = FilterScope::Asset(*asset).prefix();
        let listed = match self.store().list_all(CATALOG_CONTAINER, &prefix).await {
            Err(e) if e.kind() == mirrorcast_store::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        for blob in listed {
            self.store().delete_blob(CATALOG_CONTAINER, &blob.name, &Condition::None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Asset, AssetOptions};
    use crate::store::InMemoryStore;

    fn filter(name: &str, bitrate: u64) -> Filter {
        Filter::with_first_quality(name, bitrate)
    }

    #[tokio::test]
    async fn an_asset_filter_wins_over_the_account_filter_of_its_name() {
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        let asset = Asset::new("a", AssetOptions::None);
        cat.create_asset(&asset).await.unwrap();
        let other = Asset::new("b", AssetOptions::None);
        cat.create_asset(&other).await.unwrap();
        cat.create_filter(FilterScope::Account, &filter("mobile", 1)).await.unwrap();
        cat.create_filter(FilterScope::Asset(asset.id), &filter("Mobile", 2)).await.unwrap();
        let err = cat.create_filter(FilterScope::Account, &filter("MOBILE", 3)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");

        let mine = cat.resolve_filter(&asset.id, "mobile").await.unwrap();
        assert_eq!((mine.scope, mine.filter.first_quality.unwrap().bitrate), (FilterScope::Asset(asset.id), 2));
        let theirs = cat.resolve_filter(&other.id, "MOBILE").await.unwrap();
        assert_eq!((theirs.scope, theirs.filter.first_quality.unwrap().bitrate), (FilterScope::Account, 1));
        let err = cat.resolve_filter(&asset.id, "nope").await.unwrap_err();
        assert!(err.kind() == ErrorKind::NotFound && err.to_string().contains("'nope'"), "{err}");

        assert_eq!(cat.list_filters(FilterScope::Asset(asset.id)).await.unwrap().records.len(), 1);
        assert_eq!(cat.all_filters().await.unwrap().records.len(), 2);
        let missing = cat.create_filter(FilterScope::Asset(AssetId::new()), &filter("x", 1)).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);

        cat.delete_asset(&asset.id).await.unwrap();
        assert_eq!(cat.all_filters().await.unwrap().records.len(), 1, "an asset's filters go with it");
        assert!(cat.delete_filter(FilterScope::Account, "mobile").await.unwrap());
        assert!(!cat.delete_filter(FilterScope::Account, "mobile").await.unwrap());
    }

    #[tokio::test]
    async fn a_bad_filter_record_is_a_problem_not_a_filter() {
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        cat.create_filter(FilterScope::Account, &filter("good", 1)).await.unwrap();
        let bad = br#"{"name":"bad","presentationTimeRange":{"timescale":0}}"#;
        cat.store()
            .put_blob(CATALOG_CONTAINER, "filters/account/bad.json", bad.to_vec().into(), &Default::default())
            .await
            .unwrap();
        let listed = cat.list_filters(FilterScope::Account).await.unwrap();
        assert_eq!(listed.records.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["good"]);
        assert_eq!(listed.problems.len(), 1);
        assert!(listed.problems[0].message.contains("timescale"), "{:?}", listed.problems);
        assert_eq!(cat.get_filter(FilterScope::Account, "bad").await.unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}
