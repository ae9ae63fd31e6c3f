//! `mirrorcast encode` keeps what the mezzanine has: every audio language as an AAC rendition of
//! its own (named and listed with its language in the `.ism`), text subtitles as a WebVTT sidecar
//! listed as a `textstream`, and HEVC rungs when a ladder file asks. Published in A and served:
//! ffmpeg at its defaults reads each language's audio from HLS and DASH with the packets of the
//! stored rendition, and the subtitles with the mezzanine's cues.

use std::path::Path;

use mirrorcast_media::ism::{ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::languages::assert_each_language_has_its_packets;
use crate::serve::{ffmpeg, packet_md5s, serve};
use crate::subtitles::cues_read_by_ffmpeg;

const SRT: &str = "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:04,250\nHola, mundo\n\n3\n00:00:04,500 --> 00:00:05,500\nBye\n";

/// A 6 s mezzanine: H.264 video, English (440 Hz) and Spanish (660 Hz) AAC, English mov_text subtitles.
fn make_mezzanine(dir: &Path) -> std::path::PathBuf {
    let srt = dir.join("subs.srt");
    std::fs::write(&srt, SRT).unwrap();
    let path = dir.join("Film.mp4");
    let out = ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=6",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=6",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=660:sample_rate=48000:duration=6",
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-map",
        "3:s",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-c:s",
        "mov_text",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=spa",
        "-metadata:s:s:0",
        "language=eng",
        "-y",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

fn ffprobe_csv(url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn md5s(url: &str, map: &str) -> Vec<String> {
    packet_md5s(url, map).remove(0).packets.into_iter().map(|p| p.2).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_keeps_every_audio_language_the_subtitles_and_hevc_and_serves_them() {
    let sb = Sandbox::start().await;
    let mezzanine = make_mezzanine(sb.dir.path());
    let ladder = sb.dir.path().join("ladder.toml");
    let rung = "[[video]]\nwidth = 320\nheight = 180\nkbps = 300\n";
    std::fs::write(&ladder, format!("speed = \"ultrafast\"\n{rung}{rung}codec = \"hevc\"\n")).unwrap();
    let run = sb
        .run(&[
            "encode",
            "--dc",
            "a",
            mezzanine.to_str().unwrap(),
            "--preset",
            ladder.to_str().unwrap(),
            "--publish",
            "--json",
        ])
        .await
        .ok();
    let result: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["job"]["state"], "finished", "{result}");
    let smooth_url = result["urls"]["smooth"].as_str().unwrap();
    let locator = smooth_url.rsplit('/').nth(2).unwrap().to_owned();
    let names: Vec<&str> =
        result["output_asset"]["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    for expected in [
        "Film_320x180_300.mp4",
        "Film_320x180_300_hevc.mp4",
        "Film_AACAudio_eng_128.mp4",
        "Film_AACAudio_spa_128.mp4",
        "Film_eng.vtt",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }

    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = serve(sb.dir.path(), &env, &[]).await;
    let root = format!("http://{}/{locator}", s.addr);
    let base = format!("{root}/Film.ism");

    // The .ism lists each language with its name, and the sidecar as a textstream.
    let ism =
        ServerManifest::parse(&reqwest::get(format!("{root}/Film.ism")).await.unwrap().text().await.unwrap()).unwrap();
    let listed: Vec<(TrackKind, &str, Option<&str>, Option<&str>)> = ism
        .tracks
        .iter()
        .filter(|t| t.kind != TrackKind::Video)
        .map(|t| (t.kind, t.src.as_str(), t.track_name.as_deref(), t.language.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [
            (TrackKind::Audio, "Film_AACAudio_eng_128.mp4", Some("aac_eng"), Some("eng")),
            (TrackKind::Audio, "Film_AACAudio_spa_128.mp4", Some("aac_spa"), Some("spa")),
            (TrackKind::Text, "Film_eng.vtt", Some("text_eng"), Some("eng")),
        ]
    );

    // Each language's audio, from HLS and DASH, has the packets of its stored rendition.
    let stored = |language: &str| md5s(&format!("{root}/Film_AACAudio_{language}_128.mp4"), "0:a");
    let (eng, spa) = (stored("eng"), stored("spa"));
    assert_ne!(eng, spa, "the two tones differ");
    for format in ["m3u8-cmaf,audio-only=false", "mpd-time-csf"] {
        let url = format!("{base}/manifest(format={format})");
        assert_each_language_has_its_packets(&url, &[("eng", &eng), ("spa", &spa)]);
    }

    // The subtitles: in the HLS master and the MPD, with the mezzanine's cues.
    let source_cues = cues_read_by_ffmpeg(mezzanine.to_str().unwrap(), "0:s");
    assert_eq!(source_cues.len(), 3, "{source_cues:?}");
    let master = reqwest::get(format!("{base}/manifest(format=m3u8-cmaf)")).await.unwrap().text().await.unwrap();
    let subtitles =
        master.lines().find(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES")).unwrap_or_else(|| panic!("{master}"));
    assert!(subtitles.contains("LANGUAGE=\"eng\""), "{subtitles}");
    let playlist = subtitles.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    assert_eq!(cues_read_by_ffmpeg(&format!("{base}/{playlist}"), "0:s"), source_cues, "the cues through HLS");
    let mpd_url = format!("{base}/manifest(format=mpd-time-csf)");
    let mpd = reqwest::get(&mpd_url).await.unwrap().text().await.unwrap();
    assert!(mpd.contains("contentType=\"text\" mimeType=\"text/vtt\" lang=\"eng\""), "{mpd}");
    // ffmpeg moves a whole input's timestamps so that it starts at 0: the MPD's AAC starts at its
    // priming (-1024/48000 s, which its DASH reader does not cut off), so every cue comes out that
    // much later. Undone here by what ffprobe says the input's start is.
    let start: f64 = ffprobe_csv(&mpd_url, &["-show_entries", "format=start_time"]).trim().parse().unwrap();
    let shift = (-start * 1000.0).round() as u64;
    assert!(shift < 50, "{start}");
    let shifted: Vec<(u64, u64, String)> = cues_read_by_ffmpeg(&mpd_url, "0:s")
        .into_iter()
        .map(|(from, to, text)| (from - shift, to - shift, text))
        .collect();
    assert_eq!(shifted, source_cues, "the cues through DASH");

    // The HEVC rung: its codec string in the master says what ffprobe reads of the file.
    let probed = ffprobe_csv(
        &format!("{root}/Film_320x180_300_hevc.mp4"),
        &["-select_streams", "v", "-show_entries", "stream=codec_name,codec_tag_string,profile,level"],
    );
    let fields: Vec<&str> = probed.trim().split(',').collect();
    assert_eq!(fields[..3], ["hevc", "Main", "hvc1"][..], "{probed}");
    let hevc =
        master.lines().find(|l| l.contains("CODECS=\"hvc1.")).unwrap_or_else(|| panic!("no HEVC variant: {master}"));
    assert!(hevc.contains(&format!("CODECS=\"hvc1.1.6.L{}.", fields[3])), "Main profile, level {}: {hevc}", fields[3]);
}

/// A ladder asking for HEVC of an ffmpeg without libx265: refused before anything is written, naming the encoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_without_libx265_is_refused_naming_the_encoder_and_writes_nothing() {
    let sb = Sandbox::start().await;
    let mezzanine = make_mezzanine(sb.dir.path());
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let which =
        |tool: &str| String::from_utf8(std::process::Command::new("which").arg(tool).output().unwrap().stdout).unwrap();
    // An ffmpeg like Debian's but built without libx265.
    let fake = bin.join("ffmpeg");
    std::fs::write(&fake, format!("#!/bin/sh\nexec {} \"$@\" | grep -v libx265\n", which("ffmpeg").trim())).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&fake).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(which("ffprobe").trim(), bin.join("ffprobe")).unwrap();
    let ladder = sb.dir.path().join("hevc.toml");
    std::fs::write(&ladder, "[[video]]\nwidth = 320\nheight = 180\nkbps = 300\ncodec = \"hevc\"\n").unwrap();
    let conn = sb.connection_string();
    sb.run_with(
        &[("MIRRORCAST_DC_A", &conn), ("MIRRORCAST_FFMPEG", fake.to_str().unwrap())],
        &["encode", "--dc", "a", mezzanine.to_str().unwrap(), "--preset", ladder.to_str().unwrap()],
    )
    .await
    .usage_error("has no libx265 encoder");
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(assets, serde_json::json!([]), "nothing written, not even the mezzanine");
}
