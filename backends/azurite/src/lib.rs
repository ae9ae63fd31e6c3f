//! The Azurite emulator as a first-class backend.
//!
//! - [`launcher`]: start Azurite (pinned by `tools/azurite/package-lock.json`)
//!   on a free loopback port, wait until it answers, stop it on drop.
//! - `container` (feature `testcontainers`, off by default): Azurite in Docker.
//! - [`account`]: the well-known dev account and generated extra accounts.
//! - [`topology`]: two data centers as two accounts of one instance (the
//!   server-side copy path) or as two instances that cannot see each other
//!   (the streamed path).
//!
//! Stores are [`mirrorcast_azure_blob::AzureBlobStore`]s: Azurite speaks the
//! same REST API; its limits show in their [`mirrorcast_store::Capability`].

pub mod account;
#[cfg(feature = "testcontainers")]
pub mod container;
mod error;
pub mod launcher;
pub mod topology;

pub use account::Account;
pub use error::Error;
pub use launcher::{Azurite, AzuriteBuilder, Persistence, Tls};
pub use topology::{DataCenter, TwoDataCenters};
