use std::path::PathBuf;

/// Why Azurite could not be started or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `azurite-blob` program was found; `cargo xtask setup` installs it.
    #[error("Azurite is not installed: looked for {searched}; run `cargo xtask setup` (npm ci in tools/azurite) or set MIRRORCAST_AZURITE_BIN")]
    NotInstalled {
        /// The places looked in, comma-separated.
        searched: String,
    },
    /// The program was found but the process could not be started.
    #[error("could not start Azurite ({program}): {source}")]
    Spawn {
        /// The program that was run.
        program: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// The process started but never said it listens; it has been killed. The only retryable error.
    #[error("Azurite did not become ready within {seconds}s; its last output: {output}")]
    NotReady {
        /// The ready timeout, in seconds.
        seconds: u64,
        /// Its last lines of output (up to 20), joined by ` | `, to tell why.
        output: String,
    },
    /// The data folder of [`crate::Persistence::Location`] could not be created.
    #[error("the Azurite location '{0}' cannot be used: {1}")]
    Location(PathBuf, std::io::Error),
    /// [`crate::AzuriteBuilder::oauth`] without [`crate::AzuriteBuilder::https`]: Azurite refuses tokens over HTTP.
    #[error("Azurite's OAuth mode needs HTTPS: give the builder a certificate with .https(…)")]
    OAuthNeedsHttps,
    /// Docker could not start the container, or it does not serve the account asked for.
    #[error("Azurite container: {0}")]
    Container(String),
    /// The emulator's endpoint or account made an invalid store configuration.
    #[error(transparent)]
    Config(#[from] mirrorcast_azure_blob::Error),
}

impl Error {
    /// Starting may succeed on a second try only if the machine was busy.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NotReady { .. })
    }
}

impl From<Error> for mirrorcast_store::Error {
    fn from(e: Error) -> Self {
        mirrorcast_store::Error::new(mirrorcast_store::ErrorKind::Other, e.to_string())
    }
}
