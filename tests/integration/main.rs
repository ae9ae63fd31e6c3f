//! The one integration-test binary: the built `mirrorcast` CLI against real
//! Azurite processes that the tests start themselves.

mod helpers;

mod adopt;
mod assets;
mod backends;
mod bad_input;
mod codecs;
mod copy_engines;
mod delete;
mod drill;
mod encode;
mod entra;
mod failover;
mod front;
mod front_hostile;
mod hls_ts;
mod import_hostile;
mod languages;
mod names;
mod player;
mod plugins;
mod protected;
mod readiness;
mod readme;
mod records;
mod replicate;
mod requests;
mod resilience;
mod secrets;
mod segment_cache;
mod self_target;
mod serve;
mod serve_hostile;
mod smooth;
mod verify;
