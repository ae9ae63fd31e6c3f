//! The Smooth Streaming client manifest (`.ismc`): per stream, its quality
//! levels (bitrate, codec, codec private data) and the chunk timeline.

use crate::xml::{escape, num_attr, parse};
use crate::{FormatError, Result};

/// Smooth's clock: 100 ns ticks.
pub const TIMESCALE: u64 = 10_000_000;

/// More fragments than this in one stream (23 days of 2 s ones) is refused:
/// a hostile `r` must not make [`StreamIndex::fragments`] run for ever.
pub const MAX_FRAGMENTS: u64 = 1 << 20;

/// A Smooth client manifest (`SmoothStreamingMedia`): what a Smooth player reads to fetch fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientManifest {
    /// `MajorVersion` (2 when absent).
    pub major_version: u32,
    /// `MinorVersion` (0 when absent).
    pub minor_version: u32,
    /// In [`ClientManifest::timescale`] units.
    pub duration: u64,
    /// Units per second of `duration` and, unless a stream has its own, of its chunks (default [`TIMESCALE`]).
    pub timescale: u64,
    /// The `StreamIndex`es in document order.
    pub streams: Vec<StreamIndex>,
}

/// One stream (`StreamIndex`): its quality levels and the fragments they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamIndex {
    /// `video`, `audio` or `text`.
    pub kind: String,
    /// `Subtype` of a text stream (`SUBT`, `CAPT`); `None` for video and audio.
    pub subtype: Option<String>,
    /// `Name`, which fragment URLs use (`Fragments(video=…)`).
    pub name: String,
    /// `Language` (of an audio or text stream), as the `.ism`'s `systemLanguage` gave it.
    pub language: Option<String>,
    /// e.g. `QualityLevels({bitrate})/Fragments(video={start time})`.
    pub url: String,
    /// `TimeScale` of this stream's chunk times and durations (MS-SSTR's
    /// StreamTimeScale); `None`: the manifest's.
    pub timescale: Option<u64>,
    /// `MaxWidth` of its video quality levels, pixels.
    pub max_width: Option<u32>,
    /// `MaxHeight` of its video quality levels, pixels.
    pub max_height: Option<u32>,
    /// Its bitrates, each a `QualityLevel`.
    pub quality_levels: Vec<QualityLevel>,
    /// The `<c>` elements, in order (see [`StreamIndex::fragments`] for what they expand to).
    pub chunks: Vec<Chunk>,
}

/// One bitrate of a stream: what a player needs to set up its decoder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QualityLevel {
    /// `Index`, the level's place in its stream.
    pub index: u32,
    /// `Bitrate`, bits per second; it fills `{bitrate}` in fragment URLs.
    pub bitrate: u64,
    /// `H264`, `AVC1`, `AACL`…
    pub fourcc: String,
    /// `MaxWidth`, pixels (video).
    pub max_width: Option<u32>,
    /// `MaxHeight`, pixels (video).
    pub max_height: Option<u32>,
    /// Hex: Annex B SPS/PPS for H.264, the AudioSpecificConfig for AAC.
    pub codec_private_data: String,
    /// `SamplingRate`, Hz (audio).
    pub sampling_rate: Option<u32>,
    /// `Channels` (audio).
    pub channels: Option<u32>,
    /// `BitsPerSample` (audio).
    pub bits_per_sample: Option<u32>,
    /// `PacketSize`: bytes per audio block (audio).
    pub packet_size: Option<u32>,
    /// `AudioTag`: the WAVE format tag (255 for AAC).
    pub audio_tag: Option<u32>,
}

/// One `<c>`: a fragment's start (when it does not follow the previous one) and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Start time in the stream's timescale; `None`: right after the previous fragment.
    pub t: Option<u64>,
    /// Duration of each fragment it stands for, in the stream's timescale.
    pub d: u64,
    /// `r`: how many contiguous fragments of duration `d` this element stands
    /// for, itself included (version 2.2; dash.js and ExoPlayer read it so);
    /// `None`: one.
    pub r: Option<u32>,
}

impl StreamIndex {
    /// Start time and duration of every fragment, resolving implicit starts and repeats.
    pub fn fragments(&self) -> Vec<(u64, u64)> {
        let mut next = 0;
        let mut out = Vec::with_capacity(self.chunks.len());
        for c in &self.chunks {
            let mut start = c.t.unwrap_or(next);
            for _ in 0..c.r.unwrap_or(1).max(1) {
                out.push((start, c.d));
                start = start.saturating_add(c.d);
            }
            next = start;
        }
        out
    }

    /// Start times of every fragment, resolving implicit starts and repeats.
    pub fn chunk_starts(&self) -> Vec<u64> {
        self.fragments().into_iter().map(|(t, _)| t).collect()
    }
}

