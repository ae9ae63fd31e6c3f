//! Fragmented text tracks (`.ismt`, `.cmft`: ISO/IEC 14496-30), pure: their samples read into
//! WebVTT cues (what HLS carries), and a writer of such tracks.
//!
//! - `wvtt`: each sample is a run of boxes, a `vttc` per cue shown during the sample (`iden`,
//!   `sttg`, `payl`) or one `vtte` (nothing shown); a cue shown across several samples is one cue.
//! - `stpp`: each sample is a TTML document on the track's timeline, shown during the sample
//!   (read by [`crate::ttml_cues`]: text, timing and line breaks; styling dropped).
//!
//! Bounded: a sample larger than [`MAX_SAMPLE_BYTES`] is refused, as is a `wvtt` box that does
//! not fit its sample; cues as many as WebVTT allows.

use crate::bmff::{children, write_box, write_full_box};
use crate::fragment::Fragment;
use crate::smooth_fragment::write_tfxd;
use crate::webvtt::{Cue, WebVtt, MAX_CUES};
use crate::{ttml_cues, FormatError, Result};

/// A larger text sample is refused (a 2 s TTML document is a few KiB).
pub const MAX_SAMPLE_BYTES: usize = 1024 * 1024;

/// The sample entries of the text tracks that are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCodec {
    /// TTML / IMSC1 documents (`stpp`).
    Ttml,
    /// WebVTT cue boxes (`wvtt`).
    WebVtt,
}

impl TextCodec {
    /// The codec of a track with sample entry `codec` (`stpp`, `wvtt`), if it is one.
    pub fn of(codec: &str) -> Option<TextCodec> {
        match codec {
            "stpp" => Some(TextCodec::Ttml),
            "wvtt" => Some(TextCodec::WebVtt),
            _ => None,
        }
    }

    /// The sample entry's type, which is also its RFC 6381 codec string.
    pub fn fourcc(self) -> &'static str {
        match self {
            TextCodec::Ttml => "stpp",
            TextCodec::WebVtt => "wvtt",
        }
    }
}

/// One sample of a text track: where it is shown (ms of the presentation) and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct TextSample<'a> {
    /// Start of the sample, in ms.
    pub start_ms: u64,
    /// End of the sample, in ms.
    pub end_ms: u64,
    /// The sample's bytes.
    pub data: &'a [u8],
}

/// The cues of a text track's samples, in time order: a cue shown in consecutive samples
/// (the same text, identifier and settings, end to start) is one cue.
pub fn cues<'a>(codec: TextCodec, samples: impl IntoIterator<Item = TextSample<'a>>) -> Result<WebVtt> {
    let mut out: Vec<Cue> = Vec::new();
    // The cues the previous sample ended with: the ones a sample may continue.
    let mut open: Vec<usize> = Vec::new();
    for s in samples {
        if s.data.len() > MAX_SAMPLE_BYTES {
            return Err(FormatError::new(format!(
                "a text sample of {} bytes: more than {MAX_SAMPLE_BYTES}",
                s.data.len()
            )));
        }
        let found = match codec {
            TextCodec::WebVtt => wvtt_cues(s)?,
            TextCodec::Ttml => ttml_cues::cues(s.data, Some((s.start_ms, s.end_ms)))?,
        };
        let mut next_open = Vec::new();
        for cue in found {
            let same = |c: &Cue| {
                c.end_ms == cue.start_ms && (&c.id, &c.settings, &c.text) == (&cue.id, &cue.settings, &cue.text)
            };
            let i = match open.iter().copied().find(|i| same(&out[*i])) {
                Some(i) => {
                    out[i].end_ms = cue.end_ms;
                    i
                }
                None if out.len() == MAX_CUES => {
                    return Err(FormatError::new(format!("a text track of more than {MAX_CUES} cues")))
                }
                None => {
                    out.push(cue);
                    out.len() - 1
                }
            };
            if out[i].end_ms == s.end_ms {
                next_open.push(i);
            }
        }
        open = next_open;
    }
    out.sort_by_key(|c| (c.start_ms, c.end_ms));
    Ok(WebVtt { header_blocks: Vec::new(), cues: out })
}

