//! WebVTT sidecars (pure): a cue file read into cues (bounded: bytes, cues, cue text, every
//! timestamp checked), written back whole, and cut into HLS subtitle segments that line up
//! with the video's fragments.
//!
//! Hand-written: the crates that parse WebVTT are small and unmaintained, and the origin needs
//! only the cue blocks, their times and the header blocks (`STYLE`, `REGION`) each segment repeats.

use crate::{FormatError, Result};

/// A larger sidecar is refused (a feature film's subtitles are a few hundred KiB).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// More cues than this are refused (a cue every second for 27 hours).
pub const MAX_CUES: usize = 100_000;
/// A longer cue block (settings and text) is refused.
const MAX_CUE_BYTES: usize = 16 * 1024;
/// Longest line quoted back in an error.
const MAX_QUOTED: usize = 40;
/// The last time a timestamp may name: 99 hours (a wider one would overflow nothing, but
/// names no real presentation).
const MAX_MS: u64 = 100 * 3_600_000 - 1;

/// One cue: its times in milliseconds, its identifier, settings and payload as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// The optional identifier line.
    pub id: Option<String>,
    /// Start, in milliseconds of the presentation.
    pub start_ms: u64,
    /// End, in milliseconds; never before the start.
    pub end_ms: u64,
    /// What follows the end time on the timing line (`align:start line:0`), trimmed.
    pub settings: String,
    /// The payload lines, joined by `\n`.
    pub text: String,
}

/// A WebVTT file: the header blocks each segment repeats, then the cues in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebVtt {
    /// `STYLE` and `REGION` blocks, as written (a cue's styling needs them in every segment).
    pub header_blocks: Vec<String>,
    /// The cues.
    pub cues: Vec<Cue>,
}

fn quote(line: &str) -> String {
    let end = line.char_indices().map(|(i, c)| i + c.len_utf8()).take_while(|e| *e <= MAX_QUOTED).last();
    line[..end.unwrap_or(0)].to_owned()
}

/// `hh:mm:ss.ttt` or `mm:ss.ttt` in milliseconds; minutes and seconds below 60, three decimals.
fn timestamp(text: &str) -> Option<u64> {
    let (clock, millis) = text.split_once('.')?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [m, s] => ("0", *m, *s),
        [h, m, s] if h.len() >= 2 => (*h, *m, *s),
        _ => return None,
    };
    let number = |t: &str, width: Option<usize>| -> Option<u64> {
        let digits = !t.is_empty() && t.len() <= 6 && t.bytes().all(|b| b.is_ascii_digit());
        (digits && width.is_none_or(|w| t.len() == w)).then(|| t.parse().ok()).flatten()
    };
    let (h, m, s, ms) =
        (number(hours, None)?, number(minutes, Some(2))?, number(seconds, Some(2))?, number(millis, None)?);
    if m >= 60 || s >= 60 {
        return None;
    }
    let total = ((h * 60 + m) * 60 + s) * 1000 + ms;
    (total <= MAX_MS).then_some(total)
}

