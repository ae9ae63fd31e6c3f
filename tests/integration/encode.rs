//! `mirrorcast encode` with real ffmpeg against real Azurite: the renditions
//! are checked with ffprobe, the manifests with mirrorcast-media.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mirrorcast_core::store::{BlobStore, BlobStoreExt};
use mirrorcast_media::ism::{ServerManifest, TrackKind};
use mirrorcast_media::ismc::ClientManifest;
use mirrorcast_media::mp4::Mp4;

use crate::helpers::{command_in, Run, Sandbox};

/// A test clip made by ffmpeg's test sources: `seconds` of 640x360 at 25 fps with a stereo tone.
fn make_clip(path: &Path, seconds: u32) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size=640x360:rate=25:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", "-y"])
        .arg(path)
        .status()
        .expect("ffmpeg is needed (cargo xtask setup says how to get it)");
    assert!(status.success());
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("ffprobe").args(["-v", "error"]).args(args).arg(path).output().unwrap();
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Presentation times of the video key frames, from the packets.
fn key_frame_times(path: &Path) -> Vec<String> {
    ffprobe(path, &["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"])
        .lines()
        .filter(|l| l.split(',').nth(1).is_some_and(|f| f.contains('K')))
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect()
}

async fn download(sb: &Sandbox, container: &str, dir: &Path) -> Vec<String> {
    let store = sb.azurite.store("devstoreaccount1");
    std::fs::create_dir_all(dir).unwrap();
    let mut names = Vec::new();
    for b in store.list_all(container, "").await.unwrap() {
        let (_, bytes) = store.get_bytes(container, &b.name).await.unwrap();
        std::fs::write(dir.join(&b.name), &bytes).unwrap();
        names.push(b.name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_makes_gop_aligned_h264_aac_renditions_and_manifests_that_name_them() {
    let sb = Sandbox::start().await;
    let clip = sb.dir.path().join("clip one.mp4");
    make_clip(&clip, 4);
    let run = sb.run(&["encode", "--dc", "a", clip.to_str().unwrap(), "--publish", "--json"]).await.ok();
    let last = run.stdout.lines().last().unwrap();
    let result: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(result["job"]["state"], "finished", "{last}");
    assert!(run.stdout.lines().any(|l| l.contains("\"state\":\"processing\"")), "progress lines: {}", run.stdout);
    let files = result["output_asset"]["files"].as_array().unwrap();
    let primary: Vec<&str> =
        files.iter().filter(|f| f["is_primary"] == true).map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(primary, ["clip one.ism"]);
    assert!(result["urls"]["smooth"].as_str().unwrap().ends_with("/clip%20one.ism/manifest"), "{}", result["urls"]);

    let container = result["output_asset"]["container"].as_str().unwrap();
    let dir = sb.dir.path().join("out");
    let names = download(&sb, container, &dir).await;
    assert_eq!(names.len(), files.len());
    for expected in ["clip one.ismc", "clip one_manifest.xml", "clip one_AACAudio_128.mp4"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }

    let ism = ServerManifest::parse(&std::fs::read_to_string(dir.join("clip one.ism")).unwrap()).unwrap();
    let ismc = ClientManifest::parse(&std::fs::read_to_string(dir.join("clip one.ismc")).unwrap()).unwrap();
    assert_eq!(ism.client_manifest.as_deref(), Some("clip one.ismc"));
    let videos: Vec<_> = ism.tracks.iter().filter(|t| t.kind == TrackKind::Video).collect();
    let sizes: Vec<&str> = videos.iter().map(|t| t.src.split('_').nth(1).unwrap()).collect();
    // The adaptive ladder of a 640x360 source: its own size and below, never above.
    assert_eq!(sizes, ["640x360", "480x270", "320x180"]);
    let mut reference_keys: Option<Vec<String>> = None;
    for t in &ism.tracks {
        let path = dir.join(&t.src);
        let mp4 = Mp4::open(&path).unwrap();
        assert!(mp4.moov_first(), "{}: moov must come before mdat: {:?}", t.src, mp4.boxes);
        let codec =
            ffprobe(&path, &["-show_entries", "stream=codec_name,width,height,channels,profile", "-of", "csv=p=0"]);
        match t.kind {
            TrackKind::Video => {
                let real = mp4.video().unwrap().bitrate();
                assert_eq!(t.system_bitrate, real, "{}: the .ism names its real bitrate", t.src);
                let quality = ismc.streams[0].quality_levels.iter().find(|q| q.bitrate == real);
                assert!(quality.is_some_and(|q| q.codec_private_data.starts_with("00000001")), "{}", t.src);
                let size = t.src.split('_').nth(1).unwrap().replace('x', ",");
                assert!(codec.starts_with(&format!("h264,High,{size}")), "{}: {codec}", t.src);
                let keys = key_frame_times(&path);
                assert_eq!(keys.len(), 2, "{}: a key frame every 2 s of 4: {keys:?}", t.src);
                match &reference_keys {
                    None => reference_keys = Some(keys),
                    Some(r) => assert_eq!(&keys, r, "{}: key frames at the same times in every rendition", t.src),
                }
            }
            TrackKind::Audio => {
                assert_eq!(codec.trim(), "aac,LC,2", "{}", t.src);
                assert_eq!(t.system_bitrate, mp4.audio().unwrap().bitrate());
            }
            TrackKind::Text => panic!("no text tracks were asked for"),
        }
    }
    let r = reference_keys.unwrap();
    let gap: f64 = r[1].parse::<f64>().unwrap() - r[0].parse::<f64>().unwrap();
    assert!((gap - 2.0).abs() < 0.001, "2 s GOPs: {r:?}");
    assert_eq!(ismc.streams[0].chunks.len(), 2, "one chunk per GOP");
    assert_eq!(ismc.streams[0].quality_levels.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_encode_leaves_no_output_asset_and_other_shells_see_the_job() {
    let sb = Sandbox::start().await;
    let clip = sb.dir.path().join("long.mp4");
    make_clip(&clip, 30);
    // A slow ladder, so the job is surely still running when the cancel comes.
    let ladder = sb.dir.path().join("slow.toml");
    std::fs::write(&ladder, "speed = \"veryslow\"\n[[video]]\nwidth = 640\nheight = 360\nkbps = 900\n").unwrap();
    let conn = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", conn.as_str())];
    let encoding = command_in(
        sb.dir.path(),
        &env,
        &["encode", "--dc", "a", clip.to_str().unwrap(), "--preset", ladder.to_str().unwrap(), "--json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();

    let started = Instant::now();
    let job = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "the job never showed progress");
        let listed = sb.run(&["job", "list", "--dc", "a", "--json"]).await.ok().json();
        let running = listed.as_array().unwrap().iter().find(|j| {
            j["state"] == "processing" && !j["output_asset"].is_null() && j["progress"].as_f64().unwrap() > 0.0
        });
        if let Some(j) = running {
            break j["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let shown = sb.run(&["job", "show", "--dc", "a", &job, "--json"]).await.ok().json();
    let output = shown["output_asset"].as_str().unwrap().to_owned();
    sb.run(&["job", "cancel", "--dc", "a", &job]).await.ok();

    let out = tokio::time::timeout(Duration::from_secs(60), encoding.wait_with_output()).await.unwrap().unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 1, "a canceled encode exits 1: {}", run.stderr);
    assert!(run.stderr.contains("canceled"), "{}", run.stderr);

    let shown = sb.run(&["job", "show", "--dc", "a", &job, "--json"]).await.ok().json();
    assert_eq!(shown["state"], "canceled");
    assert!(shown["output_asset"].is_null());
    let log = shown["log"].as_str().unwrap();
    assert!(log.contains("removed the unfinished output asset"), "{log}");
    assert!(
        log.contains("-i <source>") && !log.contains("sig="),
        "the source's signed URL stays out of the log: {log}"
    );
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    let names: Vec<&str> = assets.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["long.mp4"], "only the mezzanine is left");
    let store = sb.azurite.store("devstoreaccount1");
    let guid = output.rsplit(':').next().unwrap();
    let containers = store.list_containers("asset-").await.unwrap();
    assert!(!containers.iter().any(|c| c.ends_with(guid)), "the output container is gone: {containers:?}");
    let again = sb.run(&["job", "cancel", "--dc", "a", &job]).await;
    again.usage_error("already canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_without_ffmpeg_is_a_usage_error_naming_how_to_get_it() {
    let sb = Sandbox::start().await;
    let clip = sb.dir.path().join("clip.mp4");
    std::fs::write(&clip, b"not even media").unwrap();
    let empty: PathBuf = sb.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let conn = sb.connection_string();
    let run = sb
        .run_with(
            &[("MIRRORCAST_DC_A", &conn), ("PATH", empty.to_str().unwrap())],
            &["encode", "--dc", "a", "clip.mp4"],
        )
        .await;
    run.usage_error("apt-get install ffmpeg");

    let bad_preset = sb.run(&["encode", "--dc", "a", "clip.mp4", "--preset", "fastest"]).await;
    bad_preset.usage_error("unknown preset 'fastest'");
    let not_media = sb.run(&["encode", "--dc", "a", "clip.mp4"]).await;
    assert_eq!(not_media.code, 2, "{}", not_media.stderr);
    assert!(not_media.stderr.contains("not a media file"), "{}", not_media.stderr);
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(assets, serde_json::json!([]), "a refused encode writes nothing, not even the mezzanine");
}
