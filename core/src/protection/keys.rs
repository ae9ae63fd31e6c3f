//! Content keys: the 128-bit AES keys a protected stream is encrypted with,
//! recorded by key id with the key itself only wrapped (see [`super::kek`]).

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::kek::{KeyEncryptionKey, Wrapped};
use super::names::check_name;
use crate::error::{Error, ErrorKind, Result};

/// Bytes of a content key (AES-128).
pub const CONTENT_KEY_LEN: usize = 16;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// How a content key is used, as Media Services typed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKeyType {
    /// AES-128 of whole HLS segments (v2 `EnvelopeEncryption`).
    Envelope,
    /// Common Encryption, `cenc` (AES-CTR): DASH and Smooth with PlayReady/Widevine (v2 `CommonEncryption`).
    Cenc,
    /// Common Encryption, `cbcs` (AES-CBC pattern): HLS fMP4 with FairPlay/Widevine (v2 `CommonEncryptionCbcs`).
    Cbcs,
}

impl ContentKeyType {
    /// The names this accepts, for messages.
    pub const NAMES: &'static str = "envelope, cenc or cbcs";

    /// The name records and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            ContentKeyType::Envelope => "envelope",
            ContentKeyType::Cenc => "cenc",
            ContentKeyType::Cbcs => "cbcs",
        }
    }
}

impl std::str::FromStr for ContentKeyType {
    type Err = Error;
    /// The house names, and Media Services' v2 names and numbers (0 CommonEncryption, 4 EnvelopeEncryption,
    /// 6 CommonEncryptionCbcs; 1 StorageEncryption is no content key here).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "envelope" | "envelopeencryption" | "aes-128" | "4" => Ok(ContentKeyType::Envelope),
            "cenc" | "commonencryption" | "commonencryptioncenc" | "0" => Ok(ContentKeyType::Cenc),
            "cbcs" | "commonencryptioncbcs" | "6" => Ok(ContentKeyType::Cbcs),
            _ => Err(Error::invalid_input(format!(
                "'{}' is not a content key type: use {}",
                s.chars().take(64).collect::<String>(),
                Self::NAMES
            ))),
        }
    }
}

/// A content key's 16 bytes, in memory only while used; zeroed on drop and
/// never printed (`Debug` is redacted; there is no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKeyValue(Zeroizing<[u8; CONTENT_KEY_LEN]>);

impl fmt::Debug for ContentKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKeyValue([REDACTED])")
    }
}

impl ContentKeyValue {
    /// A new random key from the operating system's RNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
        OsRng.fill_bytes(&mut bytes[..]);
        ContentKeyValue(bytes)
    }

    /// The key of these bytes (an import, a test).
    pub fn from_bytes(bytes: [u8; CONTENT_KEY_LEN]) -> Self {
        ContentKeyValue(Zeroizing::new(bytes))
    }

    /// The key written as base64 (as `az ams streaming-locator list-content-keys` prints `value`).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bad = || Error::invalid_input("a content key value must be 16 bytes in base64");
        let decoded = Zeroizing::new(B64.decode(text.trim()).map_err(|_| bad())?);
        let bytes: [u8; CONTENT_KEY_LEN] = decoded.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self::from_bytes(bytes))
    }

    /// The raw bytes, to encrypt with or compare. Never log them.
    pub fn expose(&self) -> &[u8; CONTENT_KEY_LEN] {
        &self.0
    }

    /// The key as lower-case hex, for `content-key export --reveal` only.
    pub fn reveal_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key as base64, for `content-key export --reveal` only.
    pub fn reveal_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(&self.0[..]))
    }
}

/// A content key as the catalog stores it: public facts and the wrapped key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentKey {
    /// The key id (KID): what manifests, licences and tokens name.
    pub id: Uuid,
    /// How it is used.
    #[serde(rename = "type")]
    pub key_type: ContentKeyType,
    /// The content key policy that delivers it, if it has its own (v3 `contentKeys[].policyName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// When it was made (or imported).
    pub created: DateTime<Utc>,
    /// The key, wrapped under the data center's KEK and bound to this id and type.
    pub wrapped: Wrapped,
}

impl ContentKey {
    /// What a key's wrap is bound to: its id and type, so it opens in no other record.
    pub fn wrap_context(id: &Uuid, key_type: ContentKeyType) -> String {
        format!("mirrorcast/content-key/v1/{}/{}", id.hyphenated(), key_type.name())
    }

