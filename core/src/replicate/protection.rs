//! The protection records a replicated asset's locators need, carried to B:
//! content keys re-wrapped under B's key-encryption key (A's is opened in
//! memory only), content key policies (their HS256 keys re-wrapped too) and
//! custom streaming policies. Everything is read, opened and checked before
//! anything of the asset is written: without A's or B's KEK the asset is
//! refused and nothing of it is copied, not even its blobs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::protection::Written;
use crate::catalog::{Catalog, Versioned};
use crate::error::{Error, ErrorKind, Result};
use crate::model::Locator;
use crate::protection::{ContentKey, ContentKeyPolicy, KeyEncryptionKey, KeyedHash, Needs, StreamingPolicy};

/// A data center's key-encryption key as a run has it.
#[derive(Clone)]
pub enum KekAccess {
    /// The KEK.
    Given(Arc<dyn KeyEncryptionKey>),
    /// None was configured: why, and what to set (the refusal quotes it).
    Missing(String),
}

impl std::fmt::Debug for KekAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekAccess::Given(k) => write!(f, "Given({})", k.fingerprint()),
            KekAccess::Missing(_) => f.write_str("Missing"),
        }
    }
}

/// Both sides' KEKs; by default neither is given (a protected asset is refused).
#[derive(Debug, Clone)]
pub struct Keks {
    /// A's, to open the keys it holds.
    pub source: KekAccess,
    /// B's, to wrap them for B.
    pub target: KekAccess,
}

impl Default for Keks {
    fn default() -> Self {
        let missing = |side: &str| KekAccess::Missing(format!("no key-encryption key was given for {side}"));
        Keks { source: missing("the source"), target: missing("the target") }
    }
}

/// A protection record the run carried to B, and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarriedRecord {
    /// `content-key`, `content-key-policy` or `streaming-policy`.
    pub kind: String,
    /// The key id or policy name (never a key).
    pub name: String,
    /// `created`, `replaced` or `same`.
    pub outcome: String,
}

/// What one asset needs written in B, opened and re-wrapped; nothing written yet.
#[derive(Debug, Default)]
pub(super) struct Carried {
    keys: Vec<(ContentKey, bool)>,
    policies: Vec<(ContentKeyPolicy, Option<Versioned<ContentKeyPolicy>>, bool)>,
    streaming: Vec<(StreamingPolicy, Option<Versioned<StreamingPolicy>>, bool)>,
}

/// Why an asset is not replicated: its keys cannot be carried (a refusal, nothing written).
#[derive(Debug)]
pub(super) struct Refusal(pub String);

