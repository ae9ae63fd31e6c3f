//! Adopting a library Azure Media Services left behind: `asset-<guid>`
//! containers with no records. Each becomes an asset with the id its
//! container (and so its old URLs) carries, `nb:cid:UUID:<guid>`, and file
//! infos made from its blobs. Nothing is ever adopted twice or overwritten.

use serde::Serialize;

use crate::catalog::{file_infos, Catalog, CATALOG_CONTAINER};
use crate::error::{ErrorKind, Result};
use crate::id::AssetId;
use crate::model::{Asset, AssetOptions};
use crate::store::BlobStoreExt;

/// What adoption did with one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdoptAction {
    /// Registered now.
    Adopted,
    /// An asset record with this id exists already: left alone.
    AlreadyRegistered,
    /// Not an asset container (or the reserved catalog): left alone.
    Skipped,
    /// Could not be adopted; `message` says why. Nothing was written for it,
    /// unless the message says otherwise.
    Failed,
}

/// One container's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdoptOutcome {
    /// The container looked at.
    pub container: String,
    /// The asset id its name carries; `None` when it is not an `asset-<guid>` container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<AssetId>,
    /// What was done with it.
    pub action: AdoptAction,
    /// File infos the asset has (0 unless adopted or already registered).
    pub files: usize,
    /// The primary file (the root `.ism`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Why it was skipped or failed, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl AdoptOutcome {
    fn new(container: &str, id: Option<AssetId>, action: AdoptAction, message: Option<String>) -> Self {
        AdoptOutcome { container: container.to_owned(), id, action, files: 0, primary: None, message }
    }
}

/// Why `container` cannot be an adopted asset, if it cannot: the reserved
/// catalog, or a name that is not exactly `asset-<lower-case guid>`.
pub fn not_adoptable(container: &str) -> Option<String> {
    if container == CATALOG_CONTAINER {
        return Some(format!("'{container}' is mirrorcast's own record container, not an asset"));
    }
    match AssetId::from_container_name(container) {
        Some(id) if id.container_name() == container => None,
        _ => Some(format!("'{container}' is not an asset container: expected asset-<guid>")),
    }
}

/// Registers `container` as the asset `nb:cid:UUID:<guid>` with file infos
/// from its blobs (the root `.ism` primary). Its name is the `.ism`'s base
/// name, or the container's name when it has none.
pub async fn adopt_container(catalog: &Catalog, container: &str) -> AdoptOutcome {
    let id = match (not_adoptable(container), AssetId::from_container_name(container)) {
        (None, Some(id)) => id,
        (why, _) => return AdoptOutcome::new(container, None, AdoptAction::Skipped, why),
    };
    match adopt_checked(catalog, container, id).await {
        Ok(outcome) => outcome,
        Err(e) => AdoptOutcome::new(container, Some(id), AdoptAction::Failed, Some(e.to_string())),
    }
}

async fn adopt_checked(catalog: &Catalog, container: &str, id: AssetId) -> Result<AdoptOutcome> {
    match catalog.get_asset(&id).await {
        Ok(existing) => {
            let mut out = AdoptOutcome::new(container, Some(id), AdoptAction::AlreadyRegistered, None);
            out.files = existing.value.files.len();
            out.primary = existing.value.files.iter().find(|f| f.is_primary).map(|f| f.name.clone());
            return Ok(out);
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let blobs = catalog.store().list_all(container, "").await.map_err(|e| match e.kind() {
        ErrorKind::NotFound => crate::Error::not_found(format!("no container '{container}' in this data center")),
        _ => e.into(),
    })?;
    let name = blobs
        .iter()
        .find(|b| crate::primary::is_server_manifest(&b.name))
        .map(|b| b.name[..b.name.len() - ".ism".len()].to_owned())
        .unwrap_or_else(|| container.to_owned());
    let asset = Asset {
        id,
        name,
        options: AssetOptions::None,
        container: container.to_owned(),
        alternate_id: None,
        created: chrono::Utc::now(),
    };
    // Checked before anything is written: an ambiguous primary adopts nothing.
    file_infos(&asset, &blobs)?;
    match catalog.create_asset(&asset).await {
        Ok(_) => {}
        // Adopted by a concurrent run meanwhile: theirs stands.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Ok(AdoptOutcome::new(container, Some(id), AdoptAction::AlreadyRegistered, None))
        }
        Err(e) => return Err(e),
    }
    let record = catalog.set_files_from(&id, &blobs, None, None).await.map_err(|e| {
        e.context(format!("asset {id} was registered without file infos; run `mirrorcast asset files` for it"))
    })?;
    let mut out = AdoptOutcome::new(container, Some(id), AdoptAction::Adopted, None);
    out.files = record.files.len();
    out.primary = record.files.iter().find(|f| f.is_primary).map(|f| f.name.clone());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::store::{BlobStore, InMemoryStore, PutOptions};

    async fn library() -> (Catalog, String) {
        let store = Arc::new(InMemoryStore::new());
        let container = "asset-0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e".to_owned();
        store.create_container(&container).await.unwrap();
        for (name, bytes) in crate::sample::encoded_asset("Big Buck Bunny", 2048, 1).files {
            store.put_blob(&container, &name, bytes, &PutOptions::default()).await.unwrap();
        }
        (Catalog::new(store), container)
    }

    #[tokio::test]
    async fn an_ams_container_is_adopted_with_the_id_it_carries_once() {
        let (catalog, container) = library().await;
        let first = adopt_container(&catalog, &container).await;
        assert_eq!(first.action, AdoptAction::Adopted, "{first:?}");
        assert_eq!(first.id.unwrap().to_string(), "nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e");
        assert_eq!(first.files, 10);
        assert_eq!(first.primary.as_deref(), Some("Big Buck Bunny.ism"));
        let record = catalog.get_asset(&first.id.unwrap()).await.unwrap();
        assert_eq!(record.value.asset.name, "Big Buck Bunny");
        assert_eq!(record.value.asset.container, container);

        let again = adopt_container(&catalog, &container).await;
        assert_eq!(again.action, AdoptAction::AlreadyRegistered);
        assert_eq!(catalog.get_asset(&first.id.unwrap()).await.unwrap().etag, record.etag, "nothing rewritten");
    }

    #[tokio::test]
    async fn the_catalog_and_other_containers_are_left_alone() {
        let (catalog, _) = library().await;
        for name in [
            CATALOG_CONTAINER,
            "asset-not-a-guid",
            "videos",
            "asset-0E5C7F9A-8B5B-4A0E-9D4B-6C1F2B3A4D5E",
            "asset-{0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e}",
        ] {
            let out = adopt_container(&catalog, name).await;
            assert_eq!(out.action, AdoptAction::Skipped, "{name}: {out:?}");
        }
        assert!(catalog.list_assets().await.unwrap().records.is_empty());
    }

    #[tokio::test]
    async fn a_missing_container_or_two_manifests_fail_and_write_nothing() {
        let (catalog, container) = library().await;
        let missing = adopt_container(&catalog, "asset-7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").await;
        assert_eq!(missing.action, AdoptAction::Failed);
        assert!(missing.message.unwrap().contains("no container"));
        catalog.store().put_blob(&container, "Other.ism", Bytes::new(), &PutOptions::default()).await.unwrap();
        let two = adopt_container(&catalog, &container).await;
        assert_eq!(two.action, AdoptAction::Failed);
        assert!(two.message.unwrap().contains("Other.ism"));
        assert!(catalog.list_assets().await.unwrap().records.is_empty());
    }
}