    /// A record of `value`, wrapped under `kek`.
    pub async fn seal(
        id: Uuid,
        key_type: ContentKeyType,
        policy_name: Option<String>,
        value: &ContentKeyValue,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<Self> {
        if let Some(p) = &policy_name {
            check_name(p, "content key policy")?;
        }
        let wrapped = kek.wrap(value.expose(), &Self::wrap_context(&id, key_type)).await?;
        Ok(ContentKey { id, key_type, policy_name, created: Utc::now(), wrapped })
    }

    /// The key itself, unwrapped with `kek` (in memory only).
    pub async fn open(&self, kek: &dyn KeyEncryptionKey) -> Result<ContentKeyValue> {
        let plain = kek
            .unwrap(&self.wrapped, &Self::wrap_context(&self.id, self.key_type))
            .await
            .map_err(|e| Error::new(e.kind(), format!("content key {}: {}", self.id, e.message())))?;
        let bytes: [u8; CONTENT_KEY_LEN] = plain.as_slice().try_into().map_err(|_| {
            Error::new(ErrorKind::Corrupt, format!("content key {} does not hold {CONTENT_KEY_LEN} bytes", self.id))
        })?;
        Ok(ContentKeyValue::from_bytes(bytes))
    }

    /// The same key re-wrapped: opened with `from`, wrapped under `to` (replicate from A to B).
    pub async fn rewrap(&self, from: &dyn KeyEncryptionKey, to: &dyn KeyEncryptionKey) -> Result<Self> {
        let value = self.open(from).await?;
        let wrapped = to.wrap(value.expose(), &Self::wrap_context(&self.id, self.key_type)).await?;
        Ok(ContentKey { wrapped, ..self.clone() })
    }

    /// Checks a record read from storage: named after its id, a bounded wrap.
    pub fn validate(&self, id: &Uuid) -> Result<()> {
        if &self.id != id {
            return Err(Error::invalid_input(format!("record of content key {id} names content key {}", self.id)));
        }
        if let Some(p) = &self.policy_name {
            check_name(p, "content key policy")?;
        }
        self.wrapped.validate()
    }
}

/// A key id as given on the command line or in a locator: a UUID, with or
/// without braces or Media Services' `nb:kid:UUID:` prefix.
pub fn parse_key_id(text: &str) -> Result<Uuid> {
    let t = text.trim();
    let bare = t
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("nb:kid:UUID:"))
        .map_or(t, |_| &t[12..])
        .trim_start_matches('{')
        .trim_end_matches('}');
    Uuid::parse_str(bare).map_err(|_| {
        Error::invalid_input(format!(
            "'{}' is not a content key id: expected a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
            text.chars().take(64).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protection::kek::{LocalKek, KEK_LEN};

    #[tokio::test]
    async fn a_key_is_stored_wrapped_and_rewrapped_for_another_kek() {
        let (a, b) = (LocalKek::from_bytes([1; KEK_LEN]), LocalKek::from_bytes([2; KEK_LEN]));
        let value = ContentKeyValue::generate();
        let id = Uuid::new_v4();
        let record = ContentKey::seal(id, ContentKeyType::Cenc, None, &value, &a).await.unwrap();
        let json = serde_json::to_string(&record).unwrap();
        for shown in [value.reveal_hex().to_string(), value.reveal_base64().to_string()] {
            assert!(!json.contains(&shown) && !format!("{record:?}{value:?}").contains(&shown));
        }
        assert_eq!(record.open(&a).await.unwrap(), value);
        assert!(record.open(&b).await.is_err());
        let for_b = record.rewrap(&a, &b).await.unwrap();
        assert_eq!(for_b.open(&b).await.unwrap(), value);
        assert_eq!(for_b.id, id);
        // A wrapped key moved under another id or type does not open.
        let moved = ContentKey { id: Uuid::new_v4(), ..record.clone() };
        assert_eq!(moved.open(&a).await.unwrap_err().kind(), ErrorKind::Corrupt);
        let retyped = ContentKey { key_type: ContentKeyType::Cbcs, ..record };
        assert_eq!(retyped.open(&a).await.unwrap_err().kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn key_ids_and_types_parse_in_the_forms_exports_write() {
        let id = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        for form in [id.to_owned(), format!("nb:kid:UUID:{id}"), format!("{{{id}}}"), id.to_uppercase()] {
            assert_eq!(parse_key_id(&form).unwrap().to_string(), id, "{form}");
        }
        assert!(parse_key_id("nb:kid:UUID:").is_err() && parse_key_id("x").is_err());
        assert_eq!("CommonEncryptionCbcs".parse::<ContentKeyType>().unwrap(), ContentKeyType::Cbcs);
        assert_eq!("EnvelopeEncryption".parse::<ContentKeyType>().unwrap(), ContentKeyType::Envelope);
        assert!("StorageEncryption".parse::<ContentKeyType>().is_err());
        // v2's numbers: 0 is CommonEncryption, 1 StorageEncryption (no content key here).
        assert_eq!("0".parse::<ContentKeyType>().unwrap(), ContentKeyType::Cenc);
        assert!("1".parse::<ContentKeyType>().is_err());
        assert!(ContentKeyValue::from_base64("AAAA").is_err());
    }
}
