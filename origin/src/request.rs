//! What a request path asks for: `/<locator-guid>/<path>`, where `<path>` is
//! a file of the asset or, below `<Base>.ism/`, a packaged manifest or
//! fragment in the shapes Media Services used (so CDN rules and the URLs apps
//! embed still match):
//!
//! - `<Base>.ism/manifest` (Smooth), `<Base>.ism/manifest(format=m3u8-aapl)` …,
//!   also with the suffix Media Services accepted after the parenthesis
//!   (`(format=m3u8-aapl).m3u8`, `(format=mpd-time-csf).mpd`)
//! - `<Base>.ism/QualityLevels(<bitrate>)/Manifest(<stream>,format=<f>)` (an HLS media playlist)
//! - `<Base>.ism/QualityLevels(<bitrate>)/Manifest(<stream>,format=<f>,type=keyframes)` (an HLS I-frame playlist)
//! - `<Base>.ism/QualityLevels(<bitrate>)/Fragments(<stream>=<time>|i,format=<f>)` (a segment; `i`: init)
//!
//! Playlists and MPDs name segments with the file extension of their bytes
//! (`….m4s`, `….mp4` for an init segment, `….ts`): ffmpeg 5.1.9 and 7.1+
//! fetch no segment whose URL lacks one. The shape without it is the same
//! target (same bytes, same ETag), so old caches and players keep working.
//!
//! `filter=a;b` (up to three names) on a manifest or an HLS media playlist asks for that
//! combination of dynamic manifest filters ([`Request::filters`]); segments carry none.
//!
//! An argument the origin does not implement is refused ([`Refused::Unsupported`],
//! a 400 naming it), never ignored: a 200 that differs from what the URL asks
//! for would be served alike by A and B and pass every comparison.

use std::fmt::Write as _;

use percent_encoding::percent_decode_str;
use uuid::Uuid;

/// A packaging format, named as in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Smooth Streaming: a URL without a `format=` argument.
    Smooth,
    /// HLS version 4 with MPEG-TS segments, audio as its own rendition group:
    /// what Media Services served for `m3u8-aapl` (= `m3u8-aapl-v4`).
    HlsAapl,
    /// HLS version 3: MPEG-TS segments, no init segment.
    HlsTs,
    /// HLS version 7 with CMAF (fMP4) segments.
    HlsCmaf,
    /// DASH `mpd-time-csf`: fMP4 segments, a SegmentTimeline, the isoff-live profile.
    DashCsf,
    /// DASH `mpd-time-cmaf`: as [`Format::DashCsf`], the MPD also naming the CMAF profile.
    DashCmaf,
}

impl Format {
    fn parse(value: &str) -> Option<Format> {
        Some(match value.to_ascii_lowercase().as_str() {
            "m3u8-aapl" | "m3u8-aapl-v4" => Format::HlsAapl,
            "m3u8-aapl-v3" => Format::HlsTs,
            "m3u8-cmaf" => Format::HlsCmaf,
            "mpd-time-csf" => Format::DashCsf,
            "mpd-time-cmaf" => Format::DashCmaf,
            _ => return None,
        })
    }

    /// The name written into the URLs the origin makes (and into ETags).
    pub fn name(self) -> &'static str {
        match self {
            Format::Smooth => "",
            Format::HlsAapl => "m3u8-aapl",
            Format::HlsTs => "m3u8-aapl-v3",
            Format::HlsCmaf => "m3u8-cmaf",
            Format::DashCsf => "mpd-time-csf",
            Format::DashCmaf => "mpd-time-cmaf",
        }
    }

    /// One of the HLS formats (playlists rather than an MPD or a Smooth manifest).
    pub fn is_hls(self) -> bool {
        matches!(self, Format::HlsAapl | Format::HlsTs | Format::HlsCmaf)
    }

    /// Segments are MPEG-TS (no init segment) rather than fMP4.
    pub fn is_ts(self) -> bool {
        matches!(self, Format::HlsAapl | Format::HlsTs)
    }

    /// Whether its masters list I-frame playlists: HLS 4 and later (`EXT-X-I-FRAMES-ONLY` and
    /// `EXT-X-BYTERANGE` need version 4), so not `m3u8-aapl-v3`.
    pub fn has_iframe_playlists(self) -> bool {
        matches!(self, Format::HlsAapl | Format::HlsCmaf)
    }

    /// `#EXT-X-VERSION` of this format's playlists.
    pub fn hls_version(self) -> u8 {
        match self {
            Format::HlsTs => 3,
            Format::HlsAapl => 4,
            _ => 7,
        }
    }

    /// The suffix a presentation manifest may carry after its closing parenthesis.
    fn manifest_suffix(self) -> Option<&'static str> {
        match self {
            Format::Smooth => None,
            f if f.is_hls() => Some(".m3u8"),
            _ => Some(".mpd"),
        }
    }

    /// The file extension of a segment's bytes (`init`: the init segment), as the
    /// origin writes it into playlists and MPDs; Smooth segments keep the bare shape.
    pub fn segment_extension(self, init: bool) -> &'static str {
        match self {
            Format::Smooth => "",
            f if f.is_ts() => ".ts",
            _ if init => ".mp4",
            _ => ".m4s",
        }
    }
}

