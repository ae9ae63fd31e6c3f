//! The one ffmpeg command of an encode: one decode, a `split` filter feeding a
//! scaler per rendition, x264 with key frames forced at the same times in
//! every rendition (closed GOPs, no scene-cut key frames; x265 for HEVC rungs), AAC-LC
//! stereo per audio stream with its language, text subtitles as WebVTT sidecars, and
//! `moov` first in every file.

use std::path::{Path, PathBuf};

use crate::ffmpeg::{Source, SourceStream};
use crate::ladder::{Ladder, Rung, VideoCodec};

/// One output file of the encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The blob name: `<Base>_<W>x<H>_<kbps>.mp4` or `<Base>_AACAudio_<kbps>.mp4`.
    pub name: String,
    /// Where ffmpeg writes it, in the job's temporary directory.
    pub path: PathBuf,
    /// Which rendition it holds.
    pub kind: OutputKind,
    /// The source stream it is made from, among those of its type (`0:a:N`, `0:s:N`); 0 for video.
    pub stream: u32,
    /// The source stream's language (audio and text).
    pub language: Option<String>,
    /// Its `trackName` in the `.ism` (audio and text): the stream key of its URLs.
    pub track_name: Option<String>,
}

/// What one output file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A video-only rendition of this size and bitrate.
    Video(Rung),
    /// An AAC-LC stereo rendition of one audio stream.
    Audio {
        /// Its bitrate, in kbit/s.
        kbps: u32,
    },
    /// A WebVTT sidecar of one text subtitle stream.
    Text,
}

/// The files an encode of `source` with `ladder` makes in `dir`, named as Media Encoder Standard named them
/// (HEVC renditions end in `_hevc.mp4`; with several audio streams each is named by its language, or its
/// number when languages do not tell them apart; sidecars `<Base>_<language or number>.vtt`).
pub fn outputs(base: &str, ladder: &Ladder, source: &Source, dir: &Path) -> Vec<Output> {
    let output = |name: String, kind, stream, language: Option<String>, track_name| Output {
        path: dir.join(&name),
        name,
        kind,
        stream,
        language,
        track_name,
    };
    let mut out: Vec<Output> = ladder
        .video
        .iter()
        .map(|r| {
            let codec = if r.codec == VideoCodec::Hevc { "_hevc" } else { "" };
            let name = format!("{base}_{}x{}_{}{codec}.mp4", r.width, r.height, r.kbps);
            output(name, OutputKind::Video(*r), 0, None, None)
        })
        .collect();
    // A source probed without its streams listed (has_audio alone) has its first audio stream.
    let first = [SourceStream { index: 0, codec: String::new(), language: None }];
    let audio = match (&source.audio[..], source.has_audio) {
        (_, false) => &[][..],
        ([], true) => &first[..],
        (all, true) => all,
    };
    let kbps = ladder.audio_kbps;
    for s in audio {
        let (name, track) = match audio.len() {
            // One audio stream: named as before, its stream key `audio`.
            1 => (format!("{base}_AACAudio_{kbps}.mp4"), "audio".to_owned()),
            _ => {
                let label = label(s, audio);
                (format!("{base}_AACAudio_{label}_{kbps}.mp4"), format!("aac_{label}"))
            }
        };
        out.push(output(name, OutputKind::Audio { kbps }, s.index, s.language.clone(), Some(track)));
    }
    for s in &source.subtitles {
        let label = label(s, &source.subtitles);
        out.push(output(
            format!("{base}_{label}.vtt"),
            OutputKind::Text,
            s.index,
            s.language.clone(),
            Some(format!("text_{label}")),
        ));
    }
    out
}

/// What tells a stream apart from the others of its type in names: its language when no other
/// has it, else its number (from 1).
fn label(s: &SourceStream, all: &[SourceStream]) -> String {
    match &s.language {
        Some(l) if all.iter().filter(|o| o.language.as_ref() == Some(l)).count() == 1 => l.clone(),
        _ => (s.index + 1).to_string(),
    }
}

