//! `mirrorcast replicate` between two data centers on Azurite, both topologies.

use std::collections::BTreeMap;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::{BlobStore, BlobStoreExt};
use serde_json::Value;

use crate::helpers::{run_in, write_sample, Run};

pub(crate) const ORIGIN_A: &str = "https://dca.streaming.example";
pub(crate) const ORIGIN_B: &str = "https://dcb.streaming.example";

/// Two data centers and a folder to run the CLI in.
pub(crate) struct Failover {
    pub dcs: TwoDataCenters,
    pub dir: tempfile::TempDir,
}

impl Failover {
    pub(crate) async fn new(dcs: TwoDataCenters) -> Self {
        Failover { dcs, dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MIRRORCAST_DC_A", self.dcs.a.connection_string.clone()),
            ("MIRRORCAST_DC_B", self.dcs.b.connection_string.clone()),
            ("MIRRORCAST_ORIGIN_A", ORIGIN_A.to_owned()),
            ("MIRRORCAST_ORIGIN_B", ORIGIN_B.to_owned()),
        ]
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_in(self.dir.path(), &env, args).await
    }

    /// A realistic encoded asset in A, with an origin locator; returns its id.
    pub(crate) async fn publish(&self, name: &str, options: &str, rendition_bytes: u64) -> String {
        let created =
            self.run(&["asset", "create", "--dc", "a", "--name", name, "--options", options, "--json"]).await.ok();
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let folder = self.dir.path().join(id.replace(':', "_"));
        write_sample(&folder, rendition_bytes);
        self.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();
        self.run(&["locator", "create", "--dc", "a", &id, "--type", "origin"]).await.ok();
        id
    }

    pub(crate) async fn md5s(&self, store: &dyn BlobStore, container: &str) -> BTreeMap<String, (u64, Option<String>)> {
        match store.list_all(container, "").await {
            Ok(list) => list.into_iter().map(|b| (b.name, (b.size, b.properties.content_md5))).collect(),
            Err(_) => BTreeMap::new(),
        }
    }
}

fn container_of(id: &str) -> String {
    id.replace("nb:cid:UUID:", "asset-")
}

