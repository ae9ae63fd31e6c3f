//! The Smooth Streaming server manifest (`.ism`): a SMIL document naming the
//! renditions (one `<video>`/`<audio>`/`<textstream>` per track) with their
//! bitrates, and the client manifest beside it.

use crate::xml::{escape, num_attr, parse};
use crate::{FormatError, Result};

const SMIL_NS: &str = "http://www.w3.org/2001/SMIL20/Language";

/// Which SMIL element a track is, and so which kind of stream it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// `<video>`.
    Video,
    /// `<audio>`.
    Audio,
    /// `<textstream>` (subtitles, captions).
    Text,
}

impl TrackKind {
    fn element(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
            TrackKind::Text => "textstream",
        }
    }
}

/// One track of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsmTrack {
    /// Which element it is.
    pub kind: TrackKind,
    /// The file, relative to the manifest.
    pub src: String,
    /// Bits per second (`systemBitrate`).
    pub system_bitrate: u64,
    /// The track id inside `src`.
    pub track_id: u32,
    /// `trackName` (audio and text tracks name their stream with it).
    pub track_name: Option<String>,
    /// `systemLanguage` (an RFC 5646 / ISO 639 tag such as `en`, `spa`, `pt-BR`); a value
    /// that is not a plain tag (letters, digits, `-`, at most 35) is not taken: it goes into
    /// playlists and MPDs as an attribute.
    pub language: Option<String>,
}

impl IsmTrack {
    /// Track 1 of `src`, with no name and no language.
    pub fn new(kind: TrackKind, src: impl Into<String>, system_bitrate: u64) -> IsmTrack {
        IsmTrack { kind, src: src.into(), system_bitrate, track_id: 1, track_name: None, language: None }
    }
}

/// A `systemLanguage` value fit to be written into HLS and DASH attributes.
fn language_tag(value: &str) -> Option<String> {
    let plain = !value.is_empty() && value.len() <= 35 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| value.to_owned())
}

/// A SMIL server manifest: the client manifest beside it and every track of every file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerManifest {
    /// `<meta name="title">`'s content.
    pub title: Option<String>,
    /// `clientManifestRelativePath`: the `.ismc` beside it.
    pub client_manifest: Option<String>,
    /// The tracks in document order.
    pub tracks: Vec<IsmTrack>,
}

impl ServerManifest {
    /// Reads a SMIL server manifest; any `<video>`, `<audio>`, `<textstream>`
    /// or `<ref>` with a `src` is a track (`<ref>` is read as video).
    pub fn parse(text: &str) -> Result<ServerManifest> {
        let doc = parse(text, "the .ism")?;
        let root = doc.root_element();
        if root.tag_name().name() != "smil" {
            return Err(FormatError::new(format!("root element is <{}>, not <smil>", root.tag_name().name())));
        }
        let mut out = ServerManifest::default();
        for node in doc.descendants().filter(|n| n.is_element()) {
            let kind = match node.tag_name().name() {
                "video" | "ref" => TrackKind::Video,
                "audio" => TrackKind::Audio,
                "textstream" => TrackKind::Text,
                "meta" => {
                    match node.attribute("name") {
                        Some("clientManifestRelativePath") => {
                            out.client_manifest = node.attribute("content").map(str::to_owned)
                        }
                        Some("title") => out.title = node.attribute("content").map(str::to_owned),
                        _ => {}
                    }
                    continue;
                }
                _ => continue,
            };
            let Some(src) = node.attribute("src") else { continue };
            let mut track = IsmTrack {
                kind,
                src: src.to_owned(),
                system_bitrate: num_attr(node, "systemBitrate")?.unwrap_or(0),
                track_id: 1,
                track_name: None,
                language: node.attribute("systemLanguage").and_then(language_tag),
            };
            for param in node.children().filter(|c| c.has_tag_name((SMIL_NS, "param")) || c.has_tag_name("param")) {
                match param.attribute("name") {
                    Some("trackID") => track.track_id = num_attr(param, "value")?.unwrap_or(1),
                    Some("trackName") => track.track_name = param.attribute("value").map(str::to_owned),
                    _ => {}
                }
            }
            out.tracks.push(track);
        }
        Ok(out)
    }

