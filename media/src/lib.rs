//! mirrorcast-media: the media formats that verify, encode and the origin share.
//!
//! - [`bmff`]: ISO BMFF boxes: headers, children, a writer, and a sans-I/O top-level walk that
//!   finds `moov` with ranged reads; every box reader and writer of the house goes through it.
//! - [`codec_string`]: audio codec strings (AAC-LC, HE-AAC, HE-AACv2, AC-3, E-AC-3) and channel layouts.
//! - [`dash`]: the DASH MPD model (periods, sets, representations, templates, timelines, lists).
//! - [`encryption`]: content protection: CENC `cenc`/`cbcs` fragments, `pssh`, DRM signalling, HLS AES-128.
//! - [`hls`]: HLS master and media playlists (over m3u8-rs).
//! - [`ism`]: the SMIL server manifest (`.ism`), model, reader and writer.
//! - [`ismc`]: the Smooth Streaming client manifest (`.ismc`), model, reader and writer.
//! - [`fragment`]: dynamic packaging: a sample index from `moov`, CMAF init and media segments.
//! - [`fragmented_index`]: the index of a rendition whose samples are in `moof`s, by ranged reads.
//! - [`smooth_fragment`]: Smooth Streaming fragments (`moof` with `tfxd`, `mdat`): writer and reader.
//! - [`stored_fragments`]: a stored Smooth fragment served as stored when it is the announced one.
//! - [`key_frame_ranges`]: where a packaged segment's key frame is (HLS I-frame playlists' byte ranges).
//! - [`movie_fragment`]: a `moof` + `mdat` read back (the packagers' output is checked through it).
//! - [`ts`]: MPEG-2 TS segments (H.264 Annex B, AAC in ADTS) for HLS version 3.
//! - [`ts_reader`]: MPEG-TS segments read back into PES packets (the TS packager is checked through it).
//! - [`captions`]: CEA-608/708 captions found in H.264 SEI (announced, never altered).
//! - [`webvtt`]: WebVTT sidecars: cues read (bounded), cut into HLS subtitle segments.
//! - [`ttml`]: TTML/IMSC1 sidecars checked before the origin offers them (DASH).
//! - [`track_labels`]: a track's language (`mdhd`, `elng`) and roles (`udta/kind`), bounded.
//! - [`text_samples`]: fragmented text tracks (`wvtt`, `stpp` samples) into cues, and their writer.
//! - [`ttml_cues`]: TTML documents into WebVTT cues (text, timing, line breaks; styling dropped) for HLS.
//! - [`mp4`]: reading an MP4's boxes: top-level layout, tracks, codec private
//!   data (avcC, esds), timescales and sync samples (for chunk timelines).

pub mod bmff;
pub mod captions;
pub mod codec_string;
pub mod dash;
pub mod encryption;
pub mod fragment;
pub mod fragmented_index;
pub mod hls;
pub mod ism;
pub mod ismc;
pub mod key_frame_ranges;
pub mod movie_fragment;
pub mod mp4;
mod nal;
pub mod smooth_fragment;
pub mod stored_fragments;
pub mod text_samples;
pub mod track_labels;
pub mod ts;
pub mod ts_reader;
pub mod ttml;
pub mod ttml_cues;
pub mod webvtt;
mod xml;

#[cfg(test)]
mod fragmented_hostile_tests;
#[cfg(test)]
mod hostile_input_tests;

/// A media document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

impl FormatError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        FormatError(message.into())
    }
}

/// What every reader of this crate returns.
pub type Result<T> = std::result::Result<T, FormatError>;
