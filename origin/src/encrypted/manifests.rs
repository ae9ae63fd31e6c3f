//! The packaged manifests of a protected stream (pure, text in, text out): the signalling of
//! [`Packing`] placed in the clear stream's manifest. DASH: `ContentProtection` first in every
//! audio and video `AdaptationSet`; Smooth: `Protection` first in `SmoothStreamingMedia`; HLS
//! masters: `EXT-X-SESSION-KEY` per DRM system, no I-frame playlists (their byte ranges are of
//! clear segments); HLS media playlists: `EXT-X-KEY` per DRM system before the `EXT-X-MAP`, or
//! for AES-128 one per segment with its IV (the fragment number, as the segment was encrypted
//! with: a filtered playlist's media sequence does not say it).

use mirrorcast_media::encryption::aes128::sequence_iv;
use mirrorcast_media::encryption::signalling::{self, Drm, HlsKey};
use mirrorcast_media::encryption::{KeyId, Scheme};
use mirrorcast_media::fragment::TrackIndex;

use super::{uuid_of, Packing};
use crate::fail::Fail;
use crate::key_paths;

fn media_fail(_: mirrorcast_media::FormatError) -> Fail {
    Fail::Media
}

/// Every signalling text of `packing` made once: a key or URL a manifest cannot carry is found
/// before a body is (then the request fails rather than a manifest going out without it).
pub(crate) fn check(packing: &Packing) -> Result<(), Fail> {
    match packing {
        Packing::Cmaf { scheme, key, drms, .. } => {
            signalling::dash_content_protection(key.key_id(), *scheme, drms).map_err(media_fail)?;
            for k in hls_drm_keys(key.key_id(), drms)? {
                k.ext_x_key().map_err(media_fail)?;
            }
        }
        Packing::SmoothCenc { key, playready_url, .. } => {
            signalling::smooth_protection(key.key_id(), playready_url.as_deref()).map_err(media_fail)?;
        }
        Packing::Aes128 { key_uri, .. } => {
            HlsKey::aes128(key_uri, Some([0; 16])).ext_x_key().map_err(media_fail)?;
        }
    }
    Ok(())
}