/// The cues of one `wvtt` sample, each shown for the whole sample.
fn wvtt_cues(s: TextSample<'_>) -> Result<Vec<Cue>> {
    let mut out = Vec::new();
    for b in children(s.data).exact() {
        let b = b.map_err(|e| FormatError::new(format!("a wvtt sample's box: {e}")))?;
        match &b.kind {
            b"vttc" => {
                let mut cue = Cue {
                    id: None,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    settings: String::new(),
                    text: String::new(),
                };
                for c in children(b.body).exact() {
                    let c = c.map_err(|e| FormatError::new(format!("a wvtt cue's box: {e}")))?;
                    let text = || {
                        std::str::from_utf8(c.body)
                            .map(str::to_owned)
                            .map_err(|_| FormatError::new(format!("a wvtt {} box is not UTF-8", c.name())))
                    };
                    match &c.kind {
                        b"iden" => cue.id = Some(text()?).filter(|i| !i.is_empty()),
                        b"sttg" => cue.settings = text()?,
                        b"payl" => cue.text = text()?,
                        _ => {}
                    }
                }
                if cue.text.contains("-->") || cue.text.split('\n').any(|l| l.trim().is_empty()) && !cue.text.is_empty()
                {
                    return Err(FormatError::new("a wvtt cue's payload has a blank line or \"-->\""));
                }
                out.push(cue);
            }
            b"vtte" | b"vtta" => {}
            other => {
                return Err(FormatError::new(format!(
                    "a wvtt sample holds a {} box, not vttc or vtte",
                    crate::bmff::fourcc(other)
                )))
            }
        }
    }
    Ok(out)
}

/// A fragmented text track of `cues` (timescale 1000, track 1), one `moof`+`mdat` per
/// `fragment_ms`: an init (`ftyp`, `moov` with `mvex`) then the fragments, as a CMAF text track
/// (`.cmft`) or a Smooth one (`.ismt`) holds them. `wvtt`: a sample per stretch between cue
/// boundaries (`vtte` where none shows); `stpp`: a sample per fragment, a TTML document of the
/// cues it shows (times on the track's timeline). ffmpeg 5.1 refuses to fragment TTML and writes
/// no `wvtt`: the tests' fixtures are made with this.
pub fn write_fragmented_track(codec: TextCodec, cues: &[Cue], fragment_ms: u64) -> Vec<u8> {
    let end = cues.iter().map(|c| c.end_ms).max().unwrap_or(0);
    let mut out = Vec::new();
    write_box(&mut out, b"ftyp", |b| {
        b.extend_from_slice(b"iso6");
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(b"iso6cmfcdash");
    });
    write_box(&mut out, b"moov", |b| {
        write_full_box(b, b"mvhd", 0, 0, |b| {
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&1000u32.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
            b.extend_from_slice(&0x0100u16.to_be_bytes());
            b.extend_from_slice(&[0; 10]);
            b.extend_from_slice(&IDENTITY);
            b.extend_from_slice(&[0; 24]);
            b.extend_from_slice(&2u32.to_be_bytes());
        });
        write_box(b, b"trak", |b| {
            write_full_box(b, b"tkhd", 0, 3, |b| {
                b.extend_from_slice(&[0; 8]);
                b.extend_from_slice(&1u32.to_be_bytes());
                b.extend_from_slice(&[0; 4 + 4 + 8 + 2 + 2 + 2 + 2]);
                b.extend_from_slice(&IDENTITY);
                b.extend_from_slice(&[0; 8]);
            });
            write_box(b, b"mdia", |b| {
                write_full_box(b, b"mdhd", 0, 0, |b| {
                    b.extend_from_slice(&[0; 8]);
                    b.extend_from_slice(&1000u32.to_be_bytes());
                    b.extend_from_slice(&0u32.to_be_bytes());
                    b.extend_from_slice(&0x55c4u16.to_be_bytes()); // und
                    b.extend_from_slice(&[0; 2]);
                });
                let handler = if codec == TextCodec::Ttml { b"subt" } else { b"text" };
                write_full_box(b, b"hdlr", 0, 0, |b| {
                    b.extend_from_slice(&[0; 4]);
                    b.extend_from_slice(handler);
                    b.extend_from_slice(&[0; 12]);
                    b.extend_from_slice(b"mirrorcast text\0");
                });
                write_box(b, b"minf", |b| {
                    write_full_box(b, b"sthd", 0, 0, |_| {});
                    write_box(b, b"dinf", |b| {
                        write_full_box(b, b"dref", 0, 0, |b| {
                            b.extend_from_slice(&1u32.to_be_bytes());
                            write_full_box(b, b"url ", 0, 1, |_| {});
                        })
                    });
                    write_box(b, b"stbl", |b| {
                        write_full_box(b, b"stsd", 0, 0, |b| {
                            b.extend_from_slice(&1u32.to_be_bytes());
                            write_box(b, codec.fourcc().as_bytes().try_into().expect("four bytes"), |b| {
                                b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
                                match codec {
                                    TextCodec::Ttml => b.extend_from_slice(b"http://www.w3.org/ns/ttml\0\0\0"),
                                    TextCodec::WebVtt => write_box(b, b"vttC", |b| b.extend_from_slice(b"WEBVTT")),
                                }
                            });
                        });
                        for table in [b"stts", b"stsc", b"stco"] {
                            write_full_box(b, table, 0, 0, |b| b.extend_from_slice(&0u32.to_be_bytes()));
                        }
                        write_full_box(b, b"stsz", 0, 0, |b| b.extend_from_slice(&[0; 8]));
                    });
                });
            });
        });
        write_box(b, b"mvex", |b| {
            write_full_box(b, b"trex", 0, 0, |b| {
                b.extend_from_slice(&1u32.to_be_bytes());
                b.extend_from_slice(&1u32.to_be_bytes());
                b.extend_from_slice(&[0; 12]);
            })
        });
    });
    let fragment_ms = fragment_ms.max(1);
    let mut sequence = 1;
    let mut from = 0;
    while from < end {
        let to = (from + fragment_ms).min(end);
        let samples = match codec {
            TextCodec::WebVtt => wvtt_samples(cues, from, to),
            TextCodec::Ttml => vec![(to - from, ttml_document(cues, from, to).into_bytes())],
        };
        write_fragment(&mut out, sequence, from, &samples, false);
        sequence += 1;
        from = to;
    }
    out
}

