//! The one ffmpeg command of an encode: one decode, a `split` filter feeding a
//! scaler per rendition, x264 with key frames forced at the same times in
//! every rendition (closed GOPs, no scene-cut key frames), AAC-LC stereo, and
//! `moov` first in every file.

use std::path::{Path, PathBuf};

use crate::ffmpeg::Source;
use crate::ladder::{Ladder, Rung};

/// One output file of the encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The blob name: `<Base>_<W>x<H>_<kbps>.mp4` or `<Base>_AACAudio_<kbps>.mp4`.
    pub name: String,
    /// Where ffmpeg writes it, in the job's temporary directory.
    pub path: PathBuf,
    /// Which rendition it holds.
    pub kind: OutputKind,
}

/// What one output file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A video-only rendition of this size and bitrate.
    Video(Rung),
    /// The AAC-LC stereo rendition.
    Audio {
        /// Its bitrate, in kbit/s.
        kbps: u32,
    },
}

/// The files an encode of `source` with `ladder` makes in `dir`, named as Media Encoder Standard named them.
pub fn outputs(base: &str, ladder: &Ladder, source: &Source, dir: &Path) -> Vec<Output> {
    let mut out: Vec<Output> = ladder
        .video
        .iter()
        .map(|r| {
            let name = format!("{base}_{}x{}_{}.mp4", r.width, r.height, r.kbps);
            Output { path: dir.join(&name), name, kind: OutputKind::Video(*r) }
        })
        .collect();
    if source.has_audio {
        let name = format!("{base}_AACAudio_{}.mp4", ladder.audio_kbps);
        out.push(Output { path: dir.join(&name), name, kind: OutputKind::Audio { kbps: ladder.audio_kbps } });
    }
    out
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
            OutputKind::Audio { .. } => None,
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
        a.extend(
            [
                "-map".into(),
                format!("[v{i}]"),
                "-an".into(),
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                ladder.speed.clone(),
                "-profile:v".into(),
                "high".into(),
                "-b:v".into(),
                format!("{}k", r.kbps),
                "-maxrate".into(),
                format!("{}k", r.kbps + r.kbps / 10),
                "-bufsize".into(),
                format!("{}k", r.kbps * 2),
                "-force_key_frames".into(),
                format!("expr:gte(t,n_forced*{gop})"),
                "-x264-params".into(),
                format!("keyint={keyint}:min-keyint=1:scenecut=0:open-gop=0"),
                "-movflags".into(),
                "+faststart".into(),
                "-f".into(),
                "mp4".into(),
            ]
            .into_iter()
            .chain([file_url(&out.path)]),
        );
    }
    for out in outputs {
        if let OutputKind::Audio { kbps } = out.kind {
            a.extend(audio_output(kbps, &out.path));
        }
    }
    a
}

/// The output arguments of the AAC-LC stereo rendition (after the input's).
pub fn audio_output(kbps: u32, path: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-map",
        "0:a:0",
        "-vn",
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
    .map(str::to_owned)
    .to_vec();
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
        let source =
            Source { width: 1280, height: 720, fps: 25.0, duration_seconds: 4.0, video_kbps: None, has_audio: true };
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
}
