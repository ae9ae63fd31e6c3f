//! Where a store's data lives, independent of how it is reached: two
//! configurations (another name, endpoint form, scheme, credential) of one
//! storage account or one directory have the same identity. A data center is
//! never its own replication target; this is what tells.

use std::fmt;
use std::path::PathBuf;

/// The data a store holds, named by where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreIdentity {
    /// A storage account of a blob service. `service` is the cloud's domain
    /// (`core.windows.net`) or, for an emulator or a custom domain, its host
    /// and port; `account` is the account name, lowercase,
    /// without `-secondary` (the geo-secondary holds the primary's data).
    Account {
        /// The cloud's blob domain, or an emulator's or custom domain's host and port.
        service: String,
        /// The account name, lowercase, without `-secondary`.
        account: String,
    },
    /// A local directory, canonical (symlinks resolved). A directory inside
    /// another is part of its data.
    Directory(PathBuf),
    /// An object store location such as `s3://bucket/prefix`, or a plugin
    /// store as `plugin:<name>:<config>`; a location below another is part of
    /// its data.
    Location(String),
}

impl StoreIdentity {
    /// Whether writing to one may change what the other holds: the same
    /// account, or directories/locations one inside the other.
    pub fn shares_data_with(&self, other: &StoreIdentity) -> bool {
        match (self, other) {
            (StoreIdentity::Account { .. }, StoreIdentity::Account { .. }) => self == other,
            (StoreIdentity::Directory(a), StoreIdentity::Directory(b)) => a.starts_with(b) || b.starts_with(a),
            (StoreIdentity::Location(a), StoreIdentity::Location(b)) => nested(a, b) || nested(b, a),
            _ => false,
        }
    }
}

/// `inner` is `outer` or below it, segment by segment (`s3://b/media` holds
/// `s3://b/media/x`, not `s3://b/media2`).
fn nested(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (inner.trim_end_matches('/'), outer.trim_end_matches('/'));
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

impl fmt::Display for StoreIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreIdentity::Account { service, account } => write!(f, "storage account '{account}' of {service}"),
            StoreIdentity::Directory(path) => write!(f, "directory '{}'", path.display()),
            StoreIdentity::Location(location) => write!(f, "'{location}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreIdentity::{self, *};

    fn account(service: &str, account: &str) -> StoreIdentity {
        Account { service: service.into(), account: account.into() }
    }

    #[test]
    fn one_account_is_shared_and_two_are_not() {
        assert!(account("core.windows.net", "media").shares_data_with(&account("core.windows.net", "media")));
        assert!(!account("core.windows.net", "media").shares_data_with(&account("core.windows.net", "mediab")));
        assert!(!account("127.0.0.1:10000", "a").shares_data_with(&account("127.0.0.1:10001", "a")));
    }

    #[test]
    fn a_directory_or_location_inside_another_shares_its_data() {
        let dir = |p: &str| Directory(p.into());
        assert!(dir("/srv/dc").shares_data_with(&dir("/srv/dc")));
        assert!(dir("/srv/dc").shares_data_with(&dir("/srv/dc/asset-1")));
        assert!(dir("/srv/dc/asset-1").shares_data_with(&dir("/srv/dc")));
        assert!(!dir("/srv/dc").shares_data_with(&dir("/srv/dc2")), "a sibling with a longer name is apart");
        let loc = |l: &str| Location(l.into());
        assert!(loc("s3://b/media").shares_data_with(&loc("s3://b/media/")));
        assert!(loc("s3://b/media/x").shares_data_with(&loc("s3://b/media")));
        assert!(!loc("s3://b/media2").shares_data_with(&loc("s3://b/media")));
        assert!(!loc("s3://b").shares_data_with(&dir("s3://b")), "kinds never match");
    }
}
