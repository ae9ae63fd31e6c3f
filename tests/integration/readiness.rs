//! `mirrorcast verify --http`: the readiness audit. Both data centers' origins
//! (real `mirrorcast serve` processes on Azurite) serve the same manifests and
//! segments after a replicate; a rendition overwritten in B shows as a difference
//! (exit 1), not as a failure (exit 2).

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::drill::{encode_clip, env_of, replicated_and_served, serve_process, Replicated};
use crate::helpers::run_in;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_http_is_clean_after_replicate_and_names_a_rendition_that_differs_in_b() {
    let dcs = TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap();
    let Replicated { dcs: _dcs, dir, env, clip, a: (_a, a_addr), b: (b, b_addr) } = replicated_and_served(dcs).await;
    let env = env_of(&env);
    let (a_url, b_url) = (format!("http://{a_addr}"), format!("http://{b_addr}"));

    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a_url, "--to-url", &b_url, "--json"];
    let clean = run_in(dir.path(), &env, &args).await;
    let report = clean.json();
    assert_eq!(clean.code, 0, "{report:#}");
    assert_eq!(report["identical"], true);
    let entries = report["assets"][0]["entries"].as_array().unwrap();
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap()).collect();
    let l = &clip.locator;
    for wanted in [
        format!("/{l}/Drill.ism/manifest"),
        format!("/{l}/Drill.ism/manifest(format=m3u8-aapl)"),
        format!("/{l}/Drill.ism/manifest(format=mpd-time-csf)"),
        format!("/{l}/Drill.ism/manifest(format=m3u8-cmaf)"),
        format!("/{l}/Drill.ism/QualityLevels(500000)/Manifest(video,format=m3u8-aapl)"),
        format!("/{l}/Drill.ism/QualityLevels(500000)/Fragments(video=0,format=m3u8-aapl).ts"),
        format!("/{l}/Drill.ism/QualityLevels(128000)/Fragments(audio=0,format=m3u8-aapl).ts"),
        format!("/{l}/Drill.ism/QualityLevels(500000)/Fragments(video=i,format=m3u8-cmaf).mp4"),
        format!("/{l}/Drill.ism/QualityLevels(500000)/Fragments(video=0,format=m3u8-cmaf).m4s"),
    ] {
        assert!(paths.contains(&wanted.as_str()), "{wanted} compared: {paths:#?}");
    }
    let last_video = paths.iter().filter(|p| p.contains("Fragments(video=") && !p.contains("video=i")).count();
    assert_eq!(
        last_video, 10,
        "the first and the last video segment over HLS TS and CMAF, DASH csf and cmaf, and Smooth: {paths:#?}"
    );
    assert!(entries.iter().all(|e| e["check"] == "http" && e["marker"] == "="), "{report:#}");

    // B's rendition replaced by other bytes of the same name: the origins now serve different segments.
    drop(b);
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    encode_clip(&other.join("Drill_320x180_500.mp4"), "200k");
    run_in(dir.path(), &env, &["asset", "upload", "--dc", "b", &clip.asset, other.to_str().unwrap()]).await.ok();
    let (_b, b_addr) = serve_process(dir.path(), &env, "b").await;
    // The bases from the data centers' configuration this time.
    let mut configured = env.clone();
    configured.extend([("MIRRORCAST_ORIGIN_A", a_url.as_str())]);
    let b_url = format!("http://{b_addr}");
    configured.push(("MIRRORCAST_ORIGIN_B", &b_url));
    let differs = run_in(dir.path(), &configured, &["verify", "--http", "--from", "a", "--to", "b", "--all"]).await;
    assert_eq!(differs.code, 1, "a difference, not a failure: {}\n{}", differs.stdout, differs.stderr);
    assert!(differs.stdout.contains("NOT identical"), "{}", differs.stdout);
    // Named by its track: the video rendition's resolution and bandwidth.
    let line = format!(
        "* http      \"/{l}/Drill.ism/QualityLevels(500000)/Fragments(video=0,format=m3u8-aapl).ts\" [video 320x180 "
    );
    let found = differs.stdout.lines().find(|x| x.trim_start().starts_with(&line));
    assert!(found.is_some_and(|x| x.contains("bps]: served bytes differ")), "{line}\n{}", differs.stdout);
    assert!(!differs.stdout.lines().any(|l| l.trim_start().starts_with('!')), "{}", differs.stdout);

    // No origin for B configured and no --to-url: one line, exit 2, nothing checked.
    run_in(dir.path(), &env, &["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a_url])
        .await
        .usage_error("--to-url");
    run_in(
        dir.path(),
        &env,
        &["verify", "--http", "--from", "a", "--to", "b", "--from-url", "ftp://x", "--to-url", &b_url],
    )
    .await
    .usage_error("--from-url");
}
