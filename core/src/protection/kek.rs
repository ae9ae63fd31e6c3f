//! Key-encryption keys: what a data center wraps its content keys and token
//! secrets under, so that no record holds one in the clear.
//!
//! Wrapping is AES-256-GCM, not RFC 3394/5649 key wrap: GCM takes associated
//! data, and every wrap binds the record it belongs to (a content key's id and
//! type, a policy's name and key slot) so a wrapped value moved into another
//! record fails to open instead of silently handing out another asset's key.
//! Key wrap has no associated data. The 96-bit nonce is random (OS RNG): far
//! below the 2^32 wraps under one KEK where random nonces become a concern.
//!
//! [`KeyEncryptionKey`] is async so that a KMS-backed provider can sit behind
//! it: [`LocalKek`] is a 32-byte key the operator gives each data center;
//! [`super::kek_command::CommandKek`] asks a KMS through a command (envelope
//! encryption: the KMS wraps a fresh data key, see [`COMMAND_ALGORITHM`]).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// Bytes of a local key-encryption key (AES-256).
pub const KEK_LEN: usize = 32;
/// The secret sealed directly under a [`LocalKek`].
pub const ALGORITHM: &str = "A256GCM";
/// The secret sealed under a fresh data key that a KMS wrapped ([`Wrapped::wrapped_key`]).
pub const COMMAND_ALGORITHM: &str = "A256GCM+KMS";
const NONCE_LEN: usize = 12;
/// Longest wrapped value a record may hold (a token key is at most 256 bytes plus the tag).
const MAX_WRAPPED_CHARS: usize = 512;
/// Longest data key a KMS may hand back wrapped (an RSA-4096 ciphertext in base64 is 684).
pub(crate) const MAX_WRAPPED_KEY_CHARS: usize = 4096;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A secret as a record stores it: encrypted under a KEK, bound to its record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wrapped {
    /// How it was wrapped ([`ALGORITHM`]).
    pub algorithm: String,
    /// The fingerprint of the KEK it was wrapped under (see [`KeyEncryptionKey::fingerprint`]).
    pub kek: String,
    /// The GCM nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub ciphertext: String,
    /// With [`COMMAND_ALGORITHM`]: the data key the ciphertext is sealed under, as the
    /// KMS wrapped it (opaque printable text). Absent for [`ALGORITHM`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
}

/// Wrapped values are ciphertext, but their bytes are never of use in a listing or a log.
impl fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped").field("algorithm", &self.algorithm).field("kek", &self.kek).finish_non_exhaustive()
    }
}

impl Wrapped {
    /// Checks a wrapped value read from storage: known algorithm, bounded base64 fields.
    pub fn validate(&self) -> Result<()> {
        let printable = |s: &str, most: usize| s.len() <= most && s.chars().all(|c| c.is_ascii_graphic());
        let key_ok = match (self.algorithm.as_str(), &self.wrapped_key) {
            (ALGORITHM, None) => true,
            (COMMAND_ALGORITHM, Some(k)) => !k.is_empty() && printable(k, MAX_WRAPPED_KEY_CHARS),
            (ALGORITHM | COMMAND_ALGORITHM, _) => false,
            (other, _) => {
                return Err(Error::invalid_input(format!(
                    "a wrapped secret names algorithm '{}'; this version knows {ALGORITHM} and {COMMAND_ALGORITHM}",
                    other.chars().take(32).collect::<String>()
                )))
            }
        };
        let plain = |s: &str| printable(s, MAX_WRAPPED_CHARS);
        if !key_ok || !plain(&self.kek) || !plain(&self.nonce) || !plain(&self.ciphertext) {
            return Err(Error::invalid_input("a wrapped secret's fields are not short printable text"));
        }
        Ok(())
    }
}

/// What wraps and unwraps a data center's secrets. Implementations never put
/// key material in errors, logs or `Debug`.
#[async_trait]
pub trait KeyEncryptionKey: Send + Sync + fmt::Debug {
    /// A short public name of this KEK (not secret; derived one-way from it):
    /// tells which KEK a record was wrapped under, so a wrong one is named as such.
    fn fingerprint(&self) -> &str;

    /// `secret` encrypted and bound to `context` (the record it belongs to).
    async fn wrap(&self, secret: &[u8], context: &str) -> Result<Wrapped>;

    /// The secret `wrapped` holds, if it was wrapped under this KEK for `context`.
    async fn unwrap(&self, wrapped: &Wrapped, context: &str) -> Result<Zeroizing<Vec<u8>>>;
}

/// A 32-byte AES key held in memory (zeroed on drop): `MIRRORCAST_KEK_<NAME>`,
/// `kek_env` or `kek_file`.
pub struct LocalKek {
    key: Zeroizing<[u8; KEK_LEN]>,
    fingerprint: String,
}

