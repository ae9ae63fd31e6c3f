//! mirrorcast-front: one process in front of the data centers' origins, routing
//! viewers like Traffic Manager's priority method. Each origin's `/healthz` is
//! probed; K failed probes in a row take it down, M good ones bring it back
//! (or, with failback off, the origin that took over keeps the viewers).
//! Requests are proxied (bodies streamed through; a request whose origin fails
//! before the first byte is tried on the next origin) or redirected (302).
//! `/_front/status` and the page at `/_front/` show it all as it happens.
//!
//! - [`config`]: origins, mode, probe settings, checked before anything starts.
//! - [`framing`]: requests announcing a body, and answers framed two ways, refused.
//! - [`health`]: the probe results → up/down state machine (pure, hysteresis).
//! - [`route`]: which origin gets the requests (pure, priority order).
//! - [`board`]: the live state: health, active origin, counts, history.
//! - [`probe`]: the probing tasks.
//! - [`proxy`]: forwarding with retry before the first byte; redirects.
//! - [`status`]: the `/_front/status` document.
//! - [`server`]: routes, the status page, tower layers.

pub mod board;
pub mod config;
pub mod framing;
pub mod health;
pub mod probe;
pub mod proxy;
pub mod route;
pub mod server;
pub mod status;

pub use board::Front;
pub use config::{FrontConfig, Mode, OriginSpec, ProbeConfig};
pub use server::router;
