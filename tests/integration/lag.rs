//! `mirrorcast lag` on Azurite: B current after replicate; after A changes (a blob
//! rewritten, a new asset, a new locator) exactly those are named, with ages, exit 1;
//! A and B untouched by the measurement; the Prometheus output read by
//! prometheus_client's parser (pinned in tools/deploy-check, `cargo xtask setup`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::{BlobStore, BlobStoreExt};
use serde_json::Value;

use crate::replicate::Failover;

/// Every blob's ETag and every container's stored policies: any write changes one.
async fn snapshot(store: &dyn BlobStore) -> Vec<String> {
    let mut out = Vec::new();
    for c in store.list_containers("").await.unwrap() {
        out.push(format!("{c} {:?}", store.get_container_policies(&c).await.unwrap().policies));
        for b in store.list_all(&c, "").await.unwrap() {
            out.push(format!("{c}/{} {}", b.name, b.etag));
        }
    }
    out
}

/// The samples of the Prometheus text, as prometheus_client's parser reads them: name{labels} → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/deploy-check/venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = {}\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in family.samples:\n\
        \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
        \x20       out[f'{s.name}{{{labels}}}'] = s.value\n\
        print(json.dumps(out))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused the text: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn by_name(report: &Value) -> BTreeMap<String, Value> {
    report["assets"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap().to_owned(), a.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_names_what_a_changed_since_the_last_replicate_and_writes_nothing() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let kept = f.publish("Kept", "none", 64 * 1024).await;
    let changed = f.publish("Changed", "none", 64 * 1024).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();

    let current = f.run(&["lag", "--from", "a", "--to", "b", "--all", "--json"]).await.ok();
    let report = current.json();
    assert_eq!(report["totals"]["current"], 2, "{report}");
    assert_eq!(report["totals"]["oldest_change_age_seconds"], 0);
    let metrics = parse_prometheus(
        &f.run(&["lag", "--from", "a", "--to", "b", "--all", "--format", "prometheus"]).await.ok().stdout,
    );
    assert_eq!(metrics["mirrorcast_lag_assets{from=a,state=current,to=b}"], 2.0, "{metrics:?}");
    assert_eq!(metrics["mirrorcast_lag_oldest_change_age_seconds{from=a,to=b}"], 0.0);

    // A changes: a rendition rewritten, a new asset, a second locator on the kept one.
    let changed_at = Instant::now();
    let file = f.dir.path().join("rewritten.mp4");
    std::fs::write(&file, vec![7u8; 4096]).unwrap();
    let folder = f.dir.path().join(changed.replace(':', "_"));
    let rendition = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".mp4"))
        .unwrap();
    std::fs::copy(&file, folder.join(&rendition)).unwrap();
    f.run(&["asset", "upload", "--dc", "a", &changed, folder.join(&rendition).to_str().unwrap()]).await.ok();
    let new = f.publish("New", "none", 16 * 1024).await;
    f.run(&["locator", "create", "--dc", "a", &kept, "--type", "origin"]).await.ok();

    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let (before_a, before_b) = (snapshot(&a).await, snapshot(&b).await);
    let behind = f.run(&["lag", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_eq!(behind.code, 1, "behind is exit 1: {} {}", behind.stdout, behind.stderr);
    assert_eq!(snapshot(&a).await, before_a, "lag wrote to A");
    assert_eq!(snapshot(&b).await, before_b, "lag wrote to B");

    let report = behind.json();
    let assets = by_name(&report);
    let kinds = |name: &str| -> Vec<String> {
        assets[name]["reasons"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(kinds("Changed"), ["blobs"], "{report}");
    assert_eq!(assets["Changed"]["reasons"][0]["count"], 1);
    assert_eq!(assets["Changed"]["bytes_behind"], 4096);
    assert_eq!(kinds("New"), ["not_in_b", "blobs", "locators"], "{report}");
    assert_eq!(assets["New"]["id"], new.as_str());
    assert_eq!(kinds("Kept"), ["locators"], "{report}");
    // Ages: the changes happened during this test.
    let bound = changed_at.elapsed().as_secs() as i64 + 5;
    for name in ["Changed", "New", "Kept"] {
        let age = assets[name]["age_seconds"].as_i64().unwrap_or_else(|| panic!("{name} has no age: {report}"));
        assert!((0..=bound).contains(&age), "{name}: age {age}s, the change is at most {bound}s old");
    }
    assert_eq!(report["totals"]["behind"], 3);
    let oldest = report["totals"]["oldest_change_age_seconds"].as_i64().unwrap();
    assert!((0..=bound).contains(&oldest), "{report}");

    let text = f.run(&["lag", "--from", "a", "--to", "b", "--all"]).await;
    assert_eq!(text.code, 1);
    assert!(text.stdout.lines().any(|l| l.starts_with("- ") && l.contains("'New'")), "{}", text.stdout);
    assert!(text.stdout.lines().any(|l| l.starts_with("* ") && l.contains("'Changed'")), "{}", text.stdout);
    let metrics =
        parse_prometheus(&f.run(&["lag", "--from", "a", "--to", "b", "--all", "--format", "prometheus"]).await.stdout);
    assert_eq!(metrics["mirrorcast_lag_assets{from=a,state=behind,to=b}"], 3.0, "{metrics:?}");

    // Replicated again: current.
    f.run(&["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();
    f.run(&["lag", "--from", "a", "--to", "b", "--all"]).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_errors_are_exit_2_with_one_line() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    f.run(&["lag", "--from", "a", "--to", "a", "--all"]).await.usage_error("same data center");
    f.run(&["lag", "--from", "a", "--to", "b", "--asset", "not-an-id"]).await.usage_error("not-an-id");
    f.run(&["lag", "--from", "a", "--to", "b", "--all", "--json", "--format", "prometheus"])
        .await
        .usage_error("--json");
    let missing = "nb:cid:UUID:00000000-0000-0000-0000-000000000001";
    f.run(&["lag", "--from", "a", "--to", "b", "--asset", missing]).await.usage_error("not found");
}
