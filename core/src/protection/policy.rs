//! Content key policies: who may have a content key. Open (anyone), or a
//! token restriction (a JWT from an issuer for an audience, signed with an
//! HS256 symmetric key or an RS256 key, carrying required claims). Symmetric
//! token keys are secrets: a record holds them only wrapped, like content keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::digest::KeyedHash;
use super::kek::{KeyEncryptionKey, Wrapped};
use super::names::{check_name, path_segment};
use crate::error::{Error, Result};

/// Media Services' claim that names the content key a token is good for;
/// required with no value, the token's value must be the requested key id.
pub const CONTENT_KEY_ID_CLAIM: &str = "urn:microsoft:azure:mediaservices:contentkeyidentifier";

/// Bounds a policy record keeps (records are input).
const MAX_OPTIONS: usize = 8;
const MAX_KEYS: usize = 8;
const MAX_CLAIMS: usize = 32;
const MAX_TEXT: usize = 2048;
const MAX_KEY_TEXT: usize = 16 * 1024;
/// Shortest and longest HS256 key: Media Services generated 64 bytes.
pub const SYMMETRIC_KEY_BYTES: std::ops::RangeInclusive<usize> = 16..=256;

/// A named content key policy and its options (v3 `contentKeyPolicies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentKeyPolicy {
    /// The policy's name (unique per data center, compared without case).
    pub name: String,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Each way a key may be delivered, and to whom.
    pub options: Vec<PolicyOption>,
    /// When it was made (or imported).
    pub created: DateTime<Utc>,
}

/// One option of a policy: a delivery (licence or key kind) and its restriction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOption {
    /// The option's name.
    pub name: String,
    /// What is delivered.
    pub delivery: KeyDelivery,
    /// Who may have it.
    pub restriction: Restriction,
}

/// What an option delivers (v3 configuration `@odata.type`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyDelivery {
    /// The AES-128 key of HLS envelope encryption, or a W3C ClearKey licence.
    ClearKey,
    /// A PlayReady licence (from a licence server the streaming policy names).
    PlayReady,
    /// A Widevine licence.
    Widevine,
    /// A FairPlay key.
    FairPlay,
}

impl std::str::FromStr for KeyDelivery {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "clearkey" | "envelope" => Ok(KeyDelivery::ClearKey),
            "playready" => Ok(KeyDelivery::PlayReady),
            "widevine" => Ok(KeyDelivery::Widevine),
            "fairplay" => Ok(KeyDelivery::FairPlay),
            _ => Err(Error::invalid_input(format!(
                "'{}' is not a key delivery: use clear-key, play-ready, widevine or fair-play",
                s.chars().take(64).collect::<String>()
            ))),
        }
    }
}

/// Who may have a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
// A data center holds a handful of policies: boxing the token variant (grown by
// `Wrapped::wrapped_key`) would save nothing that matters and touch every match.
#[allow(clippy::large_enum_variant)]
pub enum Restriction {
    /// Anyone who asks.
    Open,
    /// Whoever presents a valid token.
    Token(TokenRestriction),
}

/// A token restriction (v3 `ContentKeyPolicyTokenRestriction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRestriction {
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `aud`.
    pub audience: String,
    /// The key a token is checked with first.
    pub primary_key: TokenKey,
    /// Other keys a token may be signed with (rollover).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_keys: Vec<TokenKey>,
    /// Claims a token must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_claims: Vec<RequiredClaim>,
}

/// A key tokens are checked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TokenKey {
    /// An HS256 key: a secret, held wrapped under the data center's KEK.
    Symmetric {
        /// The key, wrapped and bound to its policy.
        wrapped: Wrapped,
    },
    /// An RS256 public key as Media Services held it: modulus and exponent, base64.
    Rsa {
        /// Modulus, base64 (big-endian).
        modulus: String,
        /// Exponent, base64 (big-endian).
        exponent: String,
    },
    /// An RS256 public key in an X.509 certificate: DER, base64.
    X509 {
        /// The certificate, DER in base64.
        certificate: String,
    },
}

/// A claim a token must carry; without a value any value will do (for
/// [`CONTENT_KEY_ID_CLAIM`]: it must be the requested key id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredClaim {
    /// The claim's name.
    pub claim_type: String,
    /// The value it must have, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_value: Option<String>,
}

impl TokenKey {
    /// An HS256 key, wrapped under `kek` for policy `policy`.
    pub async fn seal_symmetric(secret: &[u8], policy: &str, kek: &dyn KeyEncryptionKey) -> Result<Self> {
        if !SYMMETRIC_KEY_BYTES.contains(&secret.len()) {
            return Err(Error::invalid_input(format!(
                "an HS256 token key of content key policy '{policy}' is {} bytes; give {} to {} bytes",
                secret.len(),
                SYMMETRIC_KEY_BYTES.start(),
                SYMMETRIC_KEY_BYTES.end()
            )));
        }
        Ok(TokenKey::Symmetric { wrapped: kek.wrap(secret, &symmetric_context(policy)).await? })
    }

