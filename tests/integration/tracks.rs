//! A library with languages and subtitles across a failover (#24 item 7): a film made with ffmpeg
//! (English and Spanish audio with their own tones, a WebVTT sidecar; `systemLanguage`,
//! `trackName` and a `textstream` in the `.ism`) published in A and replicated to B.
//! `verify --http` compares every track both origins serve and is clean; with B's Spanish
//! rendition replaced by other audio it reports that track, and only that track, with `*`.

use std::path::PathBuf;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::front::start_front;
use crate::languages::film_with_two_languages;
use crate::player::{players_dir, report_of_page, require_chromium_and_players, serve_page};
use crate::replicate::Failover;
use crate::serve::{ffmpeg, publish_folder_in, serve_dc, Published};
use crate::subtitles::source_vtt;

/// The film of `seconds` with its English WebVTT sidecar, published in A and replicated to B;
/// the folder it was uploaded from.
pub(crate) async fn film_in_a_and_b(f: &Failover, env: &[(&str, &str)], seconds: u32) -> (Published, PathBuf) {
    let folder = f.dir.path().join("film");
    let mut tracks = film_with_two_languages(&folder, seconds);
    std::fs::write(folder.join("Film_en.vtt"), source_vtt()).unwrap();
    tracks.push(IsmTrack {
        track_name: Some("English".into()),
        language: Some("en".into()),
        ..IsmTrack::new(TrackKind::Text, "Film_en.vtt", 1000)
    });
    let ism = ServerManifest { title: Some("Film".into()), client_manifest: None, tracks };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let published = publish_folder_in(f.dir.path(), env, "Film", &folder).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &published.asset]).await.ok();
    (published, folder)
}

