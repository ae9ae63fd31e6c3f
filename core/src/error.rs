//! The one error type of `mirrorcast-core`. It wraps the storage layer's
//! [`mirrorcast_store::Error`] (every store error converts with `From`, keeping
//! its kind, message and cause), so the kinds, the exit codes the CLI maps
//! them to and every message are the same whether an error began in a store
//! or in the domain.

use std::fmt;

pub use mirrorcast_store::ErrorKind;

/// An error with a kind, a message meant for people, and an optional cause.
///
/// Messages never carry secrets: backends redact URLs and never echo keys.
#[derive(thiserror::Error)]
#[error(transparent)]
#[non_exhaustive]
pub struct Error(#[from] mirrorcast_store::Error);

/// The core's result type, with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message for people (no secrets in it).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(mirrorcast_store::Error::new(kind, message))
    }

    /// The same error with `source` as its cause.
    pub fn with_source(self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error(self.0.with_source(source))
    }

    /// What went wrong, in terms a caller can act on (the CLI maps it to an exit code).
    pub fn kind(&self) -> ErrorKind {
        self.0.kind()
    }

    /// Whether trying again may succeed (throttled or transient).
    pub fn is_retryable(&self) -> bool {
        self.0.is_retryable()
    }

    /// The message alone, without the cause.
    pub fn message(&self) -> &str {
        self.0.message()
    }

    /// The same error with `context: ` put before its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error(self.0.context(context))
    }

    /// A [`ErrorKind::NotFound`] error: the record, blob or container is not there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// An [`ErrorKind::InvalidInput`] error: the input was refused before anything was done.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// An [`ErrorKind::Unsupported`] error: this cannot be done here at all.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
}

/// The same fields a store error shows: the wrapper adds nothing to read.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A domain error handed back through a store interface (a stream of bytes a
/// copy produces, a wrapper's method) is the store error it wraps.
impl From<Error> for mirrorcast_store::Error {
    fn from(e: Error) -> Self {
        e.0
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::Corrupt, format!("malformed JSON record: {e}")).with_source(e)
    }
}
