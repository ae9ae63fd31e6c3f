//! `replicate --delete`: B loses exactly what A lost, and nothing at all
//! when A is unreachable, looks empty, or a listing of it fails part-way
//! (the lesson of AzCopy #1380); `--max-delete` stops a large plan.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use mirrorcast_azure_blob::AzureBlobStore;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::{BlobStore, BlobStoreExt, Condition};
use serde_json::Value;

use crate::helpers::{run_in, Run};
use crate::replicate::Failover;

fn container_of(id: &str) -> String {
    id.replace("nb:cid:UUID:", "asset-")
}

/// Every container of B but the journal: blob names and ETags.
async fn snapshot(store: &AzureBlobStore) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for c in store.list_containers("").await.unwrap() {
        if c == "mirrorcast-journal" {
            continue;
        }
        out.insert(c.clone(), store.list_all(&c, "").await.unwrap().into_iter().map(|b| (b.name, b.etag)).collect());
    }
    out
}

async fn names(store: &AzureBlobStore, container: &str) -> Vec<String> {
    match store.list_all(container, "").await {
        Ok(l) => l.into_iter().map(|b| b.name).collect(),
        Err(_) => vec!["<no container>".to_owned()],
    }
}

async fn run_env(f: &Failover, env: &[(&str, String)], args: &[&str]) -> Run {
    let mut all = f.env();
    for (k, v) in env {
        all.retain(|(key, _)| key != k);
        all.push((k, v.clone()));
    }
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_in(f.dir.path(), &all, args).await
}

/// A's connection string, reaching A through `addr` (a proxy) instead.
fn a_through(f: &Failover, addr: SocketAddr) -> String {
    let key = f.dcs.instances[0].accounts()[0].key.expose().to_owned();
    format!("DefaultEndpointsProtocol=http;AccountName=dca;AccountKey={key};BlobEndpoint=http://{addr}/dca")
}

