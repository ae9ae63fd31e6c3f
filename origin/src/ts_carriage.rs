//! What the MPEG-TS formats (`m3u8-aapl`, `m3u8-aapl-v3`) can carry: H.264 and AAC as the TS
//! packager writes them. A manifest, playlist or segment of a rendition it cannot carry (HEVC,
//! AC-3, E-AC-3) in a TS format is refused naming the codec and `m3u8-cmaf`, which carries it,
//! rather than listed as a variant whose segments no player decodes.

use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ts;

use crate::fail::Fail;
use crate::request::Format;

/// `Ok` unless `format` is a TS format and cannot carry one of `tracks`.
pub(crate) fn check<'t>(format: Format, tracks: impl IntoIterator<Item = &'t TrackIndex>) -> Result<(), Fail> {
    if !format.is_ts() {
        return Ok(());
    }
    match tracks.into_iter().find(|t| ts::carries(t).is_err()) {
        None => Ok(()),
        Some(t) => Err(Fail::NotCarried { codec: t.codecs(), format: format.name(), instead: Format::HlsCmaf.name() }),
    }
}