    /// An HS256 key's secret, opened with `kek` (in memory only: key delivery checks
    /// tokens with it); `None` for a public key, which needs no opening.
    pub async fn open_symmetric(&self, policy: &str, kek: &dyn KeyEncryptionKey) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match self {
            TokenKey::Symmetric { wrapped } => open_symmetric(policy, wrapped, kek).await.map(Some),
            TokenKey::Rsa { .. } | TokenKey::X509 { .. } => Ok(None),
        }
    }

    /// The kind, for listings: `hs256`, `rs256`, `x509`.
    pub fn label(&self) -> &'static str {
        match self {
            TokenKey::Symmetric { .. } => "hs256",
            TokenKey::Rsa { .. } => "rs256",
            TokenKey::X509 { .. } => "x509",
        }
    }

    fn validate(&self) -> Result<()> {
        let b64 = |s: &str, what: &str| {
            use base64::Engine as _;
            if s.len() > MAX_KEY_TEXT || base64::engine::general_purpose::STANDARD.decode(s).is_err() {
                return Err(Error::invalid_input(format!("a token key's {what} is not base64 of at most 12 KiB")));
            }
            Ok(())
        };
        match self {
            TokenKey::Symmetric { wrapped } => wrapped.validate(),
            TokenKey::Rsa { modulus, exponent } => b64(modulus, "modulus").and_then(|_| b64(exponent, "exponent")),
            TokenKey::X509 { certificate } => b64(certificate, "certificate"),
        }
    }
}

/// What a policy's symmetric token keys are bound to: the policy, by name.
fn symmetric_context(policy: &str) -> String {
    format!("mirrorcast/token-key/v1/{}", path_segment(policy))
}

fn check_text(text: &str, what: &str) -> Result<()> {
    if text.trim().is_empty() || text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!(
            "a content key policy's {what} is empty, longer than {MAX_TEXT} bytes or holds control characters"
        )));
    }
    Ok(())
}

