//! mirrorcast's Azure Blob Storage backend: [`AzureBlobStore`] implements
//! [`mirrorcast_store::BlobStore`] over the Blob REST API on `reqwest`.
//!
//! - [`config`]: connection strings, credentials, endpoint rules, `from_env`.
//! - `auth`: Shared Key request signing and service SAS generation.
//! - [`token`]: bearer-token providers and their refreshing cache; `entra`
//!   (feature `entra`, on by default) plugs `azure_identity` credentials in.
//! - `client`: the store itself, with retries and error mapping.
//! - `xml`: the listing documents.
//!
//! No type of this crate's HTTP stack appears in its public API.

mod acl;
mod auth;
mod client;
pub mod config;
#[cfg(feature = "entra")]
mod entra;
mod error;
mod retry;
pub mod token;
mod xml;

pub use client::AzureBlobStore;
pub use config::{AzureConfig, Credential, EntraCredential};
pub use error::Error;
pub use retry::RetryConfig;

/// The storage service version this backend speaks.
pub const API_VERSION: &str = "2021-08-06";