/// `hh:mm:ss.ttt`, always with hours (what the segments are written with).
fn write_timestamp(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

impl WebVtt {
    /// Reads a WebVTT file. Refused: more than [`MAX_BYTES`] or [`MAX_CUES`], not UTF-8, no
    /// `WEBVTT` signature, a malformed timing line or a cue ending before it starts (the error
    /// names the line). `NOTE` blocks are dropped.
    pub fn parse(bytes: &[u8]) -> Result<WebVtt> {
        if bytes.len() > MAX_BYTES {
            return Err(FormatError::new(format!("WebVTT of {} bytes: more than {MAX_BYTES}", bytes.len())));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| FormatError::new("WebVTT is not UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut blocks = text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty());
        let signature = blocks.next().unwrap_or("");
        let first = signature.lines().next().unwrap_or("");
        if !(first == "WEBVTT" || first.starts_with("WEBVTT ") || first.starts_with("WEBVTT\t")) {
            return Err(FormatError::new(format!("not WebVTT: the first line is \"{}\"", quote(first))));
        }
        let mut out = WebVtt::default();
        for block in blocks {
            if block.starts_with("NOTE") {
                continue;
            }
            if block.starts_with("STYLE") || block.starts_with("REGION") {
                if out.cues.is_empty() {
                    out.header_blocks.push(block.to_owned());
                }
                // After the first cue they are not allowed: dropped, as a browser does.
                continue;
            }
            if block.len() > MAX_CUE_BYTES {
                return Err(FormatError::new(format!(
                    "a WebVTT cue of {} bytes: more than {MAX_CUE_BYTES}",
                    block.len()
                )));
            }
            if out.cues.len() == MAX_CUES {
                return Err(FormatError::new(format!("WebVTT with more than {MAX_CUES} cues")));
            }
            out.cues.push(cue(block)?);
        }
        Ok(out)
    }

    /// The whole file, normalized: what a DASH sidecar Representation serves.
    pub fn to_text(&self) -> String {
        let mut s = String::from("WEBVTT\n\n");
        self.write_blocks(&mut s, self.cues.iter());
        s
    }

    /// The HLS segment covering `[start_ms, end_ms)` of the presentation: every cue that
    /// overlaps it (a cue across a boundary is in both segments, as HLS requires; a player
    /// drops the repeat), with its times as in the source and an `X-TIMESTAMP-MAP` saying that
    /// presentation time 0 is `mpegts` (90 kHz) on the media's clock.
    pub fn segment(&self, start_ms: u64, end_ms: u64, mpegts: u64) -> String {
        let mut s = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n\n");
        let overlapping = |c: &&Cue| {
            let empty_inside = c.start_ms == c.end_ms && (start_ms..end_ms).contains(&c.start_ms);
            empty_inside || (c.start_ms < end_ms && c.end_ms > start_ms)
        };
        self.write_blocks(&mut s, self.cues.iter().filter(overlapping));
        s
    }

    /// Header blocks then cues, each block followed by a blank line, so that segments read
    /// back to back (ffmpeg's HLS demuxer reads them as one stream) stay separate blocks.
    fn write_blocks<'c>(&self, s: &mut String, cues: impl Iterator<Item = &'c Cue>) {
        for block in &self.header_blocks {
            s.push_str(block);
            s.push_str("\n\n");
        }
        for c in cues {
            if let Some(id) = &c.id {
                s.push_str(id);
                s.push('\n');
            }
            s.push_str(&write_timestamp(c.start_ms));
            s.push_str(" --> ");
            s.push_str(&write_timestamp(c.end_ms));
            if !c.settings.is_empty() {
                s.push(' ');
                s.push_str(&c.settings);
            }
            s.push('\n');
            s.push_str(&c.text);
            s.push_str("\n\n");
        }
    }
}

/// A cue block: an optional identifier line, the timing line, the payload.
fn cue(block: &str) -> Result<Cue> {
    let mut lines = block.lines();
    let first = lines.next().unwrap_or("");
    let (id, timing) = if first.contains("-->") {
        (None, first)
    } else {
        let timing = lines.next().unwrap_or("");
        (Some(first.to_owned()), timing)
    };
    let bad = || FormatError::new(format!("WebVTT timing line \"{}\" is malformed", quote(timing)));
    let (start, rest) = timing.split_once("-->").ok_or_else(bad)?;
    let rest = rest.trim_start();
    let (end, settings) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let start_ms = timestamp(start.trim()).ok_or_else(bad)?;
    let end_ms = timestamp(end).ok_or_else(bad)?;
    if end_ms < start_ms {
        return Err(FormatError::new(format!("WebVTT cue \"{}\" ends before it starts", quote(timing))));
    }
    let text = lines.collect::<Vec<_>>().join("\n");
    if text.contains("-->") {
        return Err(FormatError::new(format!("WebVTT cue \"{}\" has \"-->\" in its text", quote(timing))));
    }
    Ok(Cue { id, start_ms, end_ms, settings: settings.trim().to_owned(), text })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "WEBVTT - a film\n\nSTYLE\n::cue { color: yellow }\n\nNOTE a note\n\n1\n00:00:00.500 --> 00:00:01.500\nHello\n\n00:01.800 --> 00:02.400 align:start line:0\nAcross <b>two</b>\nlines\n\n00:00:05.000 --> 00:00:05.000\nEmpty\n";

    #[test]
    fn cues_read_with_their_times_ids_settings_and_text() {
        let vtt = WebVtt::parse(SOURCE.as_bytes()).unwrap();
        assert_eq!(vtt.header_blocks, ["STYLE\n::cue { color: yellow }"]);
        assert_eq!(vtt.cues.len(), 3);
        assert_eq!(vtt.cues[0].id.as_deref(), Some("1"));
        assert_eq!((vtt.cues[1].start_ms, vtt.cues[1].end_ms), (1800, 2400));
        assert_eq!(vtt.cues[1].settings, "align:start line:0");
        assert_eq!(vtt.cues[1].text, "Across <b>two</b>\nlines");
        assert_eq!(WebVtt::parse(vtt.to_text().as_bytes()).unwrap(), vtt, "written back, read back the same");
        let crlf = SOURCE.replace('\n', "\r\n");
        assert_eq!(WebVtt::parse(format!("\u{feff}{crlf}").as_bytes()).unwrap(), vtt);
    }

    #[test]
    fn a_cue_across_a_segment_boundary_is_in_both_segments() {
        let vtt = WebVtt::parse(SOURCE.as_bytes()).unwrap();
        let first = vtt.segment(0, 2000, 126_000);
        let second = vtt.segment(2000, 4000, 126_000);
        let third = vtt.segment(4000, 6000, 126_000);
        assert!(first.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n"), "{first}");
        assert!(first.contains("00:00:00.500 --> 00:00:01.500\nHello\n\n"), "{first}");
        assert!(first.contains("00:00:01.800 --> 00:00:02.400 align:start line:0\nAcross"), "{first}");
        assert!(second.contains("00:00:01.800 --> 00:00:02.400") && !second.contains("Hello"), "{second}");
        assert!(third.contains("Empty") && !third.contains("Across"), "{third}");
        for s in [&first, &second, &third] {
            assert!(s.contains("STYLE\n::cue"), "{s}");
            assert!(s.ends_with("\n\n"), "a blank line closes every segment: {s:?}");
        }
        assert!(!vtt.segment(6000, 8000, 0).contains("-->"));
    }

    #[test]
    fn hostile_webvtt_is_an_error_naming_what_is_wrong() {
        for (text, says) in [
            ("WEBVTTX\n\n00:00.000 --> 00:01.000\nx\n", "not WebVTT"),
            ("", "not WebVTT"),
            ("WEBVTT\n\n00:00.000 --> 00:61.000\nx\n", "malformed"),
            ("WEBVTT\n\n00:00.000 -> 00:01.000\nx\n", "malformed"),
            ("WEBVTT\n\n00:00.00 --> 00:01.000\nx\n", "malformed"),
            ("WEBVTT\n\n1:00:00.000 --> 1:00:01.000\nx\n", "malformed"),
            ("WEBVTT\n\n00:00.000 --> 99999999999:00:01.000\nx\n", "malformed"),
            ("WEBVTT\n\n00:00.000 --> -0:01.000\nx\n", "malformed"),
            ("WEBVTT\n\n00:02.000 --> 00:01.000\nx\n", "ends before it starts"),
            ("WEBVTT\n\nid\nno timing\n", "malformed"),
        ] {
            let e = WebVtt::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
        assert!(WebVtt::parse(&[0xff, 0xfe]).unwrap_err().to_string().contains("UTF-8"));
        let huge = vec![b'a'; MAX_BYTES + 1];
        assert!(WebVtt::parse(&huge).unwrap_err().to_string().contains("bytes"));
        let many = format!("WEBVTT\n\n{}", "00:00.000 --> 00:00.001\nx\n\n".repeat(MAX_CUES + 1));
        assert!(WebVtt::parse(many.as_bytes()).unwrap_err().to_string().contains("cues"));
        let long = format!("WEBVTT\n\n00:00.000 --> 00:00.001\n{}\n", "x".repeat(MAX_CUE_BYTES));
        assert!(WebVtt::parse(long.as_bytes()).unwrap_err().to_string().contains("more than"));
    }
}
