//! The token check of a content key policy's token restriction (pure): a JWT
//! (compact JWS) signed with one of the policy's keys under an algorithm the
//! policy allows, from its issuer, for its audience, within its lifetime, with
//! its required claims, and — when it names a content key — for the key asked for.
//!
//! `jsonwebtoken` checks the signature only (header, the algorithm against the
//! key's family, the signature); every claim is checked here with strict types.
//! Its own claim validation is off: in 9.x it treats a claim of the wrong type
//! as absent (CVE-2026-25537), which a string `exp` would turn into a token
//! valid forever. Here a token without a numeric `exp` is refused.

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mirrorcast_core::protection::keys::parse_key_id;
use mirrorcast_core::protection::policy::{RequiredClaim, CONTENT_KEY_ID_CLAIM};
use serde_json::{Map, Value};
use uuid::Uuid;

/// How far `exp` and `nbf` may be off: clocks of the token issuer and of the data centers
/// differ a little. A token is good from `nbf - 60 s` until `exp + 60 s`.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Longest token read: a licence token is a few hundred bytes; anything longer is not one.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a token does not get the key: a few words for the viewer, never the token or a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token was presented (401).
    Missing,
    /// Not a compact JWS of JSON parts, or longer than [`MAX_TOKEN_BYTES`].
    Malformed,
    /// Signed with an algorithm the policy has no key for (`none`, HS384, HS256 against an RSA key…).
    AlgorithmNotAllowed,
    /// No key of the policy verifies the signature.
    BadSignature,
    /// Past `exp` (and the skew).
    Expired,
    /// Before `nbf` (less the skew).
    NotYetValid,
    /// No numeric `exp`: a token must end.
    NoExpiry,
    /// `exp`, `nbf`, `iss` or `aud` of the wrong JSON type.
    BadClaimType,
    /// Another `iss`.
    WrongIssuer,
    /// No `aud` equal to the policy's.
    WrongAudience,
    /// A required claim is absent.
    MissingClaim,
    /// A required claim has another value.
    WrongClaim,
    /// The content key id claim names another key.
    OtherKey,
}

impl Refusal {
    /// The few words the refusal's body says.
    pub fn why(self) -> &'static str {
        match self {
            Refusal::Missing => "token required",
            Refusal::Malformed => "malformed token",
            Refusal::AlgorithmNotAllowed => "token algorithm not allowed",
            Refusal::BadSignature => "token signature invalid",
            Refusal::Expired => "token expired",
            Refusal::NotYetValid => "token not yet valid",
            Refusal::NoExpiry => "token has no expiry",
            Refusal::BadClaimType => "token claim of the wrong type",
            Refusal::WrongIssuer => "wrong token issuer",
            Refusal::WrongAudience => "wrong token audience",
            Refusal::MissingClaim => "token lacks a required claim",
            Refusal::WrongClaim => "token claim has the wrong value",
            Refusal::OtherKey => "token is for another key",
        }
    }

    /// Its label in `/metrics`: `missing` (401) or `refused` (403).
    pub fn is_missing(self) -> bool {
        self == Refusal::Missing
    }
}

/// A key of the policy that verifies signatures; never printed (an HS256 key is a secret).
pub struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// A policy's public key that cannot be read (a record is input): said by kind, never quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadKey(&'static str);

impl VerifyingKey {
    /// An HS256 key (its secret, opened from the policy).
    pub fn hs256(secret: &[u8]) -> Self {
        VerifyingKey { algorithm: Algorithm::HS256, key: DecodingKey::from_secret(secret) }
    }

    /// An RS256 key from its modulus and exponent, each base64 big-endian (as Media Services held them).
    pub fn rs256(modulus: &str, exponent: &str) -> Result<Self, BadKey> {
        let modulus = B64.decode(modulus).map_err(|_| BadKey("an RS256 modulus is not base64"))?;
        let exponent = B64.decode(exponent).map_err(|_| BadKey("an RS256 exponent is not base64"))?;
        Ok(Self::rsa_components(&modulus, &exponent))
    }

    /// The RS256 key of an X.509 certificate (DER, base64): its subject public key.
    pub fn x509(certificate: &str) -> Result<Self, BadKey> {
        let der = B64.decode(certificate).map_err(|_| BadKey("an X.509 certificate is not base64"))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| BadKey("an X.509 certificate does not parse"))?;
        match cert.public_key().parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Ok(Self::rsa_components(rsa.modulus, rsa.exponent)),
            _ => Err(BadKey("an X.509 certificate holds no RSA public key")),
        }
    }

    /// ring wants the integers without the sign byte DER and some exports put before them.
    fn rsa_components(modulus: &[u8], exponent: &[u8]) -> Self {
        let minimal = |b: &[u8]| b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..].to_vec();
        let key = DecodingKey::from_rsa_raw_components(&minimal(modulus), &minimal(exponent));
        VerifyingKey { algorithm: Algorithm::RS256, key }
    }
}

