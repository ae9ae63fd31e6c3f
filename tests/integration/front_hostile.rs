//! The front under hostile clients and broken origins: requests announcing a
//! body (and the request-smuggling shapes) over raw sockets, an origin frozen
//! mid-body, a plain MP4 cut mid-download and continued from B.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::front::{origin_of, start_front, TinyOrigin, FROZEN};
use crate::helpers::{run_in, Sandbox};
use crate::replicate::Failover;
use crate::serve::{publish_media, publish_media_in, serve, serve_dc};

/// Writes `request` on a new connection and reads until the server closes it
/// or sends nothing for `idle`: the statuses of the responses, and whether it closed.
async fn exchange(addr: &str, request: &[u8], idle: Duration) -> (Vec<u16>, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        match tokio::time::timeout(idle, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&out);
    let statuses =
        text.match_indices("HTTP/1.").filter_map(|(at, _)| text.get(at + 9..at + 12)?.parse().ok()).collect();
    (statuses, closed)
}

/// The mix: 4 clients sending GETs with a body (which the front used to
/// forward with their `Content-Length` and without the body, so an origin took the
/// next viewer's request on that connection for the body) beside 8 viewers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_carrying_a_body_beside_normal_viewers_fail_none_of_the_normal_gets() {
    let sb = Sandbox::start().await;
    let published = publish_media(&sb).await;
    let cs = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", cs.as_str())];
    // One origin: no second one to mask a broken attempt from the viewers.
    let origin = serve(sb.dir.path(), &env, &[]).await;
    let f = start_front(
        sb.dir.path(),
        &[],
        &["--origin", &format!("a=http://{}", origin.addr), "--probe-interval", "200ms", "--probe-timeout", "5s"],
    )
    .await;
    f.wait_for("a up", |s| origin_of(s, "a")["health"] == "up").await;
    let notes = format!("/{}/notes.txt", published.locator);
    let expected = reqwest::get(f.url(&notes)).await.unwrap().bytes().await.unwrap();
    assert_eq!(expected.len(), 1000);

    let done = Arc::new(AtomicBool::new(false));
    let mut hostile = Vec::new();
    for _ in 0..4 {
        let (addr, notes, done) = (f.addr.clone(), notes.clone(), done.clone());
        hostile.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let request = format!(
                    "GET {notes} HTTP/1.1\r\nHost: front\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{}",
                    "x".repeat(40)
                );
                let (got, _) = exchange(&addr, request.as_bytes(), Duration::from_secs(5)).await;
                statuses.extend(got);
            }
            statuses
        }));
    }
    let mut viewers = Vec::new();
    for _ in 0..8 {
        let (url, expected) = (f.url(&notes), expected.clone());
        viewers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut failed = Vec::new();
            for _ in 0..75 {
                match client.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(body) if status == 200 && body == expected => {}
                            Ok(body) => failed.push(format!("{status}, {} bytes", body.len())),
                            Err(e) => failed.push(format!("{status}, body cut: {e}")),
                        }
                    }
                    Err(e) => failed.push(e.to_string()),
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for v in viewers {
        failed.extend(v.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let mut refused = Vec::new();
    for h in hostile {
        refused.extend(h.await.unwrap());
    }
    assert!(failed.is_empty(), "{} of 600 normal GETs failed, e.g. {:?}", failed.len(), &failed[..failed.len().min(5)]);
    let a = origin_of(&f.status().await, "a");
    let failed_probes = a["history"].as_array().unwrap().iter().filter(|p| p["ok"] == false).count();
    assert_eq!((a["failed_attempts"].as_u64(), failed_probes), (Some(0), 0), "no upstream connection broke: {a:#}");
    assert!(!refused.is_empty(), "the hostile clients got answers");
    assert!(refused.iter().all(|s| *s == 400), "a GET with a body is a 400: {refused:?}");
    eprintln!("body mix: 600 normal GETs all correct; {} GETs with a body, each a 400", refused.len());
}

/// Each shape is followed on its connection by a request the origins must never
/// see; hyper refuses some of them, the front the rest: each is one 400, the
/// connection closes, and neither origin gets a request with body framing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_shapes_and_requests_with_a_body_are_refused_at_the_front_over_a_raw_socket() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    let f = start_front(
        dir.path(),
        &[],
        &["--origin", &format!("a={}", a.url), "--origin", &format!("b={}", b.url), "--probe-interval", "200ms"],
    )
    .await;
    f.wait_for("a up", |s| origin_of(s, "a")["health"] == "up").await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: front\r\n\r\n";
    let n = smuggled.len();
    let shapes: Vec<(&str, String)> = vec![
        ("a GET with a body", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("a GET with a chunked body", format!("GET /shape HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("CL.TE", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("TE.CL", format!("GET /shape HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smuggled}")),
        ("two differing Content-Lengths", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("two equal Content-Lengths", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("a Content-Length list", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}, {n}\r\n\r\n{smuggled}")),
        ("a signed Content-Length", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: +{n}\r\n\r\n{smuggled}")),
        ("a negative Content-Length", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: -1\r\n\r\n{smuggled}")),
        ("an obs-folded header", format!("GET /shape HTTP/1.1\r\nHost: f\r\nX-Note: a\r\n folded\r\n\r\n{smuggled}")),
        ("an obs-folded Content-Length", format!("GET /shape HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\n {n}\r\n\r\n{smuggled}")),
        ("a coding after chunked", format!("GET /shape HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}")),
        ("an unknown coding", format!("GET /shape HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("Transfer-Encoding in HTTP/1.0", format!("GET /shape HTTP/1.0\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("a space before the colon", format!("GET /shape HTTP/1.1\r\nHost: f\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("a HEAD with a body", format!("HEAD /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("an OPTIONS with a body", format!("OPTIONS /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("a POST with a body", format!("POST /shape HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
        ("a body on the front's own path", format!("GET /_front/status HTTP/1.1\r\nHost: f\r\nContent-Length: {n}\r\n\r\n{smuggled}")),
    ];
    let mut wrong = Vec::new();
    for (what, request) in &shapes {
        let (statuses, closed) = exchange(&f.addr, request.as_bytes(), Duration::from_secs(5)).await;
        if statuses != [400] || !closed {
            wrong.push(format!("{what}: {statuses:?}, closed: {closed}"));
        }
    }
    assert!(wrong.is_empty(), "each shape is one 400 and a closed connection: {wrong:#?}");
    for origin in [&a, &b] {
        assert!(!origin.saw("/shape") && !origin.saw("/smuggled"), "nothing was forwarded");
    }

    // No body, stated or not: both pipelined requests are answered, and forwarded without framing.
    let fine = "GET /fine-1 HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\n\r\nGET /fine-2 HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&f.addr, fine.as_bytes(), Duration::from_secs(5)).await, (vec![200, 200], true));
    assert!(a.saw("/fine-1") && a.saw("/fine-2"));
    let post = "POST /shape HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&f.addr, post.as_bytes(), Duration::from_secs(5)).await, (vec![405], true));
    assert_eq!((a.framed(), b.framed()), (0, 0), "no request reached an origin with body framing");
}

/// A loopback origin speaking raw HTTP/1.1: `/healthz` is 200, anything else
/// announces 5 bytes and sends 30 chunked (response-smuggling framing).
async fn origin_framing_both_ways() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        let request: Vec<u8> = head.drain(..end + 4).collect();
                        let answer: &[u8] = if request.starts_with(b"GET /healthz ") {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n1e\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n0\r\n\r\n"
                        };
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

/// An origin answering with both `Content-Length` and `Transfer-Encoding` (hyper's
/// client reads the chunked body and keeps the length): not relayed, B answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_answer_framed_both_ways_is_not_relayed_and_the_next_origin_answers() {
    let (a, b) = (origin_framing_both_ways().await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    let f = start_front(
        dir.path(),
        &[],
        &["--origin", &format!("a={a}"), "--origin", &format!("b={}", b.url), "--probe-interval", "200ms"],
    )
    .await;
    f.wait_for("both up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;
    let r = reqwest::get(f.url("/both-ways")).await.unwrap();
    let origin = r.headers()["x-mirrorcast-origin"].to_str().unwrap().to_owned();
    assert_eq!((origin.as_str(), r.text().await.unwrap()), ("b", "from b /both-ways range=-".to_owned()));
    assert_eq!(origin_of(&f.status().await, "a")["failed_attempts"], 1);
}

/// `--upstream-timeout 2s`: the whole body within it plus this (a busy machine's margin, not a speed assert).
const MARGIN: Duration = Duration::from_secs(18);

/// A body read to its end, or the error that ended it, and how long that took.
async fn read_rest(r: &mut reqwest::Response) -> (Vec<u8>, Option<String>, Duration) {
    let started = Instant::now();
    let mut body = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(2) + MARGIN, async {
        loop {
            match r.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                Ok(None) => return None,
                Err(e) => return Some(e.to_string()),
            }
        }
    })
    .await;
    let error = ended.unwrap_or_else(|_| Some("still waiting after the upstream timeout and the margin".into()));
    (body, error, started.elapsed())
}

/// The frozen origin: A sends the head and part of a body, then nothing,
/// its `/healthz` included. The viewer gets the rest from B, or (when no origin can
/// finish it) a cut, within the upstream timeout and a margin, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_frozen_mid_download_goes_on_from_the_next_origin_or_ends_within_the_upstream_timeout() {
    let (a, b) = (TinyOrigin::start("a").await, TinyOrigin::start("b").await);
    let dir = tempfile::tempdir().unwrap();
    let f = start_front(
        dir.path(),
        &[],
        &[
            "--origin",
            &format!("a={}", a.url),
            "--origin",
            &format!("b={}", b.url),
            "--upstream-timeout",
            "2s",
            "--probe-interval",
            "500ms",
            "--probe-timeout",
            "1s",
        ],
    )
    .await;
    f.wait_for("both up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();

    // Every origin freezes the body: the viewer sees it cut, soon.
    let mut r = client.get(f.url("/freeze-all")).send().await.unwrap();
    assert_eq!(r.headers()["content-length"], "20");
    let (body, error, took) = read_rest(&mut r).await;
    assert!(error.is_some() && body == b"first chunk;", "cut after what A sent: {body:?} {error:?}");
    assert!(!error.unwrap().contains("still waiting"), "ended in {took:?}");
    // A body of unannounced length cannot be continued: it ends, soon.
    let mut r = client.get(f.url("/freeze-unsized")).send().await.unwrap();
    let (body, error, took) = read_rest(&mut r).await;
    assert!(error.is_some() && body == b"first chunk;", "{body:?} {error:?}");
    assert!(!error.unwrap().contains("still waiting"), "ended in {took:?}");

    // A freezes mid-body, /healthz too: the rest comes from B.
    let mut r = client.get(f.url("/freeze-a-1")).send().await.unwrap();
    assert_eq!(r.headers()["x-mirrorcast-origin"], "a");
    a.set_health(FROZEN);
    let (body, error, took) = read_rest(&mut r).await;
    assert_eq!((String::from_utf8_lossy(&body), error), ("first chunk;the rest".into(), None), "after {took:?}");
    assert!(b.saw("/freeze-a-1"));
    eprintln!("frozen origin: the body went on from B after {took:?} (upstream timeout 2 s)");
    f.wait_for("a down, b active", |s| origin_of(s, "a")["health"] == "down" && s["active"] == "b").await;
    let r = client.get(f.url("/freeze-a-2")).send().await.unwrap();
    assert_eq!(r.headers()["x-mirrorcast-origin"], "b");
    assert_eq!(r.text().await.unwrap(), "first chunk;the rest");
}

/// A loopback TCP relay to `upstream`; once armed, the first connection whose
/// answer passes `limit` bytes is cut there (an origin dying mid-download).
async fn cutting_relay(upstream: String, limit: u64, armed: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let (upstream, armed) = (upstream.clone(), armed.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
                let mut relayed = 0u64;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if relayed + n as u64 > limit && armed.swap(false, Ordering::SeqCst) {
                        let keep = (limit - relayed.min(limit)) as usize;
                        let _ = client_write.write_all(&buf[..keep]).await;
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    relayed += n as u64;
                }
                requests.abort();
            });
        }
    });
    addr
}

/// A and B hold the same MP4 under different store ETags; tagged by its Content-MD5,
/// a download A cuts goes on from B, and the viewer gets exactly the file's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_mp4_cut_mid_download_is_continued_from_b_byte_exact() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = publish_media_in(f.dir.path(), &env).await;
    let copied = run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--asset", &p.asset, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(copied["totals"]["failed"], 0, "{copied}");
    let (served_a, served_b) =
        tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));
    let mp4 = format!("/{}/Clip_320x180_600.mp4", p.locator);
    let file = std::fs::read(f.dir.path().join("clip/Clip_320x180_600.mp4")).unwrap();
    let http = reqwest::Client::new();
    let etag_at = |addr: String| {
        let (http, mp4) = (http.clone(), mp4.clone());
        async move { http.head(format!("http://{addr}{mp4}")).send().await.unwrap().headers()["etag"].clone() }
    };
    let (etag_a, etag_b) = (etag_at(served_a.addr.clone()).await, etag_at(served_b.addr.clone()).await);
    assert_eq!(etag_a, etag_b, "the same bytes are tagged alike in A and B");
    assert!(etag_a.to_str().unwrap().starts_with("\"md5-"), "{etag_a:?}");

    let limit = 64 * 1024;
    assert!(file.len() > 4 * limit as usize, "the cut comes mid-file: {} bytes", file.len());
    let armed = Arc::new(AtomicBool::new(false));
    let relay_a = cutting_relay(served_a.addr.clone(), limit, armed.clone()).await;
    let front = start_front(
        f.dir.path(),
        &[],
        &[
            "--origin",
            &format!("a=http://{relay_a}"),
            "--origin",
            &format!("b=http://{}", served_b.addr),
            "--probe-interval",
            "200ms",
            "--probe-timeout",
            "5s",
        ],
    )
    .await;
    front.wait_for("both up", |s| origin_of(s, "a")["health"] == "up" && origin_of(s, "b")["health"] == "up").await;

    armed.store(true, Ordering::SeqCst);
    let r = http.get(front.url(&mp4)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["x-mirrorcast-origin"].to_str().unwrap()), (200, "a"));
    let body = r.bytes().await.expect("the body A cut went on from B");
    assert!(!armed.load(Ordering::SeqCst), "A's answer was cut");
    assert!(body[..] == file[..], "byte-exact: {} bytes of {}", body.len(), file.len());

    // A range too: same Content-Range from B, the bytes already sent skipped.
    armed.store(true, Ordering::SeqCst);
    let r = http.get(front.url(&mp4)).header("range", "bytes=1000-").send().await.unwrap();
    assert_eq!(r.status(), 206);
    let body = r.bytes().await.expect("the range A cut went on from B");
    assert!(!armed.load(Ordering::SeqCst), "A's answer was cut");
    assert!(body[..] == file[1000..], "byte-exact: {} bytes of {}", body.len(), file.len() - 1000);

    let s = front.status().await;
    assert_eq!(origin_of(&s, "a")["failed_attempts"], 2, "{s:#}");
    assert_eq!(origin_of(&s, "b")["requests"], 2, "B continued both: {s:#}");
}
