use std::path::PathBuf;

/// Why Azurite could not be started or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("Azurite is not installed: looked for {searched}; run `cargo xtask setup` (npm ci in tools/azurite) or set MIRRORCAST_AZURITE_BIN")]
    NotInstalled { searched: String },
    #[error("could not start Azurite ({program}): {source}")]
    Spawn { program: PathBuf, source: std::io::Error },
    #[error("Azurite did not become ready within {seconds}s; its last output: {output}")]
    NotReady { seconds: u64, output: String },
    #[error("the Azurite location '{0}' cannot be used: {1}")]
    Location(PathBuf, std::io::Error),
    #[error("Azurite's OAuth mode needs HTTPS: give the builder a certificate with .https(…)")]
    OAuthNeedsHttps,
    #[error("Azurite container: {0}")]
    Container(String),
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
