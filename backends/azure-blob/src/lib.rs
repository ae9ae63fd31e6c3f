//! mirrorcast's Azure Blob Storage backend: [`AzureBlobStore`] implements
//! [`mirrorcast_core::store::BlobStore`] over the Blob REST API on `reqwest`.
//!
//! - [`config`]: connection strings, credentials, endpoint rules, `from_env`.
//! - `auth`: Shared Key request signing and service SAS generation.
//! - `client`: the store itself, with retries and error mapping.
//! - `xml`: the listing documents.
//!
//! No type of this crate's HTTP stack appears in its public API.

mod acl;
mod auth;
mod client;
pub mod config;
mod error;
mod retry;
mod xml;

pub use client::AzureBlobStore;
pub use config::{AzureConfig, Credential};
pub use error::Error;
pub use retry::RetryConfig;

/// The storage service version this backend speaks.
pub const API_VERSION: &str = "2021-08-06";
