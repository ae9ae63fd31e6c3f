//! The content protection records of a Media Services export: content keys
//! (v3 locators' `contentKeys` with `value`, `streaming-locator
//! list-content-keys` output; v2 `ContentKeys`), content key policies (v3
//! `content-key-policy show --with-secrets`; v2 `ContentKeyAuthorizationPolicies`
//! with their `Options`) and streaming policies (v3 `streaming-policy list`; v2
//! `AssetDeliveryPolicies`). Pure: each entity read into what the import
//! writes, or refused with a reason that never quotes a secret; what a record
//! held that mirrorcast cannot serve is named in its notes.
//!
//! Rooms: `v3` (az ams shapes), `v2` (REST shapes), `restriction_xml` (v2 token
//! restriction templates).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::fields::field;
use super::{RecordKind, Rejected};
use crate::error::Result;
use crate::protection::kek::KeyEncryptionKey;
use crate::protection::policy::{KeyDelivery, PolicyOption, RequiredClaim, Restriction, TokenKey, TokenRestriction};
use crate::protection::{ContentKeyPolicy, ContentKeyType, ContentKeyValue, StreamingPolicy};

mod restriction_xml;
mod v2;
mod v3;

/// Most protection records one export may hold (a library's locators name a few keys each).
pub const MAX_RECORDS: usize = 100_000;

/// An HS256 token key read from an export: zeroed on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([REDACTED])")
    }
}

/// What the export holds of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHeld {
    /// The key itself.
    Clear(ContentKeyValue),
    /// Only its id (a locator listed without `list-content-keys`).
    Absent,
    /// A v2 key encrypted with Media Services' protection key (an X.509 certificate the export does not hold).
    Encrypted {
        /// The protection key's id (its certificate's thumbprint), not secret.
        protection_key_id: String,
    },
}

/// A content key to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKey {
    /// `<document>#<index>`: where the key is (the first place, when several name it).
    pub source: String,
    /// Its id, hyphenated (as the report prints it).
    pub id_text: String,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    pub key_type: ContentKeyType,
    /// The content key policy that delivers it, if the export names one.
    pub policy_name: Option<String>,
    /// The key, if the export holds it.
    pub held: KeyHeld,
}

/// A token key read from an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportTokenKey {
    /// HS256: sealed under the KEK when written.
    Symmetric(TokenSecret),
    /// RS256 or X.509: public, kept as is.
    Public(TokenKey),
}

/// Who may have a key, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRestriction {
    /// Anyone.
    Open,
    /// A token.
    Token {
        /// `iss`.
        issuer: String,
        /// `aud`.
        audience: String,
        /// Primary first.
        keys: Vec<ImportTokenKey>,
        /// Claims a token must carry.
        required_claims: Vec<RequiredClaim>,
    },
}

/// One option of a policy, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOption {
    /// Its name.
    pub name: String,
    /// What it delivers.
    pub delivery: KeyDelivery,
    /// To whom.
    pub restriction: ImportRestriction,
}

/// A content key policy to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPolicy {
    /// Where it is.
    pub source: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its options.
    pub options: Vec<ImportOption>,
    /// What the export held that the record does not keep (never a secret's value).
    pub notes: Vec<String>,
}

/// A streaming policy to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStreaming {
    /// Where it is.
    pub source: String,
    /// The record.
    pub policy: StreamingPolicy,
    /// What the export held that the record does not keep.
    pub notes: Vec<String>,
}

/// The protection records of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectionExport {
    /// Content keys, one per id.
    pub keys: Vec<ImportKey>,
    /// Content key policies, one per name.
    pub policies: Vec<ImportPolicy>,
    /// Streaming policies, one per name.
    pub streaming: Vec<ImportStreaming>,
}

impl ProtectionExport {
    /// Whether the export held no protection record.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.policies.is_empty() && self.streaming.is_empty()
    }
}