/// The arguments after `ffmpeg`. `input` is a URL or a `file:` path; progress
/// goes to stdout as `key=value` lines.
pub fn arguments(input: &str, ladder: &Ladder, source: &Source, outputs: &[Output]) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-v", "error", "-progress", "pipe:1", "-nostats", "-y"]
        .map(str::to_owned)
        .to_vec();
    a.extend(["-i".into(), input.to_owned()]);
    let videos: Vec<(&Output, Rung)> = outputs
        .iter()
        .filter_map(|o| match o.kind {
            OutputKind::Video(r) => Some((o, r)),
            OutputKind::Audio { .. } | OutputKind::Text => None,
        })
        .collect();
    let mut filter = format!("[0:v:0]split={}", videos.len());
    for i in 0..videos.len() {
        filter.push_str(&format!("[s{i}]"));
    }
    for (i, (_, r)) in videos.iter().enumerate() {
        filter.push_str(&format!(";[s{i}]scale={}:{}:flags=bicubic,setsar=1,format=yuv420p[v{i}]", r.width, r.height));
    }
    a.extend(["-filter_complex".into(), filter]);
    let gop = ladder.gop_seconds;
    // x264's own interval is a safety net twice the GOP: the forced key frames set the rhythm.
    let keyint = ((source.fps * gop as f64).round() as u32).max(1) * 2;
    for (i, (out, r)) in videos.iter().enumerate() {
        let (profile, params, tag): (&str, &str, &[&str]) = match r.codec {
            VideoCodec::H264 => ("high", "-x264-params", &[]),
            // hvc1: parameter sets in the sample entry only; x265 logs nothing but errors.
            VideoCodec::Hevc => ("main", "-x265-params", &["-tag:v", "hvc1"]),
        };
        let quiet = if r.codec == VideoCodec::Hevc { ":log-level=error" } else { "" };
        a.extend(
            [
                "-map".into(),
                format!("[v{i}]"),
                "-an".into(),
                "-sn".into(),
                "-c:v".into(),
                r.codec.encoder().into(),
                "-preset".into(),
                ladder.speed.clone(),
                "-profile:v".into(),
                profile.into(),
            ]
            .into_iter()
            .chain(tag.iter().map(|t| t.to_string()))
            .chain([
                "-b:v".into(),
                format!("{}k", r.kbps),
                "-maxrate".into(),
                format!("{}k", r.kbps + r.kbps / 10),
                "-bufsize".into(),
                format!("{}k", r.kbps * 2),
                "-force_key_frames".into(),
                format!("expr:gte(t,n_forced*{gop})"),
                params.into(),
                format!("keyint={keyint}:min-keyint=1:scenecut=0:open-gop=0{quiet}"),
                "-movflags".into(),
                "+faststart".into(),
                "-f".into(),
                "mp4".into(),
                file_url(&out.path),
            ]),
        );
    }
    for out in outputs {
        match out.kind {
            OutputKind::Audio { kbps } => {
                a.extend(audio_stream_output(out.stream, out.language.as_deref(), kbps, &out.path))
            }
            OutputKind::Text => {
                a.extend(["-map".into(), format!("0:s:{}", out.stream)]);
                a.extend(["-vn", "-an", "-c:s", "webvtt", "-f", "webvtt"].map(str::to_owned));
                a.push(file_url(&out.path));
            }
            OutputKind::Video(_) => {}
        }
    }
    a
}

/// The output arguments of the AAC-LC stereo rendition of the source's first audio stream (after the input's).
pub fn audio_output(kbps: u32, path: &Path) -> Vec<String> {
    audio_stream_output(0, None, kbps, path)
}

