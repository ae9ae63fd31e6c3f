//! The records that make a container of blobs a streamable media asset.
//!
//! The lowest floor of the domain: it names ids and errors, nothing above it
//! (no catalog, no storage, no export reader; `core/tests/floors.rs` checks).
//! - [`checks`]: the bounds every record keeps (`validate`), since records are input.
//! - [`codes`]: Media Services' numbers for the enums, read wherever names are.
//! - [`delivery`]: a locator's delivery terms and what an origin may serve of it.
//! - [`filter`]: dynamic manifest filters (time range, first quality, track selections).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{AssetId, LocatorId, PolicyId};

pub mod checks;
pub mod codes;
pub mod delivery;
pub mod filter;

pub use checks::{limits, validate_files};
use delivery::Delivery;

/// How an asset's files are protected. Only `None` and the two
/// protection-at-delivery options can be replicated; `StorageEncrypted`
/// files are encrypted with a key that belongs to the source account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AssetOptions {
    /// Plain files: can be replicated.
    #[default]
    None,
    /// Encrypted in storage with a key of the source account: cannot be replicated.
    StorageEncrypted,
    /// Protected at delivery with common encryption (PlayReady, Widevine).
    CommonEncryptionProtected,
    /// Protected at delivery with AES envelope encryption.
    EnvelopeEncryptionProtected,
}

impl AssetOptions {
    /// Whether the files are encrypted with the source account's key (and so cannot be replicated).
    pub fn is_storage_encrypted(self) -> bool {
        self == AssetOptions::StorageEncrypted
    }
}

impl FromStr for AssetOptions {
    type Err = Error;
    /// Names, or Media Services' numbers (0, 1, 2, 4).
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(n) = s.trim().parse::<i64>() {
            return codes::options_from_code(n).map_err(Error::invalid_input);
        }
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "none" => Ok(AssetOptions::None),
            "storageencrypted" => Ok(AssetOptions::StorageEncrypted),
            "commonencryptionprotected" => Ok(AssetOptions::CommonEncryptionProtected),
            "envelopeencryptionprotected" => Ok(AssetOptions::EnvelopeEncryptionProtected),
            _ => Err(Error::invalid_input(format!(
                "unknown asset option '{s}': use none, storage-encrypted, common-encryption-protected or envelope-encryption-protected"
            ))),
        }
    }
}

/// An asset: one container of blobs plus this record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// `nb:cid:UUID:<guid>`: names the asset record and its default container.
    pub id: AssetId,
    /// A name for people; not unique.
    pub name: String,
    /// How the asset's files are protected.
    pub options: AssetOptions,
    /// The container holding the asset's blobs; `asset-<guid>` unless replicated
    /// from an account that named it otherwise.
    pub container: String,
    /// The caller's own id for the asset, if any (Media Services' `AlternateId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_id: Option<String>,
    /// When the asset was created.
    pub created: DateTime<Utc>,
}

impl Asset {
    /// A new asset with a fresh id and its default container `asset-<guid>` (not created here).
    pub fn new(name: impl Into<String>, options: AssetOptions) -> Self {
        let id = AssetId::new();
        Asset {
            container: id.container_name(),
            id,
            name: name.into(),
            options,
            alternate_id: None,
            created: Utc::now(),
        }
    }
}

/// An asset record with the file infos made from its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRecord {
    /// The asset itself (flattened in JSON).
    #[serde(flatten)]
    pub asset: Asset,
    /// The asset's file infos.
    #[serde(default)]
    pub files: Vec<AssetFile>,
}

/// One file of an asset, as `CreateFileInfos` made it from the container's blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFile {
    /// The blob's name inside the asset's container.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type, from the file's extension.
    pub mime_type: String,
    /// Whether this is the asset's primary file (its root `.ism`).
    pub is_primary: bool,
    /// Whether the file is encrypted in storage.
    #[serde(default)]
    pub is_encrypted: bool,
}

/// Moved down to the storage layer, which signs URLs with it; kept here so
/// `model::Permissions` paths still hold.
pub use mirrorcast_store::Permissions;

