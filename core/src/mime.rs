//! MIME types for file infos: media-specific types first, then `mime_guess`.

/// The MIME type a file info records for `name`.
pub fn mime_type_for(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let media = match ext.as_str() {
        "ism" | "ismc" => Some("application/vnd.ms-sstr+xml"),
        "m3u8" => Some("application/vnd.apple.mpegurl"),
        "mpd" => Some("application/dash+xml"),
        "mp4" | "ismv" => Some("video/mp4"),
        "isma" | "m4a" => Some("audio/mp4"),
        "m4s" => Some("video/iso.segment"),
        "ts" => Some("video/mp2t"),
        "xml" => Some("application/xml"),
        _ => None,
    };
    media
        .map(str::to_owned)
        .unwrap_or_else(|| mime_guess::from_path(name).first_or_octet_stream().essence_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::mime_type_for;

    #[test]
    fn media_types_win_over_generic_guesses() {
        assert_eq!(mime_type_for("Big Buck.ism"), "application/vnd.ms-sstr+xml");
        assert_eq!(mime_type_for("a_640x360_800.MP4"), "video/mp4");
        assert_eq!(mime_type_for("seg.ts"), "video/mp2t");
        assert_eq!(mime_type_for("poster.jpg"), "image/jpeg");
        assert_eq!(mime_type_for("noext"), "application/octet-stream");
    }
}
