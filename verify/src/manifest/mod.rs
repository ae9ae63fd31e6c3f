//! The files a manifest references, as blob names in its container.
//!
//! - `.ism` (SMIL server manifest): `video`/`audio`/`textstream` `src`, and the
//!   client manifest named in `clientManifestRelativePath`.
//! - `.ismc` (client manifest): parsed; it names no files (fragments are served
//!   by the origin from the renditions).
//! - `.m3u8`: master playlists (variants, alternative renditions, I-frame
//!   playlists) and media playlists (segments, `EXT-X-MAP`).
//! - `.mpd`: SegmentTemplate (`$Number$`, `$Time$`, `$RepresentationID$`,
//!   `$Bandwidth$`, `%0Nd` widths; SegmentTimeline or duration), SegmentList,
//!   SegmentBase, with BaseURL inheritance from MPD to Representation.

mod dash;
mod hls;
mod smooth;

/// What kind of manifest a blob is, by its name.
pub fn kind(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".ism") {
        Some("ism")
    } else if lower.ends_with(".ismc") {
        Some("ismc")
    } else if lower.ends_with(".m3u8") {
        Some("m3u8")
    } else if lower.ends_with(".mpd") {
        Some("mpd")
    } else {
        None
    }
}

/// The blob names `bytes` (the manifest `name`) references, resolved against
/// the manifest's folder. Absolute URLs are left out: they are not in the container.
pub fn references(name: &str, bytes: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned());
    let relative = match kind(name) {
        Some("ism") => smooth::server_manifest(text?)?,
        Some("ismc") => smooth::client_manifest(text?)?,
        Some("m3u8") => hls::references(bytes)?,
        Some("mpd") => dash::references(text?)?,
        _ => Vec::new(),
    };
    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut out: Vec<String> = relative.iter().filter_map(|r| resolve(dir, r)).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Joins a relative reference to a folder, handling `./`, `../`, queries and
/// percent-encoding; `None` for absolute URLs or paths leaving the container.
pub fn resolve(dir: &str, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty()
        || reference.contains("://")
        || reference.starts_with("//")
        || reference.starts_with("data:")
    {
        return None;
    }
    let reference = reference.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(reference);
    let mut parts: Vec<&str> =
        if decoded.starts_with('/') { Vec::new() } else { dir.split('/').filter(|s| !s.is_empty()).collect() };
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_against_the_manifest_folder() {
        assert_eq!(resolve("hls", "seg_1.m4s").as_deref(), Some("hls/seg_1.m4s"));
        assert_eq!(resolve("dash/v1", "../audio/a.m4s").as_deref(), Some("dash/audio/a.m4s"));
        assert_eq!(resolve("", "Big%20Buck.mp4").as_deref(), Some("Big Buck.mp4"));
        assert_eq!(resolve("", "https://cdn.example/x.ts"), None);
        assert_eq!(resolve("", "../escape.mp4"), None);
        assert_eq!(resolve("hls", "seg.ts?token=1").as_deref(), Some("hls/seg.ts"));
    }

    #[test]
    fn every_packaging_of_the_sample_resolves_to_files_it_has() {
        let mut files = mirrorcast_core::sample::encoded_asset("Big Buck Bunny", 2048, 1).files;
        files.extend(mirrorcast_core::sample::packaged(1));
        let names: std::collections::BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
        let mut total = 0;
        for (name, bytes) in &files {
            if kind(name).is_none() {
                continue;
            }
            let refs = references(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            for r in &refs {
                assert!(names.contains(r), "{name} references '{r}', which the sample lacks");
            }
            total += refs.len();
        }
        // .ism: 6 renditions + .ismc; HLS: 2 variants + 2 x (init + 4); DASH: 2 x (init + 4) + 3 audio + init + 2 subs.
        assert_eq!(total, 7 + 12 + 16, "references found");
    }

    #[test]
    fn unparseable_manifests_are_errors_not_panics() {
        assert!(references("a.ism", b"<smil><body>").is_err());
        assert!(references("a.mpd", b"not xml at all <").is_err());
        assert!(references("a.m3u8", b"\xff\xfe garbage").is_err());
    }
}
