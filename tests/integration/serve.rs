//! `mirrorcast serve`: the origin of a data center on real Azurite. Locator
//! resolution and its refusals, plain files with ranges and validators, and
//! HLS and DASH packaged from real ffmpeg-made renditions, played back by
//! ffmpeg packet for packet.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{run_in, Sandbox};
use crate::replicate::Failover;

/// A running `mirrorcast serve` and what it wrote on stderr so far.
pub(crate) struct Served {
    _child: tokio::process::Child,
    pub(crate) addr: String,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Served {
    /// The origin's peak resident memory so far (`VmHWM`), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let pid = self._child.id().expect("the origin is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/<pid>/status");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

pub(crate) async fn serve(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Served {
    serve_dc(dir, env, "a", extra).await
}

/// `mirrorcast serve --dc <dc>` on a free loopback port.
pub(crate) async fn serve_dc(dir: &Path, env: &[(&str, &str)], dc: &str, extra: &[&str]) -> Served {
    let mut args = vec!["serve", "--dc", dc, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let l = crate::helpers::listening(dir, env, &args).await;
    Served { _child: l.child, addr: l.addr, stderr: l.stderr }
}

/// One raw HTTP/1.1 exchange (reqwest would normalise `..` away); the status line and the rest.
pub(crate) async fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

pub(crate) async fn get(addr: &str, path: &str) -> (u16, String) {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await
}

fn assert_leaks_nothing(text: &str, storage_port: u16) {
    for secret in ["sig=", "AccountKey", &format!(":{storage_port}"), "devstoreaccount1"] {
        assert!(!text.contains(secret), "'{secret}' leaked: {text}");
    }
}

pub(crate) fn ffmpeg(args: &[&str]) -> std::process::Output {
    std::process::Command::new("ffmpeg").args(args).output().expect("ffmpeg is needed: apt-get install ffmpeg")
}

/// One stream of what ffmpeg demuxed: its media type and, per packet, its
/// start and end in seconds and its MD5 (the sixth framemd5 column; side data
/// after it is the demuxer's, not the packet's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Packets {
    pub(crate) media_type: String,
    pub(crate) packets: Vec<(f64, f64, String)>,
}

impl Packets {
    fn md5s(&self) -> Vec<&str> {
        self.packets.iter().map(|p| p.2.as_str()).collect()
    }

    fn end(&self) -> f64 {
        self.packets.iter().map(|p| p.1).fold(0.0, f64::max)
    }
}

/// The streams ffmpeg demuxes from `input` (`-map map -c copy -f framemd5`),
/// ordered by their packets' MD5s so the order of variants does not matter.
pub(crate) fn packet_md5s(input: &str, map: &str) -> Vec<Packets> {
    framemd5_streams(input, &["-map", map, "-c", "copy"])
}

/// What ffmpeg reads from MPEG-TS HLS (`m3u8-aapl`, `m3u8-aapl-v3`): its video
/// decoded (TS carries H.264 as Annex B, so its packets differ from the MP4's
/// while its frames must not), its audio as packets with the ADTS headers taken off.
pub(crate) fn ts_md5s(input: &str) -> Vec<Packets> {
    framemd5_streams(input, &["-map", "0", "-c:a", "copy", "-bsf:a", "aac_adtstoasc"])
}

/// The source renditions as [`ts_md5s`] reads TS: decoded video, audio packets.
pub(crate) fn source_frames_for_ts(videos: &[&str], audio: &str) -> Vec<Packets> {
    let mut want: Vec<Packets> = videos.iter().map(|v| framemd5_streams(v, &["-map", "0:v"]).remove(0)).collect();
    want.push(packet_md5s(audio, "0:a").remove(0));
    want.sort_by(|a, b| a.md5s().cmp(&b.md5s()));
    want
}

/// The streams of ffmpeg's framemd5 of `input` with `args`, ordered by their MD5s.
pub(crate) fn framemd5_streams(input: &str, args: &[&str]) -> Vec<Packets> {
    // ffmpeg's defaults: no option that relaxes its HLS reader's checks.
    let mut all = vec!["-v", "error", "-i", input];
    all.extend(args);
    all.extend(["-f", "framemd5", "-"]);
    let args = all;
    let out = ffmpeg(&args);
    assert!(out.status.success(), "ffmpeg -i {input}: {}", String::from_utf8_lossy(&out.stderr));
    let mut time_base: BTreeMap<String, f64> = BTreeMap::new();
    let mut streams: BTreeMap<String, Packets> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(header) = line.strip_prefix('#') {
            // `#tb 0: 1/12800`, `#media_type 0: video`
            let Some((key, value)) = header.split_once(':') else { continue };
            let Some((name, index)) = key.split_once(' ') else { continue };
            let value = value.trim();
            match name {
                "tb" => {
                    let (n, d) = value.split_once('/').unwrap();
                    time_base.insert(index.to_owned(), n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap());
                }
                "media_type" => {
                    streams
                        .entry(index.to_owned())
                        .or_insert_with(|| Packets { media_type: String::new(), packets: Vec::new() })
                        .media_type = value.to_owned();
                }
                _ => {}
            }
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() >= 6 {
            let tb = time_base[cols[0]];
            let start = cols[2].parse::<f64>().unwrap() * tb;
            let end = start + cols[3].parse::<f64>().unwrap() * tb;
            streams.get_mut(cols[0]).expect("a stream header before its packets").packets.push((
                start,
                end,
                cols[5].to_owned(),
            ));
        }
    }
    let mut all: Vec<Packets> = streams.into_values().collect();
    all.sort_by(|a, b| a.md5s().cmp(&b.md5s()));
    // An HLS master's audio-only variant (listed by default, as Media Services did) is the default
    // audio's playlist once more: ffmpeg reads it as a second stream of the very same packets.
    if input.contains("(format=m3u8-") {
        all.dedup_by(|a, b| a.media_type == b.media_type && a.md5s() == b.md5s());
    }
    all
}

/// True when `got` carries exactly the packets of `want`, stream by stream (MD5s, in order).
pub(crate) fn same_packets(got: &[Packets], want: &[Packets]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.media_type == w.media_type && g.md5s() == w.md5s())
}

/// Per stream: packet counts, and where the first differing packet is.
pub(crate) fn differences(got: &[Packets], want: &[Packets]) -> String {
    let per: Vec<String> = got
        .iter()
        .zip(want)
        .map(|(g, w)| {
            format!(
                "{} {} vs {} {} packets, first difference at {:?}",
                g.media_type,
                g.packets.len(),
                w.media_type,
                w.packets.len(),
                g.md5s().iter().zip(w.md5s()).position(|(a, b)| *a != b)
            )
        })
        .collect();
    format!("{} streams vs {}: {}", got.len(), want.len(), per.join("; "))
}

/// ffmpeg 5.1's DASH reader does not deliver the very last AAC packet of a
/// presentation: the short tail frame (408 of 1024 samples here, starting at
/// 5.99 s) that ends exactly where the video ends (6.0 s); the same segments
/// play whole through HLS. This restores exactly that packet: an audio
/// stream's last one, only when every earlier packet arrived, and only when it
/// reaches the end of the presentation (ends within 1 ms of the end of the
/// first video stream to end, or later). Anything else missing stays missing
/// and fails the comparison.
pub(crate) fn forgive_dash_last_audio_packet(got: &mut [Packets], want: &[Packets]) {
    let video_end = want.iter().filter(|w| w.media_type == "video").map(Packets::end).fold(f64::INFINITY, f64::min);
    for g in got.iter_mut().filter(|g| g.media_type == "audio") {
        let g_md5s: Vec<String> = g.md5s().iter().map(|m| (*m).to_owned()).collect();
        let source = want.iter().find(|w| {
            w.media_type == "audio"
                && w.packets.len() == g.packets.len() + 1
                && w.packets[..g.packets.len()].iter().map(|p| &p.2).eq(g_md5s.iter())
        });
        if let Some(w) = source {
            let last = w.packets.last().unwrap();
            if last.1 + 1e-3 >= video_end {
                g.packets.push(last.clone());
            }
        }
    }
    got.sort_by(|a, b| a.md5s().cmp(&b.md5s()));
}

pub(crate) struct Published {
    pub(crate) asset: String,
    pub(crate) locator: String,
}

/// Two ffmpeg renditions with a .ism and .ismc, plus a plain text file, uploaded and published.
/// The sample media published in the sandbox's data center A, and a `mirrorcast serve` of A.
pub(crate) async fn published_and_served(sb: &Sandbox) -> (Published, Served) {
    let published = publish_media(sb).await;
    let served = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    (published, served)
}

pub(crate) async fn publish_media(sb: &Sandbox) -> Published {
    publish_media_in(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())]).await
}

