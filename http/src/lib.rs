//! mirrorcast-http: what every HTTP server of the house shares (the origin, the
//! front, the encoder's source relay), written once.
//!
//! - [`accept`]: the accept loop: a connection cap, a deadline on and a bound to the
//!   request head, the write-stall guard, a hook at shutdown.
//! - [`stall`]: cutting off a client that stops reading its response.
//! - [`range`]: the `Range` header against a size (ffmpeg's `bytes=<size>-` told apart).
//! - [`access_log`]: common-log-format lines, written in batches off the serving threads.
//! - [`panic`](mod@panic): a panicking handler as a short 500.
//! - [`zero_copy`]: cached segments sent by `splice` from mappings the kernel may keep referencing.
//! - [`shutdown`]: SIGINT, SIGTERM and SIGHUP as one orderly stop (a second signal told apart).

pub mod accept;
pub mod access_log;
pub mod panic;
pub mod range;
pub mod shutdown;
pub mod stall;
pub mod tls;
pub mod zero_copy;

pub use accept::{serve, serve_with_tls, ConnectionLimits, DEFAULT_MAX_CONNECTIONS};
pub use panic::catch_panics;
pub use range::Ranged;
pub use shutdown::{Shutdown, ShutdownError, Signal};
pub use stall::WRITE_STALL_LIMIT;
/// The TLS acceptor [`serve_with_tls`] takes ([`tls::ReloadableCertificate::acceptor`] makes one).
pub use tokio_rustls::TlsAcceptor;
