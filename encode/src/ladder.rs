//! Presets: the renditions an encode makes. `adaptive-streaming` chooses a
//! ladder from the source; the `h264-multiple-bitrate-*` presets are fixed
//! ladders like Media Encoder Standard's; a TOML or JSON file gives a custom one.

use std::path::Path;

use mirrorcast_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::ffmpeg::Source;

/// One video rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// In pixels: even, 16 to 7680.
    pub width: u32,
    /// In pixels: even, 16 to 4320.
    pub height: u32,
    /// Target video bitrate, in kbit/s: 50 to 100000.
    pub kbps: u32,
    /// `h264` (the default) or `hevc`.
    #[serde(default)]
    pub codec: VideoCodec,
}

/// A video rendition's codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 High profile by libx264 (`avc1`).
    #[default]
    H264,
    /// HEVC Main profile by libx265, tagged `hvc1` (parameter sets in the sample entry, as
    /// Apple's players and CMAF want).
    Hevc,
}

impl VideoCodec {
    /// The ffmpeg encoder that makes it.
    pub fn encoder(self) -> &'static str {
        match self {
            VideoCodec::H264 => "libx264",
            VideoCodec::Hevc => "libx265",
        }
    }

    /// Its name in ladder files and messages.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
        }
    }
}

/// What to make: video renditions (H.264 or HEVC), an AAC stereo rendition per audio stream, the GOP, the
/// encoder speed (x264's and x265's preset names are the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// 1 to 16 renditions, no two of the same size and bitrate (they would share a file name).
    pub video: Vec<Rung>,
    /// The audio rendition's bitrate, in kbit/s: 32 to 512, 128 by default.
    #[serde(default = "default_audio_kbps")]
    pub audio_kbps: u32,
    /// Closed GOPs of this many seconds, at the same times in every rendition.
    #[serde(default = "default_gop")]
    pub gop_seconds: u32,
    /// The x264 preset (`ultrafast` … `veryslow`).
    #[serde(default = "default_speed")]
    pub speed: String,
}

fn default_audio_kbps() -> u32 {
    128
}
fn default_gop() -> u32 {
    2
}
fn default_speed() -> String {
    "veryfast".into()
}

const SPEEDS: [&str; 10] =
    ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

/// The preset names `--preset` takes (besides a file path).
pub const PRESETS: [&str; 4] =
    ["adaptive-streaming", "h264-multiple-bitrate-1080p", "h264-multiple-bitrate-720p", "h264-multiple-bitrate-sd"];

/// Heights and bitrates the adaptive ladder picks from (16:9 widths are derived from the source).
const ADAPTIVE: [(u32, u32); 6] = [(1080, 6000), (720, 3400), (540, 2250), (360, 1000), (270, 600), (180, 400)];

/// How an encode chooses its ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preset {
    /// Chosen from the source: never upscaled, never above the source's bitrate.
    AdaptiveStreaming,
    /// A built-in ladder (one of [`PRESETS`]) by its name; rungs taller than the source are dropped.
    Fixed(&'static str, Ladder),
    /// A ladder read from the file at this path; a rung taller than the source is refused.
    Custom(String, Ladder),
}

