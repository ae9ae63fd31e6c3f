//! TTML/IMSC1 documents turned into WebVTT cues (pure): what HLS carries of a TTML sidecar or
//! of a fragmented track's `stpp` samples. Kept: each `<p>`'s text, its timing (begin, end, dur,
//! resolved against its ancestors' in parallel time containers, clock and offset times,
//! frames and ticks) and its line breaks (`<br/>`). Dropped: styling, regions, layout and
//! timing within a paragraph (a `<span>`'s own begin/end); a WebVTT player shows each
//! paragraph as plain text.
//!
//! Streamed with quick-xml (never a tree): bounded in bytes, in elements and in nesting depth,
//! so a document of a million elements or a deep nest is an error, not memory.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::webvtt::{Cue, WebVtt, MAX_CUES};
use crate::{FormatError, Result};

/// A document with more elements is refused (a feature film's subtitles are a few thousand).
pub const MAX_ELEMENTS: usize = 200_000;
/// Deeper nesting is refused (IMSC documents nest a handful of levels).
pub const MAX_DEPTH: usize = 64;
/// A longer paragraph is refused.
const MAX_CUE_TEXT: usize = 16 * 1024;
/// The last time a cue may name: 99 hours, as WebVTT's reader allows.
const MAX_MS: u64 = 100 * 3_600_000 - 1;

/// The rates frame and tick times are counted in (`ttp:frameRate`, `ttp:tickRate` on `<tt>`).
#[derive(Debug, Clone, Copy)]
struct Rates {
    frames: f64,
    ticks: f64,
}

/// One open element: its absolute begin and end in ms (end `None`: open-ended).
#[derive(Debug, Clone, Copy)]
struct Scope {
    begin: u64,
    end: Option<u64>,
}

