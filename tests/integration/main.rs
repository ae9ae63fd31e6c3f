//! The one integration-test binary: the built `mirrorcast` CLI against real
//! Azurite processes that the tests start themselves.

mod helpers;

mod adopt;
mod assets;
mod audio_only;
mod backends;
mod bad_input;
mod codecs;
mod copy_engines;
mod delete;
mod demo;
mod deploy;
mod dolby;
mod drill;
mod encode;
mod entra;
mod failover;
mod filters;
mod fragmented;
mod front;
mod front_hostile;
mod help;
mod hls_ts;
mod iframes;
mod import_hostile;
mod lag;
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
mod self_target;
mod serve;
mod serve_hostile;
mod smooth;
mod subtitles;
mod verify;
mod watch;
