//! Two data centers on the emulator, in the two shapes DESIGN.md measured.

use mirrorcast_azure_blob::{AzureBlobStore, AzureConfig};

use crate::account::Account;
use crate::error::Error;
use crate::launcher::{Azurite, Persistence};

/// One side of a failover: an account on some Azurite instance.
#[derive(Debug, Clone)]
pub struct DataCenter {
    /// Its account name (`dca` or `dcb`).
    pub account: String,
    /// A store configuration for the account, key included.
    pub config: AzureConfig,
    /// Holds the key: pass it through the environment, never print it.
    pub connection_string: String,
}

impl DataCenter {
    fn on(azurite: &Azurite, account: &str) -> Self {
        DataCenter {
            account: account.to_owned(),
            config: azurite.config(account),
            connection_string: azurite.connection_string(account),
        }
    }

    /// A store on this data center's account.
    pub fn store(&self) -> AzureBlobStore {
        AzureBlobStore::new(self.config.clone()).expect("emulator configs are valid")
    }
}

/// Data centers A and B and the instances serving them (stopped on drop).
#[derive(Debug)]
pub struct TwoDataCenters {
    /// Data center A, account `dca`: the usual source.
    pub a: DataCenter,
    /// Data center B, account `dcb`: the usual target.
    pub b: DataCenter,
    /// The one or two emulators; keep them to kill or restart one, and to keep them running.
    pub instances: Vec<Azurite>,
}

impl TwoDataCenters {
    /// Two accounts on one instance: the target can read the source, so
    /// server-side copy works.
    pub async fn one_instance(persistence: Persistence) -> Result<Self, Error> {
        let azurite = Azurite::builder()
            .account(Account::generate("dca"))
            .account(Account::generate("dcb"))
            .persistence(persistence)
            .start()
            .await?;
        Ok(TwoDataCenters {
            a: DataCenter::on(&azurite, "dca"),
            b: DataCenter::on(&azurite, "dcb"),
            instances: vec![azurite],
        })
    }

    /// Two instances that cannot see each other: only streamed copy works.
    /// `b_persistence` lets a test kill and restart B without losing it.
    pub async fn two_instances(b_persistence: Persistence) -> Result<Self, Error> {
        let (a, b) = tokio::try_join!(
            Azurite::builder().account(Account::generate("dca")).start(),
            Azurite::builder().account(Account::generate("dcb")).persistence(b_persistence).start(),
        )?;
        Ok(TwoDataCenters { a: DataCenter::on(&a, "dca"), b: DataCenter::on(&b, "dcb"), instances: vec![a, b] })
    }
}