impl ImportPolicy {
    /// Whether any option holds an HS256 key (sealing needs the KEK).
    pub fn has_secrets(&self) -> bool {
        self.options.iter().any(|o| match &o.restriction {
            ImportRestriction::Token { keys, .. } => keys.iter().any(|k| matches!(k, ImportTokenKey::Symmetric(_))),
            ImportRestriction::Open => false,
        })
    }

    /// The record, HS256 keys wrapped under `kek` (needed only when [`Self::has_secrets`]), checked.
    pub async fn seal(
        &self,
        kek: Option<&dyn KeyEncryptionKey>,
        created: chrono::DateTime<chrono::Utc>,
    ) -> Result<ContentKeyPolicy> {
        let mut options = Vec::with_capacity(self.options.len());
        for o in &self.options {
            let restriction = match &o.restriction {
                ImportRestriction::Open => Restriction::Open,
                ImportRestriction::Token { issuer, audience, keys, required_claims } => {
                    let mut sealed = Vec::with_capacity(keys.len());
                    for k in keys {
                        sealed.push(match k {
                            ImportTokenKey::Public(k) => k.clone(),
                            ImportTokenKey::Symmetric(secret) => {
                                let kek = kek.ok_or_else(|| {
                                    crate::Error::invalid_input(format!(
                                        "content key policy '{}' holds an HS256 token key: give the data center's KEK (MIRRORCAST_KEK_<NAME>) to import it wrapped",
                                        self.name
                                    ))
                                })?;
                                TokenKey::seal_symmetric(&secret.0, &self.name, kek).await?
                            }
                        });
                    }
                    let primary_key = sealed.remove(0);
                    Restriction::Token(TokenRestriction {
                        issuer: issuer.clone(),
                        audience: audience.clone(),
                        primary_key,
                        alternate_keys: sealed,
                        required_claims: required_claims.clone(),
                    })
                }
            };
            options.push(PolicyOption { name: o.name.clone(), delivery: o.delivery, restriction });
        }
        let policy =
            ContentKeyPolicy { name: self.name.clone(), description: self.description.clone(), options, created };
        policy.validate()?;
        Ok(policy)
    }
}

/// Reads the protection entities of an export's documents, one at a time.
#[derive(Debug, Default)]
pub(crate) struct ProtectionReader {
    keys: Vec<ImportKey>,
    /// v3 policies as read, paired by `policyId` at the end: `show --with-secrets` prints no name.
    v3_policies: Vec<(String, Value)>,
    policies: Vec<ImportPolicy>,
    streaming: Vec<ImportStreaming>,
    rejected: Vec<Rejected>,
    links: V2Links,
}

/// How v2 records name each other by id, as read: what binds a v2 asset's locators
/// to the streaming policy and key policy its records name.
#[derive(Debug, Default)]
pub(crate) struct V2Links {
    /// Asset delivery policy id → the streaming policy name it was read as (`Err`: refused, by its label).
    pub(crate) delivery_policies: BTreeMap<Uuid, std::result::Result<String, String>>,
    /// Content key id → its `AuthorizationPolicyId`.
    pub(crate) key_policies: BTreeMap<Uuid, Uuid>,
    /// Content key authorization policy id → the content key policy name it was read as.
    pub(crate) policies: BTreeMap<Uuid, String>,
}

/// What an entity is, for this reader.
enum Shape {
    /// A v3 streaming locator: its keys are read, the locator is the asset reader's.
    V3Locator,
    /// `list-content-keys` output: `{"contentKeys": […]}`.
    V3KeyList,
    /// One v3 content key object.
    V3Key,
    V3Policy,
    V3Streaming,
    V2Key,
    V2Policy,
    V2Delivery,
}

fn arm_type_is(e: &Value, kind: &str) -> bool {
    e.get("type").and_then(Value::as_str).is_some_and(|t| t.to_ascii_lowercase().ends_with(kind))
}

