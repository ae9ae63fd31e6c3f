//! What a request path asks for: `/<locator-guid>/<path>`, where `<path>` is
//! a file of the asset or, below `<Base>.ism/`, a packaged manifest or
//! fragment in the shapes Media Services used (so CDN rules still match):
//!
//! - `<Base>.ism/manifest` (Smooth), `<Base>.ism/manifest(format=m3u8-aapl)` …
//!   (`m3u8-aapl-v3`: HLS version 3 with MPEG-TS segments)
//! - `<Base>.ism/QualityLevels(<bitrate>)/Manifest(<stream>,format=<f>)` (an HLS media playlist)
//! - `<Base>.ism/QualityLevels(<bitrate>)/Fragments(<stream>=<time>|i,format=<f>)` (a segment; `i`: init)

use percent_encoding::percent_decode_str;
use uuid::Uuid;

/// A packaging format, named as in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Smooth,
    HlsAapl,
    /// HLS version 3: MPEG-TS segments, no init segment.
    HlsTs,
    HlsCmaf,
    DashCsf,
    DashCmaf,
}

impl Format {
    fn parse(s: Option<&str>) -> Option<Format> {
        Some(match s.map(str::to_ascii_lowercase).as_deref() {
            None => Format::Smooth,
            Some("m3u8-aapl") => Format::HlsAapl,
            Some("m3u8-aapl-v3") => Format::HlsTs,
            Some("m3u8-cmaf") => Format::HlsCmaf,
            Some("mpd-time-csf") => Format::DashCsf,
            Some("mpd-time-cmaf") => Format::DashCmaf,
            Some(_) => return None,
        })
    }

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

    pub fn is_hls(self) -> bool {
        matches!(self, Format::HlsAapl | Format::HlsTs | Format::HlsCmaf)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file of the asset, by its blob name.
    File(String),
    /// The presentation manifest of a server manifest (`ism` is its blob name).
    Manifest { ism: String, format: Format },
    /// One stream's HLS media playlist.
    Playlist { ism: String, bitrate: u64, stream: String, format: Format },
    /// A segment; `time: None` is the init segment.
    Fragment { ism: String, bitrate: u64, stream: String, time: Option<u64>, format: Format },
}

impl Target {
    /// One spelling per target (stream names are matched case-insensitively):
    /// what a packaged response's ETag is computed over.
    pub fn canonical(&self) -> String {
        match self {
            Target::File(name) => format!("file:{name}"),
            Target::Manifest { ism, format } => format!("{ism}/manifest({})", format.name()),
            Target::Playlist { ism, bitrate, stream, format } => {
                format!("{ism}/QualityLevels({bitrate})/Manifest({},{})", stream.to_ascii_lowercase(), format.name())
            }
            Target::Fragment { ism, bitrate, stream, time, format } => format!(
                "{ism}/QualityLevels({bitrate})/Fragments({}={},{})",
                stream.to_ascii_lowercase(),
                time.map_or_else(|| "i".to_owned(), |t| t.to_string()),
                format.name()
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub locator: Uuid,
    pub target: Target,
}

/// Why a path is refused (all are 404s to the client; the reason is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NoLocator,
    Traversal,
    Malformed,
}

/// Longest path accepted (hyper's header limit cuts far longer ones first).
const MAX_PATH: usize = 4096;

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
    let target = match segments.iter().position(|s| s.to_ascii_lowercase().ends_with(".ism")) {
        Some(at) if at + 1 < segments.len() => {
            let ism = segments[..=at].join("/");
            packaged(ism, &segments[at + 1..]).ok_or(Refused::Malformed)?
        }
        _ => Target::File(path.into_owned()),
    };
    Ok(Request { locator, target })
}

/// `name(args)` → (name, args), names compared case-insensitively.
fn call(segment: &str) -> Option<(String, &str)> {
    match segment.split_once('(') {
        Some((name, rest)) => Some((name.to_ascii_lowercase(), rest.strip_suffix(')')?)),
        None => Some((segment.to_ascii_lowercase(), "")),
    }
}

/// `key=value` arguments (and bare words) of a call.
fn args(list: &str) -> Vec<(&str, Option<&str>)> {
    list.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| a.split_once('=').map_or((a, None), |(k, v)| (k, Some(v))))
        .collect()
}

fn format_of(list: &[(&str, Option<&str>)]) -> Option<Format> {
    Format::parse(list.iter().find(|(k, _)| k.eq_ignore_ascii_case("format")).and_then(|(_, v)| *v))
}

fn packaged(ism: String, rest: &[&str]) -> Option<Target> {
    match rest {
        [m] => {
            let (name, a) = call(m)?;
            (name == "manifest").then_some(())?;
            Some(Target::Manifest { ism, format: format_of(&args(a))? })
        }
        [q, m] => {
            let (qname, b) = call(q)?;
            (qname == "qualitylevels").then_some(())?;
            let bitrate: u64 = b.parse().ok()?;
            let (name, a) = call(m)?;
            let a = args(a);
            let format = format_of(&a)?;
            let (stream, value) = *a.iter().find(|(k, _)| !k.eq_ignore_ascii_case("format"))?;
            if stream.is_empty() || !stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return None;
            }
            let stream = stream.to_owned();
            match (name.as_str(), value) {
                ("manifest", None) => Some(Target::Playlist { ism, bitrate, stream, format }),
                ("fragments", Some("i")) => Some(Target::Fragment { ism, bitrate, stream, time: None, format }),
                ("fragments", Some(t)) => {
                    Some(Target::Fragment { ism, bitrate, stream, time: Some(t.parse().ok()?), format })
                }
                _ => None,
            }
        }
        _ => None,
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
        assert_eq!(target("Big.ism/manifest"), Ok(Target::Manifest { ism: "Big.ism".into(), format: Format::Smooth }));
        assert_eq!(
            target("Big.ism/Manifest(format=m3u8-aapl)"),
            Ok(Target::Manifest { ism: "Big.ism".into(), format: Format::HlsAapl })
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
                format: Format::DashCsf
            })
        );
        assert_eq!(
            target("Big.ism/QualityLevels(800000)/Fragments(video=20000)"),
            Ok(Target::Fragment {
                ism: "Big.ism".into(),
                bitrate: 800_000,
                stream: "video".into(),
                time: Some(20_000),
                format: Format::Smooth
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
                format: Format::DashCmaf
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
        assert_eq!(target("Big.ism/manifest(format=flv)"), Err(Refused::Malformed));
        assert_eq!(target("Big.ism/QualityLevels(x)/Fragments(video=0,format=m3u8-cmaf)"), Err(Refused::Malformed));
        assert_eq!(
            target("Big.ism/QualityLevels(1)/Fragments(video=99999999999999999999999,format=m3u8-cmaf)"),
            Err(Refused::Malformed)
        );
        assert_eq!(target(&"a".repeat(5000)), Err(Refused::Malformed));
    }
}
