//! ARM resource ids of Media Services records, as `az ams` prints them:
//! `/subscriptions/<sub>/resourceGroups/<group>/providers/Microsoft.Media/mediaservices/<account>/<kind>/<name>`.
//! They say which account a v3 asset or locator belongs to, so the asset a
//! locator names is looked up in its own account.

use std::collections::BTreeMap;

/// A Media Services account: its subscription, resource group and name.
/// Accounts are equal when their ids are, case aside.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// `<subscription>/<group>/<account>`, lowercased: ARM ids compare without case.
    key: String,
    name: String,
    group: String,
}

impl Account {
    /// What makes two accounts the same: their ids, lowercased.
    pub(super) fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for Account {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Account {}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account '{}' (resource group '{}')", self.name, self.group)
    }
}

/// A resource of a Media Services account, from its ARM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArmId {
    pub account: Account,
    /// `assets`, `streamingLocators`, … as written.
    pub kind: String,
    pub name: String,
}

/// The account, kind and name of an ARM id; `None` when it is not the id of
/// a resource of a Media Services account.
pub(crate) fn parse(id: &str) -> Option<ArmId> {
    let parts: Vec<&str> = id.trim().split('/').collect();
    let ["", subscriptions, sub, groups, group, providers, namespace, services, account, kind, name] = parts[..] else {
        return None;
    };
    let literal = [
        (subscriptions, "subscriptions"),
        (groups, "resourceGroups"),
        (providers, "providers"),
        (namespace, "Microsoft.Media"),
        (services, "mediaservices"),
    ];
    if !literal.iter().all(|(found, wanted)| found.eq_ignore_ascii_case(wanted)) {
        return None;
    }
    if [sub, group, account, kind, name].iter().any(|s| s.trim().is_empty()) {
        return None;
    }
    Some(ArmId {
        account: Account {
            key: format!("{sub}/{group}/{account}").to_lowercase(),
            name: account.to_owned(),
            group: group.to_owned(),
        },
        kind: kind.to_owned(),
        name: name.to_owned(),
    })
}

/// The accounts ARM ids named, each kept once.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    all: Vec<Account>,
    by_key: BTreeMap<String, usize>,
}

impl Accounts {
    pub(crate) fn index(&mut self, account: Account) -> usize {
        *self.by_key.entry(account.key().to_owned()).or_insert_with(|| {
            self.all.push(account);
            self.all.len() - 1
        })
    }

    pub(crate) fn describe(&self, account: Option<usize>) -> String {
        account.and_then(|i| self.all.get(i)).map_or_else(|| "no account (no ARM id)".to_owned(), ToString::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm_id_names_its_account_case_blind() {
        let a = parse("/subscriptions/S/resourceGroups/RG/providers/Microsoft.Media/mediaservices/ams1/assets/movie")
            .unwrap();
        let b = parse(
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.media/mediaServices/AMS1/streamingLocators/l",
        )
        .unwrap();
        assert_eq!((a.account.name.as_str(), a.account.group.as_str()), ("ams1", "RG"));
        assert_eq!(a.account, b.account);
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("assets", "movie"));
        for bad in [
            "",
            "movie",
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Media/mediaservices/ams1/assets",
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Storage/mediaservices/ams1/assets/movie",
            "/subscriptions//resourceGroups/RG/providers/Microsoft.Media/mediaservices/ams1/assets/movie",
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Media/mediaservices/ams1/assets/movie/x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
