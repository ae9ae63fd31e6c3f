//! `locator create --streaming-policy NAME [--content-key-policy NAME]`: the
//! policy checked, and the content keys its schemes need bound (given with
//! `--content-key`, or created now from the OS RNG and stored wrapped).

use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::delivery::Delivery;
use mirrorcast_core::protection::streaming_policy::Scheme;
use mirrorcast_core::protection::{ContentKey, ContentKeyType, ContentKeyValue};
use mirrorcast_core::Error;

use crate::args::locator::LocatorProtection;
use crate::datacenter::DataCenter;

/// The key type a scheme encrypts with.
fn key_type_of(scheme: Scheme) -> Option<ContentKeyType> {
    match scheme {
        Scheme::Clear => None,
        Scheme::Envelope => Some(ContentKeyType::Envelope),
        Scheme::Cenc => Some(ContentKeyType::Cenc),
        Scheme::Cbcs => Some(ContentKeyType::Cbcs),
    }
}

/// The delivery terms of the locator, and the keys created for it (the caller
/// deletes them if the locator cannot be written).
pub(crate) async fn bind_locator(
    dc: &DataCenter,
    catalog: &Catalog,
    wanted: &LocatorProtection,
) -> anyhow::Result<(Delivery, Vec<uuid::Uuid>)> {
    let policy = catalog.get_streaming_policy(&wanted.streaming_policy).await?;
    let name = policy.name.clone();
    if !policy.is_protected() {
        if wanted.content_key_policy.is_some() || !wanted.content_keys.is_empty() {
            return Err(Error::invalid_input(format!(
                "streaming policy '{name}' is clear: it takes no --content-key-policy or --content-key"
            ))
            .into());
        }
        return Ok((Delivery { streaming_policy_name: Some(name), ..Delivery::default() }, Vec::new()));
    }
    let needed: Vec<ContentKeyType> = policy.schemes().into_iter().filter_map(key_type_of).collect();
    let key_policy = wanted.content_key_policy.clone().or(policy.default_content_key_policy_name.clone()).ok_or_else(|| {
        Error::invalid_input(format!(
            "streaming policy '{name}' encrypts, so its keys need a content key policy: give --content-key-policy NAME (see `mirrorcast content-key-policy create`)"
        ))
    })?;
    let key_policy = catalog.get_content_key_policy(&key_policy).await?.value.name;
    let mut ids = Vec::new();
    let mut covered = Vec::new();
    for id in &wanted.content_keys {
        let key = catalog.get_content_key(id).await?;
        if !needed.contains(&key.key_type) || covered.contains(&key.key_type) {
            return Err(Error::invalid_input(format!(
                "content key {id} is a {} key; streaming policy '{name}' needs one key of each of: {}",
                key.key_type.name(),
                needed.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
        covered.push(key.key_type);
        ids.push(key.id);
    }
    let mut created = Vec::new();
    let missing: Vec<ContentKeyType> = needed.into_iter().filter(|t| !covered.contains(t)).collect();
    if !missing.is_empty() {
        let kek = dc.kek.require("creating the locator's content keys").await?;
        for key_type in missing {
            let id = uuid::Uuid::new_v4();
            let value = ContentKeyValue::generate();
            let key = ContentKey::seal(id, key_type, Some(key_policy.clone()), &value, kek.as_ref()).await?;
            if let Err(e) = catalog.create_content_key(&key).await {
                unbind(catalog, &created).await;
                return Err(e.into());
            }
            created.push(id);
            ids.push(id);
        }
    }
    let delivery = Delivery {
        streaming_policy_name: Some(name),
        default_content_key_policy_name: Some(key_policy),
        content_key_ids: ids.iter().map(|id| id.hyphenated().to_string()).collect(),
        ..Delivery::default()
    };
    Ok((delivery, created))
}

/// Deletes keys created for a locator that was not written (best effort; a key left is only unused).
pub(crate) async fn unbind(catalog: &Catalog, created: &[uuid::Uuid]) {
    for id in created {
        if let Err(e) = catalog.delete_content_key(id).await {
            errln!("mirrorcast: warning: could not remove unused content key {id}: {e}");
        }
    }
}
