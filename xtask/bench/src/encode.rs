//! `--only encode`: `mirrorcast encode` of a short test clip on Azurite
//! against (a) the same single ffmpeg command writing to local files — built
//! by the encoder's own `command::arguments` from the same ladder, so both run
//! the same split filter and x264 options — and (b) one ffmpeg per rendition
//! (the naive way: a decode per rendition). Wall time and CPU (user + system of
//! the process and the children it waited for), median of `--runs`.
//! mirrorcast's wall time is also split: its ffmpeg run (from the job log)
//! against the rest (upload of the mezzanine, probe, manifests, upload of the outputs).

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use mirrorcast_azurite::Azurite;
use mirrorcast_encode::command::{self, Output, OutputKind};
use mirrorcast_encode::ffmpeg::Source;
use mirrorcast_encode::ladder::Ladder;
use mirrorcast_encode::{Ffmpeg, Preset};
use serde_json::json;

use crate::measure::{measure, measure_to, median, Measured};
use crate::Tools;

/// The test clip: `seconds` of testsrc2 at `size` and 25 fps with a stereo tone.
fn make_clip(path: &Path, size: &str, seconds: u32) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=25:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", "-ac", "2", "-y"])
        .arg(path)
        .status()
        .context("ffmpeg is needed (cargo xtask setup says how to get it)")?;
    ensure!(status.success(), "ffmpeg could not make the test clip");
    Ok(())
}

/// The naive way: one ffmpeg (one decode) per output, with the same x264 or AAC options.
fn naive_commands(input: &str, ladder: &Ladder, source: &Source, outputs: &[Output]) -> Vec<Vec<String>> {
    outputs
        .iter()
        // The bench's clip has no subtitles; a sidecar costs no decode of its own anyway.
        .filter(|out| out.kind != OutputKind::Text)
        .map(|out| match out.kind {
            OutputKind::Video(rung) => {
                let alone = Ladder { video: vec![rung], ..ladder.clone() };
                let silent = Source { has_audio: false, ..source.clone() };
                command::arguments(input, &alone, &silent, std::slice::from_ref(out))
            }
            OutputKind::Audio { kbps } => ["-hide_banner", "-nostdin", "-v", "error", "-y", "-i", input]
                .map(str::to_owned)
                .into_iter()
                .chain(command::audio_output(kbps, &out.path))
                .collect(),
            OutputKind::Text => Vec::new(),
        })
        .collect()
}

/// Runs every command one after another, as one measurement.
fn measure_all(ffmpeg: &Path, commands: &[Vec<String>]) -> Result<Measured> {
    let mut total = Measured { seconds: 0.0, peak_rss_kib: 0, cpu_seconds: 0.0, own_cpu_seconds: 0.0 };
    for args in commands {
        let m = measure(Command::new(ffmpeg).args(args))?;
        total.seconds += m.seconds;
        total.peak_rss_kib = total.peak_rss_kib.max(m.peak_rss_kib);
        total.cpu_seconds += m.cpu_seconds;
        total.own_cpu_seconds += m.own_cpu_seconds;
    }
    Ok(total)
}

