//! HLS playlists, through media's reader.

use mirrorcast_media::hls::Playlist;

pub(crate) fn references(bytes: &[u8]) -> Result<Vec<String>, String> {
    match Playlist::parse(bytes).map_err(|e| e.to_string())? {
        Playlist::Master(m) => {
            let mut out: Vec<String> = m.variants.into_iter().map(|v| v.uri).collect();
            out.extend(m.alternatives.into_iter().filter_map(|a| a.uri));
            Ok(out)
        }
        Playlist::Media(p) => {
            let mut out = Vec::new();
            for s in p.segments {
                out.push(s.uri);
                out.extend(s.map);
            }
            Ok(out)
        }
    }
}
