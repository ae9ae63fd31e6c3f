//! Azurite in a Docker container (feature `testcontainers`, off by default):
//! for users with Docker and without Node. The default path, and every test
//! of this project, is the process launcher, which needs no Docker.

use mirrorcast_azure_blob::{AzureBlobStore, AzureConfig, Credential};
use testcontainers_modules::azurite::{Azurite as AzuriteImage, BLOB_PORT};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::ContainerAsync;

use crate::account::{accounts_env, Account};
use crate::error::Error;

/// A running Azurite container; dropping it removes the container.
#[derive(Debug)]
pub struct AzuriteContainer {
    container: ContainerAsync<AzuriteImage>,
    accounts: Vec<Account>,
    port: u16,
}

impl AzuriteContainer {
    /// Starts `mcr.microsoft.com/azure-storage/azurite` serving `accounts`
    /// (the dev account when empty) on a free host port.
    pub async fn start(accounts: Vec<Account>) -> Result<Self, Error> {
        let accounts = if accounts.is_empty() { vec![Account::dev()] } else { accounts };
        let mut image = AzuriteImage::default().with_loose().with_skip_api_version_check().with_disable_telemetry();
        if accounts != [Account::dev()] {
            image = image.with_accounts(accounts_env(&accounts));
        }
        let container = image.start().await.map_err(|e| Error::Container(e.to_string()))?;
        let port = container.get_host_port_ipv4(BLOB_PORT).await.map_err(|e| Error::Container(e.to_string()))?;
        Ok(AzuriteContainer { container, accounts, port })
    }

    /// The host port mapped to the container's blob service.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store of `account` on this container.
    pub fn store(&self, account: &str) -> Result<AzureBlobStore, Error> {
        let a = self
            .accounts
            .iter()
            .find(|a| a.name == account)
            .ok_or_else(|| Error::Container(format!("account '{account}' is not served by this container")))?;
        let endpoint = format!("http://127.0.0.1:{}/{}", self.port, a.name);
        let config = AzureConfig::new(&a.name, &endpoint, Credential::SharedKey(a.key.clone()))?;
        Ok(AzureBlobStore::new(config)?)
    }

    /// The container's id, for `docker logs`.
    pub fn id(&self) -> &str {
        self.container.id()
    }
}
