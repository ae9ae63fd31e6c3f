//! A protected stream's segments (pure): the clear packaging's bytes encrypted as [`Packing`]
//! says, with IVs that depend only on the key id, the rendition and the sample, so two data
//! centers holding the same key serve the same bytes.

use mirrorcast_media::encryption::aes128::{encrypt_segment, sequence_iv};
use mirrorcast_media::encryption::{fragments, signalling, Protection};
use mirrorcast_media::fragment::{Index, TrackIndex};
use mirrorcast_media::ts::{sample_aes_ts_segment, Counters};

use super::Packing;
use crate::fail::Fail;

fn protection<'a>(packing: &'a Packing, rendition: &'a str) -> Protection<'a> {
    let scheme = match packing {
        Packing::Cmaf { scheme, .. } => *scheme,
        Packing::SampleAes { .. } => mirrorcast_media::encryption::Scheme::Cbcs,
        _ => mirrorcast_media::encryption::Scheme::Cenc,
    };
    Protection { scheme, key: packing.key(), rendition }
}

/// The init segment of `track` of `rendition` (its blob name): `encv`/`enca`, `sinf`, the
/// systems' `pssh`; AES-128 keeps the init clear (the playlist's key follows its `EXT-X-MAP`).
pub(crate) fn init(index: &Index, track: &TrackIndex, packing: &Packing, rendition: &str) -> Result<Vec<u8>, Fail> {
    match packing {
        Packing::Cmaf { scheme, key, drms, .. } => {
            let pssh = signalling::init_pssh_boxes(key.key_id(), *scheme, drms).map_err(|_| Fail::Media)?;
            fragments::init_segment(index, track, &protection(packing, rendition), &pssh).map_err(|_| Fail::Media)
        }
        Packing::Aes128 { .. } => index.init_segment(track).map_err(|_| Fail::Media),
        Packing::SmoothCenc { .. } => Err(Fail::NotFound("Smooth has no init segment")),
        Packing::SampleAes { .. } => Err(Fail::NotFound("TS has no init segment")),
    }
}

/// The IV of every SAMPLE-AES TS segment of `track` of `rendition`, which its playlist states.
pub(crate) fn sample_aes_iv(packing: &Packing, track: &TrackIndex, rendition: &str) -> [u8; 16] {
    protection(packing, rendition).sample_aes_ts_iv(track.info.track_id)
}

/// Fragment `number` of `track` encrypted from `data` (its samples' bytes as read); `clear`
/// packs the clear segment (TS, CMAF) that AES-128 encrypts whole; `ts_counters` are the
/// track's TS continuity counters (SAMPLE-AES).
pub(crate) fn media<'c>(
    track: &TrackIndex,
    number: usize,
    data: &[u8],
    packing: &Packing,
    rendition: &str,
    clear: impl FnOnce() -> Result<Vec<u8>, Fail>,
    ts_counters: impl FnOnce() -> Result<&'c Counters, Fail>,
) -> Result<Vec<u8>, Fail> {
    let p = protection(packing, rendition);
    match packing {
        Packing::Cmaf { .. } => fragments::media_segment(track, number, data, &p).map_err(|_| Fail::Media),
        Packing::SmoothCenc { .. } => fragments::smooth_fragment(track, number, data, &p).map_err(|_| Fail::Media),
        Packing::Aes128 { key, .. } => Ok(encrypt_segment(key, &sequence_iv(number as u64), &clear()?)),
        Packing::SampleAes { key, .. } => {
            let iv = sample_aes_iv(packing, track, rendition);
            sample_aes_ts_segment(track, number, data, ts_counters()?, key, &iv).map_err(|_| Fail::Media)
        }
    }
}