/// What the proxy does with a request.
enum Fault {
    Forward,
    /// Forward with this query instead (a listing cut into small pages).
    Query(String),
    /// Answer with this status and storage error code.
    Answer(u16, &'static str),
}

type Rule = Arc<dyn Fn(&str, &str) -> Fault + Send + Sync>;

/// A loopback proxy to `upstream` that asks `rule` (path, query) what to do with each request.
async fn fault_proxy(upstream: String, rule: Rule) -> SocketAddr {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (client, upstream, rule) = (client.clone(), upstream.clone(), rule.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, rule) = (client.clone(), upstream.clone(), rule.clone());
                    async move {
                        let (mut parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let path = parts.uri.path().to_owned();
                        match rule(&path, parts.uri.query().unwrap_or("")) {
                            Fault::Forward => {}
                            Fault::Query(q) => parts.uri = format!("{path}?{q}").parse().unwrap(),
                            Fault::Answer(status, code) => {
                                let body = format!(
                                    "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
                                );
                                return Ok(hyper::Response::builder()
                                    .status(status)
                                    .header("x-ms-error-code", code)
                                    .body(Full::new(bytes::Bytes::from(body)))
                                    .unwrap());
                            }
                        }
                        Ok::<_, std::convert::Infallible>(
                            crate::helpers::forward(&client, &upstream, &parts, body).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Listings of containers whose path contains `needle` come in pages of two,
/// and every page after the first fails with a 500: a blip part-way through.
fn fail_second_page(needle: &'static str) -> Rule {
    Arc::new(move |path: &str, query: &str| {
        if !(path.contains(needle) && query.contains("comp=list")) {
            Fault::Forward
        } else if query.contains("marker=") {
            Fault::Answer(500, "InternalError")
        } else {
            Fault::Query(format!("{query}&maxresults=2"))
        }
    })
}

fn deletions(report: &Value) -> &Value {
    &report["deletions"]
}

/// A with three published assets, replicated to B with a locator A later
/// loses; B also has an asset and a locator of its own.
struct Library {
    f: Failover,
    kept: String,
    gone: String,
    other: String,
    own: String,
    lost_locator: String,
    hand_made: String,
}

async fn library() -> Library {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    let kept = f.publish("Kept", "none", 16 * 1024).await;
    let gone = f.publish("Gone", "none", 16 * 1024).await;
    let other = f.publish("Other", "none", 16 * 1024).await;
    let second = f.run(&["locator", "create", "--dc", "a", &kept, "--type", "origin", "--json"]).await.ok();
    let lost_locator = second.json()["locator"]["id"].as_str().unwrap().to_owned();
    // A blob no manifest names, which A will lose (a rendition would leave A's .ism dangling).
    let poster = bytes::Bytes::from_static(b"jpeg");
    f.dcs.a.store().put_blob(&container_of(&kept), POSTER, poster, &Default::default()).await.unwrap();
    f.run(&["asset", "files", "--dc", "a", &kept]).await.ok();
    f.run(&["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();
    let own = f.run(&["asset", "create", "--dc", "b", "--name", "Made in B", "--json"]).await.ok();
    let own = own.json()["id"].as_str().unwrap().to_owned();
    let hand = f.run(&["locator", "create", "--dc", "b", &kept, "--type", "origin", "--json"]).await.ok();
    let hand_made = hand.json()["locator"]["id"].as_str().unwrap().to_owned();
    Library { f, kept, gone, other, own, lost_locator, hand_made }
}

const POSTER: &str = "posters/Big Buck Bunny.jpg";

/// A loses a blob of `kept`, a locator of it, and all of `gone`; a run
/// without --delete then brings B's records up to date (deleting nothing).
async fn a_loses_things(l: &Library) {
    let a = l.f.dcs.a.store();
    let kept = container_of(&l.kept);
    assert!(a.delete_blob(&kept, POSTER, &Condition::None).await.unwrap());
    l.f.run(&["asset", "files", "--dc", "a", &l.kept]).await.ok();
    l.f.run(&["locator", "delete", "--dc", "a", &l.lost_locator]).await.ok();
    l.f.run(&["asset", "delete", "--dc", "a", &l.gone]).await.ok();
    l.f.run(&["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();
}

fn locator_ids(show: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        show["locators"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_delete_removes_exactly_what_a_removed_and_stops_at_max_delete() {
    let l = library().await;
    let f = &l.f;
    let b = f.dcs.b.store();
    a_loses_things(&l).await;
    let before = snapshot(&b).await;
    let all = ["replicate", "--from", "a", "--to", "b", "--all"];

    // Without --delete nothing went (see a_loses_things); a dry run lists what would, and writes nothing.
    assert!(names(&b, &container_of(&l.kept)).await.contains(&POSTER.to_owned()));
    let dry = f.run(&[&all[..], &["--delete", "--dry-run"]].concat()).await.ok();
    assert!(dry.stdout.contains(&format!("would delete asset {}", l.gone)), "{}", dry.stdout);
    assert!(dry.stdout.contains(&format!("would delete locator {}", l.lost_locator)), "{}", dry.stdout);
    assert!(dry.stdout.contains(&format!("would delete blob {}/{POSTER}", container_of(&l.kept))), "{}", dry.stdout);
    assert_eq!(snapshot(&b).await, before, "without --delete, or in a dry run, B keeps everything");

    // Over the cap: nothing deleted, exit 1, one line naming the count and the flag.
    let capped = f.run(&[&all[..], &["--delete", "--max-delete", "3", "--json"]].concat()).await;
    assert_eq!(capped.code, 1, "{}", capped.stderr);
    let planned = deletions(&capped.json())["totals"]["planned"].as_u64().unwrap();
    // A blob, a locator, and the asset: its 10 blobs, one locator and its record.
    assert_eq!(planned, 1 + 1 + 10 + 1 + 1, "{}", capped.stdout);
    assert_eq!(deletions(&capped.json())["refused"]["reason"], "over-max-delete");
    let line = capped.stderr.lines().find(|l| l.contains("--max-delete")).unwrap_or_default();
    assert!(line.contains(&format!("would delete {planned}")) && line.contains("--max-delete 3"), "{}", capped.stderr);
    assert_eq!(snapshot(&b).await, before, "a plan over the cap deletes nothing");

    // B's origin serves the asset A lost and the locator A lost, until the run.
    let shown = f.run(&["asset", "show", "--dc", "b", &l.gone, "--json"]).await.ok().json();
    let gone_locator = shown["locators"][0]["id"].as_str().unwrap().to_owned();
    let b_env = [("MIRRORCAST_DC_A", f.dcs.b.connection_string.as_str())];
    let ism = |locator: &str| format!("/{}/Big%20Buck%20Bunny.ism", locator.trim_start_matches("nb:lid:UUID:"));
    let status = |addr: String, path: String| async move {
        reqwest::get(format!("http://{addr}{path}")).await.unwrap().status().as_u16()
    };
    let served = crate::serve::serve(f.dir.path(), &b_env, &[]).await;
    for locator in [&gone_locator, &l.lost_locator] {
        assert_eq!(status(served.addr.clone(), ism(locator)).await, 200, "{locator} serves from B before the run");
    }
    drop(served);

    // Within the default cap: exactly what A lost goes.
    let run = f.run(&[&all[..], &["--delete", "--json"]].concat()).await.ok();
    let report = run.json();
    let d = deletions(&report);
    assert!(d["refused"].is_null(), "{d}");
    assert_eq!((d["totals"]["deleted"].as_u64(), d["totals"]["failed"].as_u64()), (Some(planned), Some(0)), "{d}");
    let a = f.dcs.a.store();
    for id in [&l.kept, &l.other] {
        let c = container_of(id);
        assert_eq!(names(&b, &c).await, names(&a, &c).await, "B's {c} holds what A's holds");
    }
    assert_eq!(names(&b, &container_of(&l.gone)).await, ["<no container>"]);
    let gone = f.run(&["asset", "show", "--dc", "b", &l.gone]).await;
    assert_eq!(gone.code, 1, "the asset A lost is gone from B: {}", gone.stdout);
    let shown_b = f.run(&["asset", "show", "--dc", "b", &l.kept, "--json"]).await.ok().json();
    let shown_a = f.run(&["asset", "show", "--dc", "a", &l.kept, "--json"]).await.ok().json();
    let mut want = locator_ids(&shown_a);
    want.push(l.hand_made.clone());
    want.sort();
    assert_eq!(locator_ids(&shown_b), want, "A's lost locator is gone; the one made in B stays");
    assert_eq!(shown_b["files"], shown_a["files"], "file infos follow");
    f.run(&["asset", "show", "--dc", "b", &l.own]).await.ok();
    // Without the locator made in B, B's replica is A's asset exactly.
    f.run(&["locator", "delete", "--dc", "b", &l.hand_made]).await.ok();
    f.run(&["verify", "--from", "a", "--to", "b", "--asset", &l.kept]).await.ok();
    // A new origin on B (none of its records cached) serves neither any more; the kept locator still works.
    let served = crate::serve::serve(f.dir.path(), &b_env, &[]).await;
    for locator in [&gone_locator, &l.lost_locator] {
        assert_eq!(status(served.addr.clone(), ism(locator)).await, 404, "{locator} is revoked in B");
    }
    let kept_locator = locator_ids(&shown_a)[0].clone();
    assert_eq!(status(served.addr.clone(), ism(&kept_locator)).await, 200);
    drop(served);
    // The journal holds the list.
    let journal = format!("{}/deletions.json", report["run_id"].as_str().unwrap());
    let (_, logged) = b.get_bytes("mirrorcast-journal", &journal).await.unwrap();
    let logged: Value = serde_json::from_slice(&logged).unwrap();
    assert_eq!(logged["totals"]["deleted"].as_u64(), Some(planned));
    // And a locator deleted from B by the run no longer serves: its record is gone.
    let lost = f.run(&["locator", "delete", "--dc", "b", &l.lost_locator]).await;
    assert_eq!(lost.code, 1, "{}", lost.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_delete_refuses_when_a_is_unreachable_or_looks_empty() {
    let l = library().await;
    let f = &l.f;
    let b = f.dcs.b.store();
    a_loses_things(&l).await;
    let before = snapshot(&b).await;
    let args = ["--retry-for", "2s", "replicate", "--from", "a", "--to", "b", "--all", "--delete", "--json"];

    // A unreachable: a port nobody listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let unreachable = run_env(f, &[("MIRRORCAST_DC_A", a_through(f, dead))], &args).await;
    assert_ne!(unreachable.code, 0, "{}", unreachable.stdout);
    assert!(unreachable.stderr.contains("'a'"), "the error names A: {}", unreachable.stderr);
    assert_eq!(snapshot(&b).await, before, "A unreachable: nothing deleted in B");

    // A answers, but its catalog is not there (wiped, or the wrong account): A looks empty.
    let upstream = format!("http://127.0.0.1:{}", f.dcs.instances[0].port());
    let no_catalog = Arc::new(|path: &str, _: &str| {
        if path.contains("mirrorcast-catalog") {
            Fault::Answer(404, "ContainerNotFound")
        } else {
            Fault::Forward
        }
    });
    let proxy = fault_proxy(upstream, no_catalog).await;
    let empty = run_env(f, &[("MIRRORCAST_DC_A", a_through(f, proxy))], &args).await;
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert_eq!(deletions(&empty.json())["refused"]["reason"], "source-looks-empty", "{}", empty.stdout);
    assert!(empty.stderr.contains("--allow-empty-source"), "{}", empty.stderr);
    assert_eq!(snapshot(&b).await, before, "A looking empty: nothing deleted in B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azcopy_1380_a_network_blip_on_a_during_a_delete_run_deletes_nothing_in_b() {
    let l = library().await;
    let f = &l.f;
    let b = f.dcs.b.store();
    a_loses_things(&l).await;
    let before = snapshot(&b).await;
    let upstream = format!("http://127.0.0.1:{}", f.dcs.instances[0].port());
    let args = ["--retry-for", "2s", "replicate", "--from", "a", "--to", "b", "--all", "--delete", "--json"];

    // The listing of one of A's asset containers fails on its second page.
    let proxy = fault_proxy(upstream.clone(), fail_second_page(&container_of(&l.other).leak()[..])).await;
    let blip = run_env(f, &[("MIRRORCAST_DC_A", a_through(f, proxy))], &args).await;
    assert_eq!(blip.code, 1, "{}", blip.stderr);
    let report = blip.json();
    assert_eq!(deletions(&report)["refused"]["reason"], "source-listing-failed", "{report}");
    assert_eq!(deletions(&report)["totals"]["deleted"], 0);
    assert!(blip.stderr.contains("nothing was deleted"), "{}", blip.stderr);
    assert_eq!(snapshot(&b).await, before, "a blip listing A: nothing deleted in B, not even the asset A lost");

    // A's catalog listing fails on its second page: the run stops before anything.
    let proxy = fault_proxy(upstream, fail_second_page("mirrorcast-catalog")).await;
    let blip = run_env(f, &[("MIRRORCAST_DC_A", a_through(f, proxy))], &args).await;
    assert_ne!(blip.code, 0, "{}", blip.stdout);
    assert_eq!(snapshot(&b).await, before, "a blip listing A's catalog: nothing deleted in B");

    // A answering normally again: the deletions happen.
    let ok = f.run(&args).await.ok();
    assert_eq!(deletions(&ok.json())["totals"]["failed"], 0);
    assert_eq!(names(&b, &container_of(&l.gone)).await, ["<no container>"]);
}
