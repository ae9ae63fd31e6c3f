//! `mirrorcast encode` with real ffmpeg against real Azurite: the renditions
//! are checked with ffprobe, the manifests with mirrorcast-media.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::{BlobStore, BlobStoreExt};
use mirrorcast_media::ism::{ServerManifest, TrackKind};
use mirrorcast_media::ismc::ClientManifest;
use mirrorcast_media::mp4::Mp4;

use crate::helpers::{command_in, Run, Sandbox};
use crate::replicate::Failover;

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

/// Duration in seconds of the first stream of a file, as ffprobe reads it.
fn stream_seconds(path: &Path) -> f64 {
    let text = ffprobe(path, &["-show_entries", "stream=duration", "-of", "csv=p=0"]);
    text.lines().next().unwrap().trim().parse().unwrap_or_else(|e| panic!("{}: '{text}': {e}", path.display()))
}

async fn download(store: &dyn BlobStore, container: &str, dir: &Path) -> Vec<String> {
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
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let clip = f.dir.path().join("clip one.mp4");
    make_clip(&clip, 6);
    let run = f.run(&["encode", "--dc", "a", clip.to_str().unwrap(), "--publish", "--json"]).await.ok();
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
    let dir = f.dir.path().join("out");
    let names = download(&f.dcs.a.store(), container, &dir).await;
    assert_eq!(names.len(), files.len());
    for expected in ["clip one.ismc", "clip one_manifest.xml", "clip one_AACAudio_128.mp4"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }

    let ism = ServerManifest::parse(&std::fs::read_to_string(dir.join("clip one.ism")).unwrap()).unwrap();
    let ismc = ClientManifest::parse(&std::fs::read_to_string(dir.join("clip one.ismc")).unwrap()).unwrap();
    assert_eq!(ism.client_manifest.as_deref(), Some("clip one.ismc"));
    // The .ism names every rendition the encode made, and nothing it did not.
    let mut referenced: Vec<&str> = ism.tracks.iter().map(|t| t.src.as_str()).collect();
    referenced.sort();
    let mut made: Vec<&str> = names.iter().map(String::as_str).filter(|n| n.ends_with(".mp4")).collect();
    made.sort();
    assert_eq!(referenced, made, "the .ism references every output file");
    let videos: Vec<_> = ism.tracks.iter().filter(|t| t.kind == TrackKind::Video).collect();
    let sizes: Vec<&str> = videos.iter().map(|t| t.src.split('_').nth(1).unwrap()).collect();
    // The adaptive ladder of a 640x360 source: its own size and below, never above.
    assert_eq!(sizes, ["640x360", "480x270", "320x180"]);

    // The .ismc's chunk timelines last as long as the files do: within one
    // video frame (25 fps) or one AAC frame (1024 samples at 48 kHz).
    let timeline_seconds = |kind: &str| {
        let stream = ismc.streams.iter().find(|s| s.kind == kind).unwrap_or_else(|| panic!("no {kind} stream"));
        let end = stream.chunk_starts().last().copied().unwrap() + stream.chunks.last().unwrap().d;
        end as f64 / ismc.timescale as f64
    };
    let (video_timeline, audio_timeline) = (timeline_seconds("video"), timeline_seconds("audio"));
    let manifest_seconds = ismc.duration as f64 / ismc.timescale as f64;

    let mut reference_keys: Option<Vec<String>> = None;
    for t in &ism.tracks {
        let path = dir.join(&t.src);
        let mp4 = Mp4::open(&path).unwrap();
        assert!(mp4.moov_first(), "{}: moov must come before mdat: {:?}", t.src, mp4.boxes);
        let codec =
            ffprobe(&path, &["-show_entries", "stream=codec_name,width,height,channels,profile", "-of", "csv=p=0"]);
        let seconds = stream_seconds(&path);
        match t.kind {
            TrackKind::Video => {
                let real = mp4.video().unwrap().bitrate();
                assert_eq!(t.system_bitrate, real, "{}: the .ism names its real bitrate", t.src);
                let quality = ismc.streams[0].quality_levels.iter().find(|q| q.bitrate == real);
                assert!(quality.is_some_and(|q| q.codec_private_data.starts_with("00000001")), "{}", t.src);
                let size = t.src.split('_').nth(1).unwrap().replace('x', ",");
                assert!(codec.starts_with(&format!("h264,High,{size}")), "{}: {codec}", t.src);
                let height: u32 = codec.trim().split(',').nth(3).unwrap().parse().unwrap();
                assert!(height <= 360, "{}: {height} lines, taller than the 360-line source", t.src);
                assert!(
                    (seconds - video_timeline).abs() <= 0.04 + 1e-6,
                    "{}: {seconds} s vs .ismc {video_timeline} s",
                    t.src
                );
                let keys = key_frame_times(&path);
                assert_eq!(keys.len(), 3, "{}: a key frame every 2 s of 6: {keys:?}", t.src);
                match &reference_keys {
                    None => reference_keys = Some(keys),
                    Some(r) => assert_eq!(&keys, r, "{}: key frames at the same times in every rendition", t.src),
                }
            }
            TrackKind::Audio => {
                assert_eq!(codec.trim(), "aac,LC,2", "{}", t.src);
                assert_eq!(t.system_bitrate, mp4.audio().unwrap().bitrate());
                let aac_frame = 1024.0 / 48000.0;
                assert!(
                    (seconds - audio_timeline).abs() <= aac_frame + 1e-6,
                    "{}: {seconds} s vs .ismc {audio_timeline} s",
                    t.src
                );
            }
            TrackKind::Text => panic!("no text tracks were asked for"),
        }
        assert!(
            seconds <= manifest_seconds + 1e-6,
            "{}: {seconds} s beyond the .ismc's Duration {manifest_seconds}",
            t.src
        );
    }
    assert!(
        (manifest_seconds - video_timeline.max(audio_timeline)).abs() < 1e-6,
        "the .ismc Duration is its longest stream"
    );
    let r: Vec<f64> = reference_keys.unwrap().iter().map(|k| k.parse().unwrap()).collect();
    for pair in r.windows(2) {
        assert!((pair[1] - pair[0] - 2.0).abs() < 0.001, "2 s GOPs: {r:?}");
    }
    assert_eq!(ismc.streams[0].chunks.len(), 3, "one chunk per GOP");
    assert_eq!(ismc.streams[0].quality_levels.len(), 3);

    // The encoded asset is whole by mirrorcast's own audit, replicates to B, and B holds the same.
    let id = result["output_asset"]["id"].as_str().unwrap();
    let copied = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", id, "--json"]).await.ok().json();
    assert_eq!(copied["totals"]["copied"], names.len(), "{copied}");
    assert_eq!(copied["totals"]["failed"], 0, "{copied}");
    let audit =
        f.run(&["verify", "--from", "a", "--to", "b", "--asset", id, "--deep", "--format", "json"]).await.ok().json();
    assert_eq!(audit["identical"], true, "{audit}");
    let b_names = download(&f.dcs.b.store(), container, &f.dir.path().join("out-b")).await;
    assert_eq!(b_names, names);
    for name in &names {
        let (a, b) =
            (std::fs::read(dir.join(name)).unwrap(), std::fs::read(f.dir.path().join("out-b").join(name)).unwrap());
        assert!(a == b, "{name}: B's bytes differ from A's");
    }
}

