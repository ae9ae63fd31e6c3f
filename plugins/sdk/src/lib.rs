//! The mirrorcast plugin SDK. A plugin is a shared library exporting one C
//! function, [`INIT_SYMBOL`], that fills in a versioned vtable ([`abi::PluginV1`]).
//! Only C-layout types cross the boundary: pointer+length bytes, UTF-8 JSON
//! strings, and an error code with a message. Every entry point catches panics.
//!
//! Writing one is plain safe Rust:
//!
//! ```ignore
//! struct MyBackend;
//! impl mirrorcast_plugin_sdk::Plugin for MyBackend {
//!     const NAME: &'static str = "mine";
//!     fn open(config: &str) -> mirrorcast_store::Result<Box<dyn mirrorcast_plugin_sdk::PluginStore>> { /* … */ }
//! }
//! mirrorcast_plugin_sdk::export_plugin!(MyBackend);
//! ```
//!
//! [`Blocking`] turns any async [`mirrorcast_store::BlobStore`] into a
//! [`PluginStore`], so an existing backend becomes a plugin in a few lines.

pub mod abi;
mod blocking;
#[doc(hidden)]
pub mod export;
pub mod protocol;

pub use blocking::Blocking;
pub use mirrorcast_store;
pub use protocol::{Reply, Request};

/// The ABI version this SDK speaks.
pub const ABI_VERSION: u32 = 1;

/// The one symbol a plugin exports.
pub const INIT_SYMBOL: &[u8] = b"mirrorcast_plugin_init";

/// A store, as a plugin offers it: synchronous calls, one per operation.
pub trait PluginStore: Send + Sync {
    /// Runs one operation; `body` is the payload of writes, the reply's body the bytes of reads.
    fn call(&self, request: Request, body: &[u8]) -> mirrorcast_store::Result<(Reply, Vec<u8>)>;
}

/// What a plugin library provides: a name and a way to open stores.
pub trait Plugin {
    /// The name data centers refer to it by (`backend = "plugin:<name>"`).
    const NAME: &'static str;
    /// Opens a store from its configuration string (a path, a URL, JSON…).
    fn open(config: &str) -> mirrorcast_store::Result<Box<dyn PluginStore>>;
}