fn classify(e: &Value) -> Option<Shape> {
    let o = e.as_object()?;
    let has = |k: &str| field(e, k).is_some();
    if has("streamingLocatorId") || arm_type_is(e, "/streaminglocators") {
        return Some(Shape::V3Locator);
    }
    if arm_type_is(e, "/contentkeypolicies") || (has("options") && has("policyId")) {
        return Some(Shape::V3Policy);
    }
    if arm_type_is(e, "/streamingpolicies")
        || ["noEncryption", "envelopeEncryption", "commonEncryptionCenc", "commonEncryptionCbcs"].iter().any(|k| has(k))
    {
        return Some(Shape::V3Streaming);
    }
    if o.get("contentKeys").is_some_and(Value::is_array) {
        return Some(Shape::V3KeyList);
    }
    let v3_key_type = o.get("type").and_then(Value::as_str).is_some_and(|t| {
        ["commonencryptioncenc", "commonencryptioncbcs", "envelopeencryption"]
            .contains(&t.to_ascii_lowercase().as_str())
    });
    if v3_key_type && o.contains_key("id") {
        return Some(Shape::V3Key);
    }
    let id = o.get("Id").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    if id.starts_with("nb:kid:") || o.contains_key("EncryptedContentKey") || o.contains_key("ContentKeyType") {
        return Some(Shape::V2Key);
    }
    if id.starts_with("nb:ckpid:") {
        return Some(Shape::V2Policy);
    }
    if id.starts_with("nb:adpid:")
        || (o.contains_key("AssetDeliveryPolicyType") && o.contains_key("AssetDeliveryProtocol"))
    {
        return Some(Shape::V2Delivery);
    }
    None
}

