//! Plugin storage backends, loaded with `libloading` through the C ABI of
//! `mirrorcast-plugin-sdk`.
//!
//! - [`load`] opens a library, checks it is a plugin of our ABI version, and
//!   returns a [`PluginLibrary`]; [`PluginLibrary::open`] makes a [`PluginStore`].
//! - Calls are synchronous in the plugin; the store runs them on tokio's
//!   blocking pool, off the async runtime.
//! - A library is never unloaded while a store (or a call) from it is alive:
//!   each holds an `Arc` to it.
//! - [`Registry`] finds plugins by name: loaded with `--plugin PATH`, or
//!   discovered as `lib<name>.so` / `libmirrorcast_plugin_<name>.so` in the plugin directories.

mod error;
mod library;
mod registry;
mod store;

pub use error::Error;
pub use library::{load, PluginLibrary};
pub use registry::Registry;
pub use store::PluginStore;
