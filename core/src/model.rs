//! The records that make a container of blobs a streamable media asset.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::id::{AssetId, LocatorId, PolicyId};

/// How an asset's files are protected. Only `None` and the two
/// protection-at-delivery options can be replicated; `StorageEncrypted`
/// files are encrypted with a key that belongs to the source account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AssetOptions {
    #[default]
    None,
    StorageEncrypted,
    CommonEncryptionProtected,
    EnvelopeEncryptionProtected,
}

impl AssetOptions {
    pub fn is_storage_encrypted(self) -> bool {
        self == AssetOptions::StorageEncrypted
    }
}

impl FromStr for AssetOptions {
    type Err = Error;
    /// Names, or Media Services' numbers (0, 1, 2, 4).
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(n) = s.trim().parse::<i64>() {
            return crate::ams::options_from_v2(&n.into()).map_err(Error::invalid_input);
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
    pub id: AssetId,
    pub name: String,
    pub options: AssetOptions,
    /// The container holding the asset's blobs; `asset-<guid>` unless replicated
    /// from an account that named it otherwise.
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_id: Option<String>,
    pub created: DateTime<Utc>,
}

impl Asset {
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

/// One file of an asset, as `CreateFileInfos` made it from the container's blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFile {
    pub name: String,
    pub size: u64,
    pub mime_type: String,
    pub is_primary: bool,
    #[serde(default)]
    pub is_encrypted: bool,
}

/// Moved down to the storage layer, which signs URLs with it; kept here so
/// `model::Permissions` paths still hold.
pub use mirrorcast_store::Permissions;

/// An access policy: a duration and permissions, shared by many locators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    pub id: PolicyId,
    pub name: String,
    pub duration_minutes: u64,
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
    pub id: LocatorId,
    #[serde(rename = "type")]
    pub locator_type: LocatorType,
    pub asset_id: AssetId,
    pub policy_id: PolicyId,
    pub start_time: Option<DateTime<Utc>>,
    pub expiration: DateTime<Utc>,
    /// The base URL of the locator, without any signature: the origin base plus
    /// the locator GUID for origin locators, the container URL for SAS ones.
    pub path: String,
    /// Media Services' streaming policy, content keys and filters of this locator
    /// (what may be served of it); empty for the locators mirrorcast makes.
    #[serde(default, skip_serializing_if = "Delivery::is_default")]
    pub delivery: Delivery,
}

/// The bounds a record must keep before anything acts on it: records are read
/// from storage anyone with the account key can write, so they are input.
pub mod limits {
    use chrono::{DateTime, TimeZone, Utc};

    /// Longest asset or policy name, in characters.
    pub const NAME_CHARS: usize = 512;
    /// Longest locator path or alternate id.
    pub const TEXT_CHARS: usize = 2048;
    /// Most file infos in one asset record.
    pub const FILES: usize = 100_000;
    /// Longest policy: from the earliest date to the latest expiry ("never", as Media Services wrote it).
    pub const POLICY_MINUTES: u64 = 8_000 * 366 * 24 * 60;

    /// Earliest date a record may carry.
    pub fn earliest() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()
    }

    /// Latest date a record may carry.
    pub fn latest() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap()
    }

    /// Latest expiry: Media Services wrote 9999-12-31T23:59:59.9999999 for "never" (v3's default
    /// `endTime`, .NET's `DateTime.MaxValue`), so imported locators carry it.
    pub fn latest_expiry() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap()
    }
}