/// The DASH MPD with each audio and video adaptation set's `ContentProtection`.
pub(crate) fn dash(mpd: &str, packing: &Packing) -> Result<String, Fail> {
    let Packing::Cmaf { scheme, key, drms, .. } = packing else { return Err(Fail::Media) };
    let elements = signalling::dash_content_protection(key.key_id(), *scheme, drms).map_err(media_fail)?;
    let mut out = String::with_capacity(mpd.len() + elements.len() * 4);
    for line in mpd.split_inclusive('\n') {
        out.push_str(line);
        let set = line.trim_start().starts_with("<AdaptationSet ");
        if set && (line.contains("contentType=\"video\"") || line.contains("contentType=\"audio\"")) {
            for e in elements.lines() {
                out.push_str("      ");
                out.push_str(e);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The Smooth client manifest with its `Protection` (PlayReady's header).
pub(crate) fn smooth(manifest: &str, packing: &Packing) -> Result<String, Fail> {
    let Packing::SmoothCenc { key, playready_url, .. } = packing else { return Err(Fail::Media) };
    let protection = signalling::smooth_protection(key.key_id(), playready_url.as_deref()).map_err(media_fail)?;
    let start = manifest.find("<SmoothStreamingMedia").ok_or(Fail::Media)?;
    let end = start + manifest[start..].find(">\n").ok_or(Fail::Media)? + 2;
    Ok(format!("{}  {protection}\n{}", &manifest[..end], &manifest[end..]))
}

/// The keys an HLS playlist names for `cenc`/`cbcs` fMP4: one per DRM system; ClearKey as the
/// key itself at the origin's AES-128 path (`KEYFORMAT="identity"`).
fn hls_drm_keys(key_id: KeyId, drms: &[Drm]) -> Result<Vec<HlsKey>, Fail> {
    let mut keys = Vec::new();
    for drm in drms {
        keys.push(match drm {
            Drm::ClearKey { .. } => HlsKey::identity_cbcs(&key_paths::aes128_key_path(&uuid_of(key_id)), key_id),
            Drm::Widevine => HlsKey::widevine(key_id),
            Drm::PlayReady { license_url } => HlsKey::playready(key_id, license_url.as_deref()).map_err(media_fail)?,
        });
    }
    if keys.is_empty() {
        // No system the manifest can name: the identity key still says the segments are encrypted.
        keys.push(HlsKey::identity_cbcs(&key_paths::aes128_key_path(&uuid_of(key_id)), key_id));
    }
    Ok(keys)
}

/// `cenc` in fMP4 is `SAMPLE-AES-CTR` (RFC 8216bis); `cbcs` is `SAMPLE-AES`.
fn hls_line(line: String, scheme: Scheme) -> String {
    match scheme {
        Scheme::Cenc => line.replacen("METHOD=SAMPLE-AES,", "METHOD=SAMPLE-AES-CTR,", 1),
        Scheme::Cbcs => line,
    }
}

/// An HLS master with the session keys, without I-frame playlists.
pub(crate) fn hls_master(master: &str, packing: &Packing) -> Result<String, Fail> {
    let mut session = String::new();
    match packing {
        Packing::Cmaf { scheme, key, drms, .. } => {
            for k in hls_drm_keys(key.key_id(), drms)? {
                session.push_str(&hls_line(k.ext_x_session_key().map_err(media_fail)?, *scheme));
                session.push('\n');
            }
        }
        Packing::Aes128 { key_uri, .. } => {
            session.push_str(&HlsKey::aes128(key_uri, None).ext_x_session_key().map_err(media_fail)?);
            session.push('\n');
        }
        Packing::SmoothCenc { .. } => return Err(Fail::Media),
    }
    let mut out = String::with_capacity(master.len() + session.len());
    for line in master.split_inclusive('\n') {
        if line.starts_with("#EXT-X-I-FRAME-STREAM-INF") {
            continue;
        }
        out.push_str(line);
        if line.starts_with("#EXT-X-INDEPENDENT-SEGMENTS") {
            out.push_str(&session);
        }
    }
    Ok(out)
}

/// An HLS media playlist of `track` with its keys.
pub(crate) fn hls_media(playlist: &str, packing: &Packing, track: &TrackIndex) -> Result<String, Fail> {
    let mut out = String::with_capacity(playlist.len() * 2);
    let mut lines = playlist.split_inclusive('\n').peekable();
    match packing {
        Packing::Cmaf { scheme, key, drms, .. } => {
            let mut keys = String::new();
            for k in hls_drm_keys(key.key_id(), drms)? {
                keys.push_str(&hls_line(k.ext_x_key().map_err(media_fail)?, *scheme));
                keys.push('\n');
            }
            for line in lines {
                if line.starts_with("#EXT-X-MAP:") {
                    out.push_str(&keys);
                }
                out.push_str(line);
            }
        }
        Packing::Aes128 { key_uri, .. } => {
            while let Some(line) = lines.next() {
                if line.starts_with("#EXTINF:") {
                    let uri = lines.peek().copied().unwrap_or("");
                    let number = fragment_number(uri, track).ok_or(Fail::Media)?;
                    let iv = sequence_iv(number as u64);
                    out.push_str(&HlsKey::aes128(key_uri, Some(iv)).ext_x_key().map_err(media_fail)?);
                    out.push('\n');
                }
                out.push_str(line);
            }
        }
        Packing::SmoothCenc { .. } => return Err(Fail::Media),
    }
    Ok(out)
}

/// The fragment a segment URI (`Fragments(<stream>=<time>,format=…)…`) names.
fn fragment_number(uri: &str, track: &TrackIndex) -> Option<usize> {
    let at = uri.find("Fragments(")? + "Fragments(".len();
    let rest = &uri[at..];
    let time = &rest[rest.find('=')? + 1..];
    let time: u64 = time[..time.find([',', ')'])?].parse().ok()?;
    let (number, fragment) = track.fragment_at(time)?;
    (fragment.start == time).then_some(number)
}
