//! `serve`'s hot-segment cache against Azurite: repeated requests are served from memory
//! (hits in `/metrics`, no new storage reads), `--cache-size 0` turns it off, and a size that
//! is not one is refused by name.

use crate::helpers::{run_in, Sandbox};
use crate::serve::{get, publish_media, serve};

/// The value of `name` in the origin's `/metrics`.
pub(crate) async fn metric(addr: &str, name: &str) -> u64 {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
    line.rsplit(' ').next().unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_segment_and_range_requests_are_hits_in_metrics_not_storage_reads() {
    let sb = Sandbox::start().await;
    let p = publish_media(&sb).await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = serve(sb.dir.path(), &env, &["--cache-size", "64MiB"]).await;
    let c = format!("/{}/Clip.ism", p.locator);
    // Every video segment of the top rendition, from its playlist, and the first audio segment.
    let mut segments = Vec::new();
    for (level, stream) in [(600_000, "video"), (128_000, "audio")] {
        let dir = format!("{c}/QualityLevels({level})");
        let (status, playlist) = get(&s.addr, &format!("{dir}/Manifest({stream},format=m3u8-cmaf)")).await;
        assert_eq!(status, 200, "{playlist}");
        let names = playlist.lines().filter(|l| l.starts_with("Fragments(")).map(|l| format!("{dir}/{l}"));
        segments.extend(names.take(if stream == "audio" { 1 } else { usize::MAX }));
    }
    assert!(segments.len() >= 4, "{segments:?}");
    let n = segments.len() as u64;
    let notes = format!("/{}/notes.txt", p.locator);
    let ranged = |addr: &str| {
        let request = format!("GET {notes} HTTP/1.1\r\nHost: x\r\nRange: bytes=10-109\r\nConnection: close\r\n\r\n");
        let addr = addr.to_owned();
        async move { crate::serve::raw(&addr, request.as_bytes()).await }
    };

    let mut first = Vec::new();
    for path in &segments {
        let (status, body) = get(&s.addr, path).await;
        assert_eq!(status, 200, "{path}: {body:.300}");
        first.push(body);
    }
    let (status, range) = ranged(&s.addr).await;
    assert_eq!(status, 206, "{range:.300}");
    assert_eq!(metric(&s.addr, "mirrorcast_origin_segment_cache_misses_total").await, n + 1, "each one read once");
    let reads = metric(&s.addr, "mirrorcast_origin_upstream_requests_total").await;

    for _ in 0..3 {
        for (path, body) in segments.iter().zip(&first) {
            let (status, again) = get(&s.addr, path).await;
            assert_eq!(status, 200, "{path}");
            // The same response, Date header aside.
            let strip = |t: &str| t.lines().filter(|l| !l.starts_with("date:")).collect::<Vec<_>>().join("\n");
            assert_eq!(strip(&again), strip(body), "{path}: the kept segment is the one first served");
        }
        assert_eq!(ranged(&s.addr).await.0, 206);
    }
    let hits = metric(&s.addr, "mirrorcast_origin_segment_cache_hits_total").await;
    assert_eq!(hits, 3 * (n + 1), "three more rounds, all from memory");
    assert_eq!(metric(&s.addr, "mirrorcast_origin_segment_cache_misses_total").await, n + 1);
    let held = metric(&s.addr, "mirrorcast_origin_segment_cache_bytes").await;
    assert!(held > 0 && held <= 64 * 1024 * 1024, "{held} bytes held");
    // A loaded machine may take past the one-second interval: a HEAD per blob each time, never a GET per request.
    let more = metric(&s.addr, "mirrorcast_origin_upstream_requests_total").await - reads;
    assert!(more < hits, "{more} storage requests for {hits} requests served from memory");

    // Off: every request reads storage, nothing is counted as a hit.
    let off = serve(sb.dir.path(), &env, &["--cache-size", "0"]).await;
    for _ in 0..2 {
        assert_eq!(get(&off.addr, &segments[0]).await.0, 200);
    }
    assert_eq!(metric(&off.addr, "mirrorcast_origin_segment_cache_hits_total").await, 0);
    assert_eq!(metric(&off.addr, "mirrorcast_origin_segment_cache_capacity_bytes").await, 0);

    run_in(sb.dir.path(), &env, &["serve", "--dc", "a", "--cache-size", "lots"])
        .await
        .usage_error("--cache-size 'lots'");
}
