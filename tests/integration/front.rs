//! `mirrorcast front`: priority failover in front of the origins. Two real
//! `serve` origins over Azurite with a viewer streaming through the front while
//! A's origin is killed; retry before the first byte and streaming proven on
//! small loopback origins the test controls; redirect mode; hysteresis against
//! a flapping origin; bad flags; the status page in headless Chromium.
//! Probe timeouts are generous (5 s): a killed origin refuses at once, and a
//! busy test machine must not fail a healthy origin's probes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{run_in, Sandbox};
use crate::serve::{publish_media, serve};

/// A running `mirrorcast front` and what it wrote on stderr so far.
pub(crate) struct Fronted {
    child: tokio::process::Child,
    pub(crate) addr: String,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Fronted {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn status(&self) -> serde_json::Value {
        let r = reqwest::get(self.url("/_front/status")).await.expect("front status");
        assert_eq!(r.status(), 200);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    /// Polls the status until `done` holds (30 s at most: a failure, not a timing assert).
    pub(crate) async fn wait_for(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        for _ in 0..300 {
            last = self.status().await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("waited 30 s for {what}; status: {last:#}\nstderr: {}", self.stderr.lock().unwrap());
    }
}

pub(crate) async fn start_front(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Fronted {
    let mut all = vec!["front", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let l = crate::helpers::listening(dir, env, &all).await;
    Fronted { child: l.child, addr: l.addr, stderr: l.stderr }
}

pub(crate) fn origin_of(status: &serde_json::Value, name: &str) -> serde_json::Value {
    status["origins"].as_array().unwrap().iter().find(|o| o["name"] == name).cloned().unwrap()
}

/// What a [`TinyOrigin`]'s `/healthz` answers.
const HEALTHY: u8 = 0;
const FAILING: u8 = 1;
/// 200 and 503 by turns: a flapping origin.
const ALTERNATING: u8 = 2;
/// Never answered: a frozen origin.
pub(crate) const FROZEN: u8 = 3;

type Body = BoxBody<Bytes, std::io::Error>;

/// A loopback origin the test controls. `/healthz` per its health setting;
/// `/hang…` (on `a` only) never answers; `/hold…` (on `a` only) is read and then, on [`TinyOrigin::release`], dropped without an
/// answer (a process dying mid-request); `/error-<its name>-…` and `/error-all…` are 503;
/// `/cut-<its name>-…` and `/cut-all…` announce 20 bytes and die after 12 (others send all 20); `/freeze-<its
/// name>-…` and `/freeze-all…` announce 20 bytes and send nothing after 12, never closing (others send all 20);
/// `/freeze-unsized…` (on `a` only) sends 12 bytes of a body of unannounced length, then nothing; `/slow…` sends
/// 12 bytes at once and the other 8 only on [`TinyOrigin::finish_slow`];
/// anything else is 200 `from <name> <path?query> range=<Range header>`.
/// Requests that arrive with a `Content-Length` or `Transfer-Encoding` are counted.
pub(crate) struct TinyOrigin {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    health: AtomicU8,
    probes: AtomicU64,
    framed: AtomicU64,
    seen: Mutex<Vec<String>>,
    release: tokio::sync::Notify,
    slow: Mutex<Vec<tokio::sync::mpsc::Sender<Bytes>>>,
}

impl TinyOrigin {
    pub(crate) async fn start(name: &'static str) -> TinyOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move { answer(name, &state, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TinyOrigin { url, shared }
    }

    pub(crate) fn set_health(&self, h: u8) {
        self.shared.health.store(h, Ordering::SeqCst);
    }

    /// Requests that came with body framing (`Content-Length` or `Transfer-Encoding`).
    pub(crate) fn framed(&self) -> u64 {
        self.shared.framed.load(Ordering::SeqCst)
    }

    fn probes(&self) -> u64 {
        self.shared.probes.load(Ordering::SeqCst)
    }

    pub(crate) fn saw(&self, path: &str) -> bool {
        self.shared.seen.lock().unwrap().iter().any(|p| p == path)
    }

    /// The held request's connection is dropped.
    fn release(&self) {
        self.shared.release.notify_one();
    }

    /// The slow responses get their last 8 bytes.
    async fn finish_slow(&self) {
        let senders: Vec<_> = self.shared.slow.lock().unwrap().drain(..).collect();
        for tx in senders {
            tx.send(Bytes::from_static(b"the rest")).await.unwrap();
        }
    }
}

async fn answer(
    name: &str,
    state: &Shared,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, std::io::Error> {
    let full = |status: u16, text: String| {
        hyper::Response::builder()
            .status(status)
            .header("x-from", name)
            .body(Full::new(Bytes::from(text)).map_err(|e: Infallible| match e {}).boxed())
            .unwrap()
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if req.headers().contains_key("content-length") || req.headers().contains_key("transfer-encoding") {
        state.framed.fetch_add(1, Ordering::SeqCst);
    }
    if path == "/healthz" {
        let n = state.probes.fetch_add(1, Ordering::SeqCst);
        let ok = match state.health.load(Ordering::SeqCst) {
            HEALTHY => true,
            FAILING => false,
            FROZEN => std::future::pending().await,
            _ => n & 1 == 0,
        };
        return Ok(full(if ok { 200 } else { 503 }, String::new()));
    }
    state.seen.lock().unwrap().push(path.clone());
    if path.starts_with("/hang") && name == "a" {
        std::future::pending::<()>().await;
    }
    if path.starts_with("/hold") && name == "a" {
        state.release.notified().await;
        return Err(std::io::Error::other("the origin died mid-request"));
    }
    if path.starts_with("/error-all") || path.starts_with(&format!("/error-{name}-")) {
        return Ok(full(503, "origin error\n".into()));
    }
    if path.starts_with("/cut") {
        // 20 bytes announced; the named origin (or every one, for /cut-all) dies after 12.
        let whole: &'static [u8] = b"first chunk;the rest";
        let response = hyper::Response::builder().status(200).header("content-length", "20");
        if path.starts_with("/cut-all") || path.starts_with(&format!("/cut-{name}-")) {
            // The pause lets the head and the first bytes go out before the death.
            let first = futures::stream::once(async { Ok(hyper::body::Frame::data(Bytes::from_static(&whole[..12]))) });
            let death = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err(std::io::Error::other("the origin died mid-body"))
            });
            let frames = futures::StreamExt::chain(first, death);
            return Ok(response.body(StreamBody::new(frames).boxed()).unwrap());
        }
        return Ok(response
            .body(Full::new(Bytes::from_static(whole)).map_err(|e: Infallible| match e {}).boxed())
            .unwrap());
    }
    if path.starts_with("/freeze") {
        let whole: &'static [u8] = b"first chunk;the rest";
        let first = futures::stream::once(async { Ok(hyper::body::Frame::data(Bytes::from_static(&whole[..12]))) });
        let frozen = futures::StreamExt::chain(first, futures::stream::pending());
        if path.starts_with("/freeze-unsized") && name == "a" {
            return Ok(hyper::Response::builder().status(200).body(StreamBody::new(frozen).boxed()).unwrap());
        }
        let response = hyper::Response::builder().status(200).header("content-length", "20");
        if path.starts_with("/freeze-all") || path.starts_with(&format!("/freeze-{name}-")) {
            return Ok(response.body(StreamBody::new(frozen).boxed()).unwrap());
        }
        return Ok(response
            .body(Full::new(Bytes::from_static(whole)).map_err(|e: Infallible| match e {}).boxed())
            .unwrap());
    }
    if path.starts_with("/slow") {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        state.slow.lock().unwrap().push(tx);
        let first = futures::stream::once(async { Bytes::from_static(b"first chunk;") });
        let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        let frames =
            futures::StreamExt::map(futures::StreamExt::chain(first, rest), |b| Ok(hyper::body::Frame::data(b)));
        return Ok(hyper::Response::builder()
            .status(200)
            .header("content-length", "20")
            .body(StreamBody::new(frames).boxed())
            .unwrap());
    }
    let range = req.headers().get("range").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    Ok(full(200, format!("from {name} {path} range={range}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_origin_fails_before_the_first_byte_is_answered_by_the_next_origin() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    // Probes keep A up throughout (it answers them): only the requests themselves fail.
    let mut f = start_front(
        dir.path(),
        &[],
        &[
            "--origin",
            &format!("a={}", a.url),
            "--origin",
            &format!("b={}", b.url),
            "--probe-interval",
            "200ms",
            "--probe-timeout",
            "5s",
        ],
    )
    .await;
    f.wait_for("a up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;
    let client = reqwest::Client::new();

    let r = client.get(f.url("/plain?x=1")).header("range", "bytes=5-9").send().await.unwrap();
    let answered_by = r.headers().get("x-mirrorcast-origin").cloned();
    let (status, text) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!((status, answered_by.as_ref().map(|v| v.to_str().unwrap())), (200, Some("a")), "{text}");
    assert_eq!(text, "from a /plain?x=1 range=bytes=5-9", "path, query and Range pass through");

    // A reads the request and dies without answering: the viewer gets B's answer.
    let held = tokio::spawn(client.get(f.url("/hold-1")).send());
    for _ in 0..300 {
        if a.saw("/hold-1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.saw("/hold-1"), "the request reached A first");
    a.release();
    let r = held.await.unwrap().unwrap();
    let answered_by = r.headers().get("x-mirrorcast-origin").cloned();
    let (status, text) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!((status, answered_by.as_ref().map(|v| v.to_str().unwrap())), (200, Some("b")), "{text}");
    assert_eq!(text, "from b /hold-1 range=-");

    // A 5xx before the body is tried elsewhere too.
    let r = client.get(f.url("/error-a-1")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "from b /error-a-1 range=-".to_owned()));
    assert!(a.saw("/error-a-1"));

    // The body streams through: its first bytes reach the viewer while the origin still holds the rest.
    let mut slow = client.get(f.url("/slow-1")).send().await.unwrap();
    assert_eq!(slow.headers()["content-length"], "20");
    let first = tokio::time::timeout(Duration::from_secs(20), slow.chunk()).await;
    let first = first.expect("the front held back the body's first chunk").unwrap().unwrap();
    assert_eq!(&first[..], b"first chunk;");
    a.finish_slow().await;
    let mut body = first.to_vec();
    while let Some(c) = slow.chunk().await.unwrap() {
        body.extend_from_slice(&c);
    }
    assert_eq!(body, b"first chunk;the rest");

    // A body cut mid-way goes on from B (same status and length), the bytes already sent skipped.
    let r = client.get(f.url("/cut-a-1")).send().await.unwrap();
    assert_eq!(r.headers()["x-mirrorcast-origin"], "a");
    assert_eq!(&r.bytes().await.unwrap()[..], b"first chunk;the rest");
    assert!(b.saw("/cut-a-1"));
    // When no origin can continue it, the viewer sees the cut (never a wrong body).
    let r = client.get(f.url("/cut-all")).send().await.unwrap();
    assert!(r.bytes().await.is_err(), "a body no origin could finish is reported as cut");

    let s = f.status().await;
    assert_eq!(s["active"], "a", "requests failing do not move the routing: probes do");
    assert_eq!(origin_of(&s, "a")["failed_attempts"], 4, "{s:#}");
    // B answered hold-1, error-a-1, cut-a-1 and took cut-all over before cutting it too.
    assert_eq!(
        (origin_of(&s, "b")["requests"].as_u64(), origin_of(&s, "b")["failed_attempts"].as_u64()),
        (Some(4), Some(1)),
        "{s:#}"
    );
    assert!(s["switches"].as_array().unwrap().is_empty());

    // Every origin failing: the viewer gets the first origin's own 5xx, not a made-up one.
    let r = client.get(f.url("/error-all")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["x-mirrorcast-origin"].to_str().unwrap()), (503, "a"));
    assert!(a.saw("/error-all") && b.saw("/error-all"));

    // SIGTERM: a clean exit.
    let pid = f.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), f.child.wait()).await.unwrap().unwrap();
    assert_eq!(exit.code(), Some(0), "{}", f.stderr.lock().unwrap());
}

/// The URIs a playlist names: `URI="…"` attributes and the lines that are not tags.
fn playlist_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(uri) = rest.split("URI=\"").nth(1).and_then(|u| u.split('"').next()) {
                out.push(uri.to_owned());
            }
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

/// Every URL of one HLS stream: master, media playlists, init and media segments.
async fn hls_urls(client: &reqwest::Client, master: &str) -> Vec<String> {
    let mut all = vec![master.to_owned()];
    let base = reqwest::Url::parse(master).unwrap();
    let text = client.get(master).send().await.unwrap().text().await.unwrap();
    for playlist in playlist_uris(&text) {
        let url = base.join(&playlist).unwrap();
        all.push(url.to_string());
        let media = client.get(url.clone()).send().await.unwrap().text().await.unwrap();
        all.extend(playlist_uris(&media).iter().map(|s| url.join(s).unwrap().to_string()));
    }
    all
}

/// Per response a viewer got: the origin that answered, and what was wrong if anything.
type Outcomes = Arc<Mutex<Vec<(String, Result<(), String>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_streaming_through_the_front_see_no_error_when_a_s_origin_is_killed() {
    let sb = Sandbox::start().await;
    let published = publish_media(&sb).await;
    let cs = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", cs.as_str())];
    let origin_a = serve(sb.dir.path(), &env, &[]).await;
    let origin_b = serve(sb.dir.path(), &env, &[]).await;
    let f = start_front(
        sb.dir.path(),
        &[],
        &[
            "--origin",
            &format!("a=http://{}", origin_a.addr),
            "--origin",
            &format!("b=http://{}", origin_b.addr),
            "--probe-interval",
            "200ms",
            "--probe-timeout",
            "5s",
            "--fail-after",
            "3",
            "--recover-after",
            "3",
        ],
    )
    .await;
    f.wait_for("both origins up", |s| {
        s["active"] == "a" && origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up"
    })
    .await;
    let client = reqwest::Client::new();
    let l = &published.locator;

    // Range and validators pass through to the origin and back.
    let r = client.get(f.url(&format!("/{l}/notes.txt"))).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["x-mirrorcast-origin"], "a");
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    let etag = r.headers()["etag"].clone();
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    let r = client.get(f.url(&format!("/{l}/notes.txt"))).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(r.status(), 304);

    // What every URL of the stream must return, read straight from B's origin.
    let urls = hls_urls(&client, &f.url(&format!("/{l}/Clip.ism/manifest(format=m3u8-cmaf)"))).await;
    assert!(urls.len() > 6, "master, playlists, init and media segments: {urls:?}");
    let mut expected = HashMap::new();
    for url in &urls {
        let direct = url.replace(&f.addr, &origin_b.addr);
        let r = client.get(&direct).send().await.unwrap();
        assert_eq!(r.status(), 200, "{direct}");
        expected.insert(url.clone(), r.bytes().await.unwrap());
    }
    let expected = Arc::new(expected);

    // Four viewers fetch the stream over and over, each response checked byte for byte.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Outcomes = Arc::default();
    let mut viewers = Vec::new();
    for v in 0..4 {
        let (client, urls, expected, stop, seen) =
            (client.clone(), urls.clone(), expected.clone(), stop.clone(), seen.clone());
        viewers.push(tokio::spawn(async move {
            let mut i = v;
            while !stop.load(Ordering::SeqCst) {
                let url = &urls[i % urls.len()];
                i += 1;
                let outcome = match client.get(url).send().await {
                    Err(e) => ("-".to_owned(), Err(format!("{url}: {e}"))),
                    Ok(r) => {
                        let origin =
                            r.headers().get("x-mirrorcast-origin").map_or("-", |v| v.to_str().unwrap()).to_owned();
                        let status = r.status();
                        match r.bytes().await {
                            Ok(body) if status == 200 && body == expected[url] => (origin, Ok(())),
                            Ok(body) => (origin, Err(format!("{url}: {status}, {} bytes", body.len()))),
                            Err(e) => (origin, Err(format!("{url}: body cut: {e}"))),
                        }
                    }
                };
                seen.lock().unwrap().push(outcome);
            }
        }));
    }
    let count = |origin: &str| seen.lock().unwrap().iter().filter(|(o, _)| o == origin).count();
    while count("a") < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(origin_a); // kills A's `serve` process mid-stream
    let s = f.wait_for("b active", |s| s["active"] == "b" && origin_of(s, "a")["health"] == "down").await;
    let from_b_at_switch = count("b");
    while count("b") < from_b_at_switch + 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for v in viewers {
        v.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let errors: Vec<&String> = seen.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} of {} responses failed, e.g. {:?}",
        errors.len(),
        seen.len(),
        &errors[..errors.len().min(5)]
    );
    let switches = s["switches"].as_array().unwrap();
    assert_eq!(switches.len(), 1, "{s:#}");
    assert_eq!((switches[0]["from"].as_str(), switches[0]["to"].as_str()), (Some("a"), Some("b")));
    assert!(switches[0]["reason"].as_str().unwrap().contains("3 failed probe"), "{s:#}");
    let a = origin_of(&f.status().await, "a");
    assert!(
        a["failed_attempts"].as_u64().unwrap() > 0,
        "requests sent to A after it died were answered by B without an error: {a:#}"
    );
    eprintln!(
        "front failover: {} responses, all correct; {} attempts on dead A retried on B",
        seen.len(),
        a["failed_attempts"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mode_sends_viewers_to_the_active_origin_with_the_same_path_and_query() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    let f = start_front(
        dir.path(),
        &[],
        &[
            "--mode",
            "redirect",
            "--origin",
            &format!("a={}", a.url),
            "--origin",
            &format!("b={}/", b.url),
            "--probe-interval",
            "100ms",
            "--probe-timeout",
            "5s",
            "--fail-after",
            "2",
            "--recover-after",
            "2",
        ],
    )
    .await;
    f.wait_for("a up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;
    let no_follow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let location = |r: &reqwest::Response| r.headers()["location"].to_str().unwrap().to_owned();
    let path = "/0f8fad5b-d9cb-469f-a165-70867728950e/Clip.ism/manifest(format=m3u8-cmaf)?x=1&y=%20";
    let r = no_follow.get(f.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{}{path}", a.url));
    assert_eq!(r.headers()["cache-control"], "no-store", "each request asks the front again");

    a.set_health(FAILING);
    f.wait_for("b active", |s| s["active"] == "b").await;
    let r = no_follow.get(f.url(path)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (302, format!("{}{path}", b.url)));
    let followed = reqwest::get(f.url("/seg-1")).await.unwrap().text().await.unwrap();
    assert_eq!(followed, "from b /seg-1 range=-", "a client following redirects lands on B");

    a.set_health(HEALTHY);
    let s = f.wait_for("failback to a", |s| s["active"] == "a").await;
    let moves: Vec<(String, String)> = s["switches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["from"].as_str().unwrap().to_owned(), w["to"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(moves, [("a".into(), "b".into()), ("b".into(), "a".into())]);
    assert!(s["switches"][1]["reason"].as_str().unwrap().contains("2 good probe"), "{s:#}");
    assert!(!a.saw("/seg-1"), "redirect mode never fetches for the viewer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_on_an_origin_that_goes_down_moves_to_the_next_without_waiting_out_its_timeout() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes of upstream timeout: only the probes can end A's wait before the client gives up.
    let f = start_front(
        dir.path(),
        &[],
        &[
            "--origin",
            &format!("a={}", a.url),
            "--origin",
            &format!("b={}", b.url),
            "--probe-interval",
            "100ms",
            "--probe-timeout",
            "5s",
            "--fail-after",
            "2",
            "--upstream-timeout",
            "600s",
        ],
    )
    .await;
    f.wait_for("a up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let hanging = tokio::spawn(client.get(f.url("/hang-1")).send());
    for _ in 0..300 {
        if a.saw("/hang-1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.saw("/hang-1"), "the request reached A first");
    a.set_health(FAILING);
    let r = hanging.await.unwrap().expect("answered once A was down, not after the upstream timeout");
    assert_eq!(r.headers()["x-mirrorcast-origin"], "b");
    assert_eq!(r.text().await.unwrap(), "from b /hang-1 range=-");
    assert_eq!(f.status().await["active"], "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_failing_every_other_probe_does_not_make_the_front_switch_back_and_forth() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    a.set_health(ALTERNATING);
    let dir = tempfile::tempdir().unwrap();
    let f = start_front(
        dir.path(),
        &[],
        &[
            "--origin",
            &format!("a={}", a.url),
            "--origin",
            &format!("b={}", b.url),
            "--probe-interval",
            "50ms",
            "--probe-timeout",
            "5s",
            "--fail-after",
            "2",
            "--recover-after",
            "2",
        ],
    )
    .await;
    // Up and flapping: never two failures in a row, so A keeps the viewers.
    let start = a.probes();
    while a.probes() < start + 40 {
        let s = f.status().await;
        assert_eq!(s["active"], "a", "{s:#}");
        assert!(s["switches"].as_array().unwrap().is_empty(), "{s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = f.status().await;
    let history = origin_of(&s, "a")["history"].as_array().unwrap().clone();
    assert!(history.iter().any(|p| p["ok"] == false) && history.iter().any(|p| p["ok"] == true), "it did flap");

    // Down, then flapping: never two good probes in a row, so B keeps the viewers.
    a.set_health(FAILING);
    f.wait_for("a down", |s| s["active"] == "b" && origin_of(s, "a")["health"] == "down").await;
    a.set_health(ALTERNATING);
    let start = a.probes();
    while a.probes() < start + 40 {
        let s = f.status().await;
        assert_eq!(s["active"], "b", "{s:#}");
        assert_eq!(origin_of(&s, "a")["health"], "down", "{s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(f.status().await["switches"].as_array().unwrap().len(), 1, "one switch-over, no flapping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_refuses_bad_flags_and_config_with_one_line_and_reads_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = ["--origin", "a=http://127.0.0.1:9"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "no origin"),
        (vec!["--origin", "http://127.0.0.1:9"], "NAME=URL"),
        (vec!["--origin", "a=ftp://x"], "http://"),
        (vec!["--origin", "a b=http://x"], "name"),
        (vec!["--origin", "a=http://user:secret@x"], "user or password"),
        (vec!["--origin", "a=http://x/?sig=secret"], "query"),
        (vec!["--origin", "a=http://x", "--origin", "a=http://y"], "twice"),
        ([&o[..], &["--mode", "dns"]].concat(), "--mode"),
        ([&o[..], &["--fail-after", "0"]].concat(), "--fail-after"),
        ([&o[..], &["--recover-after", "101"]].concat(), "--recover-after"),
        ([&o[..], &["--probe-interval", "0s"]].concat(), "--probe-interval"),
        ([&o[..], &["--probe-timeout", "soon"]].concat(), "--probe-timeout"),
        ([&o[..], &["--listen", "nowhere"]].concat(), "--listen"),
        ([&o[..], &["--players", "/nonexistent"]].concat(), "--players"),
    ];
    for (args, needle) in cases {
        let all = [&["front"][..], &args].concat();
        let run = run_in(dir.path(), &[], &all).await;
        run.usage_error(needle);
        assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    }
    for (table, needle) in [("origin = \"a=http://x\"", "origin"), ("probe_interval = \"soon\"", "probe_interval")] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, format!("[front]\norigins = [\"a=http://x\"]\n{table}\n")).unwrap();
        run_in(dir.path(), &[], &["--config", path.to_str().unwrap(), "front"]).await.usage_error(needle);
    }

    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let path = dir.path().join("mirrorcast.toml");
    std::fs::write(
        &path,
        format!(
            "[front]\norigins = [\"a={}\", \"b={}\"]\nmode = \"redirect\"\nprobe_interval = \"300ms\"\nfail_after = 4\nfailback = false\n",
            a.url, b.url
        ),
    )
    .unwrap();
    let f = start_front(dir.path(), &[], &[]).await;
    let s = f.wait_for("both up", |s| origin_of(s, "b")["health"] == "up").await;
    assert_eq!((s["mode"].as_str(), s["failback"].as_bool()), (Some("redirect"), Some(false)), "{s:#}");
    assert_eq!((s["probe"]["interval_ms"].as_u64(), s["probe"]["fail_after"].as_u64()), (Some(300), Some(4)));
    assert_eq!(s["origins"][0]["url"], a.url.as_str());
}

fn players_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/players")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_switch_over_live_in_headless_chromium_while_its_player_plays() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: apt-get install chromium; this test does not skip");
    assert!(
        players_dir().join("node_modules/playwright-core/package.json").exists(),
        "the pinned players are missing: run `cargo xtask setup` (npm ci in tools/players)"
    );
    let sb = Sandbox::start().await;
    let published = publish_media(&sb).await;
    let cs = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", cs.as_str())];
    let origin_a = serve(sb.dir.path(), &env, &[]).await;
    let origin_b = serve(sb.dir.path(), &env, &[]).await;
    let players = players_dir().join("node_modules");
    let f = start_front(
        sb.dir.path(),
        &[],
        &[
            "--origin",
            &format!("a=http://{}", origin_a.addr),
            "--origin",
            &format!("b=http://{}", origin_b.addr),
            "--probe-interval",
            "200ms",
            "--probe-timeout",
            "5s",
            "--players",
            players.to_str().unwrap(),
        ],
    )
    .await;
    let stream = format!("/{}/Clip.ism/manifest(format=m3u8-cmaf)", published.locator);
    let page = f.url(&format!("/_front/?src={}", mirrorcast_core::streaming::encode_segment(&stream)));
    let mut node = tokio::process::Command::new("node")
        .arg(players_dir().join("front.mjs"))
        .args([&page, "a", "b", "60000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed (Node.js 18+)");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> serde_json::Value {
        let line = lines.next_line().await.unwrap().unwrap_or_default();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("front.mjs: {e}: {line}"))
    }
    let first = next(&mut lines).await;
    assert_eq!(first["stage"], "first", "{first:#}");
    assert_eq!(first["active"], "a", "{first:#}");
    assert!(first["currentTime"].as_f64().unwrap() > 1.0, "the page's player plays through the front: {first:#}");
    drop(origin_a); // the page is watching
    let then = next(&mut lines).await;
    assert_eq!(then["stage"], "then", "{then:#}");
    assert_eq!(then["active"], "b", "{then:#}");
    let switch = &then["switches"][0];
    assert_eq!((switch["from"].as_str(), switch["to"].as_str()), (Some("a"), Some("b")), "{then:#}");
    assert!(switch["text"].as_str().unwrap().contains("failed probe"), "{then:#}");
    let rows = then["origins"].as_array().unwrap();
    assert_eq!((rows[0]["name"].as_str(), rows[0]["health"].as_str()), (Some("a"), Some("down")), "{then:#}");
    assert!(rows[0]["failed"].as_u64().unwrap() >= 3, "A's history shows its failed probes: {then:#}");
    assert_eq!((rows[1]["health"].as_str(), rows[1]["active"].as_bool()), (Some("up"), Some(true)), "{then:#}");
    assert!(!then["player"].as_str().unwrap().starts_with("hls.js"), "no player error: {then:#}");
    assert!(node.wait().await.unwrap().success());
}