impl ClientManifest {
    /// Reads a client manifest; an error names what is wrong (not XML, the root, an attribute that is not a number).
    pub fn parse(text: &str) -> Result<ClientManifest> {
        let doc = parse(text, "the .ismc")?;
        let root = doc.root_element();
        if root.tag_name().name() != "SmoothStreamingMedia" {
            return Err(FormatError::new(format!(
                "root element is <{}>, not <SmoothStreamingMedia>",
                root.tag_name().name()
            )));
        }
        let mut streams = Vec::new();
        for s in root.children().filter(|n| n.has_tag_name("StreamIndex")) {
            let mut stream = StreamIndex {
                kind: s.attribute("Type").unwrap_or_default().to_owned(),
                subtype: s.attribute("Subtype").map(str::to_owned),
                name: s.attribute("Name").or(s.attribute("Type")).unwrap_or_default().to_owned(),
                language: s.attribute("Language").map(str::to_owned),
                url: s.attribute("Url").unwrap_or_default().to_owned(),
                timescale: num_attr(s, "TimeScale")?,
                max_width: num_attr(s, "MaxWidth")?,
                max_height: num_attr(s, "MaxHeight")?,
                quality_levels: Vec::new(),
                chunks: Vec::new(),
            };
            for n in s.children().filter(|n| n.is_element()) {
                match n.tag_name().name() {
                    "QualityLevel" => stream.quality_levels.push(QualityLevel {
                        index: num_attr(n, "Index")?.unwrap_or(0),
                        bitrate: num_attr(n, "Bitrate")?
                            .ok_or_else(|| FormatError::new("a <QualityLevel> has no Bitrate"))?,
                        fourcc: n.attribute("FourCC").unwrap_or_default().to_owned(),
                        max_width: num_attr(n, "MaxWidth")?,
                        max_height: num_attr(n, "MaxHeight")?,
                        codec_private_data: n.attribute("CodecPrivateData").unwrap_or_default().to_owned(),
                        sampling_rate: num_attr(n, "SamplingRate")?,
                        channels: num_attr(n, "Channels")?,
                        bits_per_sample: num_attr(n, "BitsPerSample")?,
                        packet_size: num_attr(n, "PacketSize")?,
                        audio_tag: num_attr(n, "AudioTag")?,
                    }),
                    "c" => stream.chunks.push(Chunk {
                        t: num_attr(n, "t")?,
                        d: num_attr(n, "d")?.ok_or_else(|| FormatError::new("a <c> chunk has no duration d"))?,
                        r: num_attr(n, "r")?,
                    }),
                    _ => {}
                }
            }
            let count: u64 = stream.chunks.iter().map(|c| c.r.unwrap_or(1) as u64).sum();
            if stream.chunks.iter().any(|c| c.r == Some(0)) || count > MAX_FRAGMENTS {
                return Err(FormatError::new(format!(
                    "<StreamIndex Name=\"{}\"> has r=\"0\" or more than {MAX_FRAGMENTS} fragments",
                    stream.name
                )));
            }
            streams.push(stream);
        }
        Ok(ClientManifest {
            major_version: num_attr(root, "MajorVersion")?.unwrap_or(2),
            minor_version: num_attr(root, "MinorVersion")?.unwrap_or(0),
            duration: num_attr(root, "Duration")?.unwrap_or(0),
            timescale: num_attr(root, "TimeScale")?.unwrap_or(TIMESCALE),
            streams,
        })
    }

    /// The manifest as XML (attribute values escaped); [`ClientManifest::parse`] reads it back the same.
    pub fn to_xml(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        s.push_str(&format!(
            "<SmoothStreamingMedia MajorVersion=\"{}\" MinorVersion=\"{}\" Duration=\"{}\" TimeScale=\"{}\">\n",
            self.major_version, self.minor_version, self.duration, self.timescale
        ));
        for st in &self.streams {
            s.push_str(&format!(
                "  <StreamIndex Chunks=\"{}\" Type=\"{}\" Name=\"{}\" Url=\"{}\" QualityLevels=\"{}\"",
                st.chunks.iter().map(|c| c.r.unwrap_or(1).max(1) as usize).sum::<usize>(),
                escape(&st.kind),
                escape(&st.name),
                escape(&st.url),
                st.quality_levels.len()
            ));
            if let Some(subtype) = &st.subtype {
                s.push_str(&format!(" Subtype=\"{}\"", escape(subtype)));
            }
            if let Some(t) = st.timescale {
                s.push_str(&format!(" TimeScale=\"{t}\""));
            }
            if let Some(language) = &st.language {
                s.push_str(&format!(" Language=\"{}\"", escape(language)));
            }
            opt(&mut s, "MaxWidth", st.max_width);
            opt(&mut s, "MaxHeight", st.max_height);
            opt(&mut s, "DisplayWidth", st.max_width);
            opt(&mut s, "DisplayHeight", st.max_height);
            s.push_str(">\n");
            for q in &st.quality_levels {
                s.push_str(&format!(
                    "    <QualityLevel Index=\"{}\" Bitrate=\"{}\" FourCC=\"{}\"",
                    q.index,
                    q.bitrate,
                    escape(&q.fourcc)
                ));
                opt(&mut s, "MaxWidth", q.max_width);
                opt(&mut s, "MaxHeight", q.max_height);
                opt(&mut s, "SamplingRate", q.sampling_rate);
                opt(&mut s, "Channels", q.channels);
                opt(&mut s, "BitsPerSample", q.bits_per_sample);
                opt(&mut s, "PacketSize", q.packet_size);
                opt(&mut s, "AudioTag", q.audio_tag);
                s.push_str(&format!(" CodecPrivateData=\"{}\" />\n", escape(&q.codec_private_data)));
            }
            for c in &st.chunks {
                s.push_str("    <c");
                if let Some(t) = c.t {
                    s.push_str(&format!(" t=\"{t}\""));
                }
                s.push_str(&format!(" d=\"{}\"", c.d));
                if let Some(r) = c.r {
                    s.push_str(&format!(" r=\"{r}\""));
                }
                s.push_str(" />\n");
            }
            s.push_str("  </StreamIndex>\n");
        }
        s.push_str("</SmoothStreamingMedia>\n");
        s
    }
}

