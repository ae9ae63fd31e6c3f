//! Stored access policies of the grants: put on a container (keeping what is
//! there), and removed again, with the list this run wrote last as the
//! condition of the next write.

use chrono::Utc;

use super::batch::{Generation, GrantSide, Issued};
use super::Grants;
use crate::error::{Error, ErrorKind, Result};
use crate::id::LocatorId;
use crate::model::Permissions;
use crate::store::{BlobStore, StoredPolicy, MAX_STORED_POLICIES};

/// Tries of a read-modify-write of a container's policies that lost a race.
const POLICY_WRITE_TRIES: u32 = 5;

/// The stored access policy that a grant record's tokens are bound to.
pub fn policy_id_for(record: &LocatorId) -> String {
    format!("mc-{}", record.guid())
}

/// Removes stored policy `id` from the container, keeping the others (a
/// read-modify-write; a container that is gone has nothing left to revoke).
pub async fn remove_stored_policy(store: &dyn BlobStore, container: &str, id: &str) -> Result<()> {
    for _ in 0..POLICY_WRITE_TRIES {
        let current = match store.get_container_policies(container).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !current.policies.iter().any(|p| p.id == id) {
            return Ok(());
        }
        let next: Vec<StoredPolicy> = current.policies.into_iter().filter(|p| p.id != id).collect();
        match store.set_container_policies(container, &next, Some(&current.version)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::new(
        ErrorKind::PreconditionFailed,
        format!("the stored access policies of container '{container}' kept changing; policy {id} is still there"),
    ))
}

/// A container's stored policies as this run last wrote them, and the
/// Last-Modified that write returned (empty: no condition known).
#[derive(Debug, Clone)]
pub(crate) struct KnownPolicies {
    policies: Vec<StoredPolicy>,
    version: String,
}

impl Grants<'_> {
    fn known_policies(&self, side: GrantSide, container: &str) -> Option<KnownPolicies> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&(side, container.to_owned())).cloned()
    }

    fn remember_policies(&self, side: GrantSide, container: &str, known: Option<KnownPolicies>) {
        let mut map = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match known {
            Some(k) => map.insert((side, container.to_owned()), k),
            None => map.remove(&(side, container.to_owned())),
        };
    }

    /// Adds the grant's stored access policy to the container, keeping the
    /// identifiers already there (read first, unless this run knows them:
    /// a container it created, or one it wrote last). `None` when the
    /// container has no free slot (said in a warning): the caller then signs
    /// an ad-hoc token, which expires but cannot be revoked.
    pub(super) async fn bind(
        &self,
        store: &dyn BlobStore,
        issued: &Issued,
        permissions: Permissions,
        g: &Generation,
        fresh_container: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<String>> {
        let container = issued.container.as_str();
        let id = policy_id_for(&issued.record);
        let mut known = match fresh_container {
            true => Some(KnownPolicies { policies: Vec::new(), version: String::new() }),
            false => self.known_policies(issued.side, container),
        };
        for _ in 0..POLICY_WRITE_TRIES {
            let current = match known.take() {
                Some(k) => k,
                None => {
                    let read = store.get_container_policies(container).await?;
                    KnownPolicies { policies: read.policies, version: read.version }
                }
            };
            // Our own leftovers (expired, or whose record is gone) give their slot back.
            let mut kept = Vec::new();
            for p in current.policies {
                if p.id == id {
                    continue;
                }
                if self.is_stale_grant_policy(&p).await? {
                    tracing::info!(container, policy = %p.id, "dropping a copy grant policy a previous run left behind");
                } else {
                    kept.push(p);
                }
            }
            if kept.len() >= MAX_STORED_POLICIES {
                let text = format!(
                    "container '{container}' on {} already holds {MAX_STORED_POLICIES} stored access policies: the copy SAS there is ad hoc, valid until {} and not revocable before",
                    store.describe(),
                    g.expiry.format("%Y-%m-%d %H:%M:%SZ")
                );
                tracing::warn!("{text}");
                warnings.push(text);
                return Ok(None);
            }
            let mut next = kept;
            next.push(StoredPolicy { id: id.clone(), start: Some(g.start), expiry: Some(g.expiry), permissions });
            let condition = Some(current.version.as_str()).filter(|v| !v.is_empty());
            match store.set_container_policies(container, &next, condition).await {
                Ok(version) => {
                    self.remember_policies(issued.side, container, Some(KnownPolicies { policies: next, version }));
                    return Ok(Some(id));
                }
                // Someone else changed the list meanwhile: read it again.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.remember_policies(issued.side, container, None);
        Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("the stored access policies of container '{container}' kept changing; try again"),
        ))
    }

    /// Removes a grant's policy from its container: the list this run wrote
    /// last without it, on the condition that nobody wrote since; else a
    /// read-modify-write.
    pub(super) async fn unbind(&self, issued: &Issued) -> Result<()> {
        let store = self.store(issued.side);
        let container = issued.container.as_str();
        let id = policy_id_for(&issued.record);
        if let Some(known) = self.known_policies(issued.side, container).filter(|k| !k.version.is_empty()) {
            if known.policies.iter().any(|p| p.id == id) {
                let next: Vec<StoredPolicy> = known.policies.into_iter().filter(|p| p.id != id).collect();
                match store.set_container_policies(container, &next, Some(&known.version)).await {
                    Ok(version) => {
                        self.remember_policies(issued.side, container, Some(KnownPolicies { policies: next, version }));
                        return Ok(());
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.remember_policies(issued.side, container, None);
        remove_stored_policy(store.as_ref(), container, &id).await
    }

    /// A stored policy this tool made (`mc-…`) that no run uses any more:
    /// expired, or its grant record in B is gone.
    async fn is_stale_grant_policy(&self, p: &StoredPolicy) -> Result<bool> {
        let Some(guid) = p.id.strip_prefix("mc-").and_then(|g| uuid::Uuid::parse_str(g).ok()) else {
            return Ok(false);
        };
        if p.expiry.is_some_and(|e| e <= Utc::now()) {
            return Ok(true);
        }
        let record = LocatorId::from_uuid(guid);
        if self.live_records.lock().unwrap_or_else(|e| e.into_inner()).contains(&record) {
            return Ok(false);
        }
        match self.target.get_locator(&record).await {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }
}
