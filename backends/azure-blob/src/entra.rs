//! Entra ID credentials of the `azure_identity` crate as [`TokenProvider`]s.
//! Only with the `entra` feature; the kinds parse without it.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use chrono::{DateTime, Utc};
use mirrorcast_store::secret::Secret;

use crate::config::EntraCredential;
use crate::token::{AccessToken, BearerSource, TokenError, TokenProvider, STORAGE_SCOPE};

/// The credential of `kind`, cached. Building one reads the environment and
/// checks it; no token is fetched until the first request.
pub(crate) fn source(kind: EntraCredential) -> Result<BearerSource, TokenError> {
    let provider: Arc<dyn TokenProvider> = match kind {
        EntraCredential::Default => Arc::new(Chain::default_chain()),
        one => Arc::new(Identity { kind: one, credential: build(one)? }),
    };
    Ok(BearerSource::new(kind.as_str(), provider))
}

fn build(kind: EntraCredential) -> Result<Arc<dyn TokenCredential>, TokenError> {
    let failed = |e: azure_core::Error| TokenError(format!("Entra credential '{}': {e}", kind.as_str()));
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Ok(match kind {
        EntraCredential::Environment => {
            let (Some(tenant), Some(client), Some(secret)) =
                (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"), var("AZURE_CLIENT_SECRET"))
            else {
                return Err(TokenError(
                    "Entra credential 'environment' needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
                        .into(),
                ));
            };
            azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None).map_err(failed)?
        }
        EntraCredential::WorkloadIdentity => azure_identity::WorkloadIdentityCredential::new(None).map_err(failed)?,
        EntraCredential::ManagedIdentity => {
            let options = var("AZURE_CLIENT_ID").map(|id| azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(id)),
                ..Default::default()
            });
            azure_identity::ManagedIdentityCredential::new(options).map_err(failed)?
        }
        EntraCredential::AzureCli => azure_identity::AzureCliCredential::new(None).map_err(failed)?,
        EntraCredential::Default => unreachable!("the default credential is a chain, built by Chain"),
    })
}

/// One azure_identity credential.
#[derive(Debug)]
struct Identity {
    kind: EntraCredential,
    credential: Arc<dyn TokenCredential>,
}

#[async_trait]
impl TokenProvider for Identity {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        let t = self
            .credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map_err(|e| TokenError(format!("Entra credential '{}' gave no token: {e}", self.kind.as_str())))?;
        let expires_at = DateTime::<Utc>::from_timestamp(t.expires_on.unix_timestamp(), 0).unwrap_or_else(Utc::now);
        Ok(AccessToken { token: Secret::new(t.token.secret()), expires_at })
    }
}

/// `credential = "default"`: environment, workload identity, managed
/// identity, then the Azure CLI; those whose settings are present are tried
/// in that order and the first that gives a token is kept for the run.
#[derive(Debug)]
struct Chain {
    links: Vec<Identity>,
    /// What was not usable at all, for the message when nothing gives a token.
    skipped: Vec<String>,
    chosen: tokio::sync::Mutex<Option<usize>>,
}

impl Chain {
    fn default_chain() -> Self {
        let mut links = Vec::new();
        let mut skipped = Vec::new();
        for kind in [
            EntraCredential::Environment,
            EntraCredential::WorkloadIdentity,
            EntraCredential::ManagedIdentity,
            EntraCredential::AzureCli,
        ] {
            match build(kind) {
                Ok(credential) => links.push(Identity { kind, credential }),
                Err(e) => skipped.push(e.0),
            }
        }
        Chain { links, skipped, chosen: tokio::sync::Mutex::new(None) }
    }
}

#[async_trait]
impl TokenProvider for Chain {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut chosen = self.chosen.lock().await;
        if let Some(i) = *chosen {
            return self.links[i].token().await;
        }
        let mut failures = self.skipped.clone();
        for (i, link) in self.links.iter().enumerate() {
            match link.token().await {
                Ok(t) => {
                    tracing::debug!(credential = link.kind.as_str(), "default Entra credential chose");
                    *chosen = Some(i);
                    return Ok(t);
                }
                Err(e) => failures.push(e.0),
            }
        }
        Err(TokenError(format!(
            "no Entra credential gave a token (tried environment, workload-identity, managed-identity, azure-cli): {}",
            failures.join("; ")
        )))
    }
}