impl fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKek").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl LocalKek {
    /// The KEK of these bytes.
    pub fn from_bytes(bytes: [u8; KEK_LEN]) -> Self {
        let key = Zeroizing::new(bytes);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..]).expect("HMAC takes any key length");
        mac.update(b"mirrorcast key-encryption-key fingerprint v1");
        let digest = mac.finalize().into_bytes();
        let fingerprint = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        LocalKek { key, fingerprint }
    }

    /// The KEK written as base64 of 32 bytes (surrounding whitespace ignored).
    /// `source` names where it came from, for the error; the text is never echoed.
    pub fn from_base64(text: &str, source: &str) -> Result<Self> {
        let bad = |what: &str| {
            Error::invalid_input(format!(
                "{source}: {what}; a key-encryption key is 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
            ))
        };
        // A file may hold it wrapped over lines (`openssl rand -base64` wraps at 64 characters).
        let compact: Zeroizing<String> = Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
        let decoded = Zeroizing::new(B64.decode(compact.as_bytes()).map_err(|_| bad("not base64"))?);
        let bytes: [u8; KEK_LEN] =
            decoded.as_slice().try_into().map_err(|_| bad(&format!("{} bytes, not {KEK_LEN}", decoded.len())))?;
        Ok(Self::from_bytes(bytes))
    }
}

/// `secret` sealed under `key` with `context` as associated data: (nonce, ciphertext), base64.
pub(crate) fn seal(key: &[u8; KEK_LEN], secret: &[u8], context: &str) -> Result<(String, String)> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = Aes256Gcm::new_from_slice(key)
        .expect("a 32-byte key")
        .encrypt(&nonce, Payload { msg: secret, aad: context.as_bytes() })
        .map_err(|_| Error::new(ErrorKind::Other, format!("could not wrap {context}")))?;
    Ok((B64.encode(nonce), B64.encode(ciphertext)))
}

/// What [`seal`] sealed, `None` when it does not open (altered, or another key or context).
pub(crate) fn open(key: &[u8; KEK_LEN], wrapped: &Wrapped, context: &str) -> Option<Zeroizing<Vec<u8>>> {
    let nonce = B64.decode(&wrapped.nonce).ok().filter(|n| n.len() == NONCE_LEN)?;
    let ciphertext = B64.decode(&wrapped.ciphertext).ok()?;
    let plain = Aes256Gcm::new_from_slice(key)
        .expect("a 32-byte key")
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: context.as_bytes() })
        .ok()?;
    Some(Zeroizing::new(plain))
}

/// The refusal of a record wrapped under another KEK than `given`.
pub(crate) fn other_kek(context: &str, wrapped: &Wrapped, given: &str) -> Error {
    Error::new(
        ErrorKind::Authentication,
        format!(
            "{context} is wrapped under key-encryption key {}, not under the one given ({given}): give this data center the KEK its keys were wrapped under",
            wrapped.kek
        ),
    )
}

/// The refusal of a record that does not open under the KEK it names.
pub(crate) fn does_not_open(context: &str, fingerprint: &str) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("{context} does not open under key-encryption key {fingerprint}: its record was altered or moved"),
    )
}

#[async_trait]
impl KeyEncryptionKey for LocalKek {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn wrap(&self, secret: &[u8], context: &str) -> Result<Wrapped> {
        let (nonce, ciphertext) = seal(&self.key, secret, context)?;
        Ok(Wrapped {
            algorithm: ALGORITHM.to_owned(),
            kek: self.fingerprint.clone(),
            nonce,
            ciphertext,
            wrapped_key: None,
        })
    }

    async fn unwrap(&self, wrapped: &Wrapped, context: &str) -> Result<Zeroizing<Vec<u8>>> {
        wrapped.validate()?;
        if wrapped.kek != self.fingerprint || wrapped.algorithm != ALGORITHM {
            return Err(other_kek(context, wrapped, &self.fingerprint));
        }
        open(&self.key, wrapped, context).ok_or_else(|| does_not_open(context, &self.fingerprint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> LocalKek {
        LocalKek::from_bytes([byte; KEK_LEN])
    }

    #[tokio::test]
    async fn a_wrapped_secret_opens_only_under_its_kek_and_its_context() {
        let (a, b) = (kek(1), kek(2));
        let w = a.wrap(b"sixteen byte key", "content key 1").await.unwrap();
        assert_eq!(&a.unwrap(&w, "content key 1").await.unwrap()[..], b"sixteen byte key");
        let other_kek = b.unwrap(&w, "content key 1").await.unwrap_err();
        assert_eq!(other_kek.kind(), ErrorKind::Authentication);
        let moved = a.unwrap(&w, "content key 2").await.unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::Corrupt);
        let mut altered = w.clone();
        altered.ciphertext = B64.encode([0u8; 32]);
        assert_eq!(a.unwrap(&altered, "content key 1").await.unwrap_err().kind(), ErrorKind::Corrupt);
        // Two wraps of one secret differ (random nonces); the ciphertext is not the secret.
        let again = a.wrap(b"sixteen byte key", "content key 1").await.unwrap();
        assert_ne!(w.ciphertext, again.ciphertext);
        assert!(!format!("{w:?}{a:?}").contains(&w.ciphertext));
    }

    #[test]
    fn a_bad_kek_is_refused_without_echoing_it() {
        let err = LocalKek::from_base64("not base64 at all!", "MIRRORCAST_KEK_B").unwrap_err();
        assert!(err.to_string().contains("MIRRORCAST_KEK_B") && !err.to_string().contains("at all"), "{err}");
        let short = B64.encode([7u8; 16]);
        let err = LocalKek::from_base64(&short, "kek_file x").unwrap_err();
        assert!(err.to_string().contains("16 bytes, not 32") && !err.to_string().contains(&short), "{err}");
        let ok = LocalKek::from_base64(&format!(" {}\n", B64.encode([7u8; 32])), "x").unwrap();
        assert_eq!(ok.fingerprint(), kek(7).fingerprint());
        assert_ne!(kek(7).fingerprint(), kek(8).fingerprint());
    }
}
