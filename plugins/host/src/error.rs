use std::path::PathBuf;

/// Why a plugin could not be loaded. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("'{path}' is not a loadable shared library: {reason}")]
    NotALibrary { path: PathBuf, reason: String },
    #[error("'{path}' is a shared library but not a mirrorcast plugin: it exports no `mirrorcast_plugin_init`")]
    NotAPlugin { path: PathBuf },
    #[error("'{path}' is a mirrorcast plugin for ABI version {plugin}, but this mirrorcast speaks version {host}: rebuild it against mirrorcast-plugin-sdk {sdk}")]
    AbiMismatch { path: PathBuf, plugin: u32, host: u32, sdk: &'static str },
    #[error("'{path}': the plugin failed to initialise (status {code})")]
    InitFailed { path: PathBuf, code: i32 },
    #[error("no plugin named '{name}': pass --plugin PATH, or put lib{name}.so in {searched}")]
    UnknownPlugin { name: String, searched: String },
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
