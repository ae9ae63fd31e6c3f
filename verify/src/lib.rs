//! mirrorcast-verify: the post-failover audit. Diffs data center B against A
//! blob by blob, record by record and manifest by manifest, and reports every
//! difference in rclone-check style (`=` same, `-` missing in B, `+` extra in
//! B, `*` differs, `!` could not be checked). It never writes: both sides are
//! opened through [`ReadOnly`], which refuses every write.
//!
//! - [`blobs`]: listings compared by size, MD5, content type, metadata; `--deep` hashes bytes.
//! - [`records`]: asset, file infos, locators, streaming URLs.
//! - [`filters`]: filter records (an asset's; the account's with `--all`).
//! - [`protection`]: content keys (by keyed hash), content key and streaming policies.
//! - [`manifest`]: `.ism`, `.ismc`, HLS and DASH references.
//! - [`mp4`]: top-level box sizes add up to the blob size.
//! - [`served`]: what two origins serve (manifests, first and last segments), compared (`--http`).
//! - `served_tracks`: the tracks a served manifest names and the URLs sampled of each.
//! - [`report`]: entries, counts, text / JSON / JUnit.

pub mod blobs;
pub mod filters;
pub mod manifest;
pub mod mp4;
pub mod protection;
mod readonly;
pub mod records;
pub mod report;
mod run;
pub mod served;
mod served_tracks;

pub use readonly::ReadOnly;
pub use report::{AssetVerdict, AssetVerdicts, Check, Entry, Marker, Report, RequestsSent, Side};
pub use run::{
    verify, VerifyOptions, DEEP_BLOBS_PER_ASSET, DEFAULT_MEMORY_BUDGET, DEFAULT_PARALLEL, DEFAULT_RANGE_SIZE,
};