/// [`publish_media`] into data center `a` of `env`, working in `dir` (the clip lands in `dir/clip`).
pub(crate) async fn publish_media_in(dir: &Path, env: &[(&str, &str)]) -> Published {
    let folder = write_clip(dir);
    publish_folder_in(dir, env, "Clip", &folder).await
}

/// The clip [`publish_media`] publishes, written into `dir/clip` (its folder): two H.264
/// renditions (600k, 300k; key frames every 2 s) with AAC, 6 s, and `Clip.ism`.
pub(crate) fn write_clip(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("clip");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, size, rate) in [("Clip_320x180_600.mp4", "320x180", "600k"), ("Clip_160x90_300.mp4", "160x90", "300k")] {
        let out = ffmpeg(&[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=25"),
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            rate,
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "-y",
            folder.join(name).to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let track = |kind, src: &str, bitrate, id, name: Option<&str>| IsmTrack {
        kind,
        src: src.into(),
        system_bitrate: bitrate,
        track_id: id,
        track_name: name.map(Into::into),
        language: None,
    };
    let ism = ServerManifest {
        title: Some("Clip".into()),
        client_manifest: Some("Clip.ismc".into()),
        tracks: vec![
            track(TrackKind::Video, "Clip_320x180_600.mp4", 600_000, 1, None),
            track(TrackKind::Video, "Clip_160x90_300.mp4", 300_000, 1, None),
            track(TrackKind::Audio, "Clip_320x180_600.mp4", 128_000, 2, Some("audio")),
        ],
    };
    std::fs::write(folder.join("Clip.ism"), ism.to_xml()).unwrap();
    std::fs::write(
        folder.join("Clip.ismc"),
        "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"2\" Duration=\"60000000\" />\n",
    )
    .unwrap();
    std::fs::write(folder.join("notes.txt"), (0..1000).map(|i| (b'a' + (i % 26) as u8) as char).collect::<String>())
        .unwrap();
    folder
}

/// `seconds` of ffmpeg's test pattern at `size`, 25 fps, encoded into `path` with `args` (codec, options).
pub(crate) fn encode_test_pattern(path: &Path, size: &str, seconds: u32, args: &[&str]) {
    let (input, seconds) = (format!("testsrc2=size={size}:rate=25"), seconds.to_string());
    let mut all = vec!["-v", "error", "-f", "lavfi", "-i", &input, "-t", &seconds];
    all.extend(args);
    all.extend(["-y", path.to_str().unwrap()]);
    let out = ffmpeg(&all);
    assert!(out.status.success(), "ffmpeg {all:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// libx264 at `preset` with a key frame every 2 s at 25 fps, and nowhere else, faststart: renditions
/// whose fragments line up.
pub(crate) fn x264_two_second_gops(preset: &str) -> Vec<&str> {
    let mut args = vec!["-c:v", "libx264", "-preset", preset, "-g", "50", "-keyint_min", "50"];
    args.extend(["-sc_threshold", "0", "-movflags", "+faststart"]);
    args
}

/// `folder` uploaded into a new asset `name` of data center `a` of `env`, with an origin locator.
pub(crate) async fn publish_folder_in(dir: &Path, env: &[(&str, &str)], name: &str, folder: &Path) -> Published {
    let asset = run_in(dir, env, &["asset", "create", "--dc", "a", "--name", name, "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    run_in(dir, env, &["asset", "upload", "--dc", "a", &asset, folder.to_str().unwrap()]).await.ok();
    let made =
        run_in(dir, env, &["locator", "create", "--dc", "a", &asset, "--type", "origin", "--json"]).await.ok().json();
    let locator = LocatorId::parse(made["locator"]["id"].as_str().unwrap()).unwrap().guid();
    Published { asset, locator }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_what_it_must_and_leaks_nothing() {
    let sb = Sandbox::start().await;
    let port = sb.azurite.port();
    let p = publish_media(&sb).await;
    let catalog = Catalog::new(Arc::new(sb.azurite.store("devstoreaccount1")));
    let asset = AssetId::parse(&p.asset).unwrap();
    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    let expired =
        catalog.create_origin_locator(&asset, LocatorId::new(), now - hour * 2, now - hour, "").await.unwrap();
    let future = catalog.create_origin_locator(&asset, LocatorId::new(), now + hour, now + hour * 2, "").await.unwrap();
    let sas = sb.run(&["locator", "create", "--dc", "a", &p.asset, "--type", "sas", "--json"]).await.ok().json();
    let sas = LocatorId::parse(sas["locator"]["id"].as_str().unwrap()).unwrap().guid();
    let other = sb.run(&["asset", "create", "--dc", "a", "--name", "Other", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_folder = sb.dir.path().join("other");
    std::fs::create_dir_all(&other_folder).unwrap();
    std::fs::write(other_folder.join("secret.txt"), "another asset's file").unwrap();
    sb.run(&["asset", "upload", "--dc", "a", &other, other_folder.to_str().unwrap()]).await.ok();

    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let l = &p.locator;
    assert_eq!(get(&s.addr, &format!("/{l}/notes.txt")).await.0, 200, "the control case");
    let refused = [
        format!("/{}/notes.txt", LocatorId::new().guid()),
        format!("/{}/notes.txt", expired.id.guid()),
        format!("/{}/notes.txt", future.id.guid()),
        format!("/{sas}/notes.txt"),
        format!("/nb:lid:UUID:{l}/notes.txt"),
        format!("/{l}/secret.txt"),
        format!("/{l}/../asset-{}/secret.txt", AssetId::parse(&other).unwrap().guid()),
        format!("/{l}/%2e%2e/mirrorcast-catalog/assets"),
        format!("/{l}/%2E%2E%2Fmirrorcast-catalog%2Fassets"),
        format!("/{l}/..%5c..%5cnotes.txt"),
        format!("/{l}/a\\..\\notes.txt"),
        format!("/{l}/./notes.txt"),
        format!("/{l}/Clip.ism/QualityLevels(1)/Fragments(video=0,format=m3u8-cmaf)"),
        format!("/{l}/Clip.ism/QualityLevels(600000)/Fragments(video=12345,format=m3u8-cmaf)"),
        "/".to_owned(),
    ];
    for path in &refused {
        let (status, text) = get(&s.addr, path).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(text.ends_with("not found\n"), "a short body: {text}");
        assert_leaks_nothing(&text, port);
    }
    // A 10 MB URL is cut off by the head limit; so is a client that never finishes its head.
    let huge = format!("GET /{l}/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10 * 1024 * 1024));
    let (status, _) = raw(&s.addr, huge.as_bytes()).await;
    assert!(status == 431 || status == 0, "{status}");
    let mut slow = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut rest)).await;
    assert!(cut.is_ok(), "a head never finished is cut off by the server (its header deadline is 10 s)");
    let (status, _) = get(&s.addr, &format!("/{l}/{}", "a".repeat(5000))).await;
    assert_eq!(status, 404, "a long but allowed path is still resolved and refused");
    assert_eq!(get(&s.addr, "/healthz").await.0, 200);
    let (_, metrics) = get(&s.addr, "/metrics").await;
    assert!(metrics.contains("mirrorcast_origin_responses_total{class=\"4xx\"}"), "{metrics}");
    assert!(metrics.contains("mirrorcast_origin_upstream_requests_total"), "{metrics}");

    // Storage failures: a refused key is 502, an unreachable account 503; neither names the storage.
    let bad_key = sb.connection_string().replace("AccountKey=", "AccountKey=AAAA");
    let denied = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &bad_key)], &[]).await;
    let (status, text) = get(&denied.addr, &format!("/{l}/notes.txt")).await;
    assert_eq!(status, 502, "{text}");
    assert_leaks_nothing(&text, port);
    assert_eq!(get(&denied.addr, "/healthz").await.0, 503);
    let dead = sb.connection_string().replace(&format!(":{port}"), ":9");
    let gone = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &dead)], &["--upstream-timeout-secs", "1"]).await;
    let (status, text) = get(&gone.addr, &format!("/{l}/notes.txt")).await;
    assert_eq!(status, 503, "{text}");
    assert!(!text.contains(":9/"), "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for log in [&s.stderr, &denied.stderr, &gone.stderr] {
        let log = log.lock().unwrap().clone();
        assert_leaks_nothing(&log, port);
        assert!(!log.contains("sig="), "{log}");
    }
    let log = s.stderr.lock().unwrap().clone();
    assert!(log.contains(&format!("\"GET /{l}/notes.txt HTTP/1.1\" 200 1000")), "a common-log-format line: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_plain_files_with_ranges_head_etags_and_304() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let url = format!("http://{}/{}/notes.txt", s.addr, p.locator);
    let http = reqwest::Client::new();
    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    let h = whole.headers().clone();
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(h["accept-ranges"], "bytes");
    assert!(h["cache-control"].to_str().unwrap().contains("max-age"));
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let body = whole.text().await.unwrap();
    assert_eq!(body.len(), 1000);

    let part = http.get(&url).header("range", "bytes=26-51").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 26-51/1000");
    assert_eq!(part.text().await.unwrap(), &body[26..52]);
    let tail = http.get(&url).header("range", "bytes=-10").send().await.unwrap();
    assert_eq!((tail.status().as_u16(), tail.text().await.unwrap()), (206, body[990..].to_owned()));
    for bad in ["bytes=-0", "bytes=1000-", "bytes=99999999999999999999999-"] {
        let r = http.get(&url).header("range", bad).send().await.unwrap();
        assert_eq!(r.status(), 416, "{bad}");
        assert_eq!(r.headers()["content-range"], "bytes */1000", "{bad}");
    }
    let several = http.get(&url).header("range", "bytes=0-1,5-6").send().await.unwrap();
    assert_eq!(several.status(), 200, "several ranges: the whole file");

    let head = http.head(&url).send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["content-length"].to_str().unwrap()), (200, "1000"));
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.text().await.unwrap().is_empty());

    let again = http.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let changed = http.get(&url).header("if-none-match", "\"other\"").send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let cors = http.get(&url).header("origin", "https://player.example").send().await.unwrap();
    assert_eq!(cors.headers()["access-control-allow-origin"], "*");
    let mp4 = http.head(format!("http://{}/{}/Clip_160x90_300.mp4", s.addr, p.locator)).send().await.unwrap();
    assert_eq!(mp4.headers()["content-type"], "video/mp4");
    assert!(mp4.headers()["cache-control"].to_str().unwrap().contains("86400"), "media is cached long");
}

