//! The error of every [`crate::BlobStore`]: a kind named by meaning (what the
//! caller can do about it), a message meant for people, and a cause.

use std::fmt;

/// What went wrong, by meaning rather than by origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A container, blob or record does not exist.
    NotFound,
    /// Something with that name or id exists already.
    AlreadyExists,
    /// A conditional write lost: the ETag moved, or the item appeared meanwhile.
    PreconditionFailed,
    /// The credentials were refused (wrong key, expired SAS, bad token).
    Authentication,
    /// The credentials were accepted but do not allow the operation.
    PermissionDenied,
    /// The caller's input is malformed: an id, a name, a configuration value.
    InvalidInput,
    /// The backend cannot do this (see [`crate::Capability`]).
    Unsupported,
    /// The service asked us to slow down (429, 503).
    Throttled,
    /// A failure that may pass: a timeout, a dropped connection, a 500.
    Transient,
    /// Data does not match what it claims to be (hash, size, format).
    Corrupt,
    /// A local file-system error.
    Io,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PreconditionFailed => "precondition failed",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient failure",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::Io => "i/o error",
            ErrorKind::Other => "error",
        };
        f.write_str(s)
    }
}

/// An error with a kind, a message meant for people, and an optional cause.
///
/// Messages never carry secrets: backends redact URLs and never echo keys.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The store's result type, with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message for people (no secrets in it).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong, in terms a caller can act on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether trying again may succeed (see [`ErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The message alone, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` put before its message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// A [`ErrorKind::NotFound`] error: the blob or container is not there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// An [`ErrorKind::InvalidInput`] error: the request was refused before it was sent.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// An [`ErrorKind::Unsupported`] error: this store cannot do that at all.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}
