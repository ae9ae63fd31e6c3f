//! Key delivery: content keys handed to viewers per their content key policy,
//! at the paths [`crate::key_paths`] fixes (`/keys/aes128/<kid>`, `/keys/clearkey`).
//!
//! A request names a key id only. The key's record says which policy delivers
//! it (`policyName`); a key without one takes the policy of the locators that
//! name it (their `defaultContentKeyPolicyName`; locators naming different
//! ones are refused as ambiguous). Only a policy option delivering clear keys
//! (`clear-key`: AES-128 envelope keys and W3C ClearKey licences) hands a key
//! out here; a PlayReady, Widevine or FairPlay option is a licence server's job.
//! An open option gives the key to anyone; a token option to a token that
//! passes [`token::check`]. Keys are opened by [`ContentKeys`] (the origin's one
//! opener, which encrypted packaging uses too) and token secrets with the same KEK,
//! in memory only; no key, token or token secret is logged.

pub(crate) mod clearkey;
pub(crate) mod routes;
pub mod token;

use std::collections::BTreeSet;
use std::sync::Arc;

use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::protection::policy::{KeyDelivery, PolicyOption};
use mirrorcast_core::protection::{ContentKeyPolicy, KeyEncryptionKey, Needs, Restriction, TokenKey};
use mirrorcast_media::encryption as media;
use tracing::warn;
use uuid::Uuid;

use crate::content_keys::{ContentKeys, NotOpened};
use crate::fail::Fail;
use crate::records::RECORD_TTL;
use crate::refresh_ahead::RefreshAhead;
use crate::upstream::Upstream;
use token::{Refusal, TokenTerms, VerifyingKey};

/// Why a key is not given.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No content key record of that id (404).
    UnknownKey,
    /// The token's fault (401 without one, else 403).
    Token(Refusal),
    /// No policy delivers the key here, or which one does is not clear (403).
    NoPolicy(&'static str),
    /// This origin was given no key-encryption key (503: another data center may answer).
    NoKek,
    /// A record that could not be read or opened (5xx: another data center may answer).
    Unavailable(Fail),
}

impl From<Fail> for Denied {
    fn from(f: Fail) -> Self {
        Denied::Unavailable(f)
    }
}

/// One data center's key delivery: its records and its keys.
pub(crate) struct KeyServer {
    catalog: Catalog,
    upstream: Arc<Upstream>,
    content_keys: Arc<ContentKeys>,
    /// The names of the policies the locators naming a key give, kept (and refreshed ahead) as
    /// locator records are: one listing of the records for all the requests of a key at once.
    by_locators: RefreshAhead<Uuid, BTreeSet<String>>,
}

impl KeyServer {
    pub(crate) fn new(upstream: Arc<Upstream>, content_keys: Arc<ContentKeys>) -> Self {
        let upstream_metrics = upstream.metrics.clone();
        KeyServer {
            catalog: Catalog::new(upstream.store.clone()),
            upstream,
            content_keys,
            by_locators: RefreshAhead::new(1024, RECORD_TTL).counted(upstream_metrics, crate::metrics::Waited::Keys),
        }
    }

    /// Content key `id`, if its policy gives it to the bearer of `token` now.
    pub(crate) async fn grant(&self, id: Uuid, token: Option<&str>) -> Result<Arc<media::ContentKey>, Denied> {
        let kek = self.content_keys.kek().ok_or(Denied::NoKek)?;
        let key = match self.upstream.timed(self.catalog.get_content_key(&id)).await {
            Err(Fail::NotFound(_)) => return Err(Denied::UnknownKey),
            other => other?,
        };
        let name = match &key.policy_name {
            Some(name) => name.clone(),
            None => self.policy_of_locators(id).await?,
        };
        let policy = match self.upstream.timed(self.catalog.get_content_key_policy(&name)).await {
            Err(Fail::NotFound(_)) => {
                warn!(target: "mirrorcast_origin", "content key {id}: its content key policy '{name}' is not in the records");
                return Err(Denied::NoPolicy("no content key policy for this key"));
            }
            other => other?.value,
        };
        decide(&policy, kek, &id, token, chrono::Utc::now().timestamp()).await?;
        self.content_keys.open(&key).await.map_err(|e| match e {
            NotOpened::NoKek => Denied::NoKek,
            NotOpened::Unwrap(e) => {
                // The message names the key id and the KEK's fingerprint, never a key.
                warn!(target: "mirrorcast_origin", "{e}");
                Denied::Unavailable(Fail::Storage(e.kind()))
            }
        })
    }