/// The output arguments of the AAC-LC stereo rendition of the source's audio stream `stream`,
/// its language written into the MP4 (`mdhd`) too.
pub fn audio_stream_output(stream: u32, language: Option<&str>, kbps: u32, path: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["-map".into(), format!("0:a:{stream}")];
    if let Some(language) = language {
        a.extend(["-metadata:s:a:0".into(), format!("language={language}")]);
    }
    a.extend(
        [
            "-vn",
            "-sn",
            "-c:a",
            "aac",
            "-b:a",
            &format!("{kbps}k"),
            "-ac",
            "2",
            "-ar",
            "48000",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
        .map(str::to_owned),
    );
    a.push(file_url(path));
    a
}

/// A local path as ffmpeg must get it: with `file:`, so a name with a colon is not read as a protocol.
pub fn file_url(path: &Path) -> String {
    format!("file:{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decode_feeds_every_rendition_with_aligned_key_frames() {
        let source = source(Vec::new(), Vec::new());
        let ladder = crate::ladder::adaptive(&source);
        let outs = outputs("My: Clip", &ladder, &source, Path::new("/tmp/x"));
        assert_eq!(outs[0].name, "My: Clip_1280x720_3400.mp4");
        assert_eq!(outs.last().unwrap().name, "My: Clip_AACAudio_128.mp4");
        let args = arguments("https://a/b.mp4?sig=x", &ladder, &source, &outs);
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 1, "one input, one decode");
        let filter = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(filter.starts_with(&format!("[0:v:0]split={}", ladder.video.len())), "{filter}");
        let forced: Vec<_> = args.iter().filter(|a| a.as_str() == "expr:gte(t,n_forced*2)").collect();
        assert_eq!(forced.len(), ladder.video.len());
        assert_eq!(args.iter().filter(|a| *a == "+faststart").count(), outs.len());
        assert!(args.contains(&"file:/tmp/x/My: Clip_1280x720_3400.mp4".to_owned()));
    }

    fn source(audio: Vec<SourceStream>, subtitles: Vec<SourceStream>) -> Source {
        Source {
            width: 1280,
            height: 720,
            fps: 25.0,
            duration_seconds: 4.0,
            video_kbps: None,
            has_audio: true,
            audio,
            subtitles,
            skipped_subtitles: Vec::new(),
        }
    }

    fn stream(index: u32, codec: &str, language: Option<&str>) -> SourceStream {
        SourceStream { index, codec: codec.into(), language: language.map(str::to_owned) }
    }

    /// Every audio stream its own AAC rendition with its language; text subtitles as WebVTT; HEVC by x265.
    #[test]
    fn every_audio_and_text_stream_is_kept_with_its_language() {
        let audio = vec![stream(0, "aac", Some("eng")), stream(1, "ac3", Some("spa")), stream(2, "aac", Some("spa"))];
        let subtitles = vec![stream(0, "mov_text", Some("eng")), stream(1, "subrip", None)];
        let source = source(audio, subtitles);
        let mut ladder = crate::ladder::adaptive(&source);
        ladder.video.truncate(1);
        ladder.video.push(Rung { codec: VideoCodec::Hevc, ..ladder.video[0] });
        let outs = outputs("Film", &ladder, &source, Path::new("/t"));
        let names: Vec<(&str, Option<&str>, Option<&str>)> =
            outs.iter().map(|o| (o.name.as_str(), o.language.as_deref(), o.track_name.as_deref())).collect();
        assert_eq!(
            names,
            [
                ("Film_1280x720_3400.mp4", None, None),
                ("Film_1280x720_3400_hevc.mp4", None, None),
                ("Film_AACAudio_eng_128.mp4", Some("eng"), Some("aac_eng")),
                ("Film_AACAudio_2_128.mp4", Some("spa"), Some("aac_2")),
                ("Film_AACAudio_3_128.mp4", Some("spa"), Some("aac_3")),
                ("Film_eng.vtt", Some("eng"), Some("text_eng")),
                ("Film_2.vtt", None, Some("text_2")),
            ],
            "two Spanish streams are told apart by number"
        );
        let args = arguments("in", &ladder, &source, &outs).join(" ");
        assert!(args.contains("-map 0:a:1 -metadata:s:a:0 language=spa -vn -sn -c:a aac"), "{args}");
        assert!(args.contains("-map 0:s:1 -vn -an -c:s webvtt -f webvtt file:/t/Film_2.vtt"), "{args}");
        assert!(args.contains("-c:v libx265 -preset veryfast -profile:v main -tag:v hvc1"), "{args}");
        assert!(args.contains("-x265-params keyint=100:min-keyint=1:scenecut=0:open-gop=0:log-level=error"), "{args}");
        assert_eq!(args.matches("expr:gte(t,n_forced*2)").count(), 2, "HEVC's key frames where H.264's are");
    }
}