/// The cues of a TTML document (at most `MAX_BYTES`, checked by the caller), every time on the
/// document's timeline; each cue is clipped to `window` (ms) when one is given (a sample's
/// span), and a paragraph with no end is given the window's end (or left out without one).
pub fn cues(bytes: &[u8], window: Option<(u64, u64)>) -> Result<Vec<Cue>> {
    let text = std::str::from_utf8(bytes).map_err(|_| FormatError::new("TTML is not UTF-8"))?;
    let mut reader = Reader::from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let bad = |e: &dyn std::fmt::Display| FormatError::new(format!("the TTML is not well-formed XML: {e}"));
    let mut rates = Rates { frames: 30.0, ticks: 1.0 };
    let mut stack: Vec<Scope> = Vec::new();
    let mut elements = 0usize;
    let mut seen_root = false;
    // The paragraph being read: its depth in the stack, its scope and text so far.
    let mut paragraph: Option<(usize, Scope, String)> = None;
    let mut out = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| bad(&e))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(FormatError::new(format!("a TTML document of more than {MAX_ELEMENTS} elements")));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(FormatError::new(format!("TTML nested deeper than {MAX_DEPTH} elements")));
            }
            let name = e.local_name();
            let name = name.as_ref();
            if !seen_root {
                if name != b"tt" {
                    return Err(FormatError::new("the TTML's root is not <tt>"));
                }
                seen_root = true;
                rates = read_rates(e)?;
            }
            let parent = stack.last().copied().unwrap_or(Scope { begin: 0, end: None });
            let scope = if paragraph.is_some() { parent } else { timed(e, parent, rates)? };
            match (&mut paragraph, name) {
                (Some((_, _, text)), b"br") => text.push('\n'),
                (None, b"p") if !empty => paragraph = Some((stack.len(), scope, String::new())),
                _ => {}
            }
            if !empty {
                stack.push(scope);
            }
            continue;
        }
        match event {
            Event::Text(t) => {
                if let Some((_, _, text)) = &mut paragraph {
                    let t = t.unescape().map_err(|e| bad(&e))?;
                    collapse_into(text, &t);
                }
            }
            Event::CData(t) => {
                if let Some((_, _, text)) = &mut paragraph {
                    collapse_into(text, &String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                stack.pop();
                if paragraph.as_ref().is_some_and(|(depth, _, _)| *depth == stack.len()) {
                    let (_, scope, text) = paragraph.take().expect("checked");
                    if let Some(cue) = finish(scope, &text, window)? {
                        if out.len() == MAX_CUES {
                            return Err(FormatError::new(format!("TTML with more than {MAX_CUES} cues")));
                        }
                        out.push(cue);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if paragraph.as_ref().is_some_and(|(_, _, t)| t.len() > MAX_CUE_TEXT) {
            return Err(FormatError::new(format!("a TTML paragraph of more than {MAX_CUE_TEXT} bytes")));
        }
    }
    if !seen_root {
        return Err(FormatError::new("not a TTML document: no <tt>"));
    }
    Ok(out)
}

/// The cues of a TTML sidecar in presentation order, as a [`WebVtt`] (no header blocks: styling
/// is dropped).
pub fn to_webvtt(bytes: &[u8]) -> Result<WebVtt> {
    let mut cues = cues(bytes, None)?;
    cues.sort_by_key(|c| (c.start_ms, c.end_ms));
    Ok(WebVtt { header_blocks: Vec::new(), cues })
}

/// `ttp:frameRate` (with `ttp:frameRateMultiplier`) and `ttp:tickRate` of the root.
fn read_rates(root: &BytesStart<'_>) -> Result<Rates> {
    let (mut frames, mut multiplier, mut ticks) = (None, 1.0, None);
    for a in root.attributes().with_checks(false) {
        let a = a.map_err(|e| FormatError::new(format!("a TTML attribute: {e}")))?;
        let value = String::from_utf8_lossy(&a.value).into_owned();
        let number = |v: &str| v.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0);
        match a.key.local_name().as_ref() {
            b"frameRate" => frames = number(&value),
            b"tickRate" => ticks = number(&value),
            b"frameRateMultiplier" => {
                let mut parts = value.split_whitespace().filter_map(number);
                if let (Some(n), Some(d)) = (parts.next(), parts.next()) {
                    multiplier = n / d;
                }
            }
            _ => {}
        }
    }
    let frames = frames.unwrap_or(30.0) * multiplier;
    Ok(Rates { frames, ticks: ticks.unwrap_or(1.0) })
}

/// An element's scope: `begin` and `end` relative to its parent's begin (a parallel time
/// container, TTML's default), `dur` from its own begin; never past its parent's end.
fn timed(e: &BytesStart<'_>, parent: Scope, rates: Rates) -> Result<Scope> {
    let (mut begin, mut end, mut dur) = (None, None, None);
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|e| FormatError::new(format!("a TTML attribute: {e}")))?;
        let slot = match a.key.as_ref() {
            b"begin" => &mut begin,
            b"end" => &mut end,
            b"dur" => &mut dur,
            _ => continue,
        };
        let value = String::from_utf8_lossy(&a.value).into_owned();
        let ms = time_ms(value.trim(), rates)
            .ok_or_else(|| FormatError::new(format!("TTML time \"{}\" is malformed", quote(&value))))?;
        *slot = Some(ms);
    }
    let own_begin = parent.begin.saturating_add(begin.unwrap_or(0)).min(MAX_MS);
    let own_end = match (end, dur) {
        (Some(end), _) => Some(parent.begin.saturating_add(end)),
        (None, Some(dur)) => Some(own_begin.saturating_add(dur)),
        (None, None) => None,
    };
    let end = match (own_end, parent.end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Scope { begin: own_begin, end: end.map(|e| e.min(MAX_MS)) })
}

/// A paragraph's cue: its lines trimmed (blank ones dropped), escaped for WebVTT; `None` when it
/// has no text or no time on screen.
fn finish(scope: Scope, text: &str, window: Option<(u64, u64)>) -> Result<Option<Cue>> {
    let lines: Vec<&str> = text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let (mut start, mut end) = (scope.begin, scope.end);
    if let Some((from, to)) = window {
        start = start.max(from);
        end = Some(end.map_or(to, |e| e.min(to)));
    }
    let Some(end) = end else { return Ok(None) };
    if end <= start {
        return Ok(None);
    }
    let text = lines.join("\n").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    Ok(Some(Cue { id: None, start_ms: start, end_ms: end, settings: String::new(), text }))
}

/// Appends `t` with each run of XML white space made one space (`xml:space="default"`).
fn collapse_into(out: &mut String, t: &str) {
    for c in t.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            if !out.ends_with(' ') && !out.ends_with('\n') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

fn quote(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A TTML time expression in ms: clock time (`hh:mm:ss`, `.fraction`, `:frames`) or offset time
/// (`12.5s`, `500ms`, `2m`, `1h`, `25f`, `10000t`).
fn time_ms(v: &str, rates: Rates) -> Option<u64> {
    let seconds = if v.contains(':') {
        let parts: Vec<&str> = v.split(':').collect();
        let number = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 6)
                .then(|| t.parse::<f64>().ok())
                .flatten()
        };
        let (h, m, rest) = match parts.as_slice() {
            [h, m, s] => (number(h)?, number(m)?, (*s, None)),
            [h, m, s, f] => (number(h)?, number(m)?, (*s, Some(*f))),
            _ => return None,
        };
        let (s, frames) = rest;
        let s: f64 = {
            let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
            let ok = fraction.bytes().all(|b| b.is_ascii_digit()) && fraction.len() <= 9;
            if !ok || frames.is_some() && !fraction.is_empty() {
                return None;
            }
            number(whole)? + if fraction.is_empty() { 0.0 } else { format!("0.{fraction}").parse::<f64>().ok()? }
        };
        if m >= 60.0 || s >= 61.0 {
            return None;
        }
        let f = match frames {
            Some(f) => number(f.split_once('.').map_or(f, |(whole, _)| whole))? / rates.frames,
            None => 0.0,
        };
        h * 3600.0 + m * 60.0 + s + f
    } else {
        let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (n, metric) = v.split_at(split);
        let n: f64 = n.parse().ok().filter(|n: &f64| n.is_finite())?;
        match metric {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "f" => n / rates.frames,
            "t" => n / rates.ticks,
            _ => return None,
        }
    };
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms >= 0.0 && ms <= MAX_MS as f64).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://www.w3.org/ns/ttml\" xmlns:ttp=\"http://www.w3.org/ns/ttml#parameter\"";

    fn cue(start_ms: u64, end_ms: u64, text: &str) -> Cue {
        Cue { id: None, start_ms, end_ms, settings: String::new(), text: text.to_owned() }
    }

    #[test]
    fn paragraphs_become_cues_with_their_times_and_line_breaks_and_no_styling() {
        // ffmpeg's TTML encoder's shape: a styled region, spans, a <br/>.
        let doc = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<tt {NS} xmlns:tts="http://www.w3.org/ns/ttml#styling" ttp:cellResolution="384 288" xml:lang="">
  <head><layout><region xml:id="Default" tts:origin="3% 0%" tts:fontSize="16c"/></layout></head>
  <body>
    <div>
      <p
        begin="00:00:00.500"
        end="00:00:01.500"><span region="Default" tts:color="red">Hello</span></p>
      <p begin="00:00:01.800" end="00:00:03.200"><span region="Default">Two<br/>lines &amp; <![CDATA[<more>]]></span></p>
      <p begin="4.2s" dur="700ms">  Last
         one </p>
      <p begin="5s">No end</p>
      <p begin="6s" end="6s">Never shown</p>
    </div>
  </body>
</tt>"#
        );
        let vtt = to_webvtt(doc.as_bytes()).unwrap();
        assert_eq!(
            vtt.cues,
            [cue(500, 1500, "Hello"), cue(1800, 3200, "Two\nlines &amp; &lt;more&gt;"), cue(4200, 4900, "Last one")]
        );
        assert!(vtt.header_blocks.is_empty(), "styling dropped");
        let clipped = cues(doc.as_bytes(), Some((1000, 5500))).unwrap();
        assert_eq!(clipped[0], cue(1000, 1500, "Hello"), "clipped to the sample's span");
        assert_eq!(clipped.last().unwrap(), &cue(5000, 5500, "No end"), "open-ended: to the sample's end");
    }

    #[test]
    fn times_resolve_against_their_ancestors_frames_and_ticks() {
        let doc = format!(
            r#"<tt {NS} ttp:frameRate="25" ttp:tickRate="10000000"><body begin="10s"><div begin="00:00:01:00" end="4s">
              <p begin="500ms" end="2s">a</p><p begin="00:00:02:12" dur="1h">b</p><p begin="5000000t" end="15000000t">c</p>
            </div></body></tt>"#
        );
        let got = to_webvtt(doc.as_bytes()).unwrap().cues;
        assert_eq!(got, [cue(11_500, 12_500, "c"), cue(11_500, 13_000, "a"), cue(13_480, 14_000, "b")]);
    }

    #[test]
    fn hostile_ttml_is_an_error_not_memory_or_a_panic() {
        let deep = format!("<tt {NS}>{}{}</tt>", "<div>".repeat(MAX_DEPTH + 1), "</div>".repeat(MAX_DEPTH + 1));
        assert!(to_webvtt(deep.as_bytes()).unwrap_err().to_string().contains("deeper"));
        let many = format!("<tt {NS}><body>{}</body></tt>", "<br/>".repeat(1_000_000));
        assert!(to_webvtt(many.as_bytes()).unwrap_err().to_string().contains("elements"));
        let long =
            format!("<tt {NS}><body><p begin=\"0s\" end=\"1s\">{}</p></body></tt>", "x".repeat(MAX_CUE_TEXT + 1));
        assert!(to_webvtt(long.as_bytes()).unwrap_err().to_string().contains("paragraph"));
        for (doc, says) in [
            ("<tt", "well-formed"),
            ("<html/>", "not <tt>"),
            ("", "no <tt>"),
            ("<tt><p begin=\"soon\">x</p></tt>", "malformed"),
            ("<tt><p begin=\"00:99:00.000\">x</p></tt>", "malformed"),
            ("<tt><p begin=\"99999999999h\">x</p></tt>", "malformed"),
            ("<tt><p begin=\"0s\" end=\"1s\">&bomb;</p></tt>", "well-formed"),
        ] {
            let e = to_webvtt(doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(says), "{doc}: {e}");
        }
        assert!(to_webvtt(&[0xff]).unwrap_err().to_string().contains("UTF-8"));
    }
}
