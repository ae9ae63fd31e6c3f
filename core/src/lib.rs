//! mirrorcast-core: what a media asset is and how it is stored, with no I/O of its own.
//!
//! - [`id`]: asset, locator and access-policy ids and the container names they map to.
//! - [`model`]: the records (asset, file info, access policy, locator).
//! - [`primary`], [`mime`], [`streaming`]: file-info and streaming-URL rules.
//! - [`store`]: the storage layer (the `mirrorcast-store` crate, re-exported):
//!   the [`store::BlobStore`] trait every backend implements, its
//!   [`store::Capability`], an in-memory store, and the conformance suite.
//! - [`copy`]: the [`copy::CopyEngine`] trait and the streamed copy.
//! - [`catalog`]: a data center's records, kept in its own storage account.
//! - [`protection`]: content keys (stored wrapped), content key and streaming policies.
//! - [`ams`], [`import`], [`adopt`]: a Media Services library's records read, imported, adopted.

pub mod adopt;
pub mod ams;
pub mod catalog;
pub mod copy;
pub mod error;
pub mod id;
pub mod import;
pub mod mime;
pub mod model;
pub mod primary;
pub mod process_group;
pub mod protection;
pub mod replicate;
pub mod sample;
pub mod streaming;

/// A locator's delivery terms live with the records now; the old path still names them.
pub use model::delivery;
/// Per-asset reports kept in an unlinked temporary file (replicate's, verify's), not in memory.
pub use replicate::spool;

pub use error::{Error, ErrorKind, Result};
/// The storage layer, its own crate; kept at `mirrorcast_core::store` so
/// existing paths hold.
pub use mirrorcast_store as store;
pub use mirrorcast_store::secret;
