//! mirrorcast-encode: a mezzanine asset in, a GOP-aligned multi-bitrate MP4
//! set with Smooth manifests out, as a job in the data center's catalog.
//!
//! - [`ffmpeg`]: finding ffmpeg/ffprobe (a clear error naming how to get them), probing a source.
//! - [`ladder`]: presets: adaptive-streaming, fixed MES-like ladders, custom TOML/JSON ladders.
//! - [`command`]: the one ffmpeg command (one decode, a split filter, aligned key frames).
//! - [`manifests`]: .ism / .ismc / `<Base>_manifest.xml` from the renditions as made.
//! - [`relay`]: the source served to ffmpeg on loopback, so no storage credential is in its argv.
//! - [`job`]: job records (`jobs/<guid>.json`), progress, cancel, log.
//! - [`run`]: the encoder that runs a job end to end.

pub mod command;
pub mod ffmpeg;
pub mod job;
pub mod ladder;
pub mod manifests;
pub mod relay;
pub mod run;

pub use ffmpeg::Ffmpeg;
pub use job::{JobId, JobRecord, JobState, Jobs};
pub use ladder::Preset;
pub use run::{Encoder, Finished};