/// What a token restriction asks of a token, its keys ready to verify.
#[derive(Debug)]
pub struct TokenTerms<'a> {
    /// The `iss` a token must carry.
    pub issuer: &'a str,
    /// The `aud` a token must carry (one of them, when it is a list).
    pub audience: &'a str,
    /// Primary key first, then the alternates.
    pub keys: Vec<VerifyingKey>,
    /// Claims a token must carry.
    pub required_claims: &'a [RequiredClaim],
}

/// Whether `token` gets content key `key_id` under `terms`, at `now` (seconds since the epoch).
pub fn check(token: &str, terms: &TokenTerms<'_>, key_id: &Uuid, now: i64) -> Result<(), Refusal> {
    let claims = verified_claims(token, terms)?;
    check_claims(&claims, terms, key_id, now)
}

/// The claims of a token one of the keys signed, under an algorithm that key is for.
fn verified_claims(token: &str, terms: &TokenTerms<'_>) -> Result<Map<String, Value>, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed);
    }
    // The algorithm as written (jsonwebtoken's header reader cannot tell `none` from garbage).
    let header = token.split('.').next().ok_or(Refusal::Malformed)?;
    let header: Value =
        B64URL.decode(header).ok().and_then(|h| serde_json::from_slice(&h).ok()).ok_or(Refusal::Malformed)?;
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => Algorithm::HS256,
        Some("RS256") => Algorithm::RS256,
        Some(_) => return Err(Refusal::AlgorithmNotAllowed),
        None => return Err(Refusal::Malformed),
    };
    // Only keys made for that algorithm: an RSA public key is never tried as an HMAC secret.
    let keys: Vec<&VerifyingKey> = terms.keys.iter().filter(|k| k.algorithm == algorithm).collect();
    if keys.is_empty() {
        return Err(Refusal::AlgorithmNotAllowed);
    }
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let mut refusal = Refusal::BadSignature;
    for key in keys {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {}
                ErrorKind::InvalidAlgorithm => refusal = Refusal::AlgorithmNotAllowed,
                _ => return Err(Refusal::Malformed),
            },
        }
    }
    Err(refusal)
}

/// A NumericDate claim: absent, a number (seconds, fractions allowed), or of the wrong type.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(Refusal::BadClaimType),
        Some(_) => Err(Refusal::BadClaimType),
    }
}

fn check_claims(claims: &Map<String, Value>, terms: &TokenTerms<'_>, key_id: &Uuid, now: i64) -> Result<(), Refusal> {
    let now = now as f64;
    let skew = CLOCK_SKEW_SECS as f64;
    let exp = numeric_date(claims, "exp")?.ok_or(Refusal::NoExpiry)?;
    if now >= exp + skew {
        return Err(Refusal::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + skew < nbf) {
        return Err(Refusal::NotYetValid);
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == terms.issuer => {}
        Some(Value::String(_)) | None => return Err(Refusal::WrongIssuer),
        Some(_) => return Err(Refusal::BadClaimType),
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == terms.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(terms.audience)),
        None => false,
        Some(_) => return Err(Refusal::BadClaimType),
    };
    if !audience_ok {
        return Err(Refusal::WrongAudience);
    }
    for required in terms.required_claims {
        let Some(value) = claims.get(&required.claim_type).filter(|v| !v.is_null()) else {
            return Err(Refusal::MissingClaim);
        };
        if let Some(want) = &required.claim_value {
            if !claim_equals(value, want) {
                return Err(Refusal::WrongClaim);
            }
        }
    }
    // A token scoped to a content key opens that key only, required or not.
    if let Some(named) = claims.get(CONTENT_KEY_ID_CLAIM) {
        let same = named.as_str().and_then(|s| parse_key_id(s).ok()).is_some_and(|id| &id == key_id);
        if !same {
            return Err(Refusal::OtherKey);
        }
    }
    Ok(())
}

/// A claim's value against the policy's text: a string as it is, a list when one element is
/// equal, a number or boolean written as the policy's text.
fn claim_equals(value: &Value, want: &str) -> bool {
    match value {
        Value::String(s) => s == want,
        Value::Array(items) => items.iter().any(|v| claim_equals(v, want)),
        Value::Number(n) => want.parse::<serde_json::Number>().is_ok_and(|w| &w == n),
        Value::Bool(b) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
