//! The checks every record passes before anything acts on it: records are read
//! from storage anyone with the account key can write, so they are input.

use chrono::{DateTime, Utc};

use super::{AccessPolicy, Asset, AssetFile, Locator, LocatorType, Permissions};
use crate::error::{Error, Result};
use crate::id::{AssetId, LocatorId, PolicyId};

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
    use crate::model::AssetOptions;

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
}