    /// The one policy the locators naming key `id` give it.
    async fn policy_of_locators(&self, id: Uuid) -> Result<String, Denied> {
        let list = || {
            let (catalog, upstream) = (self.catalog.clone(), self.upstream.clone());
            async move {
                let index = upstream.timed(catalog.index()).await?;
                let names: BTreeSet<String> = index
                    .locators
                    .values()
                    .filter(|l| Needs::of([&l.delivery]).key_ids.contains(&id))
                    .filter_map(|l| l.delivery.default_content_key_policy_name.as_deref())
                    .map(str::to_ascii_lowercase)
                    .collect();
                Ok(names)
            }
        };
        let names = self.by_locators.get(&id, list).await?;
        let mut names = names.into_iter();
        match (names.next(), names.next()) {
            (Some(name), None) => Ok(name),
            (None, _) => Err(Denied::NoPolicy("no content key policy for this key")),
            (Some(_), Some(_)) => {
                warn!(target: "mirrorcast_origin", "content key {id} has no policy of its own and its locators name different ones: refused");
                Err(Denied::NoPolicy("the key's content key policy is ambiguous"))
            }
        }
    }
}

/// Whether `policy` gives key `id` to the bearer of `token` at `now`: an open clear-key
/// option gives it to anyone, a token one to a token it accepts.
async fn decide(
    policy: &ContentKeyPolicy,
    kek: &dyn KeyEncryptionKey,
    id: &Uuid,
    token: Option<&str>,
    now: i64,
) -> Result<(), Denied> {
    let options: Vec<&PolicyOption> = policy.options.iter().filter(|o| o.delivery == KeyDelivery::ClearKey).collect();
    if options.is_empty() {
        return Err(Denied::NoPolicy("the key's policy delivers no clear key"));
    }
    if options.iter().any(|o| o.restriction == Restriction::Open) {
        return Ok(());
    }
    let token = token.filter(|t| !t.is_empty()).ok_or(Denied::Token(Refusal::Missing))?;
    let mut refusal = None;
    for option in options {
        let Restriction::Token(restriction) = &option.restriction else { continue };
        let mut keys = Vec::new();
        for key in std::iter::once(&restriction.primary_key).chain(&restriction.alternate_keys) {
            match verifying_key(policy, key, kek).await {
                Ok(k) => keys.push(k),
                // One unusable key does not stop the others (a rollover half done).
                Err(why) => {
                    warn!(target: "mirrorcast_origin", "content key policy '{}': a token key left out: {why}", policy.name)
                }
            }
        }
        let terms = TokenTerms {
            issuer: &restriction.issuer,
            audience: &restriction.audience,
            keys,
            required_claims: &restriction.required_claims,
        };
        match token::check(token, &terms, id, now) {
            Ok(()) => return Ok(()),
            Err(r) => {
                refusal.get_or_insert(r);
            }
        }
    }
    Err(Denied::Token(refusal.unwrap_or(Refusal::BadSignature)))
}

/// A policy's token key, ready to verify with (an HS256 secret opened with the KEK).
async fn verifying_key(
    policy: &ContentKeyPolicy,
    key: &TokenKey,
    kek: &dyn KeyEncryptionKey,
) -> Result<VerifyingKey, String> {
    match key {
        TokenKey::Symmetric { .. } => match key.open_symmetric(&policy.name, kek).await {
            Ok(Some(secret)) => Ok(VerifyingKey::hs256(&secret)),
            Ok(None) => Err("not a symmetric key".to_owned()),
            Err(e) => Err(e.to_string()),
        },
        TokenKey::Rsa { modulus, exponent } => VerifyingKey::rs256(modulus, exponent).map_err(|e| e.to_string()),
        TokenKey::X509 { certificate } => VerifyingKey::x509(certificate).map_err(|e| e.to_string()),
    }
}