/// An access policy: a duration and permissions, shared by many locators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// Derived from the terms (see [`AccessPolicy::for_terms`]).
    pub id: PolicyId,
    /// A name for people.
    pub name: String,
    /// How long a locator made with it lasts, in minutes.
    pub duration_minutes: u64,
    /// What a locator made with it allows.
    pub permissions: Permissions,
}

impl AccessPolicy {
    /// The policy for these terms; its id is derived from them, so equal terms
    /// always name the same record.
    pub fn for_terms(name: impl Into<String>, duration_minutes: u64, permissions: Permissions) -> Self {
        AccessPolicy {
            id: PolicyId::for_terms(duration_minutes, &permissions.sas_letters()),
            name: name.into(),
            duration_minutes,
            permissions,
        }
    }
}

/// What a locator's URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LocatorType {
    /// A SAS URL to the asset's container.
    Sas,
    /// A streaming URL served by the origin: `<origin>/<locator-guid>/<file>`.
    OnDemandOrigin,
}

impl FromStr for LocatorType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sas" | "1" => Ok(LocatorType::Sas),
            "origin" | "ondemandorigin" | "on-demand-origin" | "2" => Ok(LocatorType::OnDemandOrigin),
            _ => Err(Error::invalid_input(format!("unknown locator type '{s}': use 'origin' (2) or 'sas' (1)"))),
        }
    }
}

impl fmt::Display for LocatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocatorType::Sas => "sas",
            LocatorType::OnDemandOrigin => "origin",
        })
    }
}

/// A locator: the time-bounded right to reach an asset through a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locator {
    /// `nb:lid:UUID:<guid>`; the GUID is the first path segment of its streaming URLs.
    pub id: LocatorId,
    /// Origin (streaming) or SAS.
    #[serde(rename = "type")]
    pub locator_type: LocatorType,
    /// The asset it reaches.
    pub asset_id: AssetId,
    /// Its access policy.
    pub policy_id: PolicyId,
    /// When it starts to work; `None`: at once.
    pub start_time: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expiration: DateTime<Utc>,
    /// The base URL of the locator, without any signature: the origin base plus
    /// the locator GUID for origin locators, the container URL for SAS ones.
    pub path: String,
    /// Media Services' streaming policy, content keys and filters of this locator
    /// (what may be served of it); empty for the locators mirrorcast makes.
    #[serde(default, skip_serializing_if = "Delivery::is_default")]
    pub delivery: Delivery,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_letters_and_words_and_print_sas_order() {
        let p: Permissions = "lr".parse().unwrap();
        assert_eq!(p.sas_letters(), "rl");
        assert!(p.is_read_only());
        let w: Permissions = "read,write".parse().unwrap();
        assert_eq!(w, Permissions::READ | Permissions::WRITE);
        assert!(!w.is_read_only());
        assert!("rx".parse::<Permissions>().is_err());
        assert!("read,fly".parse::<Permissions>().is_err());
        let json = serde_json::to_string(&(Permissions::CREATE | Permissions::WRITE)).unwrap();
        assert_eq!(json, "\"cw\"");
    }

    #[test]
    fn asset_options_parse_kebab_and_pascal_case() {
        assert_eq!("storage-encrypted".parse::<AssetOptions>().unwrap(), AssetOptions::StorageEncrypted);
        assert_eq!("None".parse::<AssetOptions>().unwrap(), AssetOptions::None);
        assert!("secret".parse::<AssetOptions>().is_err());
    }

    #[test]
    fn media_services_numbers_are_accepted_wherever_names_are() {
        assert_eq!("4".parse::<AssetOptions>().unwrap(), AssetOptions::EnvelopeEncryptionProtected);
        assert!("3".parse::<AssetOptions>().is_err() && "-1".parse::<AssetOptions>().is_err());
        assert_eq!("2".parse::<LocatorType>().unwrap(), LocatorType::OnDemandOrigin);
        assert_eq!("1".parse::<LocatorType>().unwrap(), LocatorType::Sas);
        assert!("3".parse::<LocatorType>().is_err());
        assert_eq!("9".parse::<Permissions>().unwrap(), Permissions::READ | Permissions::LIST);
        assert!("16".parse::<Permissions>().is_err() && "0".parse::<Permissions>().is_err());
        assert!("99999999999999999999".parse::<Permissions>().is_err());
    }
}
