//! mirrorcast-drill: the failover rehearsal's viewer. It streams an origin
//! locator's HLS and DASH through a base URL (a front, or one origin) at the
//! pace of a player, runs a kill command at a chosen moment, and reports what
//! the viewer saw: segments and frames received against expected, stalls,
//! which origin answered and how soon B took over, and every HTTP error.
//!
//! - [`playlist`]: HLS master/media playlists and DASH MPDs → renditions and segments (pure).
//! - [`envelope`]: HLS AES-128 segments: each one's key URI and IV, decrypted with the key (pure).
//! - [`licence`]: a protected DASH stream's ClearKey licence: request and check (pure).
//! - [`token`]: the viewer's bearer token for licence and key requests, never shown (pure).
//! - [`player`]: a player's buffer: when to fetch next, when playback ran dry (pure).
//! - [`segment`]: frames in an fMP4 media segment (pure).
//! - [`report`]: the drill's verdict, as text and JSON (pure).
//! - [`run`](mod@run): the HTTP side: fetching, pacing, the kill, saving what arrived.
//! - `save`: a `--save` file, never left half-written under its name.

pub mod envelope;
pub mod licence;
pub mod player;
pub mod playlist;
pub mod report;
pub mod run;
mod save;
pub mod segment;
pub mod token;

pub use report::DrillReport;
pub use run::{run, DrillConfig, Selection, StreamFormat};
pub use token::BearerToken;
pub use url::Url;