/// A slow encode of a 30 s clip run as a child process, once its job shows progress:
/// the child (its stdout and stderr piped), the job's id and its output asset.
async fn slow_encode_in_progress(sb: &Sandbox) -> (tokio::process::Child, String, String) {
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
    (encoding, job, output)
}

/// The encoder exited 1 saying its job was canceled, the job shows canceled to other shells,
/// and its unfinished output asset and container are gone. Gives the encoder's run.
async fn assert_canceled_and_cleaned_up(sb: &Sandbox, encoding: tokio::process::Child, job: &str, output: &str) -> Run {
    let out = tokio::time::timeout(Duration::from_secs(60), encoding.wait_with_output()).await.unwrap().unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 1, "a canceled encode exits 1: {}", run.stderr);
    assert!(run.stderr.contains("canceled"), "{}", run.stderr);

    let shown = sb.run(&["job", "show", "--dc", "a", job, "--json"]).await.ok().json();
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
    let again = sb.run(&["job", "cancel", "--dc", "a", job]).await;
    again.usage_error("already canceled");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_encode_leaves_no_output_asset_and_other_shells_see_the_job() {
    let sb = Sandbox::start().await;
    let (encoding, job, output) = slow_encode_in_progress(&sb).await;
    sb.run(&["job", "cancel", "--dc", "a", &job]).await.ok();
    assert_canceled_and_cleaned_up(&sb, encoding, &job, &output).await;
}