/// The report's entries: (marker, track, path) each.
fn entries(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let field = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or("").to_owned();
    report["assets"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (field(e, "marker"), field(e, "track"), field(e, "path")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_http_compares_each_language_and_the_subtitles_and_names_the_spanish_track_that_differs_in_b() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (published, _) = film_in_a_and_b(&f, &env, 6).await;
    let a = serve_dc(f.dir.path(), &env, "a", &[]).await;
    let b = serve_dc(f.dir.path(), &env, "b", &[]).await;
    let (a_url, b_url) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let (code, report, _) = run_verify(f.dir.path(), &env, &a_url, &b_url).await;
    assert_eq!(code, 0, "{report:#}");
    let clean = entries(&report);
    assert!(clean.iter().all(|(m, ..)| m == "="), "{report:#}");
    // Every track compared, named: each language and the subtitles in HLS (TS and CMAF), DASH and
    // (audio) Smooth; the I-frame playlist and the audio-only variant.
    let tracks: std::collections::BTreeSet<&str> = clean.iter().map(|(_, t, _)| t.as_str()).collect();
    for wanted in [
        "audio en \"aac_en\"",
        "audio es \"aac_es\"",
        "subtitles en \"English\"",
        "audio es aac_es_128001",
        "text en \"English\"",
        "audio es \"aac_es\" 128001 bps",
        "I-frames 320x180",
    ] {
        assert!(tracks.iter().any(|t| t.starts_with(wanted)), "{wanted} compared: {tracks:#?}");
    }
    let spanish_segments = |entries: &[(String, String, String)]| {
        entries.iter().filter(|(_, t, p)| t.contains("aac_es") && p.contains("Fragments(")).count()
    };
    // Init, first and last segment: HLS TS (no init) and CMAF, DASH csf and cmaf; Smooth first and last.
    assert_eq!(spanish_segments(&clean), 2 + 3 + 3 + 3 + 2, "{clean:#?}");
    let subtitle_segments = clean.iter().filter(|(_, t, p)| t.starts_with("subtitles") && p.contains(".vtt")).count();
    assert_eq!(subtitle_segments, 2 * 2, "first and last WebVTT segment over TS and CMAF: {clean:#?}");

    // B's Spanish rendition replaced by other audio (880 Hz) of the same name and length.
    drop(b);
    let other = f.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let out = ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880",
        "-t",
        "6",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "-y",
        other.join("Film_AAC_es.mp4").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    f.run(&["asset", "upload", "--dc", "b", &published.asset, other.to_str().unwrap()]).await.ok();
    let b = serve_dc(f.dir.path(), &env, "b", &[]).await;
    let (code, report, text) = run_verify(f.dir.path(), &env, &a_url, &format!("http://{}", b.addr)).await;
    assert_eq!(code, 1, "a difference, not a failure: {report:#}");
    let differs: Vec<_> = entries(&report).into_iter().filter(|(m, ..)| m != "=").collect();
    assert!(!differs.is_empty() && differs.iter().all(|(m, ..)| m == "*"), "{differs:#?}");
    assert!(
        differs.iter().all(|(_, t, _)| t.contains("es") && t.contains("aac_es")),
        "only the Spanish track differs: {differs:#?}"
    );
    assert_eq!(spanish_segments(&differs), spanish_segments(&clean), "each sampled Spanish segment: {differs:#?}");
    let l = &published.locator;
    let line = format!(
        "* http      \"/{l}/Film.ism/QualityLevels(128001)/Fragments(aac_es=0,format=m3u8-aapl).ts\" [audio es \"aac_es\"]: served bytes differ"
    );
    assert!(text.contains(&line), "{line}\n{text}");
}

/// `verify --http` of A's origin against `b_url` as JSON and as text: exit code, report, text.
async fn run_verify(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    a_url: &str,
    b_url: &str,
) -> (i32, serde_json::Value, String) {
    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", a_url, "--to-url", b_url];
    let json = crate::helpers::run_in(dir, env, &[&args[..], &["--all", "--json"]].concat()).await;
    let text = crate::helpers::run_in(dir, env, &[&args[..], &["--all"]].concat()).await;
    (json.code, json.json(), text.stdout)
}

/// hls.js (TS and CMAF) and dash.js in headless Chromium, from A and from B: each lists both
/// audio languages and the text track, switches to the text track and then to each language, and
/// plays on (currentTime a second further) after each switch, with the track it asked for in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_and_dash_js_switch_to_each_language_and_the_text_track_from_a_and_from_b() {
    require_chromium_and_players();
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Long enough to play through four switches on a loaded machine.
    let (published, _) = film_in_a_and_b(&f, &env, 40).await;
    let page = serve_page().await;
    for dc in ["a", "b"] {
        let served = serve_dc(f.dir.path(), &env, dc, &[]).await;
        let manifest = format!("http://{}/{}/Film.ism/manifest", served.addr, published.locator);
        for (kind, format) in [("hls", "m3u8-aapl"), ("hls", "m3u8-cmaf"), ("dash", "mpd-time-csf")] {
            let src = mirrorcast_core::streaming::encode_segment(&format!("{manifest}(format={format})"));
            let report = report_of_page(&format!("{page}/tracks.html?kind={kind}&src={src}"), 240_000, None).await;
            let what = format!("{dc} {kind} {format}: {report}");
            assert_eq!(report["state"], "playing", "{what}");
            assert_eq!(report["errors"], serde_json::json!([]), "{what}");
            let langs = |list: &str| -> Vec<String> {
                let mut l: Vec<String> =
                    report[list].as_array().unwrap().iter().map(|t| t["lang"].as_str().unwrap_or("").into()).collect();
                l.sort();
                l
            };
            assert_eq!(langs("audio"), ["en", "es"], "both languages listed: {what}");
            assert_eq!(langs("text"), ["en"], "the text track listed: {what}");
            let switches = report["switches"].as_array().unwrap();
            let mut to: Vec<&str> = switches.iter().map(|s| s["to"].as_str().unwrap()).collect();
            to.sort();
            assert_eq!(to, ["audio en", "audio es", "text en"], "{what}");
            for s in switches {
                let lang = s["to"].as_str().unwrap().rsplit(' ').next().unwrap();
                assert_eq!(s["inUse"], lang, "the track asked for is the one in use: {what}");
                let (from, at) = (s["from"].as_f64().unwrap(), s["at"].as_f64().unwrap());
                assert!(at > from + 1.0, "playback went on after the switch: {what}");
            }
        }
    }
}

/// The front page's player (`mirrorcast front`, front/src/page.html) lists both languages and the
/// text track in its selectors; choosing each plays on with the chosen track in use. Through a
/// front on A's origin, then through one on B's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_pages_player_lists_and_switches_each_language_and_the_text_track_from_a_and_from_b() {
    require_chromium_and_players();
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (published, _) = film_in_a_and_b(&f, &env, 40).await;
    let players = players_dir().join("node_modules");
    for dc in ["a", "b"] {
        let served = serve_dc(f.dir.path(), &env, dc, &[]).await;
        let origin = format!("{dc}=http://{}", served.addr);
        let front =
            start_front(f.dir.path(), &[], &["--origin", &origin, "--players", players.to_str().unwrap()]).await;
        for format in ["m3u8-cmaf", "mpd-time-csf"] {
            let stream = format!("/{}/Film.ism/manifest(format={format})", published.locator);
            let page = front.url(&format!("/_front/?src={}", mirrorcast_core::streaming::encode_segment(&stream)));
            let out = tokio::process::Command::new("node")
                .arg(players_dir().join("front_tracks.mjs"))
                .args([&page, "120000"])
                .output()
                .await
                .expect("node is needed (Node.js 18+)");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let what = format!("{dc} {format}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{what}");
            let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            let labels = |list: &str| -> Vec<String> {
                let mut l: Vec<String> =
                    report[list].as_array().unwrap().iter().map(|o| o["label"].as_str().unwrap().into()).collect();
                l.sort();
                l
            };
            let audio = labels("audio");
            assert!(audio.len() == 2 && audio[0].starts_with("en") && audio[1].starts_with("es"), "{what}");
            let text = labels("text");
            assert!(text.len() == 1 && text[0].starts_with("en"), "{what}");
            let mut to: Vec<&str> =
                report["switches"].as_array().unwrap().iter().map(|s| s["to"].as_str().unwrap()).collect();
            to.sort();
            assert_eq!(to, ["audio en", "audio es", "text en"], "{what}");
            assert!(!report["player"].as_str().unwrap_or("").contains(".js:"), "no player error: {what}");
        }
    }
}