async fn replicate_and_check(f: &Failover, expected_strategy: &str) {
    let id = f.publish("Big Buck Bunny", "none", 300 * 1024).await;
    let run = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok();
    let report = run.json();
    let totals = &report["totals"];
    assert_eq!(totals["copied"], 10, "{report}");
    assert_eq!(totals["failed"], 0);
    assert!(
        totals["strategies"].as_object().unwrap().keys().all(|k| k.starts_with(expected_strategy)),
        "{}",
        totals["strategies"]
    );

    // Every blob in B has A's bytes' MD5 and size.
    let container = container_of(&id);
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let in_a = f.md5s(&a, &container).await;
    assert_eq!(in_a.len(), 10);
    assert_eq!(f.md5s(&b, &container).await, in_a, "B must hold A's blobs with A's MD5s");

    // URLs in A and B differ only in the base.
    let urls = report["assets"][0]["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 5, "{urls:?}");
    for u in urls {
        let (sa, sb) = (u["source"].as_str().unwrap(), u["target"].as_str().unwrap());
        assert!(sa.starts_with(ORIGIN_A) && sb.starts_with(ORIGIN_B), "{sa} {sb}");
        assert_eq!(&sa[ORIGIN_A.len()..], &sb[ORIGIN_B.len()..]);
        assert!(sa.contains("/Big%20Buck%20Bunny.ism/manifest"), "{sa}");
    }

    // File infos and locators in B match A's.
    let show_a = f.run(&["asset", "show", "--dc", "a", &id, "--json"]).await.ok().json();
    let show_b = f.run(&["asset", "show", "--dc", "b", &id, "--json"]).await.ok().json();
    assert_eq!(show_b["name"], "Big Buck Bunny");
    assert_eq!(show_b["container"], show_a["container"]);
    assert_eq!(show_b["files"], show_a["files"], "file infos in B must match A's");
    let (la, lb) = (show_a["locators"].as_array().unwrap(), show_b["locators"].as_array().unwrap());
    assert_eq!(la.len(), 1, "A keeps only its origin locator: the copy SAS locator must be gone: {la:?}");
    assert_eq!(lb.len(), 1, "B has the origin locator and no SAS locator: {lb:?}");
    for key in ["id", "type", "start_time", "expiration"] {
        assert_eq!(la[0][key], lb[0][key], "locator {key}");
    }
    let policies_b = f.run(&["policy", "list", "--dc", "b", "--json"]).await.ok().json();
    let streaming = policies_b.as_array().unwrap().iter().find(|p| p["id"] == lb[0]["policy_id"]).unwrap();
    assert_eq!(streaming["permissions"], "r", "an origin locator's policy is read-only");

    // A second run right after copies nothing, and says so.
    let again = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    assert!(again.stdout.contains("0 copied, 10 skipped"), "{}", again.stdout);
    assert!(again.stdout.contains("nothing to copy"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_streams_between_two_instances() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    replicate_and_check(&f, "streamed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_copies_server_side_between_accounts_of_one_instance() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    replicate_and_check(&f, "server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_encrypted_assets_are_refused_and_the_others_go_on() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let plain = f.publish("Plain", "none", 4096).await;
    let secret = f.publish("Locked", "storage-encrypted", 4096).await;
    let run = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_eq!(run.code, 1, "a refused asset makes the run exit 1: {}", run.stderr);
    let report = run.json();
    let assets = report["assets"].as_array().unwrap();
    let locked = assets.iter().find(|a| a["id"] == secret.as_str()).unwrap();
    assert_eq!(locked["status"], "refused");
    assert!(locked["errors"][0].as_str().unwrap().contains("storage-encrypted"), "{locked}");
    let ok = assets.iter().find(|a| a["id"] == plain.as_str()).unwrap();
    assert_eq!(ok["status"], "replicated");
    let b = f.dcs.b.store();
    assert!(
        b.list_containers(&container_of(&secret)).await.unwrap().is_empty(),
        "nothing of a refused asset may reach B"
    );
    assert_eq!(b.list_all(&container_of(&plain), "").await.unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    f.publish("Plan me", "none", 4096).await;
    let run = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--dry-run"]).await.ok();
    assert!(run.stdout.contains("would copy 10 blob(s)"), "{}", run.stdout);
    assert!(f.dcs.b.store().list_containers("").await.unwrap().is_empty(), "a dry run writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_assets_without_overlap() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    for i in 0..4 {
        f.publish(&format!("asset {i}"), "none", 2048).await;
    }
    let mut seen = Vec::new();
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let report: Value =
            f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--shard", &shard, "--json"]).await.ok().json();
        seen.extend(report["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!((before, seen.len()), (4, 4), "every asset exactly once across shards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_replicates_all_of_a_its_clip_and_encode_a_rerun_copies_nothing_and_both_origins_play_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &[], &["demo", "--json"]).await.ok();
    let out = run.json();
    // With ffmpeg (which the tests need), the demo encodes a real clip: a 720p source's ladder.
    let files: Vec<&str> =
        out["asset"]["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(
        files.contains(&"Mirrorcast Demo.ism") && files.contains(&"Mirrorcast Demo_1280x720_3400.mp4"),
        "{files:?}"
    );
    // All of A goes to B and is verified: the encode and its source clip (one file).
    assert_eq!(out["replication"]["totals"]["copied"], files.len() + 1, "{out}");
    assert_eq!(out["rerun"]["copied"], 0);
    assert_eq!(out["rerun"]["skipped"], files.len() + 1);
    let assets = out["replication"]["assets"].as_array().unwrap();
    let encoded = assets.iter().find(|a| a["id"] == out["asset"]["id"]).unwrap_or_else(|| panic!("{out}"));
    assert!(encoded["urls"].as_array().unwrap().iter().any(|u| u["format"] == "hls"));
    assert_eq!(assets.len(), 2, "{assets:?}");
    assert_eq!(out["verify"]["assets"].as_array().unwrap().len(), 2, "verify checks all of A: {}", out["verify"]);
    assert_eq!(out["verify"]["identical"], true, "{}", out["verify"]);
    // Both data centers' origins served HLS and DASH that ffmpeg read to the end of the 10 s clip,
    // from URLs that differ only in their host.
    let played = out["playback"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        played.iter().map(|p| (p["format"].as_str().unwrap(), p["dc"].as_str().unwrap())).collect();
    assert_eq!(seen, [("hls", "a"), ("hls", "b"), ("dash", "a"), ("dash", "b")], "{played:?}");
    for p in played {
        assert!(p["error"].is_null(), "{p}");
        assert!(p["seconds"].as_f64().unwrap() > 9.5, "stopped early: {p}");
        assert!(p["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{p}");
    }
    let path = |p: &serde_json::Value| p["url"].as_str().unwrap().splitn(4, '/').nth(3).unwrap().to_owned();
    assert_eq!(path(&played[0]), path(&played[1]));
    assert_ne!(played[0]["url"], played[1]["url"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_request_and_bandwidth_caps_copies_every_byte() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    // Renditions of several blocks: the ranged, pipelined path, through the capped stores.
    let id = f.publish("Capped", "none", 3 * 1024 * 1024 + 17).await;
    let run = f
        .run(&[
            "replicate",
            "--from",
            "a",
            "--to",
            "b",
            "--asset",
            &id,
            "--strategy",
            "streamed",
            "--block-size-mib",
            "1",
            "--max-requests-per-second",
            "200",
            "--max-bandwidth",
            "64MiB/s",
            "--json",
        ])
        .await
        .ok();
    assert_eq!(run.json()["totals"]["failed_assets"], 0, "{}", run.stdout);
    let container = container_of(&id);
    let (a, b) = (f.md5s(&f.dcs.a.store(), &container).await, f.md5s(&f.dcs.b.store(), &container).await);
    assert_eq!(a, b, "every blob, with its size and MD5, in B");
    f.run(&["verify", "--from", "a", "--to", "b", "--asset", &id, "--deep"]).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexed_job_pod_takes_its_shard_from_job_completion_index() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = mirrorcast_core::catalog::Catalog::new(std::sync::Arc::new(f.dcs.a.store()));
    for i in 0..4 {
        crate::requests::publish_small(&a, &format!("asset {i}"), i).await;
    }
    let base = f.env();
    let mut seen = Vec::new();
    for k in ["0", "1"] {
        let mut env: Vec<(&str, &str)> = base.iter().map(|(n, v)| (*n, v.as_str())).collect();
        env.extend([("JOB_COMPLETION_INDEX", k), ("JOB_COMPLETIONS", "2")]);
        let report =
            run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
        seen.extend(report["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!((before, seen.len()), (4, 4), "every asset exactly once across the Job's pods");

    let mut env: Vec<(&str, &str)> = base.iter().map(|(n, v)| (*n, v.as_str())).collect();
    env.extend([("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "2")]);
    run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--all"])
        .await
        .usage_error("JOB_COMPLETION_INDEX");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_directory_it_cannot_write_to_stops_the_run_before_anything_is_written() {
    // The per-asset reports go to a temporary file: without one, the run would not be able to say what it did.
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    f.publish("Nowhere to report", "none", 2048).await;
    let missing = f.dir.path().join("no-such-directory");
    let mut env = f.env();
    env.push(("TMPDIR", missing.to_str().unwrap().to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("no-such-directory") && run.stderr.contains("TMPDIR"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no half report: {}", run.stdout);
    assert!(f.dcs.b.store().list_containers("").await.unwrap().is_empty(), "nothing was written in B");
}
