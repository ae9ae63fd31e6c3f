//! Data centers that are not Azure: a local directory between two Azurite accounts.

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::helpers::run_in;
use crate::replicate::Failover;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_goes_from_azurite_to_a_local_directory_and_back_to_another_account() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Round Trip", "none", 64 * 1024).await;
    let local = format!("file://{}", f.dir.path().join("dc-local").display());
    let mut env = f.env();
    env.push(("MIRRORCAST_DC_L", local));
    env.push(("MIRRORCAST_ORIGIN_L", "https://local.streaming.example".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |args: Vec<&'static str>| {
        let env = env.clone();
        let dir = f.dir.path().to_path_buf();
        async move { run_in(&dir, &env, &args).await }
    };

    let to_local = run(vec!["replicate", "--from", "a", "--to", "l", "--all", "--json"]).await.ok().json();
    assert_eq!(to_local["totals"]["copied"], 10, "{to_local}");
    assert!(to_local["totals"]["strategies"]["streamed"].as_u64() == Some(10), "{}", to_local["totals"]);
    let back = run(vec!["replicate", "--from", "l", "--to", "b", "--all", "--json"]).await.ok().json();
    assert_eq!(back["totals"]["copied"], 10, "{back}");

    let audit = run(vec!["verify", "--from", "a", "--to", "b", "--all", "--deep", "--format", "json"]).await;
    assert_eq!(audit.code, 0, "A and B must be identical after the round trip: {}", audit.stdout);
    assert_eq!(audit.json()["identical"], true);
    let audit = run(vec!["verify", "--from", "a", "--to", "l", "--all", "--format", "json"]).await;
    assert_eq!(audit.code, 0, "the local directory holds A's asset: {}", audit.stdout);
    let shown = run(vec!["asset", "show", "--dc", "l", "--json"]).await;
    assert_eq!(shown.code, 2, "asset show needs an id: clap usage error");
    let listed = run(vec!["asset", "list", "--dc", "l", "--json"]).await.ok().json();
    assert_eq!(listed[0]["id"], id.as_str());
}

/// Runs `mirrorcast <args>` and returns how it ended and its peak resident
/// memory (the kernel's VmHWM, read from /proc while it runs).
async fn peak_rss(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (crate::helpers::Run, u64) {
    let child = crate::helpers::command_in(dir, env, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id().unwrap());
    let watch = tokio::spawn(async move {
        let mut peak_kib = 0u64;
        // VmHWM only grows: the last reading before the process ends is its peak, within 5 ms.
        while let Ok(text) = tokio::fs::read_to_string(&status).await {
            if let Some(kib) = text.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                peak_kib = peak_kib.max(kib);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        peak_kib * 1024
    });
    let output = child.wait_with_output().await.unwrap();
    (crate::helpers::Run::from(output), watch.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_streamed_into_a_local_directory_stays_within_the_block_budget() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let created = f.run(&["asset", "create", "--dc", "a", "--name", "Feature", "--json"]).await.ok();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let folder = f.dir.path().join("feature");
    std::fs::create_dir_all(&folder).unwrap();
    // Incompressible bytes (xorshift), as a video's are.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..160 * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(folder.join("Feature_1920x1080_6750.mp4"), &bytes).unwrap();
    drop(bytes);
    f.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();

    let local = f.dir.path().join("dc-local");
    let mut env = f.env();
    env.push(("MIRRORCAST_DC_L", format!("file://{}", local.display())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (run, peak) = peak_rss(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "l", "--all", "--json"]).await;
    let report = run.ok().json();
    assert_eq!(report["totals"]["copied"], 1, "{report}");
    eprintln!("replicate of a 160 MiB blob into file://: peak RSS {:.1} MiB", peak as f64 / 1048576.0);
    let (a, l) = (f.dcs.a.store(), mirrorcast_object_store::ObjectStoreBackend::local(&local).unwrap());
    let container = id.replace("nb:cid:UUID:", "asset-");
    assert_eq!(f.md5s(&l, &container).await, f.md5s(&a, &container).await, "the copy must be A's bytes");
    assert!(peak > 0 && peak <= 64 * 1024 * 1024, "peak RSS {peak} bytes is over the 64 MiB bound");
}
