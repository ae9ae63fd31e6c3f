//! Errors of configuring an Azure Blob store. Errors of operations are
//! [`mirrorcast_store::Error`]s, shared by every backend.

/// A configuration error; messages name the field, never its secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string that cannot be parsed or names an impossible combination; the message says which key.
    #[error("malformed connection string: {0}")]
    ConnectionString(String),
    /// A plain `http://` endpoint that is not loopback: keys and SAS tokens would travel in clear.
    #[error("endpoint '{0}' uses plain HTTP; HTTPS is required for every endpoint that is not loopback (127.0.0.1, ::1, localhost)")]
    InsecureEndpoint(String),
    /// An endpoint that is not a usable URL (unparsable, no host, not http or https), or whose secondary cannot be told.
    #[error("invalid endpoint '{endpoint}': {reason}")]
    InvalidEndpoint {
        /// The endpoint as given, without its query string (which may hold a SAS).
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An account key that does not decode as base64; holds the account name, never the key.
    #[error(
        "the account key of '{0}' is not valid base64; copy it again from the portal or `az storage account keys list`"
    )]
    InvalidKey(String),
    /// An account name Azure would refuse (3 to 24 lowercase letters and digits).
    #[error("invalid account name '{0}': a storage account name is 3 to 24 lowercase letters and digits")]
    InvalidAccountName(String),
    /// Nothing to build a store from; the message says which variables to set.
    #[error("missing configuration: {0}")]
    Missing(String),
    /// The HTTP client (TLS backend, timeouts) could not be set up.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// An Entra ID credential that cannot sign in as configured.
    #[error("{0}")]
    Credential(String),
    /// The extra CA certificate file (`ca_file`) cannot be read or holds no PEM certificate.
    #[error("CA file '{path}': {reason}")]
    CaFile {
        /// The file as configured.
        path: String,
        /// Why it is unusable.
        reason: String,
    },
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