/// The proof of packaging, and of failover: an asset published in A and
/// replicated to B, served by an origin on each; ffmpeg reads the HLS and
/// DASH manifests of both to the end and gets the very packets of every
/// source rendition; A's and B's streaming URLs differ only in their host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_packages_hls_and_dash_that_carry_the_sources_packets_from_a_and_from_b() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = publish_media_in(f.dir.path(), &env).await;
    let copied = run_in(f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--asset", &p.asset, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(copied["totals"]["failed"], 0, "{copied}");
    assert!(copied["totals"]["copied"].as_u64().unwrap() >= 5, "{copied}");

    let (served_a, served_b) =
        tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));
    // The streaming URLs each data center prints, with its origin at its `serve` address.
    let origin_a = format!("http://{}", served_a.addr);
    let origin_b = format!("http://{}", served_b.addr);
    let mut with_origins = env.clone();
    with_origins.retain(|(k, _)| !k.starts_with("MIRRORCAST_ORIGIN_"));
    with_origins.extend([("MIRRORCAST_ORIGIN_A", origin_a.as_str()), ("MIRRORCAST_ORIGIN_B", origin_b.as_str())]);
    let urls_of = |dc: &'static str| {
        let (dir, env, asset) = (f.dir.path(), with_origins.clone(), p.asset.clone());
        async move {
            let listed = run_in(dir, &env, &["locator", "urls", "--dc", dc, &asset, "--json"]).await.ok().json();
            assert_eq!(listed.as_array().unwrap().len(), 1, "one origin locator in {dc}: {listed}");
            listed[0]["urls"].clone()
        }
    };
    let (urls_a, urls_b) = (urls_of("a").await, urls_of("b").await);
    let formats = ["hls", "hls_cmaf", "dash", "dash_cmaf"];
    for format in formats.iter().chain(&["smooth"]) {
        let (a, b) = (urls_a[format].as_str().unwrap(), urls_b[format].as_str().unwrap());
        assert!(a.starts_with(&origin_a) && b.starts_with(&origin_b), "{format}: {a} {b}");
        assert_eq!(a.replacen(&origin_a, &origin_b, 1), b, "{format}: A's and B's URLs differ only in host");
        assert!(a.contains(&p.locator), "{format}: the locator id is kept: {a}");
    }

    let folder = f.dir.path().join("clip");
    let high = folder.join("Clip_320x180_600.mp4");
    let low = folder.join("Clip_160x90_300.mp4");
    let (high, low) = (high.to_str().unwrap(), low.to_str().unwrap());
    let mut want =
        vec![packet_md5s(high, "0:v").remove(0), packet_md5s(low, "0:v").remove(0), packet_md5s(high, "0:a").remove(0)];
    want.sort_by(|a, b| a.md5s().cmp(&b.md5s()));
    assert!(want.iter().all(|s| s.packets.len() > 100), "packets in every stream");
    assert_eq!(want.iter().filter(|s| s.media_type == "video").count(), 2);

    // MPEG-TS HLS (m3u8-aapl is HLS 4 over TS, as Media Services served it; -v3 likewise): every frame.
    let want_ts = source_frames_for_ts(&[high, low], high);
    assert_eq!(want_ts.len(), 3);
    for (dc, urls) in [("A", &urls_a), ("B", &urls_b)] {
        let aapl = urls["hls"].as_str().unwrap().to_owned();
        for url in [aapl.clone(), aapl.replace("(format=m3u8-aapl)", "(format=m3u8-aapl-v3)")] {
            let got = ts_md5s(&url);
            assert!(
                same_packets(&got, &want_ts),
                "{dc} {url}: the sources' frames, stream by stream: {}",
                differences(&got, &want_ts)
            );
        }
    }

    for (dc, urls) in [("A", &urls_a), ("B", &urls_b)] {
        for format in formats.iter().filter(|f| **f != "hls") {
            let url = urls[format].as_str().unwrap();
            let mut got = packet_md5s(url, "0");
            if format.starts_with("dash") {
                forgive_dash_last_audio_packet(&mut got, &want);
            }
            assert!(
                same_packets(&got, &want),
                "{dc} {format} {url}: the packets of the sources, stream by stream: {}",
                differences(&got, &want)
            );
        }
    }

    let http = reqwest::Client::new();
    let base = format!("{origin_b}/{}/Clip.ism", p.locator);
    let master = http.get(format!("{base}/manifest(format=m3u8-aapl)")).send().await.unwrap();
    assert_eq!(master.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = master.text().await.unwrap();
    for needle in [
        "CODECS=\"avc1.",
        "mp4a.40.2",
        "RESOLUTION=320x180",
        "RESOLUTION=160x90",
        "AVERAGE-BANDWIDTH=",
        "QualityLevels(600000)/Manifest(video,format=m3u8-aapl)",
    ] {
        assert!(master.contains(needle), "{needle}: {master}");
    }
    let media =
        http.get(format!("{base}/QualityLevels(600000)/Manifest(video,format=m3u8-cmaf)")).send().await.unwrap();
    let media = media.text().await.unwrap();
    assert!(media.contains("#EXT-X-MAP:URI=\"Fragments(video=i,format=m3u8-cmaf).mp4\""), "{media}");
    assert_eq!(media.matches("#EXTINF:").count(), 3, "6 s cut at the 2 s key frames: {media}");
    let mpd = http.get(format!("{base}/manifest(format=mpd-time-csf)")).send().await.unwrap().text().await.unwrap();
    assert!(
        mpd.contains("<SegmentTimeline>") && mpd.contains("Fragments(video=$Time$,format=mpd-time-csf).m4s"),
        "{mpd}"
    );
    let smooth = http.get(format!("{base}/manifest")).send().await.unwrap().text().await.unwrap();
    assert!(smooth.contains("SmoothStreamingMedia"), "{smooth}");

    // Packaged responses carry validators a CDN can revalidate with: the same in A and B (the
    // sources' bytes are the same), 304 for a current copy, another tag for another response.
    let packaged = [
        ("manifest(format=m3u8-aapl)", "max-age=10"),
        ("manifest(format=mpd-time-cmaf)", "max-age=10"),
        ("manifest", "max-age=10"),
        ("QualityLevels(300000)/Manifest(video,format=m3u8-aapl)", "max-age=10"),
        ("QualityLevels(300000)/Fragments(video=i,format=m3u8-cmaf)", "max-age=86400"),
        ("QualityLevels(300000)/Fragments(video=0,format=m3u8-aapl)", "max-age=86400"),
        ("QualityLevels(128000)/Fragments(audio=0,format=mpd-time-csf)", "max-age=86400"),
    ];
    let mut tags = std::collections::BTreeSet::new();
    for (path, cache) in packaged {
        let (a, b) = (format!("{origin_a}/{}/Clip.ism/{path}", p.locator), format!("{base}/{path}"));
        let first = http.get(&a).send().await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let h = first.headers().clone();
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("\"mc3-"), "{path}: {etag}");
        assert!(h["cache-control"].to_str().unwrap().contains(cache), "{path}: {:?}", h["cache-control"]);
        let modified = chrono::DateTime::parse_from_rfc2822(h["last-modified"].to_str().unwrap()).unwrap();
        assert!(modified <= Utc::now(), "{path}");
        let body = first.bytes().await.unwrap();
        let from_b = http.get(&b).send().await.unwrap();
        let b_modified = from_b.headers()["last-modified"].clone();
        assert_eq!(from_b.headers()["etag"].to_str().unwrap(), etag, "{path}: B tags the same bytes alike");
        assert_eq!(from_b.bytes().await.unwrap(), body, "{path}: B packages the same bytes");
        for (url, modified) in [(&a, h["last-modified"].clone()), (&b, b_modified)] {
            let again = http.get(url).header("if-none-match", &etag).send().await.unwrap();
            assert_eq!(again.status(), 304, "{url}");
            assert_eq!(again.headers()["etag"].to_str().unwrap(), etag, "{url}");
            assert!(again.bytes().await.unwrap().is_empty());
            let stale = http.get(url).header("if-none-match", "\"mc1-0\"").send().await.unwrap();
            assert_eq!(stale.status(), 200, "{url}");
            let since = http.get(url).header("if-modified-since", modified).send().await.unwrap();
            assert_eq!(since.status(), 304, "{url}: If-Modified-Since alone");
        }
        // gzip for a client that asks (browsers' players do), under its own tag; identity otherwise.
        let gz = http.get(&a).header("accept-encoding", "gzip, deflate, br").send().await.unwrap();
        assert_eq!(gz.status(), 200, "{path}");
        let gz_h = gz.headers().clone();
        let gz_body = gz.bytes().await.unwrap();
        if cache.contains("max-age=86400") {
            assert!(gz_h.get("content-encoding").is_none(), "{path}: media is never gzipped");
            assert_eq!(gz_body, body, "{path}");
        } else {
            assert!(h.get("content-encoding").is_none(), "{path}: identity unless asked");
            assert_eq!(h["vary"].to_str().unwrap(), "Accept-Encoding", "{path}");
            assert_eq!(gz_h["content-encoding"].to_str().unwrap(), "gzip", "{path}");
            assert!(gz_h["vary"].to_str().unwrap().contains("Accept-Encoding"), "{path}");
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz_body[..]), &mut inflated).unwrap();
            assert_eq!(inflated, body, "{path}: the gzipped body inflates to the identity body");
            let gz_tag = gz_h["etag"].to_str().unwrap().to_owned();
            assert_ne!(gz_tag, etag, "{path}: each coding its own tag");
            let again =
                http.get(&a).header("accept-encoding", "gzip").header("if-none-match", &gz_tag).send().await.unwrap();
            assert_eq!(again.status(), 304, "{path}: gzip revalidates");
            assert_eq!(again.headers()["etag"].to_str().unwrap(), gz_tag, "{path}");
            let other =
                http.get(&a).header("accept-encoding", "gzip").header("if-none-match", &etag).send().await.unwrap();
            assert_eq!(other.status(), 200, "{path}: the identity tag does not validate the gzipped body");
            assert!(tags.insert(gz_tag), "{path}: a gzip tag of its own");
        }
        assert!(tags.insert(etag), "{path}: a tag of its own");
    }

    // In each data center, every rendition's index was built once, then served from the cache.
    for served in [&served_a, &served_b] {
        let metrics = http.get(format!("http://{}/metrics", served.addr)).send().await.unwrap().text().await.unwrap();
        let count = |name: &str| -> u64 {
            metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap()
        };
        assert_eq!(count("mirrorcast_origin_index_cache_misses_total"), 2, "{metrics}");
        assert!(count("mirrorcast_origin_index_cache_hits_total") > 10, "{metrics}");
    }
}