/// What a path below the locator asks for: a file as stored, or something packaged from an `.ism`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file of the asset, by its blob name.
    File(String),
    /// The presentation manifest of a server manifest (`ism` is its blob name).
    Manifest {
        /// The `.ism`'s blob name.
        ism: String,
        /// The presentation format asked for.
        format: Format,
        /// Whether an HLS master lists an audio-only variant (Media Services' default;
        /// `audio-only=false` leaves it out).
        audio_only: bool,
    },
    /// One stream's HLS media playlist.
    Playlist {
        /// The `.ism`'s blob name.
        ism: String,
        /// The rendition's `systemBitrate`, from `QualityLevels(…)`.
        bitrate: u64,
        /// The stream's name as the URL spells it (matched case-insensitively).
        stream: String,
        /// The HLS format asked for.
        format: Format,
    },
    /// One video stream's HLS I-frame playlist (`Manifest(<stream>,format=…,type=keyframes)`, as
    /// Media Services named it): byte ranges of its segments that hold their key frames.
    IFrames {
        /// The `.ism`'s blob name.
        ism: String,
        /// The rendition's `systemBitrate`, from `QualityLevels(…)`.
        bitrate: u64,
        /// The stream's name as the URL spells it (matched case-insensitively).
        stream: String,
        /// The HLS format asked for.
        format: Format,
    },
    /// A segment; `time: None` is the init segment.
    Fragment {
        /// The `.ism`'s blob name.
        ism: String,
        /// The rendition's `systemBitrate`, from `QualityLevels(…)`.
        bitrate: u64,
        /// The stream's name as the URL spells it (matched case-insensitively).
        stream: String,
        /// The segment's start in its track's timescale; `None` (`i` in the URL) is the init segment.
        time: Option<u64>,
        /// The format the segment is packaged for.
        format: Format,
        /// The URL names a text segment (`.vtt`, `.ttml`): only a text track's is served, under
        /// the name its manifest gives it. `None` for a media extension or none.
        text_name: Option<TextName>,
    },
}

/// The extension a text segment's URL ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextName {
    /// `.vtt`: a WebVTT segment or sidecar.
    WebVtt,
    /// `.ttml`: a TTML sidecar.
    Ttml,
}

impl TextName {
    /// The URL suffix, `.vtt` or `.ttml`.
    pub fn extension(self) -> &'static str {
        match self {
            TextName::WebVtt => ".vtt",
            TextName::Ttml => ".ttml",
        }
    }

    fn of_suffix(suffix: &str) -> Option<TextName> {
        [TextName::WebVtt, TextName::Ttml].into_iter().find(|t| suffix.eq_ignore_ascii_case(t.extension()))
    }
}

impl Target {
    /// One spelling per target (stream names are matched case-insensitively, a
    /// URL suffix changes nothing): what a packaged response's ETag is computed over.
    pub fn canonical(&self) -> String {
        match self {
            Target::File(name) => format!("file:{name}"),
            Target::Manifest { ism, format, audio_only: true } => format!("{ism}/manifest({})", format.name()),
            Target::Manifest { ism, format, audio_only: false } => {
                format!("{ism}/manifest({},audio-only=false)", format.name())
            }
            Target::Playlist { ism, bitrate, stream, format } => {
                format!("{ism}/QualityLevels({bitrate})/Manifest({},{})", stream.to_ascii_lowercase(), format.name())
            }
            Target::IFrames { ism, bitrate, stream, format } => format!(
                "{ism}/QualityLevels({bitrate})/Manifest({},{},type=keyframes)",
                stream.to_ascii_lowercase(),
                format.name()
            ),
            // One buffer, no lowercase copy or number string of its own: this runs on every
            // segment request (its ETag).
            Target::Fragment { ism, bitrate, stream, time, format, .. } => {
                let mut name = String::with_capacity(ism.len() + stream.len() + 64);
                let _ = write!(name, "{ism}/QualityLevels({bitrate})/Fragments(");
                name.extend(stream.chars().map(|c| c.to_ascii_lowercase()));
                let _ = match time {
                    Some(t) => write!(name, "={t},"),
                    None => write!(name, "=i,"),
                };
                name.push_str(format.name());
                name.push(')');
                name
            }
        }
    }
}