fn not_found_is_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads what `locators` name in A and B, and readies B's copies. `Err(Ok(refusal))`: the
/// asset is refused; `Err(Err(e))`: it failed. `warnings` gets what A does not hold.
pub(super) async fn prepare(
    a: &Catalog,
    b: &Catalog,
    keks: &Keks,
    locators: &[&Locator],
    warnings: &mut Vec<String>,
) -> std::result::Result<Carried, std::result::Result<Refusal, Error>> {
    let mut needs = Needs::of(locators.iter().map(|l| &l.delivery));
    if needs.is_empty() {
        return Ok(Carried::default());
    }
    let mut a_keys = Vec::new();
    for id in &needs.key_ids {
        match not_found_is_none(a.get_content_key(id).await).map_err(Err)? {
            Some(k) => a_keys.push(k),
            None => warnings.push(format!(
                "content key {id} is named by a locator but not held in A's catalog: B gets the locator without it (import the key, or re-key with `mirrorcast content-key create`, which means new licences)"
            )),
        }
    }
    needs
        .content_key_policies
        .extend(a_keys.iter().filter_map(|k| k.policy_name.as_deref()).map(crate::protection::names::path_segment));
    let mut a_policies = Vec::new();
    for name in &needs.content_key_policies {
        match not_found_is_none(a.get_content_key_policy(name).await).map_err(Err)? {
            Some(p) => a_policies.push(p.value),
            None => {
                warnings.push(format!("content key policy '{name}' is named but not held in A's catalog: not carried"))
            }
        }
    }
    let mut a_streaming = Vec::new();
    for name in &needs.streaming_policies {
        match not_found_is_none(a.get_custom_streaming_policy(name).await).map_err(Err)? {
            Some(p) => a_streaming.push(p.value),
            None => {
                warnings.push(format!("streaming policy '{name}' is named but not held in A's catalog: not carried"))
            }
        }
    }
    let mut carried = Carried::default();
    let secrets = !a_keys.is_empty() || a_policies.iter().any(ContentKeyPolicy::has_secrets);
    if secrets {
        let (from, to) = match (&keks.source, &keks.target) {
            (KekAccess::Given(f), KekAccess::Given(t)) => (f.clone(), t.clone()),
            (KekAccess::Missing(why), _) | (_, KekAccess::Missing(why)) => {
                let what = if a_keys.is_empty() {
                    "token keys".to_owned()
                } else {
                    format!("{} content key(s)", a_keys.len())
                };
                return Err(Ok(Refusal(format!("its locators need {what}, which are carried only re-wrapped; {why}"))));
            }
        };
        let hash = KeyedHash::random();
        for key in &a_keys {
            let theirs = not_found_is_none(b.get_content_key(&key.id).await).map_err(Err)?;
            match theirs {
                None => carried.keys.push((key.rewrap(from.as_ref(), to.as_ref()).await.map_err(Err)?, true)),
                Some(theirs) => {
                    let (mine, held) = (key.open(from.as_ref()).await.map_err(Err)?, theirs.open(to.as_ref()).await);
                    let same = held.as_ref().is_ok_and(|h| hash.of(h.expose()) == hash.of(mine.expose()));
                    if !same || theirs.key_type != key.key_type {
                        return Err(Err(Error::new(
                            ErrorKind::PreconditionFailed,
                            format!(
                                "B holds content key {} with another key or type than A's (or one B's KEK does not open): a key id stands for one key, so it is not overwritten; delete it in B (`mirrorcast content-key delete`) to take A's",
                                key.id
                            ),
                        )));
                    }
                    carried.keys.push((theirs, false));
                }
            }
        }
        for policy in a_policies {
            let theirs = not_found_is_none(b.get_content_key_policy(&policy.name).await).map_err(Err)?;
            let same = match &theirs {
                None => false,
                Some(t) => {
                    match (policy.comparable(from.as_ref(), &hash).await, t.value.comparable(to.as_ref(), &hash).await)
                    {
                        (Ok(x), Ok(y)) => x == y,
                        (Err(e), _) => return Err(Err(e)),
                        (_, Err(_)) => false,
                    }
                }
            };
            let ready = if same { policy } else { policy.rewrap(from.as_ref(), to.as_ref()).await.map_err(Err)? };
            carried.policies.push((ready, theirs, !same));
        }
    } else {
        for policy in a_policies {
            let theirs = not_found_is_none(b.get_content_key_policy(&policy.name).await).map_err(Err)?;
            let differs = theirs.as_ref().is_none_or(|t| !same_terms(&t.value, &policy));
            carried.policies.push((policy, theirs, differs));
        }
    }
    for policy in a_streaming {
        let theirs = not_found_is_none(b.get_custom_streaming_policy(&policy.name).await).map_err(Err)?;
        let differs = theirs.as_ref().is_none_or(|t| t.value != policy);
        carried.streaming.push((policy, theirs, differs));
    }
    Ok(carried)
}

/// Two policies without secrets are the same but for their creation time.
fn same_terms(x: &ContentKeyPolicy, y: &ContentKeyPolicy) -> bool {
    ContentKeyPolicy { created: y.created, ..x.clone() } == *y
}

fn outcome(kind: &str, name: String, written: Written) -> CarriedRecord {
    let outcome = match written {
        Written::Created => "created",
        Written::Replaced => "replaced",
        Written::Same => "same",
    };
    CarriedRecord { kind: kind.to_owned(), name, outcome: outcome.to_owned() }
}

