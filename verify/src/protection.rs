//! Protection records: B holds the content keys, content key policies and
//! custom streaming policies A's origin locators name, the same. Keys (and
//! HS256 token keys) are compared by a keyed hash under a key made for this
//! run ([`KeyedHash`]), each side opened with its own KEK; no key, wrapped or
//! not, and no digest of one is ever put in the report.

use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::model::{Locator, LocatorType};
use mirrorcast_core::protection::{ContentKey, ContentKeyPolicy, KeyEncryptionKey, KeyedHash, Needs};
use mirrorcast_core::replicate::{KekAccess, Keks};
use mirrorcast_core::{ErrorKind, Result};

use crate::report::{Check, Entry, Marker, Side};

fn given(access: &KekAccess) -> std::result::Result<&dyn KeyEncryptionKey, &str> {
    match access {
        KekAccess::Given(k) => Ok(k.as_ref()),
        KekAccess::Missing(why) => Err(why),
    }
}

async fn optional<T>(read: impl std::future::Future<Output = Result<T>>) -> Result<Option<T>> {
    match read.await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One entry per record A's origin locators name and A holds.
pub async fn compare(a: &Catalog, b: &Catalog, a_locs: &[Locator], keks: &Keks, hash: &KeyedHash) -> Vec<Entry> {
    let origin = a_locs.iter().filter(|l| l.locator_type == LocatorType::OnDemandOrigin);
    let mut needs = Needs::of(origin.map(|l| &l.delivery));
    let mut out = Vec::new();
    let error = |name: String, e: &dyn std::fmt::Display| {
        Entry::new(Marker::Error, Check::Protection, Side::Both, name, format!("could not read: {e}"))
    };
    for id in needs.key_ids.clone() {
        let name = format!("content key {id}");
        match tokio::try_join!(optional(a.get_content_key(&id)), optional(b.get_content_key(&id))) {
            Err(e) => out.push(error(name, &e)),
            // Named but never held in A (an imported locator): nothing to compare.
            Ok((None, _)) => {}
            Ok((Some(_), None)) => {
                out.push(Entry::new(Marker::Missing, Check::Protection, Side::B, name, "missing in B"))
            }
            Ok((Some(x), Some(y))) => {
                needs.content_key_policies.extend(x.policy_name.as_deref().map(str::to_ascii_lowercase));
                out.push(key(&name, &x, &y, keks, hash).await);
            }
        }
    }
    for policy in needs.content_key_policies.clone() {
        let name = format!("content key policy '{policy}'");
        match tokio::try_join!(optional(a.get_content_key_policy(&policy)), optional(b.get_content_key_policy(&policy)))
        {
            Err(e) => out.push(error(name, &e)),
            Ok((None, _)) => {}
            Ok((Some(_), None)) => {
                out.push(Entry::new(Marker::Missing, Check::Protection, Side::B, name, "missing in B"))
            }
            Ok((Some(x), Some(y))) => out.push(policy_entry(&name, &x.value, &y.value, keks, hash).await),
        }
    }
    for policy in needs.streaming_policies {
        let name = format!("streaming policy '{policy}'");
        let read = tokio::try_join!(
            optional(a.get_custom_streaming_policy(&policy)),
            optional(b.get_custom_streaming_policy(&policy))
        );
        match read {
            Err(e) => out.push(error(name, &e)),
            Ok((None, _)) => {}
            Ok((Some(_), None)) => {
                out.push(Entry::new(Marker::Missing, Check::Protection, Side::B, name, "missing in B"))
            }
            Ok((Some(x), Some(y))) if x.value == y.value => {
                out.push(Entry::new(Marker::Same, Check::Protection, Side::Both, name, "same"))
            }
            Ok(_) => out.push(Entry::new(Marker::Differs, Check::Protection, Side::B, name, "terms differ")),
        }
    }
    out
}

async fn key(name: &str, x: &ContentKey, y: &ContentKey, keks: &Keks, hash: &KeyedHash) -> Entry {
    if x.key_type != y.key_type {
        let detail = format!("type {} in A, {} in B", x.key_type.name(), y.key_type.name());
        return Entry::new(Marker::Differs, Check::Protection, Side::B, name, detail);
    }
    let (kek_a, kek_b) = match (given(&keks.source), given(&keks.target)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            return Entry::new(Marker::Error, Check::Protection, Side::Both, name, format!("key not compared: {why}"))
        }
    };
    let mine = match x.open(kek_a).await {
        Ok(k) => k,
        Err(e) => return Entry::new(Marker::Error, Check::Protection, Side::A, name, e.message().to_owned()),
    };
    match y.open(kek_b).await {
        Ok(theirs) if hash.of(theirs.expose()) == hash.of(mine.expose()) => {
            Entry::new(Marker::Same, Check::Protection, Side::Both, name, "same key (compared by keyed hash)")
        }
        Ok(_) => Entry::new(Marker::Differs, Check::Protection, Side::B, name, "B holds another key under this id"),
        Err(e) => Entry::new(Marker::Differs, Check::Protection, Side::B, name, e.message().to_owned()),
    }
}

async fn policy_entry(name: &str, x: &ContentKeyPolicy, y: &ContentKeyPolicy, keks: &Keks, hash: &KeyedHash) -> Entry {
    let secrets = x.has_secrets() || y.has_secrets();
    let same = if secrets {
        let (kek_a, kek_b) = match (given(&keks.source), given(&keks.target)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(why), _) | (_, Err(why)) => {
                let detail = format!("token keys not compared: {why}");
                return Entry::new(Marker::Error, Check::Protection, Side::Both, name, detail);
            }
        };
        match (x.comparable(kek_a, hash).await, y.comparable(kek_b, hash).await) {
            (Ok(p), Ok(q)) => p == q,
            (Err(e), _) => return Entry::new(Marker::Error, Check::Protection, Side::A, name, e.message().to_owned()),
            (_, Err(_)) => false,
        }
    } else {
        ContentKeyPolicy { created: y.created, name: y.name.clone(), ..x.clone() } == *y
    };
    if same {
        Entry::new(Marker::Same, Check::Protection, Side::Both, name, "same")
    } else {
        Entry::new(Marker::Differs, Check::Protection, Side::B, name, "terms or token keys differ")
    }
}
