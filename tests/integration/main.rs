//! The one integration-test binary: the built `mirrorcast` CLI against real
//! Azurite processes that the tests start themselves.

mod helpers;

mod assets;
mod backends;
mod bad_input;
mod plugins;
mod records;
mod replicate;
mod requests;
mod resilience;
mod secrets;
mod verify;