fn opt(s: &mut String, name: &str, value: Option<u32>) {
    if let Some(v) = value {
        s.push_str(&format!(" {name}=\"{v}\""));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ClientManifest {
        ClientManifest {
            major_version: 2,
            minor_version: 2,
            duration: 40_000_000,
            timescale: TIMESCALE,
            streams: vec![
                StreamIndex {
                    kind: "video".into(),
                    subtype: None,
                    name: "video".into(),
                    language: None,
                    url: "QualityLevels({bitrate})/Fragments(video={start time})".into(),
                    timescale: None,
                    max_width: Some(640),
                    max_height: Some(360),
                    quality_levels: vec![QualityLevel {
                        index: 0,
                        bitrate: 800_000,
                        fourcc: "H264".into(),
                        max_width: Some(640),
                        max_height: Some(360),
                        codec_private_data: "000000016764001EACD9".into(),
                        ..Default::default()
                    }],
                    chunks: vec![
                        Chunk { t: Some(0), d: 20_000_000, r: None },
                        Chunk { t: None, d: 20_000_000, r: None },
                    ],
                },
                StreamIndex {
                    kind: "audio".into(),
                    subtype: None,
                    name: "audio & more".into(),
                    language: Some("pt-BR".into()),
                    url: "QualityLevels({bitrate})/Fragments(audio={start time})".into(),
                    timescale: Some(48_000),
                    max_width: None,
                    max_height: None,
                    quality_levels: vec![QualityLevel {
                        index: 0,
                        bitrate: 128_000,
                        fourcc: "AACL".into(),
                        codec_private_data: "1190".into(),
                        sampling_rate: Some(48_000),
                        channels: Some(2),
                        bits_per_sample: Some(16),
                        packet_size: Some(4),
                        audio_tag: Some(255),
                        ..Default::default()
                    }],
                    chunks: vec![
                        Chunk { t: Some(0), d: 96_256, r: Some(3) },
                        Chunk { t: Some(288_768), d: 95_232, r: None },
                    ],
                },
            ],
        }
    }

    #[test]
    fn a_client_manifest_reads_back_as_written() {
        let m = sample();
        assert_eq!(ClientManifest::parse(&m.to_xml()).unwrap(), m);
        assert_eq!(m.streams[0].chunk_starts(), [0, 20_000_000]);
        assert_eq!(
            m.streams[1].fragments(),
            [(0, 96_256), (96_256, 96_256), (192_512, 96_256), (288_768, 95_232)],
            "r counts the fragments of a run, the first included"
        );
        assert!(m.to_xml().contains("Chunks=\"4\""), "{}", m.to_xml());
    }

    #[test]
    fn malformed_client_manifests_are_errors() {
        assert!(ClientManifest::parse("<SmoothStreamingMedia>").is_err());
        assert!(ClientManifest::parse("<smil/>").is_err());
        let no_d = r#"<SmoothStreamingMedia><StreamIndex Type="video"><c t="0"/></StreamIndex></SmoothStreamingMedia>"#;
        assert!(ClientManifest::parse(no_d).unwrap_err().to_string().contains("duration"));
        for r in ["0", "4000000000"] {
            let hostile = format!(
                r#"<SmoothStreamingMedia><StreamIndex Type="video"><c t="0" d="1" r="{r}"/></StreamIndex></SmoothStreamingMedia>"#
            );
            assert!(ClientManifest::parse(&hostile).is_err(), "r={r}");
        }
    }
}