    /// The SMIL document, laid out as Media Encoder Standard wrote it.
    pub fn to_xml(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        s.push_str(&format!("<smil xmlns=\"{SMIL_NS}\">\n  <head>\n"));
        if let Some(t) = &self.title {
            s.push_str(&format!("    <meta name=\"title\" content=\"{}\" />\n", escape(t)));
        }
        s.push_str("    <meta name=\"formats\" content=\"mp4\" />\n");
        if let Some(c) = &self.client_manifest {
            s.push_str(&format!("    <meta name=\"clientManifestRelativePath\" content=\"{}\" />\n", escape(c)));
        }
        s.push_str("  </head>\n  <body>\n    <switch>\n");
        for t in &self.tracks {
            let el = t.kind.element();
            let language =
                t.language.as_deref().map(|l| format!(" systemLanguage=\"{}\"", escape(l))).unwrap_or_default();
            s.push_str(&format!(
                "      <{el} src=\"{}\" systemBitrate=\"{}\"{language}>\n",
                escape(&t.src),
                t.system_bitrate
            ));
            s.push_str(&format!("        <param name=\"trackID\" value=\"{}\" valuetype=\"data\" />\n", t.track_id));
            if let Some(n) = &t.track_name {
                s.push_str(&format!(
                    "        <param name=\"trackName\" value=\"{}\" valuetype=\"data\" />\n",
                    escape(n)
                ));
            }
            s.push_str(&format!("      </{el}>\n"));
        }
        s.push_str("    </switch>\n  </body>\n</smil>\n");
        s
    }

    /// Every file it names: the tracks' files and the client manifest.
    pub fn references(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tracks.iter().map(|t| t.src.clone()).collect();
        out.extend(self.client_manifest.clone());
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ServerManifest {
        ServerManifest {
            title: Some("Big \"Buck\" & <Bunny>".into()),
            client_manifest: Some("Big Buck.ismc".into()),
            tracks: vec![
                IsmTrack {
                    kind: TrackKind::Video,
                    src: "Big Buck_1280x720_3000.mp4".into(),
                    system_bitrate: 2_987_000,
                    track_id: 1,
                    track_name: None,
                    language: None,
                },
                IsmTrack {
                    kind: TrackKind::Audio,
                    src: "Big Buck_AACAudio_128.mp4".into(),
                    system_bitrate: 128_000,
                    track_id: 1,
                    track_name: Some("audio".into()),
                    language: Some("en".into()),
                },
            ],
        }
    }

    #[test]
    fn a_server_manifest_reads_back_as_written() {
        let m = sample();
        let text = m.to_xml();
        assert_eq!(ServerManifest::parse(&text).unwrap(), m);
        assert_eq!(m.references(), ["Big Buck_1280x720_3000.mp4", "Big Buck_AACAudio_128.mp4", "Big Buck.ismc"]);
    }

    #[test]
    fn malformed_server_manifests_are_errors() {
        assert!(ServerManifest::parse("<smil><body>").is_err());
        assert!(ServerManifest::parse("<html/>").is_err());
        let bad = r#"<smil><body><video src="a.mp4" systemBitrate="fast"/></body></smil>"#;
        assert!(ServerManifest::parse(bad).unwrap_err().to_string().contains("systemBitrate"));
        let hostile = r#"<smil><body><audio src="a.mp4" systemLanguage='en",DEFAULT=NO'/></body></smil>"#;
        assert_eq!(ServerManifest::parse(hostile).unwrap().tracks[0].language, None, "not a plain tag: not taken");
    }
}