/// A parsed request path: which locator, and what of its asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The streaming locator's GUID, the path's first segment (resolved to an asset through the records).
    pub locator: Uuid,
    /// What the rest of the path asks for.
    pub target: Target,
    /// The filters `filter=` names (a manifest's or a playlist's), in order; empty without one.
    pub filters: Vec<String>,
}

/// Why a path is refused: [`Refused::Unsupported`] is a 400 naming the
/// argument; the others are 404s (the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The first segment is not a bare locator GUID.
    NoLocator,
    /// An empty, `.` or `..` segment, a backslash or a control character.
    Traversal,
    /// Too long, not UTF-8 once decoded, or a call shape that does not parse.
    Malformed,
    /// A well-formed argument (`encryption=…`, `format=flv`, `filter=` on a segment) this
    /// origin does not implement; the text names it.
    Unsupported(String),
    /// A `filter=` value that names no filter this origin could hold (a bad name, more than
    /// [`MAX_URL_FILTERS`] names, given twice): a 400 naming it.
    BadFilter(String),
}

/// Longest path accepted (hyper's header limit cuts far longer ones first).
const MAX_PATH: usize = 4096;
/// Longest argument quoted back in a refusal, in bytes.
const MAX_QUOTED: usize = 40;

/// The request a URL path (still percent-encoded, without the query) asks for, or why it is refused.
pub fn parse(raw_path: &str) -> Result<Request, Refused> {
    if raw_path.len() > MAX_PATH {
        return Err(Refused::Malformed);
    }
    let raw = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (guid, rest) = raw.split_once('/').ok_or(Refused::NoLocator)?;
    // A bare GUID only: the prefixed form is not a URL path of Media Services.
    let locator = (guid.len() == 36).then(|| Uuid::try_parse(guid).ok()).flatten().ok_or(Refused::NoLocator)?;
    let path = percent_decode_str(rest).decode_utf8().map_err(|_| Refused::Malformed)?;
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err(Refused::Traversal);
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(Refused::Traversal);
    }
    let (target, filters) = match segments.iter().position(|s| s.to_ascii_lowercase().ends_with(".ism")) {
        Some(at) if at + 1 < segments.len() => {
            let ism = segments[..=at].join("/");
            packaged(ism, &segments[at + 1..])?
        }
        _ => (Target::File(path.into_owned()), Vec::new()),
    };
    Ok(Request { locator, target, filters })
}

/// One path segment in the call shape: `name(arguments)suffix`.
struct Call<'a> {
    /// Lowercase.
    name: String,
    args: Vec<(&'a str, Option<&'a str>)>,
    /// What follows the closing parenthesis (`.m3u8`, `.m4s`), or empty.
    suffix: &'a str,
}

