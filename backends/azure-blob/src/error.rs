//! Errors of configuring an Azure Blob store. Errors of operations are
//! [`mirrorcast_store::Error`]s, shared by every backend.

/// A configuration error; messages name the field, never its secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("malformed connection string: {0}")]
    ConnectionString(String),
    #[error("endpoint '{0}' uses plain HTTP; HTTPS is required for every endpoint that is not loopback (127.0.0.1, ::1, localhost)")]
    InsecureEndpoint(String),
    #[error("invalid endpoint '{endpoint}': {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error(
        "the account key of '{0}' is not valid base64; copy it again from the portal or `az storage account keys list`"
    )]
    InvalidKey(String),
    #[error("invalid account name '{0}': a storage account name is 3 to 24 lowercase letters and digits")]
    InvalidAccountName(String),
    #[error("missing configuration: {0}")]
    Missing(String),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// An Entra ID credential that cannot sign in as configured.
    #[error("{0}")]
    Credential(String),
    #[error("CA file '{path}': {reason}")]
    CaFile { path: String, reason: String },
}

impl Error {
    /// Every configuration error is the caller's input to fix.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<Error> for mirrorcast_store::Error {
    fn from(e: Error) -> Self {
        mirrorcast_store::Error::invalid_input(e.to_string())
    }
}