impl Carried {
    /// Whether nothing is carried.
    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.policies.is_empty() && self.streaming.is_empty()
    }

    /// Writes B's copies (policies before the keys that name them); what was done with each.
    pub(super) async fn write(self, b: &Catalog) -> Result<(Vec<CarriedRecord>, bool)> {
        let mut done = Vec::new();
        let mut wrote = false;
        for (policy, theirs, differs) in self.streaming {
            let w =
                if differs { b.put_streaming_policy_replica(&policy, theirs.as_ref()).await? } else { Written::Same };
            wrote |= differs;
            done.push(outcome("streaming-policy", policy.name, w));
        }
        for (policy, theirs, differs) in self.policies {
            let w =
                if differs { b.put_content_key_policy_replica(&policy, theirs.as_ref()).await? } else { Written::Same };
            wrote |= differs;
            done.push(outcome("content-key-policy", policy.name, w));
        }
        for (key, new) in self.keys {
            let w = if new {
                match b.create_content_key(&key).await {
                    Ok(()) => Written::Created,
                    // Another run carried it meanwhile; verify compares it.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => Written::Same,
                    Err(e) => return Err(e),
                }
            } else {
                Written::Same
            };
            wrote |= new;
            done.push(outcome("content-key", key.id.hyphenated().to_string(), w));
        }
        Ok((done, wrote))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ReplicateOptions, Replicator, Selection, Side};
    use super::*;
    use crate::catalog::CATALOG_CONTAINER;
    use crate::delivery::Delivery;
    use crate::id::LocatorId;
    use crate::model::{Asset, AssetOptions};
    use crate::protection::kek::{LocalKek, KEK_LEN};
    use crate::protection::{ContentKeyType, ContentKeyValue};
    use crate::store::{BlobStoreExt, InMemoryStore, PutOptions};

    async fn run(a: &Catalog, b: &Catalog, keks: Keks) -> super::super::RunReport {
        let options = ReplicateOptions { keks, ..Default::default() };
        Replicator::new(
            Side { name: "a", catalog: a, origin: "https://a" },
            Side { name: "b", catalog: b, origin: "https://b" },
            options,
        )
        .run(&Selection::All)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_travel_rewrapped_and_only_with_both_keks() {
        let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
        let (kek_a, kek_b): (Arc<dyn KeyEncryptionKey>, Arc<dyn KeyEncryptionKey>) =
            (Arc::new(LocalKek::from_bytes([1; KEK_LEN])), Arc::new(LocalKek::from_bytes([2; KEK_LEN])));
        let asset = Asset::new("Protected", AssetOptions::None);
        a.create_asset(&asset).await.unwrap();
        a.store()
            .put_blob(&asset.container, "v.mp4", bytes::Bytes::from_static(b"abc"), &PutOptions::default())
            .await
            .unwrap();
        let value = ContentKeyValue::generate();
        let key =
            ContentKey::seal(uuid::Uuid::new_v4(), ContentKeyType::Cenc, None, &value, kek_a.as_ref()).await.unwrap();
        a.create_content_key(&key).await.unwrap();
        let delivery = Delivery {
            streaming_policy_name: Some("Predefined_MultiDrmCencStreaming".into()),
            content_key_ids: vec![key.id.to_string()],
            ..Delivery::default()
        };
        let start = chrono::Utc::now();
        a.create_origin_locator_with(
            &asset.id,
            LocatorId::new(),
            start,
            start + chrono::Duration::days(1),
            "",
            delivery,
        )
        .await
        .unwrap();

        // Without B's KEK: refused, and nothing of the asset is in B.
        let keks = Keks { source: KekAccess::Given(kek_a.clone()), ..Keks::default() };
        let report = run(&a, &b, keks).await;
        let refused = &report.assets.to_vec().unwrap()[0];
        assert_eq!(refused.status, super::super::AssetStatus::Refused, "{refused:?}");
        assert!(refused.errors[0].contains("no key-encryption key"), "{:?}", refused.errors);
        assert!(b.store().list_all(&asset.container, "").await.is_err_or_empty());
        assert!(b.get_content_key(&key.id).await.is_err() && b.list_locators(None).await.unwrap().is_empty());

        // With both: B holds the key under its own KEK, and the same key.
        let report =
            run(&a, &b, Keks { source: KekAccess::Given(kek_a), target: KekAccess::Given(kek_b.clone()) }).await;
        let replicated = &report.assets.to_vec().unwrap()[0];
        assert_eq!(replicated.status, super::super::AssetStatus::Replicated, "{report:?}");
        assert_eq!(replicated.protection[0].outcome, "created");
        let held = b.get_content_key(&key.id).await.unwrap();
        assert_eq!(held.wrapped.kek, kek_b.fingerprint());
        assert_eq!(held.open(kek_b.as_ref()).await.unwrap(), value);
        for blob in b.store().list_all(CATALOG_CONTAINER, "").await.unwrap() {
            let (_, body) = b.store().get_bytes(CATALOG_CONTAINER, &blob.name).await.unwrap();
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains(value.reveal_hex().as_str()) && !text.contains(value.reveal_base64().as_str()));
        }
    }

    trait EmptyOrMissing {
        fn is_err_or_empty(&self) -> bool;
    }
    impl<T, E> EmptyOrMissing for std::result::Result<Vec<T>, E> {
        fn is_err_or_empty(&self) -> bool {
            self.as_ref().map_or(true, |v| v.is_empty())
        }
    }
}
