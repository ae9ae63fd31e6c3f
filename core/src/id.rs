//! Ids in the prefixed form Media Services used (`nb:cid:UUID:<guid>`) and the
//! container names they map to (`asset-<guid>`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The container of an asset is `asset-<guid>`.
pub const ASSET_CONTAINER_PREFIX: &str = "asset-";

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix before the GUID in the id's text form.
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }

            /// The id with this GUID.
            pub fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            /// The GUID of the id.
            pub fn uuid(&self) -> Uuid {
                self.0
            }

            /// The bare, lower-case GUID.
            pub fn guid(&self) -> String {
                self.0.hyphenated().to_string()
            }

            /// Accepts the prefixed form or a bare GUID.
            pub fn parse(s: &str) -> Result<Self> {
                let trimmed = s.trim();
                let bare = strip_prefix_ignore_case(trimmed, $prefix).unwrap_or(trimmed);
                parse_guid(bare).map($name).ok_or_else(|| {
                    Error::invalid_input(format!(
                        concat!("'{}' is not a valid ", $what, ": expected '", $prefix, "<GUID>' or a bare GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6"),
                        s
                    ))
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.hyphenated())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }
    };
}

prefixed_id!(
    /// An asset: `nb:cid:UUID:<guid>`; its blobs live in container `asset-<guid>`.
    AssetId, "nb:cid:UUID:", "asset id"
);
prefixed_id!(
    /// A locator: `nb:lid:UUID:<guid>`; the GUID is the first path segment of its streaming URLs.
    LocatorId, "nb:lid:UUID:", "locator id"
);
prefixed_id!(
    /// An access policy: `nb:pid:UUID:<guid>`.
    PolicyId, "nb:pid:UUID:", "access policy id"
);

impl AssetId {
    /// The name of the container holding this asset's blobs.
    pub fn container_name(&self) -> String {
        format!("{ASSET_CONTAINER_PREFIX}{}", self.guid())
    }

    /// The asset id a container name stands for, if it is an asset container.
    pub fn from_container_name(name: &str) -> Option<Self> {
        name.strip_prefix(ASSET_CONTAINER_PREFIX).and_then(parse_guid).map(AssetId)
    }

    /// Accepts the prefixed id, a bare GUID, or the container name.
    pub fn parse_any(s: &str) -> Result<Self> {
        Self::from_container_name(s.trim()).map_or_else(|| Self::parse(s), Ok)
    }
}

impl PolicyId {
    /// The id of the policy with this duration and these permissions: equal
    /// policies get equal ids, so two writers converge on one record.
    pub fn for_terms(duration_minutes: u64, permissions: &str) -> Self {
        let key = format!("mirrorcast-policy:{duration_minutes}:{permissions}");
        PolicyId(Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()))
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Only the hyphenated 36-character form: the forms Media Services printed.
fn parse_guid(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn asset_id_maps_to_container_and_back() {
        let id = AssetId::parse("nb:cid:UUID:0E5C7F9A-8B5B-4A0E-9D4B-6C1F2B3A4D5E").unwrap();
        assert_eq!(id.container_name(), "asset-0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e");
        assert_eq!(AssetId::from_container_name(&id.container_name()), Some(id));
        assert_eq!(AssetId::parse_any(&id.container_name()).unwrap(), id);
        assert_eq!(id.to_string(), "nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e");
    }

    #[test]
    fn bare_guid_is_accepted_and_malformed_ids_name_the_input() {
        let l = LocatorId::parse("0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e").unwrap();
        assert_eq!(l.guid(), "0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e");
        let err = LocatorId::parse("not-a-guid").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("'not-a-guid' is not a valid locator id"), "{err}");
        assert!(LocatorId::parse("nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e").is_err());
        assert!(AssetId::from_container_name("mirrorcast-catalog").is_none());
    }

    #[test]
    fn equal_policy_terms_give_equal_ids() {
        assert_eq!(PolicyId::for_terms(60, "r"), PolicyId::for_terms(60, "r"));
        assert_ne!(PolicyId::for_terms(60, "r"), PolicyId::for_terms(60, "rw"));
    }

    proptest! {
        #[test]
        fn ids_round_trip_through_text_and_json(bytes in any::<[u8; 16]>()) {
            let id = LocatorId::from_uuid(Uuid::from_bytes(bytes));
            prop_assert_eq!(LocatorId::parse(&id.to_string()).unwrap(), id);
            prop_assert_eq!(LocatorId::parse(&id.guid()).unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<LocatorId>(&json).unwrap(), id);
        }
    }
}