fn check_text(what: &str, value: &str, max: usize, may_be_empty: bool) -> Result<()> {
    if !may_be_empty && value.trim().is_empty() {
        return Err(Error::invalid_input(format!("{what} is empty")));
    }
    if value.chars().count() > max {
        return Err(Error::invalid_input(format!("{what} is longer than {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!("{what} holds control characters")));
    }
    Ok(())
}

fn check_date(what: &str, date: &DateTime<Utc>) -> Result<()> {
    check_date_until(what, date, limits::latest())
}

fn check_date_until(what: &str, date: &DateTime<Utc>, latest: DateTime<Utc>) -> Result<()> {
    if *date < limits::earliest() || *date >= latest {
        return Err(Error::invalid_input(format!(
            "{what} {} is outside {}..{}",
            date.to_rfc3339(),
            limits::earliest().format("%Y"),
            latest.format("%Y")
        )));
    }
    Ok(())
}

impl Asset {
    /// Checks an asset record read from storage: its id is `expected` (the one
    /// its blob is named after), its container is `asset-<guid>` of that id
    /// (never the catalog, never another asset's), its name and date are sane.
    pub fn validate(&self, expected: &AssetId) -> Result<()> {
        if &self.id != expected {
            return Err(Error::invalid_input(format!("record of asset {expected} names asset {}", self.id)));
        }
        if self.container != self.id.container_name() {
            return Err(Error::invalid_input(format!(
                "asset {} names container '{}'; its container can only be '{}'",
                self.id,
                self.container.escape_debug(),
                self.id.container_name()
            )));
        }
        check_text("asset name", &self.name, limits::NAME_CHARS, false)?;
        if let Some(alt) = &self.alternate_id {
            check_text("alternate id", alt, limits::TEXT_CHARS, true)?;
        }
        check_date("creation date", &self.created)
    }
}

/// Checks file infos: sane names, at most one primary, not too many.
pub fn validate_files(asset: &AssetId, files: &[AssetFile]) -> Result<()> {
    if files.len() > limits::FILES {
        return Err(Error::invalid_input(format!("asset {asset} has more than {} file infos", limits::FILES)));
    }
    for f in files {
        check_text("file info name", &f.name, 1024, false).map_err(|e| e.context(format!("asset {asset}")))?;
    }
    if files.iter().filter(|f| f.is_primary).count() > 1 {
        return Err(Error::invalid_input(format!("asset {asset} has more than one primary file")));
    }
    Ok(())
}

impl AccessPolicy {
    /// Checks a policy read from storage: its id is `expected` and is the one
    /// derived from its terms, its duration and permissions are sane.
    pub fn validate(&self, expected: &PolicyId) -> Result<()> {
        if &self.id != expected {
            return Err(Error::invalid_input(format!("record of policy {expected} names policy {}", self.id)));
        }
        check_text("policy name", &self.name, limits::NAME_CHARS, true)?;
        if self.duration_minutes == 0 || self.duration_minutes > limits::POLICY_MINUTES {
            return Err(Error::invalid_input(format!(
                "policy {} lasts {} minutes: not in 1..={}",
                self.id,
                self.duration_minutes,
                limits::POLICY_MINUTES
            )));
        }
        if self.permissions == Permissions::NONE {
            return Err(Error::invalid_input(format!("policy {} grants nothing", self.id)));
        }
        if PolicyId::for_terms(self.duration_minutes, &self.permissions.sas_letters()) != self.id {
            return Err(Error::invalid_input(format!(
                "policy {} is not the id of its terms ({} minutes, '{}')",
                self.id, self.duration_minutes, self.permissions
            )));
        }
        Ok(())
    }
}

impl Locator {
    /// Checks a locator read from storage: its id is `expected`, its dates are
    /// sane and in order, its path is plain text; an origin locator's policy
    /// (`policy`, if the caller found it) is read-only.
    pub fn validate(&self, expected: &LocatorId, policy: Option<&AccessPolicy>) -> Result<()> {
        if &self.id != expected {
            return Err(Error::invalid_input(format!("record of locator {expected} names locator {}", self.id)));
        }
        if let Some(start) = &self.start_time {
            check_date("locator start", start)?;
            if self.expiration <= *start {
                return Err(Error::invalid_input(format!("locator {}: expiry is not after its start", self.id)));
            }
        }
        check_date_until("locator expiry", &self.expiration, limits::latest_expiry())?;
        check_text("locator path", &self.path, limits::TEXT_CHARS, true)?;
        self.delivery.validate()?;
        if self.locator_type == LocatorType::OnDemandOrigin {
            match policy {
                None => {
                    return Err(Error::invalid_input(format!(
                        "origin locator {} names policy {}, which does not exist",
                        self.id, self.policy_id
                    )))
                }
                Some(p) if p.id != self.policy_id => {
                    return Err(Error::invalid_input(format!("locator {} names another policy", self.id)))
                }
                Some(p) if !p.permissions.is_read_only() => {
                    return Err(Error::invalid_input(format!(
                        "origin locator {} uses policy {} granting '{}': an origin locator needs a read-only policy",
                        self.id, p.id, p.permissions
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_that_would_steer_the_copy_are_refused() {
        let mut a = Asset::new("x", AssetOptions::None);
        a.validate(&a.id).unwrap();
        let other = AssetId::new();
        assert!(a.validate(&other).is_err(), "an id that is not its blob's");
        for container in ["mirrorcast-catalog", other.container_name().as_str(), "asset-x", ""] {
            a.container = container.to_owned();
            assert!(a.validate(&a.id).is_err(), "container {container}");
        }
        let mut a = Asset::new("ok", AssetOptions::None);
        a.created = chrono::DateTime::<Utc>::MAX_UTC;
        assert!(a.validate(&a.id).is_err(), "absurd date");
        let mut a = Asset::new("bad\u{7}name", AssetOptions::None);
        assert!(a.validate(&a.id).is_err(), "control characters");
        a.name = "  ".into();
        assert!(a.validate(&a.id).is_err(), "empty name");
    }

    #[test]
    fn origin_locators_on_write_policies_and_policies_not_of_their_terms_are_refused() {
        let write = AccessPolicy::for_terms("w", 60, Permissions::WRITE | Permissions::CREATE);
        let read = AccessPolicy::for_terms("r", 60, Permissions::READ);
        write.validate(&write.id).unwrap();
        let mut forged = read.clone();
        forged.permissions = Permissions::READ | Permissions::WRITE;
        assert!(forged.validate(&forged.id).is_err(), "terms that are not its id's");
        let l = Locator {
            id: LocatorId::new(),
            locator_type: LocatorType::OnDemandOrigin,
            asset_id: AssetId::new(),
            policy_id: write.id,
            start_time: Some(Utc::now()),
            expiration: Utc::now() + chrono::Duration::hours(1),
            path: "https://o/x/".into(),
            delivery: Default::default(),
        };
        assert!(l.validate(&l.id, Some(&write)).is_err());
        assert!(l.validate(&l.id, None).is_err());
        let mut ok = l.clone();
        ok.policy_id = read.id;
        ok.validate(&ok.id, Some(&read)).unwrap();
        let mut backwards = ok.clone();
        backwards.expiration = backwards.start_time.unwrap() - chrono::Duration::hours(1);
        assert!(backwards.validate(&ok.id, Some(&read)).is_err());
        assert!(ok.validate(&LocatorId::new(), Some(&read)).is_err(), "an id that is not its blob's");
    }

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
