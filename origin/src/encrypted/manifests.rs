//! The packaged manifests of a protected stream (pure, text in, text out): the signalling of
//! [`Packing`] placed in the clear stream's manifest. DASH: `ContentProtection` first in every
//! audio and video `AdaptationSet`; Smooth: `Protection` first in `SmoothStreamingMedia`; HLS
//! masters: `EXT-X-SESSION-KEY` per DRM system, no I-frame playlists (their byte ranges are of
//! clear segments); HLS media playlists: `EXT-X-KEY` per DRM system before the `EXT-X-MAP`, or
//! for AES-128 one per segment with its IV (the fragment number, as the segment was encrypted
//! with: a filtered playlist's media sequence does not say it), or for TS SAMPLE-AES its keys
//! (FairPlay, identity) once before the first segment with the rendition's one IV.

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
        Packing::SampleAes { key_uri, fairplay_uri, .. } => {
            for k in sample_aes_keys(key_uri, fairplay_uri.as_deref(), None) {
                k.ext_x_key().map_err(media_fail)?;
            }
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

/// The keys of a SAMPLE-AES TS playlist: FairPlay's first (where the policy names its server),
/// the key itself at the origin's key path last (`identity`: ClearKey-style players fetch it,
/// token-checked like any key request). Last, as readers that take one key (ffmpeg) keep the
/// playlist's last.
fn sample_aes_keys(key_uri: &str, fairplay_uri: Option<&str>, iv: Option<[u8; 16]>) -> Vec<HlsKey> {
    let mut keys = Vec::new();
    if let Some(uri) = fairplay_uri {
        keys.push(HlsKey { keyformat: Some(FAIRPLAY_KEYFORMAT.to_owned()), ..HlsKey::sample_aes(uri, iv) });
    }
    let identity = HlsKey::sample_aes(key_uri, iv);
    keys.push(HlsKey { keyformat: Some("identity".to_owned()), ..identity });
    keys
}

/// An `EXT-X-VERSION` line raised to 5 at least: the version of `KEYFORMAT` (RFC 8216, 7), which
/// SAMPLE-AES TS keys carry (a TS playlist is 3 or 4 in the clear).
fn keyformat_version(line: &str) -> String {
    let version: u32 = line.trim_start_matches("#EXT-X-VERSION:").trim().parse().unwrap_or(0);
    format!("#EXT-X-VERSION:{}\n", version.max(5))
}

/// `KEYFORMAT` of FairPlay Streaming keys.
const FAIRPLAY_KEYFORMAT: &str = "com.apple.streamingkeydelivery";

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
        Packing::SampleAes { key_uri, fairplay_uri, .. } => {
            // The IV is each media playlist's.
            for k in sample_aes_keys(key_uri, fairplay_uri.as_deref(), None) {
                session.push_str(&k.ext_x_session_key().map_err(media_fail)?);
                session.push('\n');
            }
        }
        Packing::SmoothCenc { .. } => return Err(Fail::Media),
    }
    let sample_aes = matches!(packing, Packing::SampleAes { .. });
    let mut out = String::with_capacity(master.len() + session.len());
    for line in master.split_inclusive('\n') {
        if line.starts_with("#EXT-X-I-FRAME-STREAM-INF") {
            continue;
        }
        if sample_aes && line.starts_with("#EXT-X-VERSION:") {
            out.push_str(&keyformat_version(line));
            continue;
        }
        out.push_str(line);
        if line.starts_with("#EXT-X-INDEPENDENT-SEGMENTS") {
            out.push_str(&session);
        }
    }
    Ok(out)
}