/// A Kubernetes stop (SIGTERM, then SIGKILL after the grace period) takes the cleanup path
/// `job cancel` and Ctrl-C take: the job ends canceled and its unfinished output is removed.
/// A second SIGTERM does not cut that short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_running_encode_and_removes_its_unfinished_output() {
    let sb = Sandbox::start().await;
    let (encoding, job, output) = slow_encode_in_progress(&sb).await;
    let pid = encoding.id().unwrap().to_string();
    for _ in 0..2 {
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = assert_canceled_and_cleaned_up(&sb, encoding, &job, &output).await;
    assert!(run.stderr.contains("SIGTERM: canceling the job"), "{}", run.stderr);
    assert!(run.stderr.contains("SIGTERM again"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_without_ffmpeg_is_a_usage_error_naming_how_to_get_it() {
    let sb = Sandbox::start().await;
    std::fs::write(sb.dir.path().join("clip.mp4"), b"not even media").unwrap();
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
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(assets, serde_json::json!([]), "nothing is uploaded without an encoder");
}

/// Every bad input of a local file is refused before anything is written: no
/// mezzanine, no job, no output asset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_encode_is_one_line_exit_2_and_writes_nothing() {
    let sb = Sandbox::start().await;
    std::fs::write(sb.dir.path().join("notes.mp4"), b"not even media").unwrap();
    std::fs::write(sb.dir.path().join("empty.mp4"), b"").unwrap();
    make_clip(&sb.dir.path().join("small.mp4"), 1);
    let tall = sb.dir.path().join("tall.toml");
    std::fs::write(
        &tall,
        "[[video]]\nwidth = 640\nheight = 360\nkbps = 900\n[[video]]\nwidth = 1280\nheight = 720\nkbps = 3000\n",
    )
    .unwrap();
    let tall = tall.to_str().unwrap();

    sb.run(&["encode", "--dc", "a", "notes.mp4"]).await.usage_error("not a media file");
    sb.run(&["encode", "--dc", "a", "empty.mp4"]).await.usage_error("'empty.mp4' is empty (0 bytes)");
    sb.run(&["encode", "--dc", "a", "small.mp4", "--preset", "fastest"]).await.usage_error("unknown preset 'fastest'");
    sb.run(&["encode", "--dc", "a", "small.mp4", "--preset", tall])
        .await
        .usage_error("rendition 1280x720 is taller than the source (640x360)");

    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(assets, serde_json::json!([]), "a refused encode writes nothing, not even the mezzanine");
    let jobs = sb.run(&["job", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(jobs, serde_json::json!([]), "and starts no job");
    let containers = sb.azurite.store("devstoreaccount1").list_containers("asset-").await.unwrap();
    assert!(containers.is_empty(), "{containers:?}");
}

/// Off a terminal, progress is a few plain lines on stderr, each said once: the
/// mezzanine upload says it is done once, though both the upload and encode finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_of_a_local_file_says_each_plain_progress_line_once() {
    let sb = Sandbox::start().await;
    make_clip(&sb.dir.path().join("small.mp4"), 1);
    let run = sb.run(&["encode", "--dc", "a", "small.mp4", "--preset", "h264-multiple-bitrate-sd"]).await.ok();
    assert_eq!(run.stderr.matches("uploading 'small.mp4' as mezzanine asset").count(), 1, "{}", run.stderr);
    assert_eq!(run.stderr.matches("upload mezzanine: done").count(), 1, "{}", run.stderr);
    assert!(run.stdout.contains("small.ism"), "the report names the output's files: {}", run.stdout);
}

/// An asset already in storage is only read once its job runs: bad input
/// then ends the job in `error`, exit 2, with no output asset made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_that_cannot_be_encoded_ends_its_job_in_error_with_no_output_asset() {
    let sb = Sandbox::start().await;
    let tall = sb.dir.path().join("tall.toml");
    std::fs::write(&tall, "[[video]]\nwidth = 1280\nheight = 720\nkbps = 3000\n").unwrap();
    make_clip(&sb.dir.path().join("small.mp4"), 1);
    std::fs::write(sb.dir.path().join("empty.mp4"), b"").unwrap();
    let mut inputs = Vec::new();
    for file in ["small.mp4", "empty.mp4"] {
        let id = sb.run(&["asset", "create", "--dc", "a", "--name", file, "--json"]).await.ok().json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        sb.run(&["asset", "upload", "--dc", "a", &id, file]).await.ok();
        inputs.push(id);
    }

    for (input, preset, needle) in [
        (&inputs[0], tall.to_str().unwrap(), "rendition 1280x720 is taller than the source (640x360)"),
        (&inputs[1], "adaptive-streaming", "not a media file"),
    ] {
        let run = sb.run(&["encode", "--dc", "a", "--asset", input, "--preset", preset]).await;
        assert_eq!(run.code, 2, "bad input exits 2: {}", run.stderr);
        let last = run.stderr.lines().last().unwrap();
        assert!(last.contains("failed") && last.contains(needle), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    let jobs = sb.run(&["job", "list", "--dc", "a", "--json"]).await.ok().json();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        assert_eq!(job["state"], "error", "{job}");
        assert!(job["output_asset"].is_null(), "{job}");
        assert!(job["error"].as_str().is_some_and(|e| !e.contains("sig=")), "{job}");
    }
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(assets.as_array().unwrap().len(), 2, "only the two mezzanines: {assets}");
    let containers = sb.azurite.store("devstoreaccount1").list_containers("asset-").await.unwrap();
    assert_eq!(containers.len(), 2, "no output container: {containers:?}");
}

/// A `kill -9`ed encoder writes nothing more: once its lease has run out the
/// job shows as `stale` to other shells, and `job cancel` ends it at once and
/// removes its unfinished output asset (no encoder is left to do it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_encoder_was_killed_shows_stale_and_cancel_removes_its_output() {
    let sb = Sandbox::start().await;
    let clip = sb.dir.path().join("long.mp4");
    make_clip(&clip, 20);
    let ladder = sb.dir.path().join("slow.toml");
    std::fs::write(&ladder, "speed = \"veryslow\"\n[[video]]\nwidth = 640\nheight = 360\nkbps = 900\n").unwrap();
    let conn = sb.connection_string();
    let mut encoding = command_in(
        sb.dir.path(),
        &[("MIRRORCAST_DC_A", conn.as_str())],
        &["encode", "--dc", "a", clip.to_str().unwrap(), "--preset", ladder.to_str().unwrap(), "--json"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    let (job, output) = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "the job never started encoding");
        let listed = sb.run(&["job", "list", "--dc", "a", "--json"]).await.ok().json();
        let running =
            listed.as_array().unwrap().iter().find(|j| j["state"] == "processing" && !j["output_asset"].is_null());
        if let Some(j) = running {
            assert_eq!(j["stale"], false, "a job whose encoder writes is not stale: {j}");
            break (j["id"].as_str().unwrap().to_owned(), j["output_asset"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    encoding.start_kill().unwrap(); // SIGKILL: no cleanup runs
    encoding.wait().await.unwrap();

    // Let the lease run out without waiting for it: the record as the killed
    // encoder left it, last written ten minutes ago.
    let store = sb.azurite.store("devstoreaccount1");
    let path = format!("jobs/{}.json", job.rsplit(':').next().unwrap());
    let (_, bytes) = store.get_bytes("mirrorcast-catalog", &path).await.unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(record["state"], "processing", "nothing ended the killed job: {record}");
    record["updated"] = serde_json::json!((chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339());
    store
        .put_blob("mirrorcast-catalog", &path, serde_json::to_vec(&record).unwrap().into(), &Default::default())
        .await
        .unwrap();

    let listed = sb.run(&["job", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(listed[0]["stale"], true, "{listed}");
    let table = sb.run(&["job", "list", "--dc", "a"]).await.ok();
    assert!(table.stdout.contains("stale (processing since"), "{}", table.stdout);
    let shown = sb.run(&["job", "show", "--dc", "a", &job]).await.ok();
    assert!(shown.stdout.contains("stale (processing since"), "{}", shown.stdout);

    sb.run(&["job", "cancel", "--dc", "a", &job]).await.ok();
    let shown = sb.run(&["job", "show", "--dc", "a", &job, "--json"]).await.ok().json();
    assert_eq!(shown["state"], "canceled", "{shown}");
    assert_eq!(shown["stale"], false);
    assert!(shown["output_asset"].is_null(), "{shown}");
    assert!(shown["error"].as_str().unwrap().contains("stopped writing"), "{shown}");
    let assets = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    let ids: Vec<&str> = assets.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&output.as_str()), "the unfinished output asset is gone: {ids:?}");
    assert_eq!(ids.len(), 1, "only the mezzanine is left: {assets}");
}