impl ContentKeyPolicy {
    /// Checks a policy (made here or read from storage): its name, bounded lists, plain text, well-formed keys.
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name, "content key policy")?;
        if let Some(d) = &self.description {
            check_text(d, "description")?;
        }
        if self.options.is_empty() || self.options.len() > MAX_OPTIONS {
            return Err(Error::invalid_input(format!(
                "content key policy '{}' has {} options; give 1 to {MAX_OPTIONS}",
                self.name,
                self.options.len()
            )));
        }
        for option in &self.options {
            check_text(&option.name, "option name")?;
            if let Restriction::Token(t) = &option.restriction {
                check_text(&t.issuer, "issuer")?;
                check_text(&t.audience, "audience")?;
                if t.alternate_keys.len() > MAX_KEYS || t.required_claims.len() > MAX_CLAIMS {
                    return Err(Error::invalid_input(format!(
                        "content key policy '{}': at most {MAX_KEYS} alternate keys and {MAX_CLAIMS} required claims",
                        self.name
                    )));
                }
                for key in std::iter::once(&t.primary_key).chain(&t.alternate_keys) {
                    key.validate()?;
                }
                for claim in &t.required_claims {
                    check_text(&claim.claim_type, "claim type")?;
                    if let Some(v) = &claim.claim_value {
                        check_text(v, "claim value")?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every symmetric token key's wrap, in order.
    fn symmetric_keys_mut(&mut self) -> impl Iterator<Item = &mut Wrapped> {
        self.options.iter_mut().flat_map(|o| match &mut o.restriction {
            Restriction::Open => Vec::new(),
            Restriction::Token(t) => std::iter::once(&mut t.primary_key)
                .chain(t.alternate_keys.iter_mut())
                .filter_map(|k| match k {
                    TokenKey::Symmetric { wrapped } => Some(wrapped),
                    _ => None,
                })
                .collect(),
        })
    }

    /// Whether any option holds a symmetric key (a secret that needs the KEK to copy).
    pub fn has_secrets(&self) -> bool {
        self.clone().symmetric_keys_mut().next().is_some()
    }

    /// The same policy with every symmetric key re-wrapped: opened with `from`, wrapped under `to`.
    pub async fn rewrap(&self, from: &dyn KeyEncryptionKey, to: &dyn KeyEncryptionKey) -> Result<Self> {
        let mut out = self.clone();
        let context = symmetric_context(&self.name);
        for wrapped in out.symmetric_keys_mut() {
            let secret = open_symmetric(&self.name, wrapped, from).await?;
            *wrapped = to.wrap(&secret, &context).await?;
        }
        Ok(out)
    }

    /// The policy as a comparable value: every symmetric key replaced by its
    /// keyed hash under `hash` (two data centers' records compare equal when
    /// their terms and secrets are equal, whatever KEK wraps them), and the
    /// creation time left out.
    pub async fn comparable(&self, kek: &dyn KeyEncryptionKey, hash: &KeyedHash) -> Result<serde_json::Value> {
        let mut out = self.clone();
        for wrapped in out.symmetric_keys_mut() {
            let secret = open_symmetric(&self.name, wrapped, kek).await?;
            *wrapped = Wrapped {
                algorithm: "keyed-hash".into(),
                kek: String::new(),
                nonce: String::new(),
                ciphertext: hash.of(&secret),
                wrapped_key: None,
            };
        }
        out.created = DateTime::<Utc>::UNIX_EPOCH;
        out.name = path_segment(&out.name);
        Ok(serde_json::to_value(out)?)
    }
}

async fn open_symmetric(policy: &str, wrapped: &Wrapped, kek: &dyn KeyEncryptionKey) -> Result<Zeroizing<Vec<u8>>> {
    kek.unwrap(wrapped, &symmetric_context(policy))
        .await
        .map_err(|e| Error::new(e.kind(), format!("a token key of content key policy '{policy}': {}", e.message())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protection::kek::{LocalKek, KEK_LEN};

    async fn token_policy(kek: &LocalKek, secret: &[u8]) -> ContentKeyPolicy {
        ContentKeyPolicy {
            name: "Tokened".into(),
            description: None,
            options: vec![PolicyOption {
                name: "clear-key".into(),
                delivery: KeyDelivery::ClearKey,
                restriction: Restriction::Token(TokenRestriction {
                    issuer: "https://issuer.example".into(),
                    audience: "urn:viewers".into(),
                    primary_key: TokenKey::seal_symmetric(secret, "Tokened", kek).await.unwrap(),
                    alternate_keys: vec![TokenKey::Rsa { modulus: "AQAB".into(), exponent: "AQAB".into() }],
                    required_claims: vec![RequiredClaim { claim_type: CONTENT_KEY_ID_CLAIM.into(), claim_value: None }],
                }),
            }],
            created: Utc::now(),
        }
    }

    #[tokio::test]
    async fn symmetric_token_keys_are_wrapped_rewrapped_and_compared_by_keyed_hash() {
        let (a, b) = (LocalKek::from_bytes([1; KEK_LEN]), LocalKek::from_bytes([2; KEK_LEN]));
        let secret = [0x5au8; 32];
        let policy = token_policy(&a, &secret).await;
        policy.validate().unwrap();
        assert!(policy.has_secrets());
        let json = serde_json::to_string(&policy).unwrap();
        use base64::Engine as _;
        assert!(!json.contains(&base64::engine::general_purpose::STANDARD.encode(secret)));
        let Restriction::Token(terms) = &policy.options[0].restriction else { unreachable!() };
        let opened = terms.primary_key.open_symmetric("Tokened", &a).await.unwrap().unwrap();
        assert_eq!(&opened[..], &secret[..]);
        assert!(terms.primary_key.open_symmetric("Other", &a).await.is_err(), "bound to its policy");
        assert!(terms.alternate_keys[0].open_symmetric("Tokened", &a).await.unwrap().is_none(), "a public key");
        let for_b = policy.rewrap(&a, &b).await.unwrap();
        let hash = KeyedHash::random();
        assert_eq!(policy.comparable(&a, &hash).await.unwrap(), for_b.comparable(&b, &hash).await.unwrap());
        let other = token_policy(&b, &[0x5b; 32]).await;
        assert_ne!(policy.comparable(&a, &hash).await.unwrap(), other.comparable(&b, &hash).await.unwrap());
        assert!(policy.rewrap(&b, &a).await.is_err(), "opened with the wrong KEK");
    }

    #[tokio::test]
    async fn hostile_policies_are_refused() {
        let kek = LocalKek::from_bytes([1; KEK_LEN]);
        assert!(TokenKey::seal_symmetric(&[1; 8], "p", &kek).await.is_err());
        let mut p = token_policy(&kek, &[1; 32]).await;
        p.name = "a/b".into();
        assert!(p.validate().is_err());
        let mut p = token_policy(&kek, &[1; 32]).await;
        if let Restriction::Token(t) = &mut p.options[0].restriction {
            t.issuer = "x\ny".into();
        }
        assert!(p.validate().is_err());
        let mut p = token_policy(&kek, &[1; 32]).await;
        p.options.clear();
        assert!(p.validate().is_err());
        assert_eq!("play_ready".parse::<KeyDelivery>().unwrap(), KeyDelivery::PlayReady);
    }
}
