use std::path::PathBuf;

/// Why a plugin could not be loaded. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The dynamic loader refused the file (missing, wrong architecture, unresolved symbols).
    #[error("'{path}' is not a loadable shared library: {reason}")]
    NotALibrary {
        /// The file that was given.
        path: PathBuf,
        /// The loader's own message.
        reason: String,
    },
    /// The library loaded but lacks the plugin entry point.
    #[error("'{path}' is a shared library but not a mirrorcast plugin: it exports no `mirrorcast_plugin_init`")]
    NotAPlugin {
        /// The file that was given.
        path: PathBuf,
    },
    /// The plugin was built for another ABI version; rebuilding it is the fix.
    #[error("'{path}' is a mirrorcast plugin for ABI version {plugin}, but this mirrorcast speaks version {host}: rebuild it against mirrorcast-plugin-sdk {sdk}")]
    AbiMismatch {
        /// The file that was given.
        path: PathBuf,
        /// The ABI version the plugin speaks.
        plugin: u32,
        /// The ABI version this host speaks.
        host: u32,
        /// The SDK version to rebuild the plugin against.
        sdk: &'static str,
    },
    /// The entry point ran and returned an error status.
    #[error("'{path}': the plugin failed to initialise (status {code})")]
    InitFailed {
        /// The file that was given.
        path: PathBuf,
        /// The status it returned (see `mirrorcast_plugin_sdk::abi::status`).
        code: i32,
    },
    /// No loaded plugin and no file in the plugin directories has that name.
    #[error("no plugin named '{name}': pass --plugin PATH, or put lib{name}.so in {searched}")]
    UnknownPlugin {
        /// The name asked for (`backend = "plugin:<name>"`).
        name: String,
        /// The directories searched, comma-separated.
        searched: String,
    },
}

impl Error {
    /// Loading is never worth retrying: the file is what it is.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<Error> for mirrorcast_store::Error {
    fn from(e: Error) -> Self {
        mirrorcast_store::Error::invalid_input(e.to_string())
    }
}
