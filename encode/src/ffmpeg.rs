//! Finding ffmpeg and ffprobe, checking they can do the job, and probing a source.

use std::path::PathBuf;
use std::process::Stdio;

use mirrorcast_core::secret::redact_sas;
use mirrorcast_core::{Error, ErrorKind, Result};
use serde::Deserialize;
use tokio::process::Command;

/// The oldest ffmpeg whose `-force_key_frames expr:` and `-progress` behave as used here.
pub const MIN_MAJOR: u32 = 4;

/// How to get ffmpeg, for every message that says it is missing.
pub const HINT: &str = "install ffmpeg 4 or newer with libx264 (Debian/Ubuntu: `apt-get install ffmpeg`; \
                        macOS: `brew install ffmpeg`), or set MIRRORCAST_FFMPEG to its path";

/// The ffmpeg and ffprobe binaries this run uses.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    /// The ffmpeg binary, checked to be new enough and to have libx264 and aac.
    pub ffmpeg: PathBuf,
    /// The ffprobe binary found beside it (or on PATH).
    pub ffprobe: PathBuf,
    /// e.g. `5.1.9-0+deb12u1`.
    pub version: String,
    /// The encoders `ffmpeg -encoders` lists (`libx264`, `aac`, `libx265`…).
    pub encoders: Vec<String>,
}

