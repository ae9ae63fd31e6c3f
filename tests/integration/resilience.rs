//! Replication that survives a target crash and a throttling target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::copy::SOURCE_ETAG_METADATA;
use mirrorcast_core::store::BlobStoreExt;

use crate::helpers::{command_in, run_in, Run};
use crate::replicate::Failover;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_killed_mid_run_is_resumed_without_recopying_what_finished() {
    let data = tempfile::tempdir().unwrap();
    let mut f =
        Failover::new(TwoDataCenters::two_instances(Persistence::Location(data.path().join("b"))).await.unwrap()).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(f.publish(&format!("Movie {i}"), "none", 2 * 1024 * 1024).await);
    }
    let containers: Vec<String> = ids.iter().map(|id| id.replace("nb:cid:UUID:", "asset-")).collect();
    let b = f.dcs.b.store();

    // Start a slow run (B behind a proxy that delays every request) and kill
    // B once some blobs have landed there.
    let (proxy, _) =
        fault_proxy(format!("http://127.0.0.1:{}", f.dcs.instances[1].port()), None, Duration::from_millis(150)).await;
    let key = f.dcs.instances[1].accounts()[0].key.expose().to_owned();
    let b_via_proxy =
        format!("DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={key};BlobEndpoint=http://{proxy}/dcb");
    let env = [("MIRRORCAST_DC_A", f.dcs.a.connection_string.clone()), ("MIRRORCAST_DC_B", b_via_proxy)];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // One blob at a time in small blocks: slow enough to be killed in the middle.
    let args = ["replicate", "--from", "a", "--to", "b", "--all", "--concurrency", "1", "--block-size-mib", "1"];
    let mut first = command_in(f.dir.path(), &env, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut landed = 0;
    for _ in 0..600 {
        landed = 0;
        for c in &containers {
            landed += b.list_all(c, "").await.map(|l| l.len()).unwrap_or(0);
        }
        if landed >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(landed >= 8, "the run never got going");
    // Past one Azurite metadata save, so some copies are durable when B dies.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert!(first.try_wait().unwrap().is_none(), "the run finished before B was killed: make it longer");
    eprintln!("killing B after {landed} blobs landed");
    f.dcs.instances[1].kill().await;
    // The tool dies too, as in a power cut: nothing it holds survives.
    first.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    f.dcs.instances[1].restart().await.unwrap();

    // What B holds now, with its recorded source ETag, has finished for good.
    let mut finished = Vec::new();
    for c in &containers {
        for blob in b.list_all(c, "").await.unwrap_or_default() {
            if blob.metadata.contains_key(SOURCE_ETAG_METADATA) {
                finished.push((c.clone(), blob.name.clone()));
            }
        }
    }
    assert!(!finished.is_empty(), "some blobs must have survived the crash");

    let rerun = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok();
    let report = rerun.json();
    for asset in report["assets"].as_array().unwrap() {
        let container = asset["container"].as_str().unwrap().to_owned();
        for blob in asset["blobs"].as_array().unwrap() {
            let name = blob["name"].as_str().unwrap().to_owned();
            if finished.contains(&(container.clone(), name.clone())) {
                assert_eq!(blob["status"], "skipped", "'{name}' had finished and must not be copied again");
            }
        }
    }
    eprintln!(
        "after the crash B held {} finished blobs; the re-run copied {} and skipped {}",
        finished.len(),
        report["totals"]["copied"],
        report["totals"]["skipped"]
    );
    assert!(report["totals"]["copied"].as_u64().unwrap() > 0, "the re-run must finish what the killed run left");
    let a = f.dcs.a.store();
    for c in &containers {
        assert_eq!(f.md5s(&b, c).await, f.md5s(&a, c).await, "every blob in B must have A's MD5 ({c})");
    }
    // And nothing of the copy SAS is left behind on either side.
    for dc in ["a", "b"] {
        let locators = f.run(&["locator", "list", "--dc", dc, "--json"]).await.ok().json();
        assert!(locators.as_array().unwrap().iter().all(|l| l["type"] == "OnDemandOrigin"), "{dc}: {locators}");
    }
}

/// A loopback HTTP proxy that waits `delay` before each request and answers
/// every `nth` one with 503 and `Retry-After: 1` instead of forwarding it.
async fn fault_proxy(upstream: String, nth: Option<u64>, delay: Duration) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let refused_out = refused.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (client, upstream, count, refused) = (client.clone(), upstream.clone(), count.clone(), refused.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, count, refused) =
                        (client.clone(), upstream.clone(), count.clone(), refused.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        tokio::time::sleep(delay).await;
                        let n = count.fetch_add(1, Ordering::Relaxed);
                        if nth.is_some_and(|nth| n % nth == nth - 1) {
                            refused.fetch_add(1, Ordering::Relaxed);
                            let resp = hyper::Response::builder()
                                .status(503)
                                .header("retry-after", "1")
                                .header("x-ms-error-code", "ServerBusy")
                                .body(Full::new(Bytes::from_static(b"<?xml version=\"1.0\"?><Error><Code>ServerBusy</Code><Message>slow down</Message></Error>")))
                                .unwrap();
                            return Ok::<_, Infallible>(resp);
                        }
                        Ok(crate::helpers::forward(&client, &upstream, &parts, body).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, refused_out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_target_is_retried_and_the_run_finishes_correct() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Busy Night", "none", 200 * 1024).await;
    let b_instance = &f.dcs.instances[1];
    let (proxy, refused) =
        fault_proxy(format!("http://127.0.0.1:{}", b_instance.port()), Some(4), Duration::ZERO).await;
    let key = b_instance.accounts()[0].key.expose().to_owned();
    let b_via_proxy =
        format!("DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={key};BlobEndpoint=http://{proxy}/dcb");
    let env = [("MIRRORCAST_DC_A", f.dcs.a.connection_string.as_str()), ("MIRRORCAST_DC_B", b_via_proxy.as_str())];
    let run: Run =
        run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok();
    let report = run.json();
    assert!(refused.load(Ordering::Relaxed) > 0, "the proxy must have throttled some requests");
    assert!(
        report["totals"]["http_retries"].as_u64().unwrap() >= refused.load(Ordering::Relaxed),
        "retries must be reported: {}",
        report["totals"]
    );
    assert_eq!(report["totals"]["copied"], 10);
    let container = id.replace("nb:cid:UUID:", "asset-");
    assert_eq!(f.md5s(&f.dcs.b.store(), &container).await, f.md5s(&f.dcs.a.store(), &container).await);
}

/// What a [`stalling_proxy`] saw: connections it accepted and requests it
/// received, before the stall, in its first `timeout` (what the client had in
/// flight when the service froze) and after (what the client sent again).
#[derive(Debug, Default)]
struct StallCounts {
    connections: AtomicU64,
    requests: AtomicU64,
    connections_in_stall: AtomicU64,
    first_wave: AtomicU64,
    sent_again: AtomicU64,
}

/// A loopback proxy to `upstream` that forwards until it has seen `after` blob
/// PUTs, then freezes for `stall`: requests arriving meanwhile are held, and
/// answered once it recovers (a frozen service working off its queue) unless
/// the client gave up on them first. `timeout` is the client's: requests that
/// arrive in the stall's first `timeout` are the ones it had in flight.
async fn stalling_proxy(
    upstream: String,
    after: u64,
    stall: Duration,
    timeout: Duration,
) -> (SocketAddr, Arc<StallCounts>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(StallCounts::default());
    let stall_began: Arc<std::sync::OnceLock<tokio::time::Instant>> = Arc::default();
    let blob_puts = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let out = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            counts.connections.fetch_add(1, Ordering::Relaxed);
            if stall_began.get().is_some_and(|t| t.elapsed() < stall) {
                counts.connections_in_stall.fetch_add(1, Ordering::Relaxed);
            }
            let (client, upstream, counts, stall_began, blob_puts) =
                (client.clone(), upstream.clone(), counts.clone(), stall_began.clone(), blob_puts.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, counts, stall_began, blob_puts) =
                        (client.clone(), upstream.clone(), counts.clone(), stall_began.clone(), blob_puts.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        counts.requests.fetch_add(1, Ordering::Relaxed);
                        let blob_put = parts.method == hyper::Method::PUT
                            && parts.uri.path().contains("/asset-")
                            && !parts.uri.query().unwrap_or("").contains("restype=container");
                        if blob_put && blob_puts.fetch_add(1, Ordering::Relaxed) + 1 == after {
                            let _ = stall_began.set(tokio::time::Instant::now());
                        }
                        if let Some(began) = stall_began.get().copied() {
                            let into = began.elapsed();
                            if into < stall {
                                let wave = if into < timeout { &counts.first_wave } else { &counts.sent_again };
                                wave.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep_until(began + stall).await;
                            }
                        }
                        Ok::<_, Infallible>(crate::helpers::forward(&client, &upstream, &parts, body).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_gets_fewer_requests_in_flight_and_the_run_completes_once_it_recovers() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Frozen Night", "none", 1024 * 1024).await;
    let b_instance = &f.dcs.instances[1];
    // The client gives a silent request 5 s (`--retry-for 5s`); B freezes for 11 s.
    let timeout = Duration::from_secs(5);
    let (proxy, counts) =
        stalling_proxy(format!("http://127.0.0.1:{}", b_instance.port()), 2, Duration::from_secs(11), timeout).await;
    let key = b_instance.accounts()[0].key.expose().to_owned();
    let b_via_proxy =
        format!("DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={key};BlobEndpoint=http://{proxy}/dcb");
    let env = [("MIRRORCAST_DC_A", f.dcs.a.connection_string.as_str()), ("MIRRORCAST_DC_B", b_via_proxy.as_str())];
    let args = [
        "--retry-for",
        "5s",
        "replicate",
        "--from",
        "a",
        "--to",
        "b",
        "--asset",
        &id,
        "--json",
        "--concurrency",
        "8",
        "--block-size-mib",
        "1",
    ];
    let run: Run = run_in(f.dir.path(), &env, &args).await;
    let (first_wave, sent_again) =
        (counts.first_wave.load(Ordering::Relaxed), counts.sent_again.load(Ordering::Relaxed));
    eprintln!(
        "stalled target: {} connections ({} opened in the stall), {} requests; in the stall {first_wave} in flight, {sent_again} sent again",
        counts.connections.load(Ordering::Relaxed),
        counts.connections_in_stall.load(Ordering::Relaxed),
        counts.requests.load(Ordering::Relaxed),
    );
    let report = run.ok().json();
    let limit = &report["totals"]["requests"]["target_limit"];
    eprintln!("target limit: {limit}");
    assert_eq!(report["totals"]["copied"], 10, "the run completes once B recovers: {}", report["totals"]);
    let container = id.replace("nb:cid:UUID:", "asset-");
    assert_eq!(f.md5s(&f.dcs.b.store(), &container).await, f.md5s(&a_store(&f), &container).await);

    assert!(first_wave >= 2, "the stall must catch requests in flight: {first_wave}");
    // Every request in flight timed out; halving what is in flight at each timeout sends at most
    // 1/2 + 1/4 of them again during the stall. Without the limit each was sent again at each timeout.
    assert!(
        sent_again <= first_wave,
        "{sent_again} requests sent again into the stall, more than the {first_wave} it caught"
    );
    assert!(
        counts.connections_in_stall.load(Ordering::Relaxed) <= first_wave + sent_again,
        "no more connections than requests"
    );
    assert!(limit["decreases"].as_u64().unwrap() >= 1, "the limit must have been halved: {limit}");
    assert!(limit["lowest"].as_u64().unwrap() <= first_wave / 2 + 1, "{limit}");
    assert_eq!(limit["path"][0]["cause"], "overloaded", "{limit}");
}

fn a_store(f: &Failover) -> mirrorcast_azure_blob::AzureBlobStore {
    f.dcs.a.store()
}

/// A loopback proxy to `upstream` that takes the first request it gets and never
/// answers it (a connection a load balancer dropped without a reset), and
/// forwards every later one. Counts the requests it took.
async fn swallow_first_proxy(upstream: String) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let out = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (client, upstream, requests) = (client.clone(), upstream.clone(), requests.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, requests) = (client.clone(), upstream.clone(), requests.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        if requests.fetch_add(1, Ordering::Relaxed) == 0 {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Ok::<_, Infallible>(crate::helpers::forward(&client, &upstream, &parts, body).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_without_an_answer_is_sent_again_within_the_retry_budget() {
    let sb = crate::helpers::Sandbox::start().await;
    let name = "Lost Then Found";
    sb.create_asset(name).await;
    let (proxy, requests) = swallow_first_proxy(format!("http://127.0.0.1:{}", sb.azurite.port())).await;
    let key = mirrorcast_azure_blob::config::DEV_ACCOUNT_KEY;
    let via_proxy = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};BlobEndpoint=http://{proxy}/devstoreaccount1"
    );
    // A 15 s budget waits 5 s for an answer: the lost request is sent again and the
    // listing succeeds, where waiting for the whole budget would have given up.
    let run = sb
        .run_with(&[("MIRRORCAST_DC_A", &via_proxy)], &["--retry-for", "15s", "asset", "list", "--dc", "a", "--json"])
        .await;
    let listed = run.ok().json();
    assert!(listed.as_array().unwrap().iter().any(|a| a["name"] == name), "{listed}");
    assert!(requests.load(Ordering::Relaxed) >= 2, "the lost request must have been sent again");
}