const IDENTITY: [u8; 36] =
    [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0];

/// The `wvtt` samples of `[from, to)`: (duration, bytes), split at every cue boundary inside.
fn wvtt_samples(cues: &[Cue], from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
    let mut cuts: Vec<u64> =
        cues.iter().flat_map(|c| [c.start_ms, c.end_ms]).filter(|t| *t > from && *t < to).collect();
    cuts.extend([from, to]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| {
            let mut data = Vec::new();
            for c in cues.iter().filter(|c| c.start_ms <= w[0] && c.end_ms >= w[1]) {
                write_box(&mut data, b"vttc", |b| {
                    if let Some(id) = &c.id {
                        write_box(b, b"iden", |b| b.extend_from_slice(id.as_bytes()));
                    }
                    if !c.settings.is_empty() {
                        write_box(b, b"sttg", |b| b.extend_from_slice(c.settings.as_bytes()));
                    }
                    write_box(b, b"payl", |b| b.extend_from_slice(c.text.as_bytes()));
                });
            }
            if data.is_empty() {
                write_box(&mut data, b"vtte", |_| {});
            }
            (w[1] - w[0], data)
        })
        .collect()
}

/// A TTML document of the cues shown in `[from, to)`, with their own times (lines as `<br/>`).
fn ttml_document(cues: &[Cue], from: u64, to: u64) -> String {
    let clock =
        |ms: u64| format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<tt xmlns=\"http://www.w3.org/ns/ttml\" xml:lang=\"\"><body><div>\n");
    for c in cues.iter().filter(|c| c.start_ms < to && c.end_ms > from) {
        let text = plain_text(&c.text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let text = text.replace('\n', "<br/>");
        s.push_str(&format!("<p begin=\"{}\" end=\"{}\">{text}</p>\n", clock(c.start_ms), clock(c.end_ms)));
    }
    s.push_str("</div></body></tt>\n");
    s
}