impl Ffmpeg {
    /// `MIRRORCAST_FFMPEG` (ffprobe beside it) or `ffmpeg`/`ffprobe` on PATH;
    /// checks the version and that libx264 and aac are there. Missing or too old:
    /// an `InvalidInput` error naming how to get it.
    pub async fn locate() -> Result<Ffmpeg> {
        let (ffmpeg, ffprobe) = match std::env::var_os("MIRRORCAST_FFMPEG") {
            Some(p) => {
                let p = PathBuf::from(p);
                let probe = p.with_file_name("ffprobe");
                (p, probe)
            }
            None => (PathBuf::from("ffmpeg"), PathBuf::from("ffprobe")),
        };
        let missing = |what: &str, path: &PathBuf, why: String| {
            Error::invalid_input(format!("{what} ('{}') cannot be run ({why}): {HINT}", path.display()))
        };
        let out = Command::new(&ffmpeg)
            .args(["-hide_banner", "-version"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| missing("ffmpeg", &ffmpeg, e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().nth(2).unwrap_or_default().to_owned();
        if !out.status.success() || !text.starts_with("ffmpeg version") {
            return Err(missing("ffmpeg", &ffmpeg, "it did not print its version".into()));
        }
        // Release builds say `5.1.9-…`; git builds `N-12345-g…` (newer than any release).
        let major: Option<u32> = version.split(['.', '-']).next().and_then(|m| m.parse().ok());
        if major.is_some_and(|m| m < MIN_MAJOR) {
            return Err(Error::invalid_input(format!("ffmpeg {version} is too old: {HINT}")));
        }
        let encoders = Command::new(&ffmpeg)
            .args(["-hide_banner", "-encoders"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| missing("ffmpeg", &ffmpeg, e.to_string()))?;
        // Each encoder's line: its capability flags, then its name.
        let encoders: Vec<String> = String::from_utf8_lossy(&encoders.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        for needed in ["libx264", "aac"] {
            if !encoders.iter().any(|w| w == needed) {
                return Err(Error::invalid_input(format!("ffmpeg {version} has no {needed} encoder: {HINT}")));
            }
        }
        let probe = Command::new(&ffprobe).arg("-version").stdin(Stdio::null()).output().await;
        if !probe.is_ok_and(|o| o.status.success()) {
            return Err(missing("ffprobe", &ffprobe, "not found beside ffmpeg".into()));
        }
        Ok(Ffmpeg { ffmpeg, ffprobe, version, encoders })
    }

    /// Refuses a ladder that asks for an encoder this ffmpeg lacks (HEVC without libx265), naming
    /// it: found before the output asset exists, never a half-written asset.
    pub fn check_encoders(&self, ladder: &crate::ladder::Ladder) -> Result<()> {
        for rung in &ladder.video {
            let encoder = rung.codec.encoder();
            if !self.encoders.iter().any(|e| e == encoder) {
                return Err(Error::invalid_input(format!(
                    "the ladder asks for {} ({}x{}) but ffmpeg {} ('{}') has no {encoder} encoder: install an \
                     ffmpeg built with {encoder} (Debian/Ubuntu's `apt-get install ffmpeg` has it) or set \
                     MIRRORCAST_FFMPEG to one, or use codec = \"h264\" in the ladder file",
                    rung.codec.name(),
                    rung.width,
                    rung.height,
                    self.version,
                    self.ffmpeg.display()
                )));
            }
        }
        Ok(())
    }

    /// What the source holds. `input` may be a signed URL: it never appears in errors.
    pub async fn probe(&self, input: &str) -> Result<Source> {
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", input])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot run ffprobe: {e}")))?;
        if !out.status.success() {
            let err = redact_sas(&String::from_utf8_lossy(&out.stderr).trim().replace(input, "<source>"));
            return Err(Error::invalid_input(format!("the source is not a media file ffprobe can read: {err}")));
        }
        let probed: Probed = serde_json::from_slice(&out.stdout)
            .map_err(|e| Error::new(ErrorKind::Corrupt, format!("ffprobe printed unexpected JSON: {e}")))?;
        Source::from_probe(probed)
    }
}

#[derive(Debug, Deserialize)]
struct Probed {
    #[serde(default)]
    streams: Vec<ProbedStream>,
    format: Option<ProbedFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbedStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    #[serde(default)]
    tags: ProbedTags,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProbedTags {
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbedFormat {
    duration: Option<String>,
    bit_rate: Option<String>,
}

/// A source as ffprobe sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Width of the video stream, in pixels (never 0).
    pub width: u32,
    /// Height of the video stream, in pixels (never 0); no rendition is taller.
    pub height: u32,
    /// Frames per second (25.0 when the source does not say).
    pub fps: f64,
    /// Length of the file, in seconds (0.0 when ffprobe does not say): the base of the progress percentage.
    pub duration_seconds: f64,
    /// The video stream's bitrate, or the file's if the stream does not say.
    pub video_kbps: Option<u32>,
    /// Whether there is an audio stream, hence an audio rendition.
    pub has_audio: bool,
    /// Every audio stream, in order: one AAC rendition each.
    pub audio: Vec<SourceStream>,
    /// The text subtitle streams ffmpeg can write as WebVTT, in order: a sidecar each.
    pub subtitles: Vec<SourceStream>,
    /// Subtitle streams left out (bitmaps: DVD, PGS, DVB), by codec, for the job's log.
    pub skipped_subtitles: Vec<String>,
}

/// One audio or subtitle stream of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStream {
    /// Its number among the source's streams of its type (`0:a:N`, `0:s:N`).
    pub index: u32,
    /// ffprobe's codec name (`aac`, `mov_text`, `subrip`…).
    pub codec: String,
    /// Its language tag, when it has a plain one other than `und`.
    pub language: Option<String>,
}

/// Subtitle codecs ffmpeg converts to WebVTT: text ones (bitmaps would need OCR).
pub const TEXT_SUBTITLE_CODECS: [&str; 6] = ["mov_text", "subrip", "webvtt", "ass", "ssa", "text"];

impl Source {
    fn from_probe(p: Probed) -> Result<Source> {
        let video = p
            .streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some("video"))
            .ok_or_else(|| Error::invalid_input("the source has no video stream"))?;
        let (width, height) = match (video.width, video.height) {
            (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
            _ => return Err(Error::invalid_input("the source's video stream has no size")),
        };
        let fps = video
            .avg_frame_rate
            .as_deref()
            .and_then(|r| {
                let (n, d) = r.split_once('/')?;
                let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
                (d > 0.0 && n > 0.0).then(|| n / d)
            })
            .unwrap_or(25.0);
        let format = p.format.as_ref();
        let duration_seconds = format.and_then(|f| f.duration.as_deref()).and_then(|d| d.parse().ok()).unwrap_or(0.0);
        let kbps = |s: Option<&str>| s.and_then(|b| b.parse::<u64>().ok()).map(|b| (b / 1000) as u32);
        let video_kbps = kbps(video.bit_rate.as_deref()).or(kbps(format.and_then(|f| f.bit_rate.as_deref())));
        let of_type = |kind: &str| -> Vec<SourceStream> {
            let streams = p.streams.iter().filter(|s| s.codec_type.as_deref() == Some(kind));
            streams
                .enumerate()
                .map(|(i, s)| SourceStream {
                    index: i as u32,
                    codec: s.codec_name.clone().unwrap_or_default(),
                    language: s.tags.language.as_deref().and_then(mirrorcast_media::track_labels::language_tag),
                })
                .collect()
        };
        let audio = of_type("audio");
        let (subtitles, skipped): (Vec<SourceStream>, Vec<SourceStream>) =
            of_type("subtitle").into_iter().partition(|s| TEXT_SUBTITLE_CODECS.contains(&s.codec.as_str()));
        let skipped_subtitles = skipped.into_iter().map(|s| s.codec).collect();
        Ok(Source {
            width,
            height,
            fps,
            duration_seconds,
            video_kbps,
            has_audio: !audio.is_empty(),
            audio,
            subtitles,
            skipped_subtitles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_without_video_or_size_is_refused() {
        let p: Probed = serde_json::from_str(r#"{"streams":[{"codec_type":"audio"}],"format":{}}"#).unwrap();
        assert_eq!(Source::from_probe(p).unwrap_err().kind(), ErrorKind::InvalidInput);
        let p: Probed = serde_json::from_str(
            r#"{"streams":[{"codec_type":"video","width":1280,"height":720,"avg_frame_rate":"30000/1001"}],
                "format":{"duration":"10.5","bit_rate":"4000000"}}"#,
        )
        .unwrap();
        let s = Source::from_probe(p).unwrap();
        assert_eq!((s.width, s.height, s.video_kbps, s.has_audio), (1280, 720, Some(4000), false));
        assert!((s.fps - 29.97).abs() < 0.01);
    }
}
