//! Filters replicated with what they filter: an asset's filters once its replica is
//! published (with the account filters its locators name, so B serves them alike), the
//! account filters on a run over every asset (`--all`). Both come from the
//! run's two catalog listings (the index), so an unchanged filter costs no request. With
//! `--delete`, a filter replicate put in B that A no longer has is removed; a filter B made
//! itself is never overwritten nor removed (a warning names it).

use crate::catalog::filters::FilterScope;
use crate::catalog::{Catalog, Index};
use crate::error::Result;
use crate::store::Condition;

/// What mirroring one scope's filters did.
#[derive(Debug, Default)]
pub(super) struct Mirrored {
    /// Filters written (new or changed in A).
    pub(super) written: usize,
    /// Replica filters removed because A no longer has them.
    pub(super) deleted: usize,
    /// Filters left alone, and why.
    pub(super) warnings: Vec<String>,
}

/// The keys of one scope, in a map or set ordered by (scope, name), start here: an asset's
/// filters are a range, not a scan of every filter of the account (a scan per asset made a
/// run over many assets with filters quadratic).
fn from(scope: FilterScope) -> std::ops::RangeFrom<(FilterScope, String)> {
    (scope, String::new())..
}

/// Makes B's filters of `scopes` that `in_scope` selects (by scope and lower-case name) what A's are.
pub(super) async fn mirror(
    target: &Catalog,
    target_name: &str,
    a: &Index,
    b: &Index,
    scopes: &[FilterScope],
    in_scope: impl Fn(&(FilterScope, String)) -> bool,
    delete: bool,
) -> Result<Mirrored> {
    let mut out = Mirrored::default();
    let a_filters = scopes.iter().flat_map(|s| a.filters.range(from(*s)).take_while(move |(k, _)| k.0 == *s));
    for (key, filter) in a_filters.filter(|(k, _)| in_scope(k)) {
        match b.filters.get(key) {
            Some(theirs) if theirs == filter => continue,
            Some(_) if !b.replica_filters.contains(key) => {
                out.warnings.push(format!(
                    "filter '{}' of {} differs in '{target_name}', which made it itself: left as it is",
                    filter.name, key.0
                ));
                continue;
            }
            _ => {}
        }
        target.put_filter(key.0, filter, Some(super::delete::REPLICA_MARK), Condition::None).await?;
        out.written += 1;
    }
    if delete {
        let b_replicas = scopes.iter().flat_map(|s| b.replica_filters.range(from(*s)).take_while(move |k| k.0 == *s));
        for key in b_replicas.filter(|k| in_scope(k) && !a.filters.contains_key(*k)) {
            if target.delete_filter(key.0, &key.1).await? {
                out.deleted += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::filter::Filter;
    use crate::store::InMemoryStore;

    fn filter(name: &str, bitrate: u64) -> Filter {
        Filter::with_first_quality(name, bitrate)
    }

    #[tokio::test]
    async fn b_gets_as_filters_prunes_only_its_replicas_and_never_overwrites_its_own() {
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        for f in [filter("kept", 1), filter("gone", 1), filter("theirs", 1)] {
            a.create_filter(FilterScope::Account, &f).await.unwrap();
        }
        b.create_filter(FilterScope::Account, &filter("theirs", 2)).await.unwrap();
        b.create_filter(FilterScope::Account, &filter("own", 3)).await.unwrap();
        let account = |k: &(FilterScope, String)| k.0 == FilterScope::Account;

        let done = mirror(
            &b,
            "b",
            &a.index().await.unwrap(),
            &b.index().await.unwrap(),
            &[FilterScope::Account],
            account,
            true,
        )
        .await
        .unwrap();
        assert_eq!((done.written, done.deleted), (2, 0));
        assert!(done.warnings.iter().any(|w| w.contains("'theirs'")), "{:?}", done.warnings);
        assert_eq!(b.get_filter(FilterScope::Account, "theirs").await.unwrap(), filter("theirs", 2), "B's own kept");

        a.delete_filter(FilterScope::Account, "gone").await.unwrap();
        let (ai, bi) = (a.index().await.unwrap(), b.index().await.unwrap());
        let again = mirror(&b, "b", &ai, &bi, &[FilterScope::Account], account, false).await.unwrap();
        assert_eq!((again.written, again.deleted), (0, 0), "unchanged filters cost no write; no --delete, no pruning");
        let pruned = mirror(&b, "b", &ai, &bi, &[FilterScope::Account], account, true).await.unwrap();
        assert_eq!(pruned.deleted, 1);
        let left: Vec<String> =
            b.list_filters(FilterScope::Account).await.unwrap().records.into_iter().map(|f| f.name).collect();
        assert_eq!(left, ["kept", "own", "theirs"], "only the replica A lost is gone");
    }

    #[tokio::test]
    async fn an_assets_filters_are_its_range_alone_whatever_their_names() {
        use crate::model::{Asset, AssetOptions};
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let mut ids = Vec::new();
        for name in ["one", "two", "three"] {
            let asset = Asset::new(name, AssetOptions::None);
            a.create_asset(&asset).await.unwrap();
            b.create_asset(&asset).await.unwrap();
            ids.push(asset.id);
        }
        ids.sort();
        for &id in &ids {
            for name in ["a", "m", "zz"] {
                a.create_filter(FilterScope::Asset(id), &filter(name, 1)).await.unwrap();
            }
        }
        a.create_filter(FilterScope::Account, &filter("shared", 1)).await.unwrap();
        let middle = ids[1];
        let scopes = [FilterScope::Asset(middle), FilterScope::Account];
        let (ai, bi) = (a.index().await.unwrap(), b.index().await.unwrap());
        let done = mirror(&b, "b", &ai, &bi, &scopes, |_| true, false).await.unwrap();
        assert_eq!(done.written, 4, "the middle asset's three and the account's one");
        let bi = b.index().await.unwrap();
        let written: Vec<&(FilterScope, String)> = bi.filters.keys().collect();
        assert!(
            written.iter().all(|k| k.0 == FilterScope::Asset(middle) || k.0 == FilterScope::Account),
            "{written:?}"
        );
    }
}