impl Preset {
    /// A preset name, or a path to a `.toml`/`.json` ladder file.
    pub fn parse(text: &str) -> Result<Preset> {
        let fixed = |rungs: &[(u32, u32, u32)]| Ladder {
            video: rungs
                .iter()
                .map(|&(width, height, kbps)| Rung { width, height, kbps, codec: VideoCodec::H264 })
                .collect(),
            audio_kbps: 128,
            gop_seconds: 2,
            speed: default_speed(),
        };
        Ok(match text.to_ascii_lowercase().as_str() {
            "adaptive-streaming" | "adaptive streaming" => Preset::AdaptiveStreaming,
            "h264-multiple-bitrate-1080p" => Preset::Fixed(
                "h264-multiple-bitrate-1080p",
                fixed(&[
                    (1920, 1080, 6000),
                    (1920, 1080, 4700),
                    (1280, 720, 3400),
                    (960, 540, 2250),
                    (960, 540, 1500),
                    (640, 360, 1000),
                    (640, 360, 650),
                    (320, 180, 400),
                ]),
            ),
            "h264-multiple-bitrate-720p" => Preset::Fixed(
                "h264-multiple-bitrate-720p",
                fixed(&[
                    (1280, 720, 3400),
                    (960, 540, 2250),
                    (960, 540, 1500),
                    (640, 360, 1000),
                    (640, 360, 650),
                    (320, 180, 400),
                ]),
            ),
            "h264-multiple-bitrate-sd" => Preset::Fixed(
                "h264-multiple-bitrate-sd",
                fixed(&[(640, 360, 2200), (640, 360, 1500), (640, 360, 1000), (480, 270, 650), (320, 180, 400)]),
            ),
            _ if text.ends_with(".toml") || text.ends_with(".json") => {
                let ladder = Ladder::from_file(Path::new(text))?;
                Preset::Custom(text.to_owned(), ladder)
            }
            _ => {
                return Err(Error::invalid_input(format!(
                    "unknown preset '{text}': use one of {} or a .toml/.json ladder file",
                    PRESETS.join(", ")
                )))
            }
        })
    }

    /// What the job record shows: the preset's name, or the ladder file's path.
    pub fn name(&self) -> &str {
        match self {
            Preset::AdaptiveStreaming => "adaptive-streaming",
            Preset::Fixed(n, _) => n,
            Preset::Custom(path, _) => path,
        }
    }

    /// The ladder for `source`; nothing is ever upscaled. A fixed preset
    /// drops its rungs taller than the source (as adaptive-streaming does); a
    /// custom ladder with such a rung is refused, since someone wrote it down
    /// on purpose and would get less than asked for.
    pub fn ladder(&self, source: &Source) -> Result<Ladder> {
        let ladder = match self {
            Preset::AdaptiveStreaming => adaptive(source),
            Preset::Fixed(name, l) => {
                let mut l = l.clone();
                l.video.retain(|r| r.height <= source.height);
                if l.video.is_empty() {
                    return Err(Error::invalid_input(format!(
                        "preset {name}: every rendition is taller than the source ({}x{}) and mirrorcast never                          upscales; use adaptive-streaming",
                        source.width, source.height
                    )));
                }
                l
            }
            Preset::Custom(path, l) => {
                if let Some(r) = l.video.iter().find(|r| r.height > source.height) {
                    return Err(Error::invalid_input(format!(
                        "ladder file '{path}': rendition {}x{} is taller than the source ({}x{}) and mirrorcast                          never upscales; remove it or lower it to {} lines or fewer",
                        r.width, r.height, source.width, source.height, source.height
                    )));
                }
                l.clone()
            }
        };
        ladder.check()?;
        Ok(ladder)
    }
}

/// Rungs no taller than the source, widths keeping its aspect ratio (even),
/// bitrates capped at the source's; a source smaller than every rung gets one
/// rendition at its own size.
pub fn adaptive(source: &Source) -> Ladder {
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let aspect = source.width as f64 / source.height as f64;
    let cap = source.video_kbps.filter(|&k| k >= 100).unwrap_or(u32::MAX);
    let mut video: Vec<Rung> = Vec::new();
    for (height, kbps) in ADAPTIVE.into_iter().filter(|(h, _)| *h <= source.height) {
        let rung = Rung { width: even(height as f64 * aspect), height, kbps: kbps.min(cap), codec: VideoCodec::H264 };
        // Two rungs capped to one bitrate would be the same rendition twice in all but size.
        if video.last().is_some_and(|last| last.kbps == rung.kbps) {
            continue;
        }
        video.push(rung);
    }
    if video.is_empty() {
        video.push(Rung {
            width: even(source.width as f64),
            height: even(source.height as f64),
            kbps: 300.min(cap),
            codec: VideoCodec::H264,
        });
    }
    Ladder { video, audio_kbps: default_audio_kbps(), gop_seconds: default_gop(), speed: default_speed() }
}