/// An HLS media playlist of `track` of `rendition` (its file name) with its keys.
pub(crate) fn hls_media(
    playlist: &str,
    packing: &Packing,
    track: &TrackIndex,
    rendition: &str,
) -> Result<String, Fail> {
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
        Packing::SampleAes { key_uri, fairplay_uri, .. } => {
            // One IV for every segment, so the keys go once before the first segment.
            let iv = super::segments::sample_aes_iv(packing, track, rendition);
            let mut keys = String::new();
            for k in sample_aes_keys(key_uri, fairplay_uri.as_deref(), Some(iv)) {
                keys.push_str(&k.ext_x_key().map_err(media_fail)?);
                keys.push('\n');
            }
            let mut placed = false;
            for line in lines {
                if line.starts_with("#EXT-X-VERSION:") {
                    out.push_str(&keyformat_version(line));
                    continue;
                }
                if !placed && line.starts_with("#EXTINF:") {
                    out.push_str(&keys);
                    placed = true;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mirrorcast_media::encryption::ContentKey;

    use super::*;
    use crate::packaging::{self, Rendition};
    use crate::request::Format;

    fn sample_aes(fairplay_uri: Option<&str>) -> Packing {
        let key = Arc::new(ContentKey::new(KeyId([7; 16]), [9; 16]));
        let key_uri = key_paths::aes128_key_path(&uuid_of(key.key_id()));
        Packing::SampleAes { key, key_uri, fairplay_uri: fairplay_uri.map(str::to_owned), tag: "t".to_owned() }
    }

    #[test]
    fn a_sample_aes_ts_playlist_names_fairplay_then_the_identity_key_once_with_the_renditions_iv() {
        let index = crate::test_clip::small_clip();
        let track = index.by_handler("vide").unwrap();
        let kind = mirrorcast_media::ism::TrackKind::Video;
        let rendition = Rendition { kind, stream: "video", bitrate: 600_000, language: None, track };
        let clear = packaging::hls_media(&rendition, Format::HlsTs);
        let packing = sample_aes(Some("skd://keys.example/fairplay/?kid=0707"));
        let text = hls_media(&clear, &packing, track, "clip_600.mp4").unwrap();
        let iv = super::super::segments::sample_aes_iv(&packing, track, "clip_600.mp4");
        let other_iv = super::super::segments::sample_aes_iv(&packing, track, "clip_300.mp4");
        assert_ne!(iv, other_iv, "each rendition its own IV");
        let iv = mirrorcast_media::encryption::KeyId(iv).hex();
        let keys: Vec<&str> = text.lines().filter(|l| l.starts_with("#EXT-X-KEY:")).collect();
        assert_eq!(
            keys,
            [
                format!(
                    "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://keys.example/fairplay/?kid=0707\",IV=0x{iv},\
                     KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
                ),
                format!(
                    "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"/keys/aes128/07070707-0707-0707-0707-070707070707\",\
                     IV=0x{iv},KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\""
                ),
            ],
            "{text}"
        );
        assert!(text.find("#EXT-X-KEY").unwrap() < text.find("#EXTINF").unwrap(), "{text}");
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:5\n"), "KEYFORMAT needs version 5: {text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("Fragments(")).count(), track.fragments.len());

        let plain = hls_media(&clear, &sample_aes(None), track, "clip_600.mp4").unwrap();
        assert_eq!(plain.matches("#EXT-X-KEY:").count(), 1, "no FairPlay server, no FairPlay key: {plain}");
        let master = packaging::hls_master(&[rendition], Format::HlsAapl);
        let master = hls_master(&master, &packing).unwrap();
        assert_eq!(master.matches("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,").count(), 2, "{master}");
        assert!(!master.contains("IV="), "the IV is each media playlist's: {master}");
        assert!(master.contains("#EXT-X-VERSION:5\n"), "{master}");
    }

    #[test]
    fn fairplays_key_uri_is_its_licence_url_under_skd() {
        assert_eq!(super::super::skd_uri("https://k.example/fp?kid=1".to_owned()), "skd://k.example/fp?kid=1");
        assert_eq!(super::super::skd_uri("k.example/x".to_owned()), "skd://k.example/x");
    }
}