impl<'a> Call<'a> {
    fn of(segment: &'a str) -> Result<Call<'a>, Refused> {
        let (name, args, suffix) = match segment.split_once('(') {
            Some((name, rest)) => {
                let (args, suffix) = rest.rsplit_once(')').ok_or(Refused::Malformed)?;
                (name, args, suffix)
            }
            None => (segment, "", ""),
        };
        if args.contains('(') || args.contains(')') {
            return Err(Refused::Malformed);
        }
        // `manifest()` is `manifest`; an empty argument between commas names nothing.
        let args: Vec<(&str, Option<&str>)> = match args {
            "" => Vec::new(),
            list => list.split(',').map(|a| a.split_once('=').map_or((a, None), |(k, v)| (k, Some(v)))).collect(),
        };
        if args.iter().any(|(k, _)| k.is_empty()) {
            return Err(Refused::Malformed);
        }
        Ok(Call { name: name.to_ascii_lowercase(), args, suffix })
    }

    /// The `format=` argument (Smooth without one), once at most; a value
    /// this origin does not package is refused by name.
    fn format(&self) -> Result<Format, Refused> {
        let mut given = self.args.iter().filter(|(k, _)| k.eq_ignore_ascii_case("format"));
        let format = match given.next() {
            None => Format::Smooth,
            Some((_, Some(""))) | Some((_, None)) => return Err(Refused::Malformed),
            Some((_, Some(value))) => Format::parse(value).ok_or_else(|| unsupported("format", Some(value)))?,
        };
        if given.next().is_some() {
            return Err(Refused::Unsupported("format, given twice".to_owned()));
        }
        Ok(format)
    }

    /// The suffix must be empty or exactly `allowed`.
    fn suffix_is(&self, allowed: Option<&str>) -> Result<(), Refused> {
        match self.suffix {
            "" => Ok(()),
            s if allowed.is_some_and(|a| s.eq_ignore_ascii_case(a)) => Ok(()),
            _ => Err(Refused::Malformed),
        }
    }
}

/// Arguments Media Services knew and this origin does not implement (yet):
/// refused by name wherever they appear, never taken for a stream name.
fn known_unsupported(key: &str) -> bool {
    ["filter", "encryption", "audio-only", "audioonly"].iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// `audio-only=true` or `audio-only=false`: whether an HLS master lists an audio-only variant; `None`
/// for another argument (another value of `audio-only` is refused by name as unsupported).
fn audio_only_value(key: &str, value: Option<&str>) -> Option<bool> {
    if !key.eq_ignore_ascii_case("audio-only") {
        return None;
    }
    match value {
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn unsupported(key: &str, value: Option<&str>) -> Refused {
    let text = match value {
        Some(v) => format!("{key}={v}"),
        None => key.to_owned(),
    };
    Refused::Unsupported(at_most(&text, MAX_QUOTED).to_owned())
}

/// The longest start of `text` of at most `max` bytes, in whole characters: what an error
/// body quotes of a request.
pub(crate) fn at_most(text: &str, max: usize) -> &str {
    let end = text.char_indices().map(|(at, c)| at + c.len_utf8()).take_while(|end| *end <= max).last();
    &text[..end.unwrap_or(0)]
}

/// A number in its one spelling: digits, no sign, no leading zero (so a CDN keys one URL per segment).
fn canonical_number(text: &str) -> Result<u64, Refused> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(Refused::Malformed);
    }
    text.parse().map_err(|_| Refused::Malformed)
}

/// The manifest's own arguments: `format`, `filter`, and `audio-only=true|false` (once at most;
/// whether an HLS master lists an audio-only variant, true when not given); anything else is
/// refused by name.
fn manifest_args(call: &Call<'_>) -> Result<(Format, bool, Vec<String>), Refused> {
    let format = call.format()?;
    let filters = call.filters()?;
    let mut audio_only = None;
    for (key, value) in &call.args {
        match audio_only_value(key, *value) {
            Some(_) if audio_only.is_some() => return Err(Refused::Unsupported("audio-only, given twice".to_owned())),
            Some(v) => audio_only = Some(v),
            None if key.eq_ignore_ascii_case("format") || key.eq_ignore_ascii_case("filter") => {}
            None => return Err(unsupported(key, *value)),
        }
    }
    Ok((format, audio_only.unwrap_or(true), filters))
}

/// Most filters one URL combines, as Media Services allowed.
pub const MAX_URL_FILTERS: usize = crate::filtering::MAX_URL_FILTERS;

impl Call<'_> {
    /// The names of `filter=a;b` (once at most, up to [`MAX_URL_FILTERS`], each a name a
    /// filter may have); none without the argument.
    fn filters(&self) -> Result<Vec<String>, Refused> {
        let mut given = self.args.iter().filter(|(k, _)| k.eq_ignore_ascii_case("filter"));
        let Some((_, value)) = given.next() else { return Ok(Vec::new()) };
        let quoted = |why: &str| {
            Refused::BadFilter(format!("{} ({why})", at_most(&format!("filter={}", value.unwrap_or("")), MAX_QUOTED)))
        };
        if given.next().is_some() {
            return Err(quoted("given twice"));
        }
        let names: Vec<String> = value.unwrap_or("").split(';').map(str::to_owned).collect();
        if names.len() > MAX_URL_FILTERS {
            return Err(quoted("at most 3 filters"));
        }
        if names.iter().any(|n| mirrorcast_core::model::filter::check_name(n).is_err()) {
            return Err(quoted("not a filter name"));
        }
        Ok(names)
    }
}

fn packaged(ism: String, rest: &[&str]) -> Result<(Target, Vec<String>), Refused> {
    match rest {
        [m] => {
            let call = Call::of(m)?;
            if call.name != "manifest" {
                return Err(Refused::Malformed);
            }
            let (format, audio_only, filters) = manifest_args(&call)?;
            call.suffix_is(format.manifest_suffix())?;
            Ok((Target::Manifest { ism, format, audio_only }, filters))
        }
        [q, m] => {
            let quality = Call::of(q)?;
            if quality.name != "qualitylevels" || !quality.suffix.is_empty() {
                return Err(Refused::Malformed);
            }
            let bitrate = match quality.args.as_slice() {
                [(b, None)] => canonical_number(b)?,
                _ => return Err(Refused::Malformed),
            };
            let call = Call::of(m)?;
            let format = call.format()?;
            // A media playlist carries its master's filters; a segment is the same bytes filtered or not.
            let filters = if call.name == "manifest" { call.filters()? } else { Vec::new() };
            let mut stream = None;
            let mut keyframes = false;
            for (key, value) in &call.args {
                if key.eq_ignore_ascii_case("type") && value.is_some_and(|v| v.eq_ignore_ascii_case("keyframes")) {
                    if keyframes {
                        return Err(unsupported(key, *value));
                    }
                    keyframes = true;
                    continue;
                }
                // A master's `audio-only=` carried into its child URLs changes nothing of them.
                let own_filter = call.name == "manifest" && key.eq_ignore_ascii_case("filter");
                if key.eq_ignore_ascii_case("format") || audio_only_value(key, *value).is_some() || own_filter {
                    continue;
                }
                if known_unsupported(key) || stream.is_some() {
                    return Err(unsupported(key, *value));
                }
                stream = Some((*key, *value));
            }
            let (stream, value) = stream.ok_or(Refused::Malformed)?;
            if stream.is_empty() || !stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(Refused::Malformed);
            }
            let stream = stream.to_owned();
            match (call.name.as_str(), value) {
                ("manifest", None) if keyframes && format.has_iframe_playlists() => {
                    call.suffix_is(Some(".m3u8"))?;
                    Ok((Target::IFrames { ism, bitrate, stream, format }, filters))
                }
                _ if keyframes => Err(unsupported("type", Some("keyframes"))),
                ("manifest", None) if format.is_hls() => {
                    call.suffix_is(Some(".m3u8"))?;
                    Ok((Target::Playlist { ism, bitrate, stream, format }, filters))
                }
                ("fragments", Some("i")) => {
                    call.suffix_is(Some(format.segment_extension(true)).filter(|e| !e.is_empty()))?;
                    Ok((Target::Fragment { ism, bitrate, stream, time: None, format, text_name: None }, filters))
                }
                ("fragments", Some(t)) => {
                    // A text track's segments are named with their text format's extension.
                    let text_name = TextName::of_suffix(call.suffix).filter(|_| format != Format::Smooth);
                    if text_name.is_none() {
                        call.suffix_is(Some(format.segment_extension(false)).filter(|e| !e.is_empty()))?;
                    }
                    let time = canonical_number(t)?;
                    Ok((Target::Fragment { ism, bitrate, stream, time: Some(time), format, text_name }, filters))
                }
                _ => Err(Refused::Malformed),
            }
        }
        _ => Err(Refused::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d";

    fn target(p: &str) -> Result<Target, Refused> {
        parse(&format!("/{L}/{p}")).map(|r| r.target)
    }

    #[test]
    fn files_manifests_and_fragments_in_the_media_services_shapes() {
        assert_eq!(target("Big%20Buck_640x360_800.mp4"), Ok(Target::File("Big Buck_640x360_800.mp4".into())));
        assert_eq!(target("Big.ism"), Ok(Target::File("Big.ism".into())));
        assert_eq!(
            target("Big.ism/manifest"),
            Ok(Target::Manifest { ism: "Big.ism".into(), format: Format::Smooth, audio_only: true })
        );
        assert_eq!(
            target("Big.ism/Manifest(format=m3u8-aapl)"),
            Ok(Target::Manifest { ism: "Big.ism".into(), format: Format::HlsAapl, audio_only: true })
        );
        assert_eq!(
            target("Big.ism/QualityLevels(800000)/Manifest(video,format=m3u8-cmaf)"),
            Ok(Target::Playlist {
                ism: "Big.ism".into(),
                bitrate: 800_000,
                stream: "video".into(),
                format: Format::HlsCmaf
            })
        );
        assert_eq!(
            target("Big.ism/QualityLevels(800000)/Fragments(video=i,format=mpd-time-csf)"),
            Ok(Target::Fragment {
                ism: "Big.ism".into(),
                bitrate: 800_000,
                stream: "video".into(),
                time: None,
                format: Format::DashCsf,
                text_name: None
            })
        );
        assert_eq!(
            target("Big.ism/QualityLevels(800000)/Fragments(video=20000)"),
            Ok(Target::Fragment {
                ism: "Big.ism".into(),
                bitrate: 800_000,
                stream: "video".into(),
                time: Some(20_000),
                format: Format::Smooth,
                text_name: None
            }),
            "a fragment without a format is a Smooth fragment"
        );
        assert_eq!(
            target("Big.ism/QualityLevels(128000)/Fragments(audio=96000,format=mpd-time-cmaf)"),
            Ok(Target::Fragment {
                ism: "Big.ism".into(),
                bitrate: 128_000,
                stream: "audio".into(),
                time: Some(96_000),
                format: Format::DashCmaf,
                text_name: None
            })
        );
    }

    #[test]
    fn traversal_in_any_spelling_is_refused() {
        for p in ["../x", "a/../b", "%2e%2e/x", "%2E%2E%2Fx", "a%2f..%2fb", "a\\b", "a%5cb", "./a", "a//b", "a%00b", ""]
        {
            assert_eq!(target(p), Err(Refused::Traversal), "{p}");
        }
        assert_eq!(parse("/nb:lid:UUID:7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/a"), Err(Refused::NoLocator));
        assert_eq!(parse("/healthz"), Err(Refused::NoLocator));
        assert_eq!(parse(&format!("/{}/a", "x".repeat(36))), Err(Refused::NoLocator));
        assert_eq!(target("a%ff"), Err(Refused::Malformed));
        assert_eq!(target("Big.ism/manifest(format=flv)"), Err(Refused::Unsupported("format=flv".into())));
        assert_eq!(target("Big.ism/QualityLevels(x)/Fragments(video=0,format=m3u8-cmaf)"), Err(Refused::Malformed));
        assert_eq!(
            target("Big.ism/QualityLevels(1)/Fragments(video=99999999999999999999999,format=m3u8-cmaf)"),
            Err(Refused::Malformed)
        );
        assert_eq!(target(&"a".repeat(5000)), Err(Refused::Malformed));
    }

    #[test]
    fn every_media_services_suffix_form_is_the_same_target() {
        let manifest = |format| Ok(Target::Manifest { ism: "Big.ism".into(), format, audio_only: true });
        for (path, format) in [
            ("Big.ism/manifest(format=m3u8-aapl).m3u8", Format::HlsAapl),
            ("Big.ism/manifest(format=m3u8-aapl-v4).m3u8", Format::HlsAapl),
            ("Big.ism/manifest(format=m3u8-aapl-v3).m3u8", Format::HlsTs),
            ("Big.ism/manifest(format=m3u8-cmaf).m3u8", Format::HlsCmaf),
            ("Big.ism/manifest(format=mpd-time-csf).mpd", Format::DashCsf),
            ("Big.ism/manifest(format=mpd-time-cmaf).mpd", Format::DashCmaf),
            ("Big.ism/MANIFEST(FORMAT=MPD-TIME-CMAF).MPD", Format::DashCmaf),
            ("Big.ism/manifest(format=m3u8-aapl,audio-only=true)", Format::HlsAapl),
        ] {
            assert_eq!(target(path), manifest(format), "{path}");
        }
        // A suffix that is not the format's own names nothing.
        for path in [
            "Big.ism/manifest(format=m3u8-aapl).mpd",
            "Big.ism/manifest(format=mpd-time-csf).m3u8",
            "Big.ism/manifest.m3u8",
            "Big.ism/manifest(format=m3u8-cmaf).m3u8x",
            "Big.ism/manifest(format=m3u8-cmaf)(x)",
            "Big.ism/manifest(format=m3u8-aapl,)",
            "Big.ism/manifest(,format=m3u8-aapl)",
            "Big.ism/manifest(format=)",
            "Big.ism/manifest(format)",
            "Big.ism/QualityLevels(600000)/Fragments(video=0,,format=m3u8-cmaf)",
            "Big.ism/QualityLevels(0600000)/Fragments(video=0,format=m3u8-cmaf)",
            "Big.ism/QualityLevels(+600000)/Fragments(video=0,format=m3u8-cmaf)",
            "Big.ism/QualityLevels(600000)/Fragments(video=00,format=m3u8-cmaf)",
            "Big.ism/QualityLevels(600000)/Fragments(video=+0,format=m3u8-cmaf)",
        ] {
            assert_eq!(target(path), Err(Refused::Malformed), "{path}");
        }
    }

    #[test]
    fn segment_urls_with_their_media_extension_are_the_bare_shape() {
        let frag = |time, format| Target::Fragment {
            ism: "Big.ism".into(),
            bitrate: 600_000,
            stream: "video".into(),
            time,
            format,
            text_name: None,
        };
        let text = |time, format, name| Target::Fragment {
            ism: "Big.ism".into(),
            bitrate: 600_000,
            stream: "video".into(),
            time,
            format,
            text_name: Some(name),
        };
        for (path, want) in [
            ("Fragments(video=0,format=m3u8-cmaf).m4s", frag(Some(0), Format::HlsCmaf)),
            ("Fragments(video=i,format=m3u8-cmaf).mp4", frag(None, Format::HlsCmaf)),
            ("Fragments(video=0,format=m3u8-aapl).ts", frag(Some(0), Format::HlsAapl)),
            ("Fragments(video=0,format=m3u8-aapl-v3).ts", frag(Some(0), Format::HlsTs)),
            ("Fragments(video=20,format=mpd-time-csf).m4s", frag(Some(20), Format::DashCsf)),
            ("Fragments(video=i,format=mpd-time-cmaf).mp4", frag(None, Format::DashCmaf)),
            ("Fragments(video=20,format=m3u8-cmaf).vtt", text(Some(20), Format::HlsCmaf, TextName::WebVtt)),
            ("Fragments(video=0,format=mpd-time-csf).ttml", text(Some(0), Format::DashCsf, TextName::Ttml)),
        ] {
            let with = target(&format!("Big.ism/QualityLevels(600000)/{path}")).unwrap();
            let bare = target(&format!("Big.ism/QualityLevels(600000)/{}", path.rsplit_once('.').unwrap().0)).unwrap();
            assert_eq!(with, want, "{path}");
            assert_eq!(with.canonical(), bare.canonical(), "{path}: one ETag for both spellings");
        }
        // The name a segment's ETag hashes: pinned, so a rewrite keeps every segment's tag.
        for (path, canonical) in [
            (
                "Fragments(Video=20,format=mpd-time-csf).m4s",
                "Big.ism/QualityLevels(600000)/Fragments(video=20,mpd-time-csf)",
            ),
            ("Fragments(VIDEO=i,format=m3u8-cmaf).mp4", "Big.ism/QualityLevels(600000)/Fragments(video=i,m3u8-cmaf)"),
            ("Fragments(audio_eng=0)", "Big.ism/QualityLevels(600000)/Fragments(audio_eng=0,)"),
        ] {
            assert_eq!(target(&format!("Big.ism/QualityLevels(600000)/{path}")).unwrap().canonical(), canonical);
        }
        for path in [
            "Fragments(video=0,format=m3u8-cmaf).ts",
            "Fragments(video=i,format=m3u8-cmaf).m4s",
            "Fragments(video=0,format=m3u8-aapl).m4s",
            "Fragments(video=0).m4s",
            "Fragments(video=0).vtt",
            "Fragments(video=i,format=m3u8-cmaf).vtt",
            "Manifest(video,format=mpd-time-csf)",
            "Manifest(video,format=m3u8-cmaf).mpd",
        ] {
            assert_eq!(target(&format!("Big.ism/QualityLevels(600000)/{path}")), Err(Refused::Malformed), "{path}");
        }
        assert_eq!(
            target("Big.ism/QualityLevels(600000)/Manifest(video,format=m3u8-cmaf).m3u8"),
            Ok(Target::Playlist {
                ism: "Big.ism".into(),
                bitrate: 600_000,
                stream: "video".into(),
                format: Format::HlsCmaf
            })
        );
    }

    #[test]
    fn arguments_the_origin_does_not_implement_are_refused_by_name() {
        for (path, named) in [
            ("Big.ism/manifest(format=mpd-time-csf,encryption=cenc)", "encryption=cenc"),
            ("Big.ism/manifest(format=m3u8-aapl,audio-only=yes)", "audio-only=yes"),
            ("Big.ism/manifest(format=m3u8-aapl,audio-only)", "audio-only"),
            ("Big.ism/manifest(format=m3u8-aapl,audioonly=false)", "audioonly=false"),
            ("Big.ism/manifest(format=m3u8-aapl,audio-only=false,audio-only=true)", "audio-only, given twice"),
            ("Big.ism/manifest(format=m3u8-aapl,whatever)", "whatever"),
            ("Big.ism/manifest(format=m3u8-aapl,format=m3u8-cmaf)", "format, given twice"),
            (
                "Big.ism/QualityLevels(1)/Fragments(video=0,format=m3u8-cmaf,encryption=cbcs-aapl)",
                "encryption=cbcs-aapl",
            ),
            ("Big.ism/QualityLevels(1)/Fragments(filter=x,video=0,format=m3u8-cmaf)", "filter=x"),
            ("Big.ism/QualityLevels(1)/Manifest(video,format=m3u8-cmaf,audio=1)", "audio=1"),
        ] {
            assert_eq!(target(path), Err(Refused::Unsupported(named.into())), "{path}");
        }
        assert_eq!(
            target("Big.ism/manifest(format=m3u8-cmaf,audio-only=false)"),
            Ok(Target::Manifest { ism: "Big.ism".into(), format: Format::HlsCmaf, audio_only: false })
        );
        assert_ne!(
            target("Big.ism/manifest(format=m3u8-cmaf,audio-only=false)").unwrap().canonical(),
            target("Big.ism/manifest(format=m3u8-cmaf)").unwrap().canonical(),
            "two masters, two ETags"
        );
        assert_eq!(
            target("Big.ism/manifest(format=m3u8-cmaf,AUDIO-ONLY=TRUE)").unwrap().canonical(),
            target("Big.ism/manifest(format=m3u8-cmaf)").unwrap().canonical(),
            "true is the default"
        );
        assert_eq!(
            target("Big.ism/QualityLevels(600000)/Manifest(video,format=m3u8-cmaf,type=keyframes).m3u8"),
            Ok(Target::IFrames {
                ism: "Big.ism".into(),
                bitrate: 600_000,
                stream: "video".into(),
                format: Format::HlsCmaf
            })
        );
        for (path, named) in [
            ("Big.ism/QualityLevels(1)/Manifest(video,format=m3u8-aapl-v3,type=keyframes)", "type=keyframes"),
            ("Big.ism/QualityLevels(1)/Fragments(video=0,format=m3u8-cmaf,type=keyframes)", "type=keyframes"),
            (
                "Big.ism/QualityLevels(1)/Manifest(video,format=m3u8-cmaf,type=keyframes,type=keyframes)",
                "type=keyframes",
            ),
            ("Big.ism/QualityLevels(1)/Manifest(video,format=m3u8-cmaf,type=audio)", "type=audio"),
        ] {
            assert_eq!(target(path), Err(Refused::Unsupported(named.into())), "{path}");
        }
        let long = format!("Big.ism/manifest(format=m3u8-cmaf,{}=1)", "k".repeat(300));
        assert!(matches!(target(&long), Err(Refused::Unsupported(n)) if n.len() <= MAX_QUOTED));
        let wide = format!("Big.ism/manifest(format=m3u8-cmaf,x={})", "\u{1f600}".repeat(40));
        assert!(matches!(target(&wide), Err(Refused::Unsupported(n)) if n.len() <= MAX_QUOTED), "bytes, not chars");
        assert_eq!(
            target("Big.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl,audio-only=false)"),
            Ok(Target::Playlist {
                ism: "Big.ism".into(),
                bitrate: 600_000,
                stream: "video".into(),
                format: Format::HlsAapl
            }),
            "the master's audio-only=false carried into a child URL"
        );
    }

    #[test]
    fn filter_names_are_taken_from_manifests_and_playlists_never_segments() {
        let req = parse(&format!("/{L}/Big.ism/manifest(format=m3u8-cmaf,filter=mobile;first30s)")).unwrap();
        assert_eq!(req.filters, ["mobile", "first30s"]);
        assert_eq!(req.target, Target::Manifest { ism: "Big.ism".into(), format: Format::HlsCmaf, audio_only: true });
        let req = parse(&format!("/{L}/Big.ism/manifest(filter=x)")).unwrap();
        assert_eq!(
            (req.filters, req.target),
            (
                vec!["x".to_owned()],
                Target::Manifest { ism: "Big.ism".into(), format: Format::Smooth, audio_only: true }
            )
        );
        let req = parse(&format!("/{L}/Big.ism/QualityLevels(1)/Manifest(video,format=m3u8-cmaf,filter=a;b)")).unwrap();
        assert_eq!(req.filters, ["a", "b"]);
        assert!(parse(&format!("/{L}/Big.ism/manifest(format=m3u8-cmaf)")).unwrap().filters.is_empty());
        for (path, why) in [
            ("Big.ism/manifest(filter=a;b;c;d)", "at most 3"),
            ("Big.ism/manifest(filter=a,filter=b)", "twice"),
            ("Big.ism/manifest(filter=)", "not a filter name"),
            ("Big.ism/manifest(filter)", "not a filter name"),
            ("Big.ism/manifest(filter=a;;b)", "not a filter name"),
            ("Big.ism/manifest(filter=a%20b)", "not a filter name"),
        ] {
            assert!(
                matches!(target(path), Err(Refused::BadFilter(t)) if t.contains(why)),
                "{path}: {:?}",
                target(path)
            );
        }
    }
}