impl Ladder {
    /// A ladder from a `.json` file (or TOML otherwise), checked; errors name the file.
    pub fn from_file(path: &Path) -> Result<Ladder> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_input(format!("ladder file '{}': {e}", path.display())))?;
        let parsed: std::result::Result<Ladder, String> =
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                serde_json::from_str(&text).map_err(|e| e.to_string())
            } else {
                toml::from_str(&text).map_err(|e| e.to_string())
            };
        let ladder =
            parsed.map_err(|e| Error::invalid_input(format!("ladder file '{}': {}", path.display(), e.trim())))?;
        ladder.check().map_err(|e| e.context(format!("ladder file '{}'", path.display())))?;
        Ok(ladder)
    }

    /// Refuses ladders ffmpeg would fail on, or that make no sense.
    pub fn check(&self) -> Result<()> {
        if self.video.is_empty() || self.video.len() > 16 {
            return Err(Error::invalid_input(format!("{} video renditions; use 1 to 16", self.video.len())));
        }
        for r in &self.video {
            if !(16..=7680).contains(&r.width) || !(16..=4320).contains(&r.height) || r.width % 2 + r.height % 2 != 0 {
                return Err(Error::invalid_input(format!(
                    "rendition {}x{}: width 16..=7680 and height 16..=4320, both even",
                    r.width, r.height
                )));
            }
            if !(50..=100_000).contains(&r.kbps) {
                return Err(Error::invalid_input(format!("rendition bitrate {} kbps: use 50..=100000", r.kbps)));
            }
        }
        let mut names: Vec<(u32, u32, u32, VideoCodec)> =
            self.video.iter().map(|r| (r.width, r.height, r.kbps, r.codec)).collect();
        names.sort_by_key(|(w, h, k, c)| (*w, *h, *k, c.name()));
        names.dedup();
        if names.len() != self.video.len() {
            return Err(Error::invalid_input(
                "two renditions with the same size, bitrate and codec would share a file name",
            ));
        }
        if !(32..=512).contains(&self.audio_kbps) {
            return Err(Error::invalid_input(format!("audio bitrate {} kbps: use 32..=512", self.audio_kbps)));
        }
        if !(1..=10).contains(&self.gop_seconds) {
            return Err(Error::invalid_input(format!("gop_seconds {}: use 1..=10", self.gop_seconds)));
        }
        if !SPEEDS.contains(&self.speed.as_str()) {
            return Err(Error::invalid_input(format!("speed '{}': use one of {}", self.speed, SPEEDS.join(", "))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(width: u32, height: u32, kbps: Option<u32>) -> Source {
        Source {
            width,
            height,
            fps: 25.0,
            duration_seconds: 10.0,
            video_kbps: kbps,
            has_audio: true,
            audio: Vec::new(),
            subtitles: Vec::new(),
            skipped_subtitles: Vec::new(),
        }
    }

    #[test]
    fn the_adaptive_ladder_never_upscales_nor_exceeds_the_source_bitrate() {
        let l = adaptive(&source(1920, 1080, Some(8000)));
        assert_eq!(l.video.len(), 6);
        assert_eq!(l.video[0], Rung { width: 1920, height: 1080, kbps: 6000, codec: VideoCodec::H264 });
        let l = adaptive(&source(640, 360, None));
        let sizes: Vec<(u32, u32)> = l.video.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(sizes, [(640, 360), (480, 270), (320, 180)]);
        let l = adaptive(&source(1280, 720, Some(700)));
        assert!(l.video.iter().all(|r| r.kbps <= 700), "{l:?}");
        assert_eq!(l.video.iter().filter(|r| r.kbps == 700).count(), 1, "capped rungs collapse: {l:?}");
        let tiny = adaptive(&source(160, 90, None));
        assert_eq!(tiny.video, [Rung { width: 160, height: 90, kbps: 300, codec: VideoCodec::H264 }]);
        // 4:3 keeps its shape.
        assert_eq!(
            adaptive(&source(640, 480, None)).video[0],
            Rung { width: 480, height: 360, kbps: 1000, codec: VideoCodec::H264 }
        );
    }

    #[test]
    fn custom_ladders_are_checked_before_any_encode() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("l.toml");
        std::fs::write(&good, "speed = \"ultrafast\"\n[[video]]\nwidth = 320\nheight = 180\nkbps = 300\n").unwrap();
        let Preset::Custom(_, l) = Preset::parse(good.to_str().unwrap()).unwrap() else { panic!() };
        assert_eq!((l.video.len(), l.gop_seconds, l.speed.as_str()), (1, 2, "ultrafast"));
        assert_eq!(l.video[0].codec, VideoCodec::H264, "H.264 unless the rung says otherwise");
        let both = dir.path().join("both.toml");
        let rung = "[[video]]\nwidth = 320\nheight = 180\nkbps = 300\n";
        std::fs::write(&both, format!("{rung}{rung}codec = \"hevc\"\n")).unwrap();
        let Preset::Custom(_, l) = Preset::parse(both.to_str().unwrap()).unwrap() else { panic!() };
        let codecs: Vec<VideoCodec> = l.video.iter().map(|r| r.codec).collect();
        assert_eq!(codecs, [VideoCodec::H264, VideoCodec::Hevc], "one size and bitrate in each codec");
        for (name, text, needle) in [
            ("odd.json", r#"{"video":[{"width":321,"height":180,"kbps":300}]}"#, "even"),
            ("none.json", r#"{"video":[]}"#, "0 video renditions"),
            ("speed.toml", "speed = \"warp\"\n[[video]]\nwidth = 320\nheight = 180\nkbps = 300\n", "speed 'warp'"),
            ("typo.toml", "[[video]]\nwidth = 320\nheight = 180\nkbs = 300\n", "kbs"),
            ("codec.toml", "[[video]]\nwidth = 320\nheight = 180\nkbps = 300\ncodec = \"vp9\"\n", "vp9"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = Preset::parse(p.to_str().unwrap()).unwrap_err();
            assert!(e.to_string().contains(needle), "{name}: {e}");
        }
        assert!(Preset::parse("fastest").unwrap_err().to_string().contains("adaptive-streaming"));
    }

    #[test]
    fn no_preset_makes_a_rendition_taller_than_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tall.toml");
        std::fs::write(
            &path,
            "[[video]]\nwidth = 640\nheight = 360\nkbps = 900\n[[video]]\nwidth = 1280\nheight = 720\nkbps = 3000\n",
        )
        .unwrap();
        let custom = Preset::parse(path.to_str().unwrap()).unwrap();
        let e = custom.ladder(&source(640, 360, None)).unwrap_err();
        assert_eq!(e.kind(), mirrorcast_core::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("1280x720 is taller than the source (640x360)"), "{e}");
        assert_eq!(custom.ladder(&source(1280, 720, None)).unwrap().video.len(), 2, "as tall as the source is fine");

        let fixed = Preset::parse("h264-multiple-bitrate-1080p").unwrap();
        let l = fixed.ladder(&source(1280, 720, None)).unwrap();
        assert!(l.video.iter().all(|r| r.height <= 720) && l.video.len() == 6, "{l:?}");
        let e = fixed.ladder(&source(160, 90, None)).unwrap_err();
        assert!(e.to_string().contains("every rendition is taller than the source (160x90)"), "{e}");
        for height in [90, 360, 1080, 2160] {
            let s = source(height * 16 / 9, height, None);
            let l = Preset::AdaptiveStreaming.ladder(&s).unwrap();
            assert!(l.video.iter().all(|r| r.height <= height), "{height}: {l:?}");
        }
    }
}