/// Every playlist line and MPD template naming a segment ends in the media
/// extension of its bytes (ffmpeg 5.1.9 and 7.1+ fetch nothing else); each such
/// URL answers exactly what the Media Services shape without it answers (bytes
/// and ETag), and so does every suffix form of a presentation manifest. An
/// argument the origin does not implement is a 400 naming it, never a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_segment_url_ends_in_its_media_extension_and_every_url_form_answers_alike() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let base = format!("http://{}/{}/Clip.ism", s.addr, p.locator);
    let http = reqwest::Client::new();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            let etag = r.headers()["etag"].to_str().unwrap().to_owned();
            (etag, r.bytes().await.unwrap())
        }
    };
    let join = |url: &str, reference: &str| reqwest::Url::parse(url).unwrap().join(reference).unwrap().to_string();

    let mut segments_checked = 0;
    for (format, suffix, media_ext, init_ext) in [
        ("m3u8-aapl", ".m3u8", ".ts", None),
        ("m3u8-aapl-v3", ".m3u8", ".ts", None),
        ("m3u8-cmaf", ".m3u8", ".m4s", Some(".mp4")),
    ] {
        let master_url = format!("{base}/manifest(format={format})");
        let master = fetch(master_url.clone()).await;
        assert_eq!(fetch(format!("{master_url}{suffix}")).await, master, "{format}: the {suffix} form");
        let text = String::from_utf8(master.1.to_vec()).unwrap();
        let mut playlists: Vec<String> =
            text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_owned).collect();
        playlists.extend(text.lines().filter_map(|l| Some(l.split("URI=\"").nth(1)?.split('"').next()?.to_owned())));
        // The audio-only variant names the audio group's playlist again.
        playlists.sort();
        playlists.dedup();
        // HLS 4 and 7 add an I-frame playlist per video rendition.
        let iframes = if format == "m3u8-aapl-v3" { 0 } else { 2 };
        assert_eq!(playlists.len(), 3 + iframes, "{format}: two video variants, the audio group, I-frames: {text}");
        for playlist in playlists {
            let playlist_url = join(&master_url, &playlist);
            let media = fetch(playlist_url.clone()).await;
            assert_eq!(fetch(format!("{playlist_url}.m3u8")).await, media, "{playlist_url}.m3u8");
            let media = String::from_utf8(media.1.to_vec()).unwrap();
            for line in media.lines() {
                let (uri, ext) = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
                    Some(rest) => (rest.trim_end_matches('"'), init_ext.expect("no init segment in TS")),
                    None if line.starts_with('#') || line.is_empty() => continue,
                    None => (line, media_ext),
                };
                assert!(uri.ends_with(ext), "{format}: segment {uri} does not end in {ext}");
                let with = fetch(join(&playlist_url, uri)).await;
                let bare = fetch(join(&playlist_url, uri.strip_suffix(ext).unwrap())).await;
                assert_eq!(with, bare, "{uri}: the Media Services shape without the extension answers alike");
                segments_checked += 1;
            }
        }
    }
    assert!(segments_checked >= 27, "{segments_checked}");

    for format in ["mpd-time-csf", "mpd-time-cmaf"] {
        let url = format!("{base}/manifest(format={format})");
        let mpd = fetch(url.clone()).await;
        assert_eq!(fetch(format!("{url}.mpd")).await, mpd, "{format}.mpd");
        let text = String::from_utf8(mpd.1.to_vec()).unwrap();
        let templates: Vec<&str> = text.split('"').filter(|a| a.contains("Fragments(")).collect();
        assert_eq!(templates.len(), 6, "{text}");
        for t in templates {
            let ext = if t.contains("=i,") { ".mp4" } else { ".m4s" };
            assert!(t.ends_with(ext), "{format}: {t}");
        }
    }
    let plain = fetch(format!("{base}/manifest(format=m3u8-aapl)")).await;
    for same in
        ["manifest(format=m3u8-aapl-v4)", "Manifest(Format=M3U8-AAPL)", "manifest(format=m3u8-aapl,audio-only=true)"]
    {
        assert_eq!(fetch(format!("{base}/{same}")).await.1, plain.1, "{same}");
    }
    let without_audio_only = fetch(format!("{base}/manifest(format=m3u8-aapl,audio-only=false)")).await;
    assert_ne!(without_audio_only.1, plain.1, "audio-only=false: the master without its audio-only variant");

    for (path, named) in [
        ("manifest(format=m3u8-cmaf,filter=mobile;first30s)", "unknown filter: mobile"),
        ("manifest(format=mpd-time-csf,encryption=cenc)", "encryption=cenc"),
        ("manifest(format=m3u8-aapl,audio-only=maybe)", "audio-only=maybe"),
        ("manifest(format=m3u8-aapl,nonsense=1)", "nonsense=1"),
        ("manifest(format=flv)", "format=flv"),
        ("QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf,encryption=cbcs-aapl).m4s", "encryption=cbcs-aapl"),
        ("manifest(format=m3u8-aapl,x=\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600})", "x="),
    ] {
        let r = http.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}: a quoted argument stays text");
        let body = r.text().await.unwrap();
        assert!(body.contains(named) && body.len() < 100, "{path}: {body}");
    }
}

