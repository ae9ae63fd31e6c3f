//! Content keys, content key policies and custom streaming policies as
//! catalog records: `content-keys/<key id>.json`, `content-key-policies/<name>.json`,
//! `streaming-policies/<name>.json` (names lower-cased: compared without case).
//! A key record holds the key only wrapped; writing one never needs the KEK.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{index, Catalog, Checked, Versioned, CATALOG_CONTAINER};
use crate::error::{Error, ErrorKind, Result};
use crate::protection::names::{check_name, path_segment};
use crate::protection::streaming_policy::{find_predefined, is_reserved, predefined};
use crate::protection::{ContentKey, ContentKeyPolicy, Needs, StreamingPolicy};
use crate::store::Condition;

const CONTENT_KEYS: &str = "content-keys/";
const CONTENT_KEY_POLICIES: &str = "content-key-policies/";
const STREAMING_POLICIES: &str = "streaming-policies/";

/// How a replicated record was written in B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// B had none: created.
    Created,
    /// B had one with other terms: replaced with A's.
    Replaced,
    /// B had the same already.
    Same,
}

fn key_path(id: &Uuid) -> String {
    format!("{CONTENT_KEYS}{}.json", id.hyphenated())
}

fn policy_path(name: &str) -> String {
    format!("{CONTENT_KEY_POLICIES}{}.json", path_segment(name))
}

fn streaming_path(name: &str) -> String {
    format!("{STREAMING_POLICIES}{}.json", path_segment(name))
}

/// The name part of `<prefix><name>.json`.
fn name_of<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?.strip_suffix(".json")
}

/// A record kept by name (content key policies, custom streaming policies).
trait Named: Serialize + DeserializeOwned + Send {
    /// What it is, for messages.
    const WHAT: &'static str;
    /// Where its records are.
    const PREFIX: &'static str;
    fn name(&self) -> &str;
    fn check(&self) -> Result<()>;
}

impl Named for ContentKeyPolicy {
    const WHAT: &'static str = "content key policy";
    const PREFIX: &'static str = CONTENT_KEY_POLICIES;
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Named for StreamingPolicy {
    const WHAT: &'static str = "streaming policy";
    const PREFIX: &'static str = STREAMING_POLICIES;
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl Catalog {
    /// The record `name` (without case), checked and named after itself.
    async fn get_named<T: Named>(&self, name: &str) -> Result<Versioned<T>> {
        check_name(name, T::WHAT)?;
        let what = format!("{} '{name}'", T::WHAT);
        let path = format!("{}{}.json", T::PREFIX, path_segment(name));
        let record: Versioned<T> = self.get_protection_record(&path, &what).await?;
        record.value.check().map_err(|e| e.context(&what))?;
        if !record.value.name().eq_ignore_ascii_case(name) {
            return Err(Error::invalid_input(format!("record of {what} names '{}'", record.value.name())));
        }
        Ok(record)
    }

    /// Every record of its kind that passes its checks (by name), and a problem for each one that does not.
    async fn list_named<T: Named>(&self) -> Result<Checked<T>> {
        let mut all: Checked<T> = self
            .read_all(T::PREFIX, |path, p: &T| {
                p.check()?;
                match name_of(path, T::PREFIX) {
                    Some(n) if n == path_segment(p.name()) => Ok(()),
                    _ => Err(Error::invalid_input(format!("'{path}' is not named after {} '{}'", T::WHAT, p.name()))),
                }
            })
            .await?;
        all.records.sort_by_key(|p| p.name().to_ascii_lowercase());
        Ok(all)
    }

    async fn create_protection_record<T: Serialize>(&self, path: &str, value: &T, what: &str) -> Result<()> {
        self.ensure().await?;
        match self.write(path, value, BTreeMap::new(), Condition::IfNotExists).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                Err(Error::new(ErrorKind::AlreadyExists, format!("{what} already exists in {}", self.store.describe())))
            }
            Err(e) => Err(e),
        }
    }