/// The id an entity gives itself, for a rejection (names and ids are not secret).
fn entity_id(e: &Value) -> Option<String> {
    ["name", "Name", "id", "Id"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .map(|s| s.chars().take(200).collect())
}

impl ProtectionReader {
    /// Takes one entity: `true` when it is a protection record (the asset reader
    /// then skips it); a v3 locator's keys are read and `false` returned.
    pub(crate) fn take(&mut self, source: &str, e: &Value) -> bool {
        let Some(shape) = classify(e) else { return false };
        if self.count() >= MAX_RECORDS {
            self.reject(
                source,
                RecordKind::ContentKey,
                None,
                format!("more than {MAX_RECORDS} protection records: the rest were not read"),
            );
            return !matches!(shape, Shape::V3Locator);
        }
        match shape {
            Shape::V3Locator => {
                if let Some(Value::Array(keys)) = field(e, "contentKeys") {
                    for (j, k) in keys.iter().enumerate() {
                        self.key(&format!("{source}/contentKeys#{j}"), v3::key(k), k);
                    }
                }
                return false;
            }
            Shape::V3KeyList => {
                if let Some(Value::Array(keys)) = e.get("contentKeys") {
                    for (j, k) in keys.iter().enumerate() {
                        self.key(&format!("{source}/contentKeys#{j}"), v3::key(k), k);
                    }
                }
            }
            Shape::V3Key => self.key(source, v3::key(e), e),
            Shape::V2Key => {
                let read = v2::key(e);
                if let (Ok(k), Some(policy)) = (&read, v2::authorization_policy_id(e)) {
                    self.links.key_policies.insert(k.id, policy);
                }
                self.key(source, read, e)
            }
            Shape::V3Policy => self.v3_policies.push((source.to_owned(), e.clone())),
            Shape::V2Policy => match v2::policy(source, e) {
                Ok(p) => {
                    if let Some(id) = v2::entity_guid(e, "nb:ckpid:uuid:") {
                        self.links.policies.insert(id, p.name.clone());
                    }
                    self.policies.push(p)
                }
                Err(reason) => self.reject(source, RecordKind::ContentKeyPolicy, entity_id(e), reason),
            },
            Shape::V3Streaming => match v3::streaming(source, e) {
                Ok(p) => self.streaming.push(p),
                Err(reason) => self.reject(source, RecordKind::StreamingPolicy, entity_id(e), reason),
            },
            Shape::V2Delivery => {
                let read = v2::delivery(source, e);
                if let Some(id) = v2::entity_guid(e, "nb:adpid:uuid:") {
                    let link = match &read {
                        Ok(p) => Ok(p.policy.name.clone()),
                        Err(_) => Err(entity_id(e).unwrap_or_default()),
                    };
                    self.links.delivery_policies.insert(id, link);
                }
                match read {
                    Ok(p) => self.streaming.push(p),
                    Err(reason) => self.reject(source, RecordKind::StreamingPolicy, entity_id(e), reason),
                }
            }
        }
        true
    }

    fn count(&self) -> usize {
        self.keys.len() + self.v3_policies.len() + self.policies.len() + self.streaming.len() + self.rejected.len()
    }

    fn key(&mut self, source: &str, read: std::result::Result<ImportKey, String>, e: &Value) {
        match read {
            Ok(mut k) => {
                k.source = source.to_owned();
                self.keys.push(k);
            }
            // Only the id is quoted: a key's value never reaches a reason.
            Err(reason) => {
                let id = ["id", "Id"]
                    .iter()
                    .find_map(|k| e.get(*k).and_then(Value::as_str))
                    .map(|s| s.chars().take(64).collect());
                self.reject(source, RecordKind::ContentKey, id, reason)
            }
        }
    }

    fn reject(&mut self, source: &str, kind: RecordKind, id: Option<String>, reason: String) {
        self.rejected.push(Rejected { source: source.to_owned(), kind, id, reason });
    }

    /// The records, one per key id and per name, and the rejected ones: a key
    /// given twice with different values, or a name given to two policies, is
    /// refused in every place (which one is meant would be a guess).
    /// The v2 links read so far (taken: call before [`Self::finish`]).
    pub(crate) fn take_links(&mut self) -> V2Links {
        std::mem::take(&mut self.links)
    }

    pub(crate) fn finish(mut self) -> (ProtectionExport, Vec<Rejected>) {
        self.pair_v3_policies();
        let mut rejected = self.rejected;
        let keys = merge_keys(self.keys, &mut rejected);
        let policies =
            unique_names(self.policies, |p| &p.name, RecordKind::ContentKeyPolicy, |p| &p.source, &mut rejected);
        let streaming =
            unique_names(self.streaming, |p| &p.policy.name, RecordKind::StreamingPolicy, |p| &p.source, &mut rejected);
        (ProtectionExport { keys, policies, streaming }, rejected)
    }
}

impl ProtectionReader {
    /// Each named v3 policy (`list`, `show`) with its options from the `show
    /// --with-secrets` output of the same `policyId` when there is one; that
    /// output without a named policy cannot be imported (it has no name).
    fn pair_v3_policies(&mut self) {
        let (named, unnamed): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.v3_policies).into_iter().partition(|(_, e)| v3::policy_name(e).is_some());
        let mut unnamed: Vec<Option<(String, Value)>> = unnamed.into_iter().map(Some).collect();
        for (source, e) in named {
            let name = match v3::policy_name(&e) {
                Some(Ok(n)) => n,
                Some(Err(reason)) => {
                    self.reject(&source, RecordKind::ContentKeyPolicy, entity_id(&e), reason);
                    continue;
                }
                None => continue,
            };
            let id = v3::policy_id(&e);
            let with_secrets = unnamed
                .iter_mut()
                .find(|u| u.as_ref().is_some_and(|(_, s)| id.is_some() && v3::policy_id(s) == id))
                .and_then(Option::take);
            let (body_source, body) = with_secrets.as_ref().map_or((&source, &e), |(s, b)| (s, b));
            match v3::policy(body_source, name.clone(), body) {
                Ok(p) => self.policies.push(p),
                Err(reason) => self.reject(body_source, RecordKind::ContentKeyPolicy, Some(name), reason),
            }
        }
        for (source, e) in unnamed.into_iter().flatten() {
            let id = v3::policy_id(&e).unwrap_or_else(|| "none".into());
            self.reject(
                &source,
                RecordKind::ContentKeyPolicy,
                Some(id.clone()),
                format!("content key policy properties (policyId {id}) without a name, as `show --with-secrets` prints them: add `az ams content-key-policy list` output, which pairs each name with its policyId"),
            );
        }
    }
}

