//! Filter records: an asset's filters in B as in A (and the account filters, on a run over
//! every asset), compared by content. Nothing is reported where neither side has a filter.

use mirrorcast_core::catalog::filters::FilterScope;
use mirrorcast_core::catalog::Index;

use crate::report::{Check, Entry, Marker, Side};

/// A's filters of the scopes `in_scope` selects against B's: missing, differing, extra in B.
pub fn compare(a: &Index, b: &Index, in_scope: impl Fn(&FilterScope) -> bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let path = |scope: &FilterScope, name: &str| match scope {
        FilterScope::Asset(id) => format!("{id}/filters/{name}"),
        FilterScope::Account => format!("account/filters/{name}"),
    };
    for (key, filter) in a.filters.iter().filter(|(k, _)| in_scope(&k.0)) {
        let at = path(&key.0, &filter.name);
        out.push(match b.filters.get(key) {
            None => Entry::new(Marker::Missing, Check::Filter, Side::B, at, "filter missing in B"),
            Some(theirs) if theirs != filter => Entry::new(
                Marker::Differs,
                Check::Filter,
                Side::B,
                at,
                "filter differs (time range, tracks or first quality)",
            ),
            Some(_) => Entry::new(Marker::Same, Check::Filter, Side::Both, at, "same"),
        });
    }
    for (key, filter) in b.filters.iter().filter(|(k, _)| in_scope(&k.0) && !a.filters.contains_key(*k)) {
        out.push(Entry::new(
            Marker::Extra,
            Check::Filter,
            Side::B,
            path(&key.0, &filter.name),
            "filter in B that A does not have",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::model::filter::Filter;

    #[test]
    fn missing_differing_and_extra_filters_are_reported_by_name() {
        let f = Filter::with_first_quality;
        let (mut a, mut b) = (Index::default(), Index::default());
        let key = |n: &str| (FilterScope::Account, n.to_owned());
        a.filters.insert(key("same"), f("same", 1));
        b.filters.insert(key("same"), f("same", 1));
        a.filters.insert(key("changed"), f("changed", 1));
        b.filters.insert(key("changed"), f("changed", 2));
        a.filters.insert(key("gone"), f("gone", 1));
        b.filters.insert(key("extra"), f("extra", 1));
        let got: Vec<(Marker, String)> = compare(&a, &b, |_| true).into_iter().map(|e| (e.marker, e.path)).collect();
        assert!(got.contains(&(Marker::Same, "account/filters/same".into())), "{got:?}");
        assert!(got.contains(&(Marker::Differs, "account/filters/changed".into())), "{got:?}");
        assert!(got.contains(&(Marker::Missing, "account/filters/gone".into())), "{got:?}");
        assert!(got.contains(&(Marker::Extra, "account/filters/extra".into())), "{got:?}");
        assert!(compare(&Index::default(), &Index::default(), |_| true).is_empty());
    }
}