/// One `mirrorcast encode` of the clip: the measurement and the seconds its ffmpeg ran (from the job log).
fn mirrorcast_once(tools: &Tools, env: &[(&str, String)], clip: &Path, work: &Path) -> Result<(Measured, f64)> {
    let out_path = work.join("encode.jsonl");
    let out = std::fs::File::create(&out_path)?;
    let mut cmd = Command::new(&tools.mirrorcast);
    cmd.args(["encode", "--dc", "x", "--json"]).arg(clip).envs(env.iter().map(|(k, v)| (k, v)));
    let m = measure_to(&mut cmd, out)?;
    let text = std::fs::read_to_string(&out_path)?;
    let last: serde_json::Value = serde_json::from_str(text.lines().last().context("encode printed nothing")?)?;
    let job = last["job"]["id"].as_str().context("encode printed no job id")?;
    let shown = Command::new(&tools.mirrorcast)
        .args(["job", "show", "--dc", "x", job, "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()?;
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout)?;
    let log = shown["log"].as_str().unwrap_or_default();
    let ffmpeg_seconds = log
        .lines()
        .find_map(|l| l.split("ffmpeg done in ").nth(1))
        .and_then(|rest| rest.trim_end_matches(" s").parse().ok())
        .context("the job log names no ffmpeg time")?;
    Ok((m, ffmpeg_seconds))
}

pub(crate) async fn run(tools: &Tools, runs: usize, seconds: u32, size: &str) -> Result<serde_json::Value> {
    eprintln!("bench: encode of a {seconds} s {size} test clip…");
    let work = std::env::temp_dir().join(format!("mirrorcast-bench-encode-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let clip = work.join("bench clip.mp4");
    make_clip(&clip, size, seconds)?;
    let ffmpeg = Ffmpeg::locate().await?;
    let input = command::file_url(&clip);
    let source = ffmpeg.probe(&input).await?;
    let ladder = Preset::AdaptiveStreaming.ladder(&source)?;
    let local = work.join("local");
    std::fs::create_dir_all(&local)?;
    let outputs = command::outputs("bench clip", &ladder, &source, &local);
    let single = vec![command::arguments(&input, &ladder, &source, &outputs)];
    let naive = naive_commands(&input, &ladder, &source, &outputs);
    let described = format!(
        "{seconds} s {size}@25 testsrc2 + sine, adaptive-streaming: {} + AAC {} kbps, x264 {}",
        ladder.video.iter().map(|r| format!("{}x{}@{}k", r.width, r.height, r.kbps)).collect::<Vec<_>>().join(" "),
        ladder.audio_kbps,
        ladder.speed
    );
    eprintln!("bench:   {described}");

    let az = Azurite::start_default().await?;
    let env = [("MIRRORCAST_DC_X", az.connection_string("devstoreaccount1"))];
    let (mut mc, mut mc_ffmpeg, mut one, mut per) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Rotate the order, so no variant always runs on the coolest (or hottest) machine.
        for turn in 0..3 {
            match (run + turn) % 3 {
                0 => {
                    let (m, f) = mirrorcast_once(tools, &env, &clip, &work)?;
                    mc.push(m);
                    mc_ffmpeg.push(f);
                }
                1 => one.push(measure_all(&ffmpeg.ffmpeg, &single)?),
                _ => per.push(measure_all(&ffmpeg.ffmpeg, &naive)?),
            }
        }
        eprintln!(
            "bench:   run {}: mirrorcast {:.2} s (ffmpeg {:.2} s), one ffmpeg {:.2} s, ffmpeg per rendition {:.2} s",
            run + 1,
            mc[run].seconds,
            mc_ffmpeg[run],
            one[run].seconds,
            per[run].seconds
        );
    }
    drop(az);
    let _ = std::fs::remove_dir_all(&work);

    let wall = |v: &[Measured]| median(v.iter().map(|m| m.seconds));
    let cpu = |v: &[Measured]| median(v.iter().map(|m| m.cpu_seconds));
    let (mc_s, one_s, per_s) = (wall(&mc), wall(&one), wall(&per));
    let (mc_c, one_c, per_c) = (cpu(&mc), cpu(&one), cpu(&per));
    let mc_ff = median(mc_ffmpeg.iter().copied());
    let mc_own = median(mc.iter().map(|m| m.own_cpu_seconds));
    let line = |name: &str, s: f64, c: f64| {
        format!(
            "{name:<44} {:>9} {:>7.2}x {:>9} {:>7.2}x",
            format!("{s:.2} s"),
            s / one_s,
            format!("{c:.2} s"),
            c / one_c
        )
    };
    let rows = vec![
        format!("encode: {described}"),
        format!(
            "{:<44} {:>9} {:>8} {:>9} {:>8}",
            "(median of {runs} runs; ratio to one ffmpeg)", "wall", "ratio", "CPU", "ratio"
        )
        .replace("{runs}", &runs.to_string()),
        line("one ffmpeg, split filter, local files", one_s, one_c),
        line("mirrorcast encode (Azurite in and out)", mc_s, mc_c),
        format!(
            "{:<44} {:>9} {:>7.2}x {:>9}",
            "  of which ffmpeg (wall: job log; CPU: +ffprobe)",
            format!("{mc_ff:.2} s"),
            mc_ff / one_s,
            format!("{:.2} s", mc_c - mc_own)
        ),
        format!(
            "{:<44} {:>9} {:>8} {:>9}",
            "  the rest: uploads, relay, manifests (own CPU)",
            format!("{:.2} s", mc_s - mc_ff),
            "",
            format!("{mc_own:.2} s")
        ),
        line(&format!("one ffmpeg per rendition ({} runs)", naive.len()), per_s, per_c),
    ];
    Ok(json!({
        "benchmark": "encode",
        "workload": described,
        "runs": runs,
        "one_ffmpeg": {"median_seconds": one_s, "median_cpu_seconds": one_c, "all": one.iter().map(Measured::json).collect::<Vec<_>>()},
        "mirrorcast": {"median_seconds": mc_s, "median_cpu_seconds": mc_c, "median_ffmpeg_seconds": mc_ff, "median_own_cpu_seconds": mc_own, "all": mc.iter().map(Measured::json).collect::<Vec<_>>()},
        "per_rendition": {"median_seconds": per_s, "median_cpu_seconds": per_c, "all": per.iter().map(Measured::json).collect::<Vec<_>>()},
        "ratio_seconds": mc_s / one_s,
        "ratio_cpu": mc_c / one_c,
        "ratio_ffmpeg_only_seconds": mc_ff / one_s,
        "naive_ratio_seconds": per_s / one_s,
        "naive_ratio_cpu": per_c / one_c,
        "rows": rows,
    }))
}