/// A WebVTT cue's text without its markup (tags out, the three escapes undone): what TTML
/// written without styling says.
pub fn plain_text(webvtt: &str) -> String {
    let mut out = String::with_capacity(webvtt.len());
    let mut in_tag = false;
    for c in webvtt.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// A Smooth text fragment of one sample shown from `start` for `duration` (in the stream's
/// timescale): a `moof` with Smooth's `tfxd` (no `tfdt`) and its `mdat`, as a Smooth text
/// stream's chunk (a TTML sidecar served as one).
pub fn smooth_text_fragment(start: u64, duration: u64, sample: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(sample.len() + 128);
    write_fragment(&mut out, 1, start, &[(duration, sample)], true);
    out
}

/// A `moof` (`mfhd`, `traf`: `tfhd` default-base-is-moof, `tfdt` or Smooth's `tfxd`, `trun`)
/// and its `mdat`.
fn write_fragment(out: &mut Vec<u8>, sequence: u32, decode_time: u64, samples: &[(u64, Vec<u8>)], smooth: bool) {
    let moof_at = out.len();
    let mut data_offset_at = 0;
    write_box(out, b"moof", |b| {
        write_full_box(b, b"mfhd", 0, 0, |b| b.extend_from_slice(&sequence.to_be_bytes()));
        write_box(b, b"traf", |b| {
            write_full_box(b, b"tfhd", 0, 0x02_0000, |b| b.extend_from_slice(&1u32.to_be_bytes()));
            if !smooth {
                write_full_box(b, b"tfdt", 1, 0, |b| b.extend_from_slice(&decode_time.to_be_bytes()));
            }
            write_full_box(b, b"trun", 0, 0x301, |b| {
                b.extend_from_slice(&(samples.len() as u32).to_be_bytes());
                data_offset_at = b.len();
                b.extend_from_slice(&0u32.to_be_bytes());
                for (duration, data) in samples {
                    b.extend_from_slice(&(*duration as u32).to_be_bytes());
                    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
                }
            });
            if smooth {
                let duration = samples.iter().map(|(d, _)| d).sum();
                write_tfxd(b, &Fragment { start: decode_time, duration, first: 0, end: samples.len() });
            }
        });
    });
    let moof_len = (out.len() - moof_at) as u32;
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&(moof_len + 8).to_be_bytes());
    write_box(out, b"mdat", |b| samples.iter().for_each(|(_, d)| b.extend_from_slice(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragmented_index::tests::index_by_ranges;

    fn cue(id: Option<&str>, start_ms: u64, end_ms: u64, settings: &str, text: &str) -> Cue {
        Cue { id: id.map(str::to_owned), start_ms, end_ms, settings: settings.to_owned(), text: text.to_owned() }
    }

    fn source() -> Vec<Cue> {
        vec![
            cue(Some("c0"), 500, 1500, "", "Hello"),
            cue(None, 1800, 2600, "align:start line:0", "Across the first boundary"),
            cue(None, 3000, 3900, "", "Second &amp; <i>line</i>\nand a third"),
            cue(None, 3500, 4500, "", "Overlapping"),
            cue(None, 5200, 5800, "", "Last"),
        ]
    }

    /// The cues read back from a written track's samples, through the fragmented indexer.
    fn read_back(file: &[u8]) -> (TextCodec, WebVtt, usize) {
        let index = index_by_ranges(file).0.unwrap();
        let t = &index.tracks[0];
        let codec = TextCodec::of(&t.info.codec).unwrap();
        let samples = (0..t.offsets.len()).map(|i| {
            let at = t.offsets[i] as usize;
            let start = t.info.decode_times[i];
            TextSample {
                start_ms: start,
                end_ms: start + t.durations[i] as u64,
                data: &file[at..at + t.info.sample_sizes[i] as usize],
            }
        });
        (codec, cues(codec, samples).unwrap(), t.fragments.len())
    }

    #[test]
    fn wvtt_and_stpp_tracks_read_back_into_the_cues_they_were_written_from() {
        for codec in [TextCodec::WebVtt, TextCodec::Ttml] {
            let file = write_fragmented_track(codec, &source(), 2000);
            let (read, vtt, fragments) = read_back(&file);
            assert_eq!(read, codec);
            assert_eq!(fragments, 3, "{codec:?}: 5.8 s in 2 s fragments");
            let mut want = source();
            if codec == TextCodec::Ttml {
                // TTML carries no cue identifier or WebVTT settings.
                // TTML carries no markup here either: the text as a viewer reads it.
                for c in &mut want {
                    (c.id, c.settings) = (None, String::new());
                    c.text = plain_text(&c.text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
                }
            }
            assert_eq!(vtt.cues, want, "{codec:?}: a cue across fragments and samples is one cue");
        }
    }

    #[test]
    fn a_smooth_text_fragment_reads_back_with_its_tfxd_and_sample() {
        let f =
            crate::smooth_fragment::SmoothFragment::parse(&smooth_text_fragment(7, 5000, b"<tt/>".to_vec())).unwrap();
        assert_eq!((f.time, f.duration, f.samples.len()), (7, 5000, 1));
        assert_eq!(f.samples[0].data, b"<tt/>");
    }

    #[test]
    fn hostile_text_samples_are_errors() {
        let big = vec![0u8; MAX_SAMPLE_BYTES + 1];
        let sample = |data| TextSample { start_ms: 0, end_ms: 1000, data };
        for codec in [TextCodec::WebVtt, TextCodec::Ttml] {
            assert!(cues(codec, [sample(&big)]).unwrap_err().to_string().contains("more than"));
        }
        for (data, says) in [
            (&b"\0\0\0\x20vttc\0\0\0\x08payl"[..], "box"),
            (b"\0\0\0\x08moov", "not vttc"),
            (b"\0\0\0\x0evttc\0\0\0\x06pay", "box"),
            (b"\0\0\0\x12vttc\0\0\0\x0apayl\xff\xfe", "UTF-8"),
            (b"\0\0\0\x17vttc\0\0\0\x0fpaylx\n\ny-->", "blank line"),
        ] {
            let e = cues(TextCodec::WebVtt, [sample(data)]).unwrap_err().to_string();
            assert!(e.contains(says), "{data:?}: {e}");
        }
        let e = cues(TextCodec::Ttml, [sample(b"<tt><p begin=\"x\">a</p></tt>")]).unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
    }
}
