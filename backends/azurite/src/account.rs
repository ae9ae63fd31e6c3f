//! Emulator accounts: the documented dev account and generated ones.

use base64::Engine as _;
use mirrorcast_azure_blob::config::{DEV_ACCOUNT, DEV_ACCOUNT_KEY};
use mirrorcast_store::secret::Secret;

/// An account name and its key. `Debug` hides the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The storage account name, also the first path segment of its endpoint.
    pub name: String,
    /// The account key, base64, as Shared Key signing wants it.
    pub key: Secret,
}

impl Account {
    /// `devstoreaccount1` with its well-known key.
    pub fn dev() -> Self {
        Account { name: DEV_ACCOUNT.to_owned(), key: Secret::new(DEV_ACCOUNT_KEY) }
    }

    /// An account with a fresh random 64-byte key. Names are 3–24 lower-case
    /// letters and digits, as Azure requires.
    pub fn generate(name: &str) -> Self {
        let bytes: Vec<u8> = (0..64).map(|_| fastrand::u8(..)).collect();
        Account { name: name.to_owned(), key: Secret::new(base64::engine::general_purpose::STANDARD.encode(bytes)) }
    }
}

/// The `AZURITE_ACCOUNTS` value for these accounts: `name:key;name:key`.
pub(crate) fn accounts_env(accounts: &[Account]) -> String {
    accounts.iter().map(|a| format!("{}:{}", a.name, a.key.expose())).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_base64_and_differ() {
        let (a, b) = (Account::generate("dca"), Account::generate("dcb"));
        assert_ne!(a.key, b.key);
        let raw = base64::engine::general_purpose::STANDARD.decode(a.key.expose()).unwrap();
        assert_eq!(raw.len(), 64);
        assert!(!format!("{a:?}").contains(a.key.expose()));
        assert_eq!(accounts_env(std::slice::from_ref(&a)), format!("dca:{}", a.key.expose()));
    }
}
