//! HLS playlists, through `m3u8-rs`.

use m3u8_rs::Playlist;

pub fn references(bytes: &[u8]) -> Result<Vec<String>, String> {
    if !bytes.trim_ascii_start().starts_with(b"#EXTM3U") {
        return Err("not an HLS playlist: it does not start with #EXTM3U".into());
    }
    match m3u8_rs::parse_playlist_res(bytes) {
        Ok(Playlist::MasterPlaylist(m)) => {
            let mut out: Vec<String> = m.variants.iter().map(|v| v.uri.clone()).collect();
            out.extend(m.alternatives.iter().filter_map(|a| a.uri.clone()));
            Ok(out)
        }
        Ok(Playlist::MediaPlaylist(p)) => {
            let mut out = Vec::new();
            for s in &p.segments {
                out.push(s.uri.clone());
                if let Some(map) = &s.map {
                    out.push(map.uri.clone());
                }
            }
            Ok(out)
        }
        Err(e) => Err(format!("not a valid HLS playlist: {e:?}").chars().take(200).collect()),
    }
}