/// One key per id: the places that name it agree (a value wins over none).
fn merge_keys(keys: Vec<ImportKey>, rejected: &mut Vec<Rejected>) -> Vec<ImportKey> {
    let mut by_id: BTreeMap<Uuid, Vec<ImportKey>> = BTreeMap::new();
    let mut order = Vec::new();
    for k in keys {
        if !by_id.contains_key(&k.id) {
            order.push(k.id);
        }
        by_id.entry(k.id).or_default().push(k);
    }
    let mut out = Vec::new();
    for id in order {
        let mut all = by_id.remove(&id).unwrap_or_default();
        let values: Vec<&ContentKeyValue> = all
            .iter()
            .filter_map(|k| match &k.held {
                KeyHeld::Clear(v) => Some(v),
                _ => None,
            })
            .collect();
        let types_agree = all.iter().all(|k| k.key_type == all[0].key_type);
        let values_agree = values.windows(2).all(|w| w[0] == w[1]);
        if !(types_agree && values_agree) {
            let what = if types_agree { "different keys" } else { "different key types" };
            for k in &all {
                rejected.push(Rejected {
                    source: k.source.clone(),
                    kind: RecordKind::ContentKey,
                    id: Some(k.id_text.clone()),
                    reason: format!(
                        "the export gives content key {id} {what} in {} places: none of them is imported",
                        all.len()
                    ),
                });
            }
            continue;
        }
        // The place holding the value, else the first; a policy name from any place.
        let best = all.iter().position(|k| matches!(k.held, KeyHeld::Clear(_))).unwrap_or(0);
        let policy_name = all.iter().find_map(|k| k.policy_name.clone());
        let mut key = all.swap_remove(best);
        key.policy_name = key.policy_name.or(policy_name);
        out.push(key);
    }
    out
}

fn unique_names<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &String,
    kind: RecordKind,
    source: impl Fn(&T) -> &String,
    rejected: &mut Vec<Rejected>,
) -> Vec<T> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for i in &items {
        *count.entry(name(i).to_ascii_lowercase()).or_default() += 1;
    }
    let mut out = Vec::new();
    for i in items {
        let n = count[&name(&i).to_ascii_lowercase()];
        if n > 1 {
            rejected.push(Rejected {
                source: source(&i).clone(),
                kind,
                id: Some(name(&i).clone()),
                reason: format!(
                    "the export gives {n} records named '{}' (names are compared without case): none is imported",
                    name(&i)
                ),
            });
        } else {
            out.push(i);
        }
    }
    out
}

/// A key's bytes from base64 (or a JSON array of bytes, as some SDKs print `bytearray`s);
/// the reason never quotes the value.
pub(super) fn secret_bytes(v: &Value, what: &str) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    use base64::Engine as _;
    let bad = || format!("{what} is neither base64 nor a list of bytes");
    match v {
        Value::String(s) => {
            let compact: Zeroizing<String> = Zeroizing::new(s.chars().filter(|c| !c.is_whitespace()).collect());
            base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map(Zeroizing::new).map_err(|_| bad())
        }
        Value::Array(items) => items
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()).ok_or_else(bad))
            .collect::<std::result::Result<Vec<u8>, String>>()
            .map(Zeroizing::new),
        _ => Err(bad()),
    }
}

/// An HS256 key checked for length (Media Services generated 64 bytes; the house takes 16 to 256).
pub(super) fn token_secret(bytes: Zeroizing<Vec<u8>>, policy: &str) -> std::result::Result<TokenSecret, String> {
    use crate::protection::policy::SYMMETRIC_KEY_BYTES;
    if !SYMMETRIC_KEY_BYTES.contains(&bytes.len()) {
        return Err(format!(
            "an HS256 token key of content key policy '{policy}' is {} bytes; mirrorcast takes {} to {}: rotate the key (a new one for new tokens) and import again",
            bytes.len(),
            SYMMETRIC_KEY_BYTES.start(),
            SYMMETRIC_KEY_BYTES.end()
        ));
    }
    Ok(TokenSecret(bytes))
}

#[cfg(test)]
mod tests;
