//! `replicate --every` on Azurite: passes until stopped, a change between two passes
//! replicated, /metrics showing the lag go to zero, a second instance standing by on
//! the pass lease (never two passes at once) and taking over when the first stops,
//! SIGTERM mid-pass exiting 0 with no grant left.

use std::time::{Duration, Instant};

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::BlobStoreExt;

use crate::failover::assert_no_grant_policies;
use crate::helpers::{command_in, listening, Listening, Run};
use crate::replicate::Failover;

/// One sample of a `/metrics` text: the value of the line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn metrics(instance: &Listening) -> String {
    reqwest::get(format!("http://{}/metrics", instance.addr)).await.unwrap().text().await.unwrap()
}

/// Waits (up to `limit`) until `/metrics` satisfies `ok`; the last text either way.
async fn metrics_until(instance: &Listening, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = metrics(instance).await;
        if ok(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn complete_passes(text: &str) -> f64 {
    sample(text, "mirrorcast_replicate_passes_total{from=\"a\",to=\"b\",outcome=\"complete\"}").unwrap_or(0.0)
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

fn watch_args(metrics_listen: &str) -> Vec<&str> {
    vec!["replicate", "--from", "a", "--to", "b", "--all", "--every", "10s", "--metrics-listen", metrics_listen]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_replicate_a_change_and_a_second_instance_stands_by_until_the_first_stops() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    f.publish("First", "none", 32 * 1024).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut first = listening(f.dir.path(), &env, &watch_args("127.0.0.1:0")).await;
    let text = metrics_until(&first, Duration::from_secs(90), |t| complete_passes(t) >= 1.0).await;
    assert!(complete_passes(&text) >= 1.0, "no complete pass: {text}");
    assert_eq!(sample(&text, "mirrorcast_lag_assets{from=\"a\",to=\"b\",state=\"current\"}"), Some(1.0), "{text}");
    let health = reqwest::get(format!("http://{}/healthz", first.addr)).await.unwrap();
    assert_eq!(health.status(), 200);

    // A second instance: it stands by, running no pass while the first holds the lease.
    let mut second = listening(f.dir.path(), &env, &watch_args("127.0.0.1:0")).await;
    let text = metrics_until(&second, Duration::from_secs(30), |t| {
        sample(t, "mirrorcast_replicate_lease_waits_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(complete_passes(&text), 0.0, "two instances ran passes: {text}");
    assert!(second.stderr.lock().unwrap().contains("standing by"), "{}", second.stderr.lock().unwrap());

    // A changes between two passes: the next pass replicates it, the lag goes to zero.
    let before = complete_passes(&metrics(&first).await);
    f.publish("Second", "none", 32 * 1024).await;
    let text = metrics_until(&first, Duration::from_secs(90), |t| {
        complete_passes(t) > before
            && sample(t, "mirrorcast_lag_assets{from=\"a\",to=\"b\",state=\"current\"}") == Some(2.0)
    })
    .await;
    assert_eq!(sample(&text, "mirrorcast_lag_assets{from=\"a\",to=\"b\",state=\"current\"}"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "mirrorcast_lag_oldest_change_age_seconds"), Some(0.0), "{text}");
    f.run(&["lag", "--from", "a", "--to", "b", "--all"]).await.ok();
    assert_eq!(complete_passes(&metrics(&second).await), 0.0, "the standby ran a pass while the first held the lease");

    // The first stops (exit 0, its lease released): the standby takes over.
    sigterm(&first.child);
    let status = tokio::time::timeout(Duration::from_secs(60), first.child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0), "{}", first.stderr.lock().unwrap());
    let text = metrics_until(&second, Duration::from_secs(60), |t| complete_passes(t) >= 1.0).await;
    assert!(complete_passes(&text) >= 1.0, "the standby never took over: {text}");
    sigterm(&second.child);
    let status = tokio::time::timeout(Duration::from_secs(60), second.child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_no_grant_policies(&f.dcs.a.store(), "A").await;
    assert_no_grant_policies(&f.dcs.b.store(), "B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_pass_ends_the_pass_cleanly_and_exits_0() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Long Night", "none", 2 * 1024 * 1024).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = watch_args("127.0.0.1:0");
    args.extend(["--strategy", "streamed", "--max-bandwidth", "512KiB/s", "--concurrency", "1"]);
    let child = command_in(f.dir.path(), &env, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-pass: the first blob has landed in B.
    let container = id.replace("nb:cid:UUID:", "asset-");
    let b = f.dcs.b.store();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.list_all(&container, "").await.map(|l| l.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the pass never got going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&child);
    let run =
        Run::from(tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await.unwrap().unwrap());
    assert_eq!(run.code, 0, "a stopped watch exits 0: {}", run.stderr);
    assert!(run.stderr.contains("SIGTERM"), "{}", run.stderr);
    assert_no_grant_policies(&f.dcs.a.store(), "A").await;
    assert_no_grant_policies(&b, "B").await;
    let locators = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    let sas: Vec<&serde_json::Value> =
        locators.as_array().unwrap().iter().filter(|l| l["type"].as_str().is_some_and(|t| t.contains("Sas"))).collect();
    assert!(sas.is_empty(), "grant records left in B: {sas:?}");
    // The lease was released: the next instance need not wait for its expiry.
    let lease = b.head_opt(mirrorcast_core::catalog::JOURNAL_CONTAINER, mirrorcast_core::replicate::lease::LEASE_BLOB);
    assert!(lease.await.unwrap().is_none(), "the stopped instance kept its lease");
}
