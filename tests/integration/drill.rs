//! `mirrorcast drill`: a viewer streaming a published asset at a player's pace
//! through a base URL, against real Azurite and real `mirrorcast serve` processes.
//! What it saved must carry the source's very packets; when its only origin is
//! killed mid-stream (no front), it must say so and exit 1.

use std::path::Path;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::id::LocatorId;
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::{run_in, Sandbox};
use crate::serve::{differences, ffmpeg, framemd5_streams, packet_md5s, same_packets, ts_md5s};

/// Seconds of the drill clip: 2 s GOPs, so one segment per 2 s.
pub(crate) const CLIP_SECONDS: u32 = 12;

/// A published asset: its locator GUID and the local copy of its rendition.
pub(crate) struct Clip {
    pub(crate) asset: String,
    pub(crate) locator: String,
    pub(crate) source: std::path::PathBuf,
}

/// One 320x180 H.264 + AAC rendition of `CLIP_SECONDS`, with its .ism, uploaded to the data
/// center `dc` of `env` and published with an origin locator.
pub(crate) async fn publish_clip(dir: &Path, env: &[(&str, &str)], dc: &str) -> Clip {
    let folder = dir.join("drill-clip");
    std::fs::create_dir_all(&folder).unwrap();
    let source = folder.join("Drill_320x180_500.mp4");
    encode_clip(&source, "500k");
    let track = |kind, bitrate, id, name: Option<&str>| IsmTrack {
        kind,
        src: "Drill_320x180_500.mp4".into(),
        system_bitrate: bitrate,
        track_id: id,
        track_name: name.map(Into::into),
        language: None,
    };
    let ism = ServerManifest {
        title: Some("Drill".into()),
        client_manifest: Some("Drill.ismc".into()),
        tracks: vec![track(TrackKind::Video, 500_000, 1, None), track(TrackKind::Audio, 128_000, 2, Some("audio"))],
    };
    std::fs::write(folder.join("Drill.ism"), ism.to_xml()).unwrap();
    std::fs::write(folder.join("Drill.ismc"), "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"2\" />\n")
        .unwrap();
    let asset = run_in(dir, env, &["asset", "create", "--dc", dc, "--name", "Drill", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    run_in(dir, env, &["asset", "upload", "--dc", dc, &asset, folder.to_str().unwrap()]).await.ok();
    let made =
        run_in(dir, env, &["locator", "create", "--dc", dc, &asset, "--type", "origin", "--json"]).await.ok().json();
    let locator = LocatorId::parse(made["locator"]["id"].as_str().unwrap()).unwrap().guid();
    Clip { asset, locator, source }
}

/// The drill clip's rendition at `bitrate`, written to `path`.
pub(crate) fn encode_clip(path: &Path, bitrate: &str) {
    let seconds = CLIP_SECONDS.to_string();
    #[rustfmt::skip]
    let out = ffmpeg(&[
        "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine",
        "-t", &seconds, "-c:v", "libx264", "-preset", "ultrafast", "-b:v", bitrate, "-g", "50", "-keyint_min", "50",
        "-sc_threshold", "0", "-c:a", "aac", "-movflags", "+faststart", "-y", path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Two data centers with the drill clip published in A and replicated to B, and a
/// `mirrorcast serve` process for each (the set-up of the failover drills and the readiness audit).
pub(crate) struct Replicated {
    pub(crate) dcs: TwoDataCenters,
    pub(crate) dir: tempfile::TempDir,
    /// `MIRRORCAST_DC_A` and `_B`; [`env_of`] lends them to `run_in`.
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) clip: Clip,
    /// Each origin's process (to kill) and its address.
    pub(crate) a: (tokio::process::Child, String),
    pub(crate) b: (tokio::process::Child, String),
}

pub(crate) async fn replicated_and_served(dcs: TwoDataCenters) -> Replicated {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("MIRRORCAST_DC_A", dcs.a.connection_string.clone()),
        ("MIRRORCAST_DC_B", dcs.b.connection_string.clone()),
    ];
    let pairs = env_of(&env);
    let clip = publish_clip(dir.path(), &pairs, "a").await;
    run_in(dir.path(), &pairs, &["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();
    let a = serve_process(dir.path(), &pairs, "a").await;
    let b = serve_process(dir.path(), &pairs, "b").await;
    Replicated { dcs, dir, env, clip, a, b }
}

pub(crate) fn env_of<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A `mirrorcast serve` process for data center `dc`: the child (to kill) and its address.
pub(crate) async fn serve_process(dir: &Path, env: &[(&str, &str)], dc: &str) -> (tokio::process::Child, String) {
    listening(dir, env, &["serve", "--dc", dc, "--listen", "127.0.0.1:0"]).await
}

/// A server process (`serve`, `front`) and the address it says it listens at on stderr.
pub(crate) async fn listening(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (tokio::process::Child, String) {
    let l = crate::helpers::listening(dir, env, args).await;
    (l.child, l.addr)
}

/// The drill's saved file for `format` and a rendition name containing `part`.
pub(crate) fn saved(report: &serde_json::Value, format: &str, part: &str) -> String {
    report["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["format"] == format && r["name"].as_str().unwrap().contains(part))
        .and_then(|r| r["saved"].as_str())
        .unwrap_or_else(|| panic!("no saved {format} {part} rendition: {report}"))
        .to_owned()
}

/// The packets of the saved video and audio equal the source rendition's, stream by stream
/// (HLS is `m3u8-aapl`, MPEG-TS: its video decodes to the source's frames, its audio
/// holds the source's packets once the ADTS headers are off).
pub(crate) fn assert_same_packets(report: &serde_json::Value, source: &Path) {
    let source = source.to_str().unwrap();
    for (format, video, audio) in
        [("hls", "video-320x180", "audio-audio"), ("dash", "video-video_500000", "audio-audio_128000")]
    {
        for (part, map) in [(video, "0:v"), (audio, "0:a")] {
            let saved = saved(report, format, part);
            let (got, want) = match (format, map) {
                ("hls", "0:v") => (ts_md5s(&saved), framemd5_streams(source, &["-map", map])),
                ("hls", _) => (ts_md5s(&saved), packet_md5s(source, map)),
                _ => (packet_md5s(&saved, "0"), packet_md5s(source, map)),
            };
            assert!(want[0].packets.len() > 100, "packets in the source's {map}");
            assert!(same_packets(&got, &want), "{format} {part}: the source's packets: {}", differences(&got, &want));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_through_one_origin_saves_the_sources_packets_and_names_the_origin() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clip = publish_clip(sb.dir.path(), &env, "a").await;
    let (_a, addr) = serve_process(sb.dir.path(), &env, "a").await;
    let save = sb.dir.path().join("saved");
    let run = run_in(
        sb.dir.path(),
        &[],
        &[
            "drill",
            "--json",
            "--front",
            &format!("http://{addr}"),
            "--locator",
            &clip.locator,
            "--ism",
            "Drill.ism",
            "--save",
            save.to_str().unwrap(),
            "--max-stall",
            "2",
        ],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "the viewer missed nothing: {report:#}\n{}", run.stderr);
    let renditions = report["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 4, "top video and audio, HLS and DASH: {report:#}");
    for r in renditions {
        let expected = r["segments_expected"].as_u64().unwrap();
        if r["kind"] == "video" {
            assert_eq!(expected, u64::from(CLIP_SECONDS / 2), "cut at the 2 s key frames: {r}");
        }
        assert_eq!(r["segments_received"], r["segments_expected"], "{r}");
        assert_eq!(r["frames_received"], r["frames_expected"], "{r}");
        assert_eq!(r["origins"]["a"].as_u64(), Some(expected), "every segment named data center a: {r}");
    }
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "{report:#}");
    assert_same_packets(&report, &clip.source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_without_a_front_reports_the_errors_and_exits_1_when_its_origin_dies() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clip = publish_clip(sb.dir.path(), &env, "a").await;
    let (a, addr) = serve_process(sb.dir.path(), &env, "a").await;
    let pid = a.id().unwrap();
    // A small buffer so the player is still fetching when A dies, 5 s in.
    let run = run_in(
        sb.dir.path(),
        &[],
        &[
            "drill",
            "--json",
            "--front",
            &format!("http://{addr}"),
            "--locator",
            &format!("{}/Drill.ism", clip.locator),
            "--format",
            "hls",
            "--buffer",
            "2",
            "--kill",
            &format!("kill {pid}"),
            "--kill-at",
            "5",
            "--retries",
            "1",
        ],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 1, "the viewer missed the end: {report:#}");
    assert_eq!(report["missed_nothing"], false);
    assert_eq!(report["kill"]["exit_code"], 0, "{report:#}");
    let kill_at = report["kill"]["at"].as_f64().unwrap();
    assert!(kill_at >= 5.0, "{report:#}");
    let errors = report["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "{report:#}");
    for e in errors {
        assert!(e["at"].as_f64().unwrap() >= kill_at, "no error before the kill: {e}");
        assert!(e["error"].as_str().unwrap().contains("cannot connect"), "{e}");
        assert!(e["path"].as_str().unwrap().contains(&clip.locator), "{e}");
    }
    for r in report["renditions"].as_array().unwrap() {
        let (got, want) = (r["segments_received"].as_u64().unwrap(), r["segments_expected"].as_u64().unwrap());
        assert!(got >= 2 && got < want, "some segments before the kill, not all: {r}");
        assert_eq!(r["missed"].as_array().unwrap().len() as u64, want - got, "{r}");
        assert_eq!(r["frames_expected"], serde_json::Value::Null, "uncountable: nobody serves the rest: {r}");
        assert_eq!(r["origins"]["a"].as_u64(), Some(got), "{r}");
    }
    let failover = &report["failover"];
    assert_eq!((failover["before"].as_str(), failover["after"].as_str()), (Some("a"), None), "{report:#}");

    // The same, as text: the verdict and the errors are named.
    let text = run_in(
        sb.dir.path(),
        &[],
        &[
            "drill",
            "--front",
            &format!("http://{addr}"),
            "--locator",
            &clip.locator,
            "--ism",
            "Drill.ism",
            "--retries",
            "0",
        ],
    )
    .await;
    assert_eq!(text.code, 1, "{}", text.stdout);
    assert!(text.stdout.contains("the viewer MISSED something"), "{}", text.stdout);
    assert!(text.stdout.contains("could not be fetched"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_refuses_bad_input_with_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let locator = LocatorId::new().guid();
    for (args, needle) in [
        (vec!["--front", "not a url", "--locator", &locator, "--ism", "a.ism"], "--front"),
        (vec!["--front", "ftp://x", "--locator", &locator, "--ism", "a.ism"], "--front"),
        (vec!["--front", "http://127.0.0.1:9", "--locator", "nope", "--ism", "a.ism"], "--locator"),
        (vec!["--front", "http://127.0.0.1:9", "--locator", &locator], "--ism"),
        (vec!["--front", "http://127.0.0.1:9", "--locator", &locator, "--ism", "a.ism", "--kill-at", "3"], "--kill-at"),
        (vec!["--front", "http://127.0.0.1:9", "--locator", &locator, "--ism", "a.ism", "--buffer", "1"], "--buffer"),
        (
            vec!["--front", "http://127.0.0.1:9", "--locator", &locator, "--ism", "a.ism", "--format", "smooth"],
            "--format",
        ),
        (
            vec![
                "--front",
                "http://127.0.0.1:9",
                "--locator",
                &locator,
                "--ism",
                "a.ism",
                "--kill-at",
                "NaN",
                "--kill",
                "true",
            ],
            "--kill-at",
        ),
    ] {
        let mut all = vec!["drill"];
        all.extend(args.iter().copied());
        run_in(dir.path(), &[], &all).await.usage_error(needle);
    }
}

/// The must-show: A's Azurite and A's origin killed halfway through a stream played through
/// `mirrorcast front` in `mode`; the viewer gets every packet of the source, stalls no longer
/// than one segment (2 s) and sees no HTTP error, and B serves from the failover on.
async fn drill_through_the_front_while_a_dies(mode: &str) {
    let dcs = TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap();
    let Replicated { mut dcs, dir, env, clip, a: (serve_a, a_addr), b: (_serve_b, b_addr) } =
        replicated_and_served(dcs).await;
    let env = env_of(&env);
    let (a_origin, b_origin) = (format!("a=http://{a_addr}"), format!("b=http://{b_addr}"));
    #[rustfmt::skip]
    let (_front, front) = listening(dir.path(), &env, &[
        "front", "--listen", "127.0.0.1:0", "--origin", &a_origin, "--origin", &b_origin, "--mode", mode,
        "--probe-interval", "200ms", "--probe-timeout", "1s", "--fail-after", "2",
    ])
    .await;
    let azurite_a = dcs.instances[0].pid().unwrap();
    let kill = format!("kill {} {azurite_a}", serve_a.id().unwrap());
    let save = dir.path().join("saved");
    // Killed once every player holds 3 of the 6 segments: halfway, between two requests.
    #[rustfmt::skip]
    let run = run_in(dir.path(), &[], &[
        "drill", "--json", "--front", &format!("http://{front}"), "--locator", &clip.locator, "--ism", "Drill.ism",
        "--kill", &kill, "--kill-after", "3", "--max-stall", "2", "--save", save.to_str().unwrap(),
    ])
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{mode}: the viewer missed nothing: {report:#}\n{}", run.stderr);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "{mode}: no HTTP error reached the client: {report:#}");
    assert_eq!(report["kill"]["exit_code"], 0, "{report:#}");
    for r in report["renditions"].as_array().unwrap() {
        assert_eq!(r["segments_received"], r["segments_expected"], "{r}");
        assert!(r["longest_stall"].as_f64().unwrap() <= 2.0, "{mode}: no stall longer than a segment: {r}");
        assert!(r["origins"]["a"].as_u64().unwrap() >= 3 && r["origins"]["b"].as_u64().unwrap() >= 1, "{r}");
    }
    let failover = &report["failover"];
    assert_eq!((failover["before"].as_str(), failover["after"].as_str()), (Some("a"), Some("b")), "{report:#}");
    assert_same_packets(&report, &clip.source);
    dcs.instances[0].kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_through_a_proxy_front_misses_nothing_while_a_dies() {
    drill_through_the_front_while_a_dies("proxy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_through_a_redirecting_front_misses_nothing_while_a_dies() {
    drill_through_the_front_while_a_dies("redirect").await;
}

/// The must-show of #26: a protected locator (ClearKey signalled, open content key policy),
/// replicated to B under B's KEK, played as DASH `cenc` through a proxy front while A's origin
/// is killed after the first segment. The drill gets its ClearKey licence through the front,
/// plays to the end from B, and what it saved decrypts with ffmpeg's own `-decryption_key` to
/// the source's packets. A second drill once A is dead gets its licence from B: key delivery
/// fails over with the segments, and each origin's `/metrics` counted the licence it granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_plays_a_protected_clearkey_stream_to_the_end_through_the_front_while_a_dies() {
    use crate::encrypted::{assert_source_packets, decrypted_md5s, source_md5s, Library};
    use crate::segment_cache::metric;
    const GRANTED: &str = "mirrorcast_origin_key_requests_total{outcome=\"granted\"}";

    let lib = Library::new().await;
    let env = env_of(&lib.env);
    let dir = lib.f.dir.path();
    let ((serve_a, a_addr), (_serve_b, b_addr)) =
        tokio::join!(serve_process(dir, &env, "a"), serve_process(dir, &env, "b"));
    let (a_origin, b_origin) = (format!("a=http://{a_addr}"), format!("b=http://{b_addr}"));
    #[rustfmt::skip]
    let (_front, front) = listening(dir, &env, &[
        "front", "--listen", "127.0.0.1:0", "--origin", &a_origin, "--origin", &b_origin, "--mode", "proxy",
        "--probe-interval", "200ms", "--probe-timeout", "1s", "--fail-after", "2",
    ])
    .await;
    let front = format!("http://{front}");
    let save = dir.join("saved-protected");
    #[rustfmt::skip]
    let run = run_in(dir, &[], &[
        "drill", "--json", "--front", &front, "--locator", &lib.drm, "--ism", "Clip.ism", "--format", "dash",
        "--kill", &format!("kill {}", serve_a.id().unwrap()), "--kill-after", "1", "--max-stall", "2",
        "--save", save.to_str().unwrap(),
    ])
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "the viewer missed nothing: {report:#}\n{}", run.stderr);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "no HTTP error reached the client: {report:#}");
    let licences: Vec<&serde_json::Value> =
        report["manifests"].as_array().unwrap().iter().filter(|m| m["format"] == "licence").collect();
    assert_eq!(licences.len(), 1, "one ClearKey licence asked for: {report:#}");
    assert_eq!((&licences[0]["path"], &licences[0]["ok"]), (&"/keys/clearkey".into(), &true.into()), "{report:#}");
    assert_eq!(licences[0]["origin"], "a", "the licence came from A through the front: {report:#}");
    assert!(!report.to_string().contains(&lib.cenc.hex), "no key in the report");
    for r in report["renditions"].as_array().unwrap() {
        assert_eq!(r["segments_received"], r["segments_expected"], "{r}");
        assert!(r["origins"]["a"].as_u64().unwrap() >= 1 && r["origins"]["b"].as_u64().unwrap() >= 1, "{r}");
    }
    let failover = &report["failover"];
    assert_eq!((failover["before"].as_str(), failover["after"].as_str()), (Some("a"), Some("b")), "{report:#}");
    for (part, file, map) in
        [("video-video_600000", "Clip_320x180_600.mp4", "0:v"), ("audio", "Clip_320x180_600.mp4", "0:a")]
    {
        let saved = std::fs::read(saved(&report, "dash", part)).unwrap();
        let want = source_md5s(&lib.clip, file, map);
        assert_source_packets(&decrypted_md5s(&saved, &lib.cenc.hex), &want, &format!("drilled DASH cenc {part}"));
    }
    assert_eq!(metric(&b_addr, GRANTED).await, 0, "B granted nothing yet: the first licence was A's");

    // A is dead: the next viewer's licence request fails over to B with the segments.
    #[rustfmt::skip]
    let again = run_in(dir, &[], &[
        "drill", "--json", "--front", &front, "--locator", &lib.drm, "--ism", "Clip.ism", "--format", "dash",
        "--duration", "2",
    ])
    .await;
    let report = again.json();
    assert_eq!(again.code, 0, "{report:#}");
    let licence = report["manifests"].as_array().unwrap().iter().find(|m| m["format"] == "licence").cloned();
    assert_eq!(
        licence.as_ref().map(|l| (l["ok"].clone(), l["origin"].clone())),
        Some((true.into(), "b".into())),
        "{report:#}"
    );
    assert_eq!(metric(&b_addr, GRANTED).await, 1, "B granted the licence the front forwarded");
}

/// A licence the origin refuses (a token-restricted policy, and the drill has no token) is a
/// viewer who sees nothing: the drill says so, exits 1 and shows no key material.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_of_a_protected_stream_whose_licence_is_refused_exits_1() {
    use crate::encrypted::Library;
    let mut lib = Library::new().await;
    lib.env.push(("HS256_KEY", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 64])));
    #[rustfmt::skip]
    lib.run(&[
        "content-key-policy", "create", "--dc", "a", "Tokened", "--issuer", "https://issuer.example",
        "--audience", "urn:viewers", "--hs256-key-env", "HS256_KEY",
    ]).await.ok();
    #[rustfmt::skip]
    let made = lib.run(&[
        "locator", "create", "--dc", "a", &lib.asset, "--type", "origin", "--streaming-policy", "ClearKeyDrm",
        "--content-key-policy", "Tokened", "--json",
    ]).await.ok().json();
    let locator = LocatorId::parse(made["locator"]["id"].as_str().unwrap()).unwrap().guid();
    let env = env_of(&lib.env);
    let (_a, addr) = serve_process(lib.f.dir.path(), &env, "a").await;
    #[rustfmt::skip]
    let run = run_in(lib.f.dir.path(), &[], &[
        "drill", "--json", "--front", &format!("http://{addr}"), "--locator", &locator, "--ism", "Clip.ism",
        "--format", "dash", "--duration", "2", "--retries", "0",
    ])
    .await;
    let report = run.json();
    assert_eq!(run.code, 1, "no licence, no picture: {report:#}");
    let licence = report["manifests"].as_array().unwrap().iter().find(|m| m["format"] == "licence").cloned().unwrap();
    assert_eq!(licence["ok"], false, "{report:#}");
    let refused =
        report["errors"].as_array().unwrap().iter().any(|e| e["path"] == "/keys/clearkey" && e["status"] == 401);
    assert!(refused, "the 401 is reported: {report:#}");
    assert!(!run.stdout.contains("\"k\""), "no key material: {}", run.stdout);
}

/// The drill presents a viewer's bearer token (#26): a locator whose content key policy wants an
/// HS256 token is drilled as DASH `cenc` through the front with `--token-file`, A killed after the
/// first segment; the licence comes from A with the token, the rest plays from B, and what was
/// saved decrypts to the source. With a wrong token (from MIRRORCAST_DRILL_TOKEN) the licence is
/// refused: exit 1 and a line saying so. Neither token is ever in the drill's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_with_a_token_plays_a_token_protected_stream_while_a_dies_and_a_wrong_token_exits_1() {
    use crate::encrypted::{assert_source_packets, decrypted_md5s, source_md5s, Library};
    use crate::key_delivery::{claims, Signer};
    use base64::Engine as _;

    let lib = Library::new().await;
    #[rustfmt::skip]
    lib.run(&[
        "content-key-policy", "create", "--dc", "a", "Tokened", "--issuer", "https://issuer.example",
        "--audience", "urn:viewers", "--hs256-key-env", "HS256_KEY",
    ]).await.ok();
    let (locator, kids) = lib.locator(&lib.asset, "ClearKeyDrm", "Tokened").await;
    lib.run(&["replicate", "--from", "a", "--to", "b", "--asset", &lib.asset]).await.ok();
    let mut cenc = None;
    for kid in &kids {
        let (kind, hex) = lib.reveal("b", kid).await;
        if kind == "cenc" {
            cenc = Some(hex);
        }
    }
    let cenc = cenc.expect("a cenc key");
    let secret = base64::engine::general_purpose::STANDARD.decode(&lib.hs256).unwrap();
    let token = Signer::Hs256(&secret).sign(&claims(&kids[0]));
    let wrong = Signer::Hs256(b"not the policy's secret, 32 byte").sign(&claims(&kids[0]));
    let dir = lib.f.dir.path();
    let token_file = dir.join("viewer.jwt");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();

    let env = env_of(&lib.env);
    let ((serve_a, a_addr), (_serve_b, b_addr)) =
        tokio::join!(serve_process(dir, &env, "a"), serve_process(dir, &env, "b"));
    let (a_origin, b_origin) = (format!("a=http://{a_addr}"), format!("b=http://{b_addr}"));
    #[rustfmt::skip]
    let (_front, front) = listening(dir, &env, &[
        "front", "--listen", "127.0.0.1:0", "--origin", &a_origin, "--origin", &b_origin, "--mode", "proxy",
        "--probe-interval", "200ms", "--probe-timeout", "1s", "--fail-after", "2",
    ])
    .await;
    let front = format!("http://{front}");
    let save = dir.join("saved-tokened");
    #[rustfmt::skip]
    let run = run_in(dir, &[], &[
        "drill", "--json", "--front", &front, "--locator", &locator, "--ism", "Clip.ism", "--format", "dash",
        "--kill", &format!("kill {}", serve_a.id().unwrap()), "--kill-after", "1", "--max-stall", "2",
        "--save", save.to_str().unwrap(), "--token-file", token_file.to_str().unwrap(),
    ])
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "the viewer with a token missed nothing: {report:#}\n{}", run.stderr);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "no HTTP error reached the client: {report:#}");
    let licence = report["manifests"].as_array().unwrap().iter().find(|m| m["format"] == "licence").cloned();
    let licence = licence.unwrap_or_else(|| panic!("a licence asked for: {report:#}"));
    assert_eq!((&licence["ok"], &licence["origin"]), (&true.into(), &"a".into()), "from A with the token: {report:#}");
    for r in report["renditions"].as_array().unwrap() {
        assert_eq!(r["segments_received"], r["segments_expected"], "{r}");
        assert!(r["origins"]["a"].as_u64().unwrap() >= 1 && r["origins"]["b"].as_u64().unwrap() >= 1, "{r}");
    }
    let failover = &report["failover"];
    assert_eq!((failover["before"].as_str(), failover["after"].as_str()), (Some("a"), Some("b")), "{report:#}");
    let saved_video = std::fs::read(saved(&report, "dash", "video-video_600000")).unwrap();
    let want = source_md5s(&lib.clip, "Clip_320x180_600.mp4", "0:v");
    assert_source_packets(&decrypted_md5s(&saved_video, &cenc), &want, "drilled DASH cenc video with a token");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(!said.contains(&token) && !said.contains(&cenc), "no token or key in the drill's output");

    // A wrong token, from the environment, once A is dead: B refuses it; a viewer would see nothing.
    for json in [true, false] {
        let mut args = vec!["drill", "--front", &front, "--locator", &locator, "--ism", "Clip.ism"];
        args.extend(["--format", "dash", "--duration", "2"]);
        if json {
            args.push("--json");
        }
        let refused = run_in(dir, &[("MIRRORCAST_DRILL_TOKEN", &wrong)], &args).await;
        let said = format!("{}{}", refused.stdout, refused.stderr);
        assert_eq!(refused.code, 1, "no licence, no picture: {said}");
        assert!(said.contains("the licence server refused the drill's token (HTTP 403)"), "{said}");
        assert!(!said.contains(&wrong) && !said.contains(&token), "no token in the drill's output: {said}");
        let (header, rest) = wrong.split_once('.').unwrap();
        assert!(!said.contains(rest) && !said.contains(&format!("{header}.")), "no part of the token: {said}");
        if json {
            let report = refused.json();
            let denied = report["errors"].as_array().unwrap().iter().any(|e| e["status"] == 403);
            assert!(denied, "the 403 is reported: {report:#}");
        }
    }

    // A token file that is not a token is bad input: exit 2, the file named, its text not quoted.
    let bad = dir.join("bad.jwt");
    std::fs::write(&bad, "two words\n").unwrap();
    #[rustfmt::skip]
    let run = run_in(dir, &[], &[
        "drill", "--front", &front, "--locator", &locator, "--ism", "Clip.ism", "--token-file", bad.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.jwt") && !run.stderr.contains("two words"), "{}", run.stderr);
}

/// Protected HLS (#26): an AES-128 (`Predefined_ClearKey`) locator whose key policy wants a token,
/// drilled as HLS through the front with the token while A dies. The drill fetches the key through
/// the front with the token, decrypts every segment (its IV from the playlist) and counts the frames
/// in it: as many as the clear locator's; a wrong token exits 1. The token is in no output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_plays_aes128_hls_with_a_token_while_a_dies_and_counts_the_clear_streams_frames() {
    use crate::encrypted::Library;
    use crate::key_delivery::{claims, Signer};
    use base64::Engine as _;

    let lib = Library::new().await;
    #[rustfmt::skip]
    lib.run(&[
        "content-key-policy", "create", "--dc", "a", "Tokened", "--issuer", "https://issuer.example",
        "--audience", "urn:viewers", "--hs256-key-env", "HS256_KEY", "--require-key-id-claim",
    ]).await.ok();
    let (locator, kids) = lib.locator(&lib.asset, "Predefined_ClearKey", "Tokened").await;
    let [kid] = &kids[..] else { panic!("an envelope locator binds one key: {kids:?}") };
    lib.run(&["replicate", "--from", "a", "--to", "b", "--asset", &lib.asset]).await.ok();
    let secret = base64::engine::general_purpose::STANDARD.decode(&lib.hs256).unwrap();
    let token = Signer::Hs256(&secret).sign(&claims(kid));
    let wrong = Signer::Hs256(&secret).sign(&claims("00000000-0000-0000-0000-000000000001"));
    let dir = lib.f.dir.path();
    let token_file = dir.join("viewer.jwt");
    std::fs::write(&token_file, &token).unwrap();

    let env = env_of(&lib.env);
    let ((serve_a, a_addr), (_serve_b, b_addr)) =
        tokio::join!(serve_process(dir, &env, "a"), serve_process(dir, &env, "b"));
    let (a_origin, b_origin) = (format!("a=http://{a_addr}"), format!("b=http://{b_addr}"));
    #[rustfmt::skip]
    let (_front, front) = listening(dir, &env, &[
        "front", "--listen", "127.0.0.1:0", "--origin", &a_origin, "--origin", &b_origin, "--mode", "proxy",
        "--probe-interval", "200ms", "--probe-timeout", "1s", "--fail-after", "2",
    ])
    .await;
    let front = format!("http://{front}");
    let frames = |report: &serde_json::Value| -> Vec<(String, u64)> {
        let renditions = report["renditions"].as_array().unwrap();
        renditions
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r["frames_received"].as_u64().unwrap()))
            .collect()
    };
    let drill = ["drill", "--json", "--front", &front, "--ism", "Clip.ism", "--format", "hls"];
    let clear = run_in(dir, &[], &[&drill[..], &["--locator", &lib.clear]].concat()).await;
    assert_eq!(clear.code, 0, "{}", clear.stdout);
    let clear_frames = frames(&clear.json());
    assert!(!clear_frames.is_empty() && clear_frames.iter().all(|(_, n)| *n > 10), "{clear_frames:?}");

    let kill = format!("kill {}", serve_a.id().unwrap());
    #[rustfmt::skip]
    let run = run_in(dir, &[], &[&drill[..], &[
        "--locator", &locator, "--kill", &kill, "--kill-after", "1", "--max-stall", "2",
        "--token-file", token_file.to_str().unwrap(),
    ]].concat()).await;
    let report = run.json();
    assert_eq!(run.code, 0, "the viewer with a token missed nothing: {report:#}\n{}", run.stderr);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "no HTTP error reached the client: {report:#}");
    let keys: Vec<&serde_json::Value> =
        report["manifests"].as_array().unwrap().iter().filter(|m| m["format"] == "key").collect();
    assert_eq!(keys.len(), 1, "one AES-128 key asked for: {report:#}");
    assert_eq!(keys[0]["path"], format!("/keys/aes128/{kid}"), "{report:#}");
    assert_eq!((&keys[0]["ok"], &keys[0]["origin"]), (&true.into(), &"a".into()), "from A with the token: {report:#}");
    let mut from = (0, 0);
    for r in report["renditions"].as_array().unwrap() {
        assert_eq!(r["segments_received"], r["segments_expected"], "{r}");
        // Per rendition, A may die before a loaded machine asked it for one: the run as a whole
        // is what must have been served by both.
        from.0 += r["origins"]["a"].as_u64().unwrap_or(0);
        from.1 += r["origins"]["b"].as_u64().unwrap_or(0);
    }
    assert!(from.0 >= 1 && from.1 >= 1, "segments from A and from B: {from:?} {report:#}");
    assert_eq!(frames(&report), clear_frames, "every frame of the clear stream, decrypted: {report:#}");
    let failover = &report["failover"];
    assert_eq!((failover["before"].as_str(), failover["after"].as_str()), (Some("a"), Some("b")), "{report:#}");
    assert!(!format!("{}{}", run.stdout, run.stderr).contains(&token), "no token in the drill's output");

    // A token for another key id, once A is dead: B refuses it and no segment plays.
    let refused =
        run_in(dir, &[("MIRRORCAST_DRILL_TOKEN", &wrong)], &[&drill[..], &["--locator", &locator]].concat()).await;
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert_eq!(refused.code, 1, "no key, no picture: {said}");
    assert!(said.contains("the key server refused the drill's token (HTTP 403)"), "{said}");
    assert!(!said.contains(&wrong) && !said.contains(&token), "no token in the drill's output");
    let report = refused.json();
    assert!(report["renditions"].as_array().unwrap().iter().all(|r| r["segments_received"] == 0), "{report:#}");
}

/// SIGTERM mid-stream (what a CI job's timeout or `kill` sends): the drill stops at once with the
/// report of what was played, marked interrupted (exit 1, no panic), runs no kill it had not run
/// yet, and leaves nothing in `--save`: no rendition file half-written under its name, no part file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_stopped_by_sigterm_reports_it_interrupted_and_leaves_no_half_written_file() {
    let sb = Sandbox::start().await;
    let save = sb.dir.path().join("saved");
    let kill_ran = sb.dir.path().join("kill-ran");
    let kill = format!("touch {}", kill_ran.display());
    let (_a, child) =
        drill_one_origin(&sb, &["--save", save.to_str().unwrap(), "--kill", &kill, "--kill-at", "60"]).await;
    // Mid-stream: every rendition has bytes on disk, and the 12 s clip is far from its end.
    let written = || {
        let files: Vec<_> = std::fs::read_dir(&save).map(|d| d.flatten().collect()).unwrap_or_default();
        files.len() == 4 && files.iter().all(|f| f.metadata().is_ok_and(|m| m.len() > 0))
    };
    for _ in 0..400 {
        if written() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(written(), "the drill never started saving");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let run = crate::helpers::Run::from(child.wait_with_output().await.unwrap());

    assert_eq!(run.code, 1, "an interrupted drill exits 1 (documented): {}", run.stderr);
    assert!(run.stderr.contains("SIGTERM: stopping the drill") && !run.stderr.contains("panicked"), "{}", run.stderr);
    let report = run.json();
    assert_eq!((report["interrupted"].as_bool(), report["missed_nothing"].as_bool()), (Some(true), Some(false)));
    assert!(report["seconds"].as_f64().unwrap() < f64::from(CLIP_SECONDS), "stopped, not played out: {report:#}");
    for r in report["renditions"].as_array().unwrap() {
        assert!(r["segments_received"].as_u64().unwrap() < r["segments_expected"].as_u64().unwrap(), "{r}");
        assert_eq!(r["saved"], serde_json::Value::Null, "{r}");
    }
    assert_eq!(report["kill"]["note"], "the drill was stopped first", "{report:#}");
    assert!(!kill_ran.exists(), "the kill command ran after the stop");
    let left: Vec<_> = std::fs::read_dir(&save).unwrap().flatten().map(|f| f.file_name()).collect();
    assert!(left.is_empty(), "--save holds {left:?}");
}

/// A drill stopped while its `--kill` command runs stops the command and whatever it started
/// (here a `sleep` the shell put in the background), at once, instead of waiting out the
/// command's 120 s and leaving its children running, orphaned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_stopped_mid_kill_command_stops_the_command_and_what_it_started() {
    let sb = Sandbox::start().await;
    let pid_file = sb.dir.path().join("grandchild.pid");
    let kill = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let (_a, child) = drill_one_origin(&sb, &["--kill", &kill, "--kill-at", "0"]).await;
    let mut grandchild = String::new();
    for _ in 0..400 {
        grandchild = std::fs::read_to_string(&pid_file).unwrap_or_default().trim().to_owned();
        if !grandchild.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(!grandchild.is_empty(), "the kill command never started its sleep");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let waited = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output()).await;
    if waited.is_err() {
        let _ = std::process::Command::new("kill").args(["-KILL", &grandchild]).status();
    }
    let alive = || {
        std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    };
    let run = crate::helpers::Run::from(waited.expect("the drill waited on its kill command after SIGTERM").unwrap());
    assert_eq!(run.code, 1, "an interrupted drill exits 1: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert_eq!(
        report["kill"]["note"], "the drill was stopped while it ran: stopped, with what it started",
        "{report:#}"
    );
    for _ in 0..100 {
        if !alive() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let orphaned = alive();
    if orphaned {
        let _ = std::process::Command::new("kill").args(["-KILL", &grandchild]).status();
    }
    assert!(!orphaned, "the kill command's background sleep (pid {grandchild}) still runs");
}

/// A clip published in A and served by one origin; a drill of it started with `extra` flags
/// (`--json`, its output piped). Returns the origin and the drill, both killed on drop.
async fn drill_one_origin(sb: &Sandbox, extra: &[&str]) -> (tokio::process::Child, tokio::process::Child) {
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clip = publish_clip(sb.dir.path(), &env, "a").await;
    let (origin, addr) = serve_process(sb.dir.path(), &env, "a").await;
    let front = format!("http://{addr}");
    let args =
        [&["drill", "--json", "--front", &front, "--locator", &clip.locator, "--ism", "Drill.ism"], extra].concat();
    let drill = crate::helpers::command_in(sb.dir.path(), &[], &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (origin, drill)
}