    async fn get_protection_record<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Versioned<T>> {
        self.read(path).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::not_found(format!("{what} not found in {}", self.store.describe())),
            _ => e.context(what),
        })
    }

    /// Deletes a record no locator names; `what_uses` says whether `needs` of the locators name it.
    async fn delete_unused(&self, path: &str, what: &str, named: impl Fn(&Needs) -> bool) -> Result<()> {
        let index = self.index().await?;
        let using: Vec<String> =
            index.locators.values().filter(|l| named(&Needs::of([&l.delivery]))).map(|l| l.id.to_string()).collect();
        if !using.is_empty() {
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "{what} is named by locator(s) {}: delete them first (`mirrorcast locator delete`)",
                    using.join(", ")
                ),
            ));
        }
        if !self.store.delete_blob(CATALOG_CONTAINER, path, &Condition::None).await? {
            return Err(Error::not_found(format!("{what} not found in {}", self.store.describe())));
        }
        Ok(())
    }

    /// Stores a new content key record (its key already wrapped); `AlreadyExists` if the id is taken.
    pub async fn create_content_key(&self, key: &ContentKey) -> Result<()> {
        key.validate(&key.id)?;
        self.create_protection_record(&key_path(&key.id), key, &format!("content key {}", key.id)).await
    }

    /// The content key record `id`, checked (the key stays wrapped).
    pub async fn get_content_key(&self, id: &Uuid) -> Result<ContentKey> {
        let what = format!("content key {id}");
        let key: ContentKey = self.get_protection_record(&key_path(id), &what).await?.value;
        key.validate(id).map_err(|e| e.context(&what))?;
        Ok(key)
    }

    /// Every content key record that passes its checks, and a problem for each one that does not.
    pub async fn list_content_keys(&self) -> Result<Checked<ContentKey>> {
        let mut all: Checked<ContentKey> = self
            .read_all(CONTENT_KEYS, |path, k: &ContentKey| match index::id_of_path::<Uuid>(path, CONTENT_KEYS) {
                Some(id) => k.validate(&id),
                None => Err(Error::invalid_input(format!("'{path}' is not named after a key id"))),
            })
            .await?;
        all.records.sort_by_key(|k| (k.created, k.id));
        Ok(all)
    }

    /// Deletes content key `id` unless a locator names it.
    pub async fn delete_content_key(&self, id: &Uuid) -> Result<()> {
        self.delete_unused(&key_path(id), &format!("content key {id}"), |n| n.key_ids.contains(id)).await
    }

    /// Stores a new content key policy; `AlreadyExists` if the name is taken.
    pub async fn create_content_key_policy(&self, policy: &ContentKeyPolicy) -> Result<()> {
        policy.validate()?;
        let what = format!("content key policy '{}'", policy.name);
        self.create_protection_record(&policy_path(&policy.name), policy, &what).await
    }

    /// The content key policy `name` (without case), checked.
    pub async fn get_content_key_policy(&self, name: &str) -> Result<Versioned<ContentKeyPolicy>> {
        self.get_named(name).await
    }

    /// Every content key policy that passes its checks, and a problem for each one that does not.
    pub async fn list_content_key_policies(&self) -> Result<Checked<ContentKeyPolicy>> {
        self.list_named().await
    }

    /// Deletes content key policy `name` unless a locator names it.
    pub async fn delete_content_key_policy(&self, name: &str) -> Result<()> {
        check_name(name, "content key policy")?;
        let segment = path_segment(name);
        let what = format!("content key policy '{name}'");
        // Keys and custom streaming policies name it too: neither may be left naming nothing.
        let keys = self.list_content_keys().await?.records;
        let streaming = self.list_streaming_policies().await?.records;
        let named = |p: &Option<String>| p.as_deref().is_some_and(|p| path_segment(p) == segment);
        let users: Vec<String> = keys
            .iter()
            .filter(|k| named(&k.policy_name))
            .map(|k| format!("content key {}", k.id))
            .chain(
                streaming
                    .iter()
                    .filter(|s| named(&s.default_content_key_policy_name))
                    .map(|s| format!("streaming policy '{}'", s.name)),
            )
            .collect();
        if !users.is_empty() {
            return Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!("{what} is named by {}: delete or change them first", users.join(", ")),
            ));
        }
        self.delete_unused(&policy_path(name), &what, |n| n.content_key_policies.contains(&segment)).await
    }

    /// Writes `policy` as B's copy of A's (replicate): created, or replaced when `current`
    /// (B's, as read) differs by `differs`; conditional on the ETag read.
    pub async fn put_content_key_policy_replica(
        &self,
        policy: &ContentKeyPolicy,
        current: Option<&Versioned<ContentKeyPolicy>>,
    ) -> Result<Written> {
        policy.validate()?;
        self.put_replica(&policy_path(&policy.name), policy, current.map(|c| c.etag.clone())).await
    }

    async fn put_replica<T: Serialize>(&self, path: &str, value: &T, etag: Option<String>) -> Result<Written> {
        self.ensure().await?;
        let (condition, written) = match etag {
            Some(e) => (Condition::IfMatch(e), Written::Replaced),
            None => (Condition::IfNotExists, Written::Created),
        };
        self.write(path, value, BTreeMap::new(), condition).await.map_err(|e| match e.kind() {
            ErrorKind::PreconditionFailed => {
                Error::new(ErrorKind::PreconditionFailed, format!("'{path}' changed in B meanwhile: run again"))
            }
            _ => e,
        })?;
        Ok(written)
    }

    /// Stores a custom streaming policy; refuses Media Services' reserved names.
    pub async fn create_streaming_policy(&self, policy: &StreamingPolicy) -> Result<()> {
        if is_reserved(&policy.name) {
            return Err(Error::invalid_input(format!(
                "'{}' is in the Predefined_ namespace Media Services reserved for its own policies: choose another name",
                policy.name
            )));
        }
        policy.validate()?;
        let what = format!("streaming policy '{}'", policy.name);
        self.create_protection_record(&streaming_path(&policy.name), policy, &what).await
    }

    /// The streaming policy `name`: a predefined one, else a custom record (checked).
    pub async fn get_streaming_policy(&self, name: &str) -> Result<StreamingPolicy> {
        if let Some(p) = find_predefined(name) {
            return Ok(p);
        }
        Ok(self.get_custom_streaming_policy(name).await?.value)
    }

    /// The custom streaming policy record `name`, checked.
    pub async fn get_custom_streaming_policy(&self, name: &str) -> Result<Versioned<StreamingPolicy>> {
        self.get_named(name).await
    }

    /// The predefined streaming policies, then every custom one that passes its checks.
    pub async fn list_streaming_policies(&self) -> Result<Checked<StreamingPolicy>> {
        let custom: Checked<StreamingPolicy> = self.list_named().await?;
        let mut all = predefined();
        all.extend(custom.records);
        Ok(Checked { records: all, problems: custom.problems })
    }

    /// Deletes custom streaming policy `name` unless a locator names it.
    pub async fn delete_streaming_policy(&self, name: &str) -> Result<()> {
        if is_reserved(name) {
            return Err(Error::invalid_input(format!("'{name}' is predefined: it cannot be deleted")));
        }
        check_name(name, "streaming policy")?;
        let segment = path_segment(name);
        let what = format!("streaming policy '{name}'");
        self.delete_unused(&streaming_path(name), &what, |n| n.streaming_policies.contains(&segment)).await
    }

    /// Writes `policy` as B's copy of A's custom streaming policy (see [`Catalog::put_content_key_policy_replica`]).
    pub async fn put_streaming_policy_replica(
        &self,
        policy: &StreamingPolicy,
        current: Option<&Versioned<StreamingPolicy>>,
    ) -> Result<Written> {
        policy.validate()?;
        self.put_replica(&streaming_path(&policy.name), policy, current.map(|c| c.etag.clone())).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protection::kek::{LocalKek, KEK_LEN};
    use crate::protection::{ContentKeyType, ContentKeyValue};
    use crate::store::memory::InMemoryStore;

    #[tokio::test]
    async fn key_records_round_trip_wrapped_and_names_are_case_blind() {
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        let kek = LocalKek::from_bytes([3; KEK_LEN]);
        let value = ContentKeyValue::generate();
        let key = ContentKey::seal(Uuid::new_v4(), ContentKeyType::Cenc, None, &value, &kek).await.unwrap();
        cat.create_content_key(&key).await.unwrap();
        assert_eq!(cat.create_content_key(&key).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
        let read = cat.get_content_key(&key.id).await.unwrap();
        assert_eq!(read.open(&kek).await.unwrap(), value);
        assert_eq!(cat.list_content_keys().await.unwrap().records, [read]);
        cat.delete_content_key(&key.id).await.unwrap();
        assert_eq!(cat.get_content_key(&key.id).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(cat.delete_content_key(&key.id).await.unwrap_err().kind(), ErrorKind::NotFound);

        assert_eq!(cat.get_streaming_policy("predefined_clearkey").await.unwrap().name, "Predefined_ClearKey");
        let mut custom = find_predefined("Predefined_ClearKey").unwrap();
        let err = cat.create_streaming_policy(&custom).await.unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        custom.name = "MyEnvelope".into();
        cat.create_streaming_policy(&custom).await.unwrap();
        assert_eq!(cat.get_streaming_policy("myenvelope").await.unwrap(), custom);
        assert_eq!(cat.list_streaming_policies().await.unwrap().records.len(), predefined().len() + 1);
    }

    #[tokio::test]
    async fn hostile_key_records_are_problems_of_their_own_not_keys() {
        use crate::store::PutOptions;
        let cat = Catalog::new(Arc::new(InMemoryStore::new()));
        let kek = LocalKek::from_bytes([4; KEK_LEN]);
        let good = ContentKey::seal(Uuid::new_v4(), ContentKeyType::Cbcs, None, &ContentKeyValue::generate(), &kek)
            .await
            .unwrap();
        cat.create_content_key(&good).await.unwrap();
        let put = |path: String, value: serde_json::Value| {
            let store = cat.store().clone();
            async move {
                let body = bytes::Bytes::from(serde_json::to_vec(&value).unwrap());
                store.put_blob(CATALOG_CONTAINER, &path, body, &PutOptions::default()).await.unwrap();
            }
        };
        // A record naming another id (a wrapped key moved between records), a huge wrap, a name that is no id.
        let moved = Uuid::new_v4();
        put(key_path(&moved), serde_json::to_value(&good).unwrap()).await;
        let mut huge = serde_json::to_value(ContentKey { id: Uuid::new_v4(), ..good.clone() }).unwrap();
        huge["wrapped"]["ciphertext"] = "A".repeat(100_000).into();
        let huge_id: Uuid = huge["id"].as_str().unwrap().parse().unwrap();
        put(key_path(&huge_id), huge).await;
        put(format!("{CONTENT_KEYS}not-an-id.json"), serde_json::to_value(&good).unwrap()).await;
        let listed = cat.list_content_keys().await.unwrap();
        assert_eq!(listed.records, [good], "{:?}", listed.problems);
        assert_eq!(listed.problems.len(), 3, "{:?}", listed.problems);
        assert_eq!(cat.get_content_key(&moved).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(cat.get_content_key(&huge_id).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}