/// An asset without a `.ism` (a lone MP4) has nothing to stream: `locator create` and `locator urls`
/// give its files' download URLs and say why there are no streaming URLs, instead of manifest URLs
/// its own origin answers with 404 — and the URLs they give do play from the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_without_a_server_manifest_gets_download_urls_that_play_not_streaming_urls_that_404() {
    let sb = Sandbox::start().await;
    let folder = sb.dir.path().join("progressive");
    std::fs::create_dir_all(&folder).unwrap();
    let clip = folder.join("clip.mp4");
    encode_test_pattern(&clip, "320x180", 2, &["-c:v", "libx264", "-preset", "ultrafast"]);
    let asset = sb.run(&["asset", "create", "--dc", "a", "--name", "Progressive", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.run(&["asset", "upload", "--dc", "a", &asset, clip.to_str().unwrap()]).await.ok();

    let made = sb.run(&["locator", "create", "--dc", "a", &asset, "--type", "origin"]).await.ok();
    let lines: Vec<&str> = made.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the locator id and one file URL: {}", made.stdout);
    assert!(lines[1].starts_with("file ") && lines[1].ends_with("/clip.mp4"), "{}", made.stdout);
    assert!(!made.stdout.contains("manifest"), "no streaming URL for an asset without a .ism: {}", made.stdout);
    assert!(made.stderr.contains("note: asset") && made.stderr.contains("play by download"), "{}", made.stderr);

    let urls = sb.run(&["locator", "urls", "--dc", "a", &asset, "--json"]).await.ok().json();
    assert!(urls[0].get("urls").is_none(), "{urls}");
    assert!(urls[0]["no_streaming_because"].as_str().unwrap().contains("clip.mp4"), "{urls}");
    let url = urls[0]["files"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(urls[0]["files"][0]["name"], "clip.mp4");

    // Without a configured origin the URL is relative: the origin that serves data center A answers it.
    let served = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let got = reqwest::get(format!("http://{}{url}", served.addr)).await.unwrap();
    assert_eq!(got.status(), 200, "{url}");
    assert_eq!(got.bytes().await.unwrap(), std::fs::read(&clip).unwrap(), "the file's bytes, whole");
}
