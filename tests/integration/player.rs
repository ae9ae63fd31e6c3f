//! Real players in real headless Chromium: hls.js plays the origin's HLS and
//! dash.js its DASH (both pinned in tools/players/package-lock.json), muted,
//! until `video.currentTime` passes 2 s. The page and the player scripts are
//! served from loopback; the streams come from `mirrorcast serve` (CORS) of
//! data center B after a replicate (HLS `m3u8-aapl` is MPEG-TS, as Media Services served it).
//! Needs /usr/bin/chromium (or $CHROMIUM) and `npm ci` in tools/players
//! (`cargo xtask setup`); without them this test fails, it never skips.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::helpers::Sandbox;
use crate::replicate::Failover;
use crate::serve::{publish_media_in, published_and_served, serve_dc};

pub(crate) fn players_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/players")
}

/// The page and the player scripts (nothing else) over plain HTTP on a free loopback port.
pub(crate) async fn serve_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = players_dir();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..n]);
                let path = line.split(' ').nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                let (file, mime) = match path.as_str() {
                    "/player.html" => ("player.html", "text/html"),
                    "/tracks.html" => ("tracks.html", "text/html"),
                    "/node_modules/hls.js/dist/hls.min.js" => {
                        ("node_modules/hls.js/dist/hls.min.js", "text/javascript")
                    }
                    "/node_modules/dashjs/dist/dash.all.min.js" => {
                        ("node_modules/dashjs/dist/dash.all.min.js", "text/javascript")
                    }
                    "/node_modules/dashjs/dist/dash.mss.min.js" => {
                        ("node_modules/dashjs/dist/dash.mss.min.js", "text/javascript")
                    }
                    "/shaka.html" => ("shaka.html", "text/html"),
                    "/node_modules/shaka-player/dist/shaka-player.compiled.js" => {
                        ("node_modules/shaka-player/dist/shaka-player.compiled.js", "text/javascript")
                    }
                    _ => ("", ""),
                };
                let response = match std::fs::read(dir.join(file)).ok().filter(|_| !file.is_empty()) {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Runs tools/players/play.mjs on the page for `url` until playback passes `seconds`; the page's JSON report.
pub(crate) async fn play_in_chromium(page: &str, kind: &str, url: &str, seconds: u32) -> serde_json::Value {
    play_in_chromium_at_home(page, kind, url, seconds, None).await
}

/// [`play_in_chromium`] with Chromium's HOME set to `home`: its NSS database
/// (`home/.pki/nssdb`) decides which certificates an HTTPS stream may present.
pub(crate) async fn play_in_chromium_at_home(
    page: &str,
    kind: &str,
    url: &str,
    seconds: u32,
    home: Option<&Path>,
) -> serde_json::Value {
    // The stream URL has no `&` or `+`; escaping `/ ? # % space` keeps it one query value.
    let src = mirrorcast_core::streaming::encode_segment(url);
    let page_url = format!("{page}/player.html?kind={kind}&seconds={seconds}&src={src}");
    report_of_page(&page_url, 60_000, home).await
}

/// tools/players/play.mjs on `page_url` (a page writing its JSON report into #result) until the
/// report says playing or error, or `timeout_ms`; the report.
pub(crate) async fn report_of_page(page_url: &str, timeout_ms: u64, home: Option<&Path>) -> serde_json::Value {
    let mut node = tokio::process::Command::new("node");
    node.arg(players_dir().join("play.mjs")).args([page_url, &timeout_ms.to_string()]);
    if let Some(home) = home {
        node.env("HOME", home);
    }
    let out = node.output().await.expect("node is needed (Node.js 18+)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "play.mjs {page_url}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("play.mjs {page_url} printed no report ({e}): {stdout}"))
}

/// The test needs Chromium and the pinned players; it fails (never skips) without them.
pub(crate) fn require_chromium_and_players() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (or set CHROMIUM); this test does not skip"
    );
    assert!(
        players_dir().join("node_modules/playwright-core/package.json").exists()
            && players_dir().join("node_modules/hls.js/dist/hls.min.js").exists()
            && players_dir().join("node_modules/dashjs/dist/dash.all.min.js").exists(),
        "the pinned players are missing: run `cargo xtask setup` (npm ci in tools/players)"
    );
}

/// From B, after a failover: the clip published in A, replicated, served by B's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_and_dash_js_play_the_origins_streams_in_headless_chromium() {
    require_chromium_and_players();
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let published = publish_media_in(f.dir.path(), &env).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &published.asset]).await.ok();
    let served = serve_dc(f.dir.path(), &env, "b", &[]).await;
    let page = serve_page().await;
    let manifest = format!("http://{}/{}/Clip.ism/manifest", served.addr, published.locator);
    for (kind, format) in [
        ("hls", "m3u8-aapl"),
        ("hls", "m3u8-aapl-v3"),
        ("hls", "m3u8-cmaf"),
        ("dash", "mpd-time-csf"),
        ("dash", "mpd-time-cmaf"),
    ] {
        let report = play_in_chromium(&page, kind, &format!("{manifest}(format={format})"), 2).await;
        assert_eq!(report["state"], "playing", "{kind} {format}: {report}");
        assert!(report["currentTime"].as_f64().unwrap() > 2.0, "{kind} {format}: {report}");
        assert_eq!(report["errors"], serde_json::json!([]), "{kind} {format}: {report}");
    }
}

/// dash.js with its Smooth Streaming module (dash.mss.min.js, pinned with it) plays
/// `<Base>.ism/manifest`: the manifest the origin makes and the fragments in Smooth's
/// wire form (tfxd, no tfdt), converted by the module in the page as MSS players did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_mss_plays_the_origins_smooth_manifest_in_headless_chromium() {
    require_chromium_and_players();
    assert!(
        players_dir().join("node_modules/dashjs/dist/dash.mss.min.js").exists(),
        "dash.mss.min.js is missing: run `cargo xtask setup` (npm ci in tools/players)"
    );
    let sb = Sandbox::start().await;
    let (published, served) = published_and_served(&sb).await;
    let page = serve_page().await;
    let manifest = format!("http://{}/{}/Clip.ism/manifest", served.addr, published.locator);
    let report = play_in_chromium(&page, "mss", &manifest, 4).await;
    assert_eq!(report["state"], "playing", "{report}");
    assert!(report["currentTime"].as_f64().unwrap() > 4.0, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    for kind in ["video", "audio"] {
        let ahead = report["buffered"][kind].as_f64().unwrap_or(0.0);
        assert!(ahead > 0.0, "{kind} is buffered: {report}");
    }
}
