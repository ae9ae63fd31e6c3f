//! B's access policies by id: those of grant records and of streaming
//! locators, taken from B's listing or created once per run (every asset's
//! grants and locators share them).

use std::collections::BTreeMap;

use tokio::sync::Mutex;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::id::PolicyId;
use crate::model::{AccessPolicy, Permissions};

#[derive(Debug)]
pub(crate) struct TargetPolicies<'a> {
    catalog: &'a Catalog,
    known: Mutex<BTreeMap<PolicyId, AccessPolicy>>,
}

impl<'a> TargetPolicies<'a> {
    pub(crate) fn new(catalog: &'a Catalog) -> Self {
        TargetPolicies { catalog, known: Mutex::default() }
    }

    /// What B's listing says of its policies stands for reading them one by one.
    pub(crate) async fn learn(&self, listed: impl IntoIterator<Item = (PolicyId, AccessPolicy)>) {
        self.known.lock().await.extend(listed);
    }

    /// The policy of these terms in B, read or created once per run.
    pub(crate) async fn get_or_create(
        &self,
        name: &str,
        minutes: u64,
        permissions: Permissions,
    ) -> Result<AccessPolicy> {
        let id = PolicyId::for_terms(minutes, &permissions.sas_letters());
        let mut known = self.known.lock().await;
        if let Some(p) = known.get(&id) {
            return Ok(p.clone());
        }
        // B's listing filled the cache: a policy not in it is created without a read.
        let p = self.catalog.create_policy(name, minutes, permissions).await?;
        known.insert(id, p.clone());
        Ok(p)
    }
}
