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

/// Makes B's filters that `in_scope` selects (by scope and lower-case name) what A's are.
pub(super) async fn mirror(
    target: &Catalog,
    target_name: &str,
    a: &Index,
    b: &Index,
    in_scope: impl Fn(&(FilterScope, String)) -> bool,
    delete: bool,
) -> Result<Mirrored> {
    let mut out = Mirrored::default();
    for (key, filter) in a.filters.iter().filter(|(k, _)| in_scope(k)) {
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
        for key in b.replica_filters.iter().filter(|k| in_scope(k) && !a.filters.contains_key(*k)) {
            if target.delete_filter(key.0, &key.1).await? {
                out.deleted += 1;
            }
        }
    }
    Ok(out)
}
