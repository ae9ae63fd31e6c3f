//! Protected locators served encrypted (#26): one asset with a clear locator, a DRM locator of a
//! custom streaming policy (DASH and Smooth `cenc`, HLS fMP4 `cbcs`, ClearKey, Widevine and
//! PlayReady signalled) and a `Predefined_ClearKey` locator (HLS AES-128), replicated to B with
//! B's KEK. ffmpeg decrypts what A serves with its own `-decryption_key` to the source's packets,
//! openssl decrypts an AES-128 TS segment to the clear segment, B serves the same encrypted bytes
//! and ETags as A, no URL of a protected locator serves its clear samples, ffmpeg reads the cbcs
//! policy's HLS TS (SAMPLE-AES) to the source's frames with the key from A, and Shaka Player plays
//! both DRM streams with ClearKey EME in headless Chromium from A and from B, the keys got by
//! licence requests to that origin's key delivery.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::id::LocatorId;

use crate::helpers::{run_in, Run};
use crate::player::{report_of_page, require_chromium_and_players, serve_page};
use crate::replicate::Failover;
use crate::serve::{packet_md5s, publish_media_in, serve_dc, Served};

const CLEARKEY_SYSTEM: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";
const WIDEVINE_SYSTEM: &str = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY_SYSTEM: &str = "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95";
/// The renditions of the clip: (stream, bitrate, source file, ffmpeg map of it).
const RENDITIONS: [(&str, u64, &str, &str); 3] = [
    ("video", 600_000, "Clip_320x180_600.mp4", "0:v"),
    ("video", 300_000, "Clip_160x90_300.mp4", "0:v"),
    ("audio", 128_000, "Clip_320x180_600.mp4", "0:a"),
];

/// A content key of a locator: its id and, fetched out of band with `content-key export --reveal`, its hex.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) hex: String,
}

/// The asset in A with its three locators, replicated to B; both KEKs known, and an HS256
/// token key in `HS256_KEY` (base64, also in `hs256`) for token-restricted policies (the
/// protected-asset set-up the drill's protected run and key delivery's hls.js test share).
pub(crate) struct Library {
    pub(crate) f: Failover,
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) clip: PathBuf,
    pub(crate) asset: String,
    pub(crate) hs256: String,
    pub(crate) clear: String,
    pub(crate) drm: String,
    envelope: String,
    pub(crate) cenc: Key,
    cbcs: Key,
    aes: Key,
}

impl Library {
    pub(crate) async fn new() -> Library {
        let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
        let random =
            || base64::engine::general_purpose::STANDARD.encode([*uuid::Uuid::new_v4().as_bytes(); 2].concat());
        let mut env = f.env();
        env.push(("MIRRORCAST_KEK_A", random()));
        env.push(("MIRRORCAST_KEK_B", random()));
        let hs256 = random();
        env.push(("HS256_KEY", hs256.clone()));
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let published = publish_media_in(f.dir.path(), &refs).await;
        let clip = f.dir.path().join("clip");
        let mut lib = Library {
            asset: published.asset.clone(),
            hs256,
            clip,
            clear: published.locator,
            drm: String::new(),
            envelope: String::new(),
            cenc: Key { id: String::new(), hex: String::new() },
            cbcs: Key { id: String::new(), hex: String::new() },
            aes: Key { id: String::new(), hex: String::new() },
            env,
            f,
        };
        lib.run(&["content-key-policy", "create", "--dc", "a", "Open", "--open"]).await.ok();
        let mut policy = vec!["streaming-policy", "create", "--dc", "a", "ClearKeyDrm"];
        for p in ["dash=cenc", "hls=cbcs", "smooth-streaming=cenc"] {
            policy.extend(["--protocol", p]);
        }
        for d in ["cenc:clear-key", "cenc:widevine", "cenc:play-ready", "cbcs:clear-key", "cbcs:widevine"] {
            policy.extend(["--drm", d]);
        }
        lib.run(&policy).await.ok();
        let asset = published.asset;
        let (drm, drm_keys) = lib.locator(&asset, "ClearKeyDrm", "Open").await;
        let (envelope, envelope_keys) = lib.locator(&asset, "Predefined_ClearKey", "Open").await;
        let replicated = lib.run(&["replicate", "--from", "a", "--to", "b", "--asset", &asset]).await;
        assert_eq!(replicated.code, 0, "{}\n{}", replicated.stdout, replicated.stderr);
        for id in drm_keys.iter().chain(&envelope_keys) {
            let (kind, hex) = lib.reveal("a", id).await;
            assert_eq!(lib.reveal("b", id).await, (kind.clone(), hex.clone()), "B holds the same key");
            let key = Key { id: id.clone(), hex };
            match kind.as_str() {
                "cenc" => lib.cenc = key,
                "cbcs" => lib.cbcs = key,
                _ => lib.aes = key,
            }
        }
        assert!(!lib.cenc.hex.is_empty() && !lib.cbcs.hex.is_empty() && !lib.aes.hex.is_empty(), "three keys");
        (lib.drm, lib.envelope) = (drm, envelope);
        lib
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let refs: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_in(self.f.dir.path(), &refs, args).await
    }

    /// A locator of streaming policy `policy` and content key policy `key_policy` on `asset`: its
    /// GUID and its content key ids.
    pub(crate) async fn locator(&self, asset: &str, policy: &str, key_policy: &str) -> (String, Vec<String>) {
        let args = ["locator", "create", "--dc", "a", asset, "--type", "origin", "--streaming-policy", policy];
        let made = self.run(&[&args[..], &["--content-key-policy", key_policy, "--json"]].concat()).await.ok().json();
        let guid = LocatorId::parse(made["locator"]["id"].as_str().unwrap()).unwrap().guid();
        let keys = made["locator"]["delivery"]["contentKeyIds"].as_array().unwrap();
        let bare = |k: &str| k.trim_start_matches("nb:kid:UUID:").to_ascii_lowercase();
        (guid, keys.iter().map(|k| bare(k.as_str().unwrap())).collect())
    }

    /// The key's type and hex, out of band (`content-key export --reveal` on `dc`).
    pub(crate) async fn reveal(&self, dc: &str, id: &str) -> (String, String) {
        let out = self.run(&["content-key", "export", "--reveal", "--dc", dc, id, "--json"]).await.ok().json();
        (out["type"].as_str().unwrap().to_owned(), out["keyHex"].as_str().unwrap().to_owned())
    }

    /// `mirrorcast serve` of A and of B, each with its own KEK.
    pub(crate) async fn serve(&self) -> (Served, Served) {
        let refs: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let dir = self.f.dir.path();
        tokio::join!(serve_dc(dir, &refs, "a", &[]), serve_dc(dir, &refs, "b", &[]))
    }
}

/// One GET: status, ETag, body.
async fn fetch(http: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>) {
    let r = http.get(url).send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, etag, r.bytes().await.unwrap().to_vec())
}

/// A 200's body and ETag, or a failure naming the URL.
async fn ok(http: &reqwest::Client, url: &str) -> (String, Vec<u8>) {
    let (status, etag, body) = fetch(http, url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]));
    (etag, body)
}

/// The segment times of representation `id` in an MPD the origin wrote (one `<S>` per line).
fn dash_times(mpd: &str, id: &str) -> Vec<u64> {
    let at = mpd.find(&format!("<Representation id=\"{id}\"")).unwrap_or_else(|| panic!("{id} in {mpd}"));
    let rest = &mpd[at..];
    let attr = |line: &str, name: &str| -> Option<u64> {
        let from = line.find(&format!(" {name}=\""))? + name.len() + 3;
        line[from..].split('"').next()?.parse().ok()
    };
    let mut times = Vec::new();
    for line in rest[..rest.find("</SegmentTimeline>").unwrap()].lines().filter(|l| l.contains("<S ")) {
        let (t, d) = (attr(line, "t").unwrap(), attr(line, "d").unwrap());
        for i in 0..=attr(line, "r").unwrap_or(0) {
            times.push(t + i * d);
        }
    }
    times
}

/// The init and media segment URLs of an HLS media playlist, made absolute under `base`.
fn hls_segments(playlist: &str, base: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for line in playlist.lines() {
        if let Some(map) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            urls.push(format!("{base}/{}", map.trim_end_matches('"')));
        } else if !line.starts_with('#') && !line.is_empty() {
            urls.push(format!("{base}/{line}"));
        }
    }
    urls
}

/// ffmpeg's own decryption (`-decryption_key`) of `stream` (an init segment and its fragments),
/// fed through a pipe as media's tests do (ffmpeg 5.1 misreads CENC fragments from a seekable
/// file): the packets' MD5s, or its error text.
pub(crate) fn decrypted_md5s(stream: &[u8], key_hex: &str) -> Vec<String> {
    let mut child = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-decryption_key", key_hex, "-i", "pipe:0", "-map", "0", "-c", "copy"])
        .args(["-f", "framemd5", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg is needed: apt-get install ffmpeg");
    let mut stdin = child.stdin.take().unwrap();
    let input = stream.to_vec();
    // Written from a thread: ffmpeg's output is read meanwhile.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    if !out.status.success() {
        return vec![String::from_utf8_lossy(&out.stderr).into_owned()];
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5).map(|m| m.trim().to_owned()))
        .collect()
}

/// The source rendition's packets, as ffmpeg reads them.
pub(crate) fn source_md5s(clip: &Path, file: &str, map: &str) -> Vec<String> {
    let streams = packet_md5s(clip.join(file).to_str().unwrap(), map);
    streams[0].packets.iter().map(|p| p.2.clone()).collect()
}

/// Decrypted packets equal the source's (an audio track may end one packet early: the origin's
/// last fragment stops with the video, as the clear DASH tests forgive too).
#[track_caller]
pub(crate) fn assert_source_packets(got: &[String], want: &[String], what: &str) {
    assert!(want.len() > 20, "{what}: {} packets in the source", want.len());
    let whole = got == want;
    let but_last = got.len() + 1 == want.len() && want.starts_with(got) && what.contains("audio");
    assert!(whole || but_last, "{what}: {} of {} packets, first {:?}", got.len(), want.len(), got.first());
}

/// 32-byte windows of the samples of a clear CMAF/Smooth segment (its `mdat` payload) or a TS
/// segment (whole), every 509 bytes: an encrypted body holding one of them leaks clear media.
fn clear_windows(clear: &[u8]) -> Vec<Vec<u8>> {
    let from = clear.windows(4).position(|w| w == b"mdat").map_or(0, |p| p + 4);
    let payload = &clear[from..];
    // Past the first KiB: the stream's first sample starts with x264's SEI, which every scheme
    // leaves clear (non-VCL NAL units are not encrypted).
    (1024..payload.len().saturating_sub(32)).step_by(509).map(|i| payload[i..i + 32].to_vec()).collect()
}

fn holds_any(body: &[u8], windows: &[Vec<u8>]) -> bool {
    windows.iter().any(|w| body.windows(w.len()).any(|b| b == &w[..]))
}

fn openssl_decrypt(body: &[u8], key_hex: &str, iv_hex: &str, dir: &Path) -> Vec<u8> {
    let path = dir.join("aes128-segment.ts");
    std::fs::write(&path, body).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["enc", "-d", "-aes-128-cbc", "-K", key_hex, "-iv", iv_hex, "-in"])
        .arg(&path)
        .output()
        .expect("openssl is needed");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_locators_are_served_encrypted_identically_from_a_and_b_and_decrypt_to_the_source() {
    let lib = Library::new().await;
    let (sa, sb) = lib.serve().await;
    let http = reqwest::Client::new();
    let (a, b) = (format!("http://{}", sa.addr), format!("http://{}", sb.addr));
    let ism = "Clip.ism";

    // DASH, cenc: every DRM signalled, ClearKey's licence at the origin's own path.
    let mpd_path = format!("{ism}/manifest(format=mpd-time-csf)");
    let (_, mpd) = ok(&http, &format!("{a}/{}/{mpd_path}", lib.drm)).await;
    let mpd = String::from_utf8(mpd).unwrap();
    assert_eq!(ok(&http, &format!("{b}/{}/{mpd_path}", lib.drm)).await.1, mpd.as_bytes(), "B's MPD is A's");
    for needle in [
        "schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\"".to_owned(),
        format!("cenc:default_KID=\"{}\"", lib.cenc.id),
        CLEARKEY_SYSTEM.to_owned(),
        "<dashif:laurl>/keys/clearkey</dashif:laurl>".to_owned(),
        WIDEVINE_SYSTEM.to_owned(),
        PLAYREADY_SYSTEM.to_owned(),
    ] {
        assert!(mpd.contains(&needle), "{needle} in {mpd}");
    }
    assert_eq!(mpd.matches("mp4protection").count(), 2, "video and audio sets: {mpd}");

    let mut compared = 0;
    for (stream, bitrate, file, map) in RENDITIONS {
        let rep = |t: Option<u64>| {
            let (at, ext) = t.map_or(("i".to_owned(), ".mp4"), |t| (t.to_string(), ".m4s"));
            format!("{ism}/QualityLevels({bitrate})/Fragments({stream}={at},format=mpd-time-csf){ext}")
        };
        let paths: Vec<String> = std::iter::once(rep(None))
            .chain(dash_times(&mpd, &format!("{stream}_{bitrate}")).into_iter().map(Some).map(rep))
            .collect();
        let mut stream_bytes = Vec::new();
        for path in &paths {
            // The clear locator's segment first: the segment cache must not hand it out again.
            let (clear_etag, clear) = ok(&http, &format!("{a}/{}/{path}", lib.clear)).await;
            let (etag_a, body_a) = ok(&http, &format!("{a}/{}/{path}", lib.drm)).await;
            let (etag_b, body_b) = ok(&http, &format!("{b}/{}/{path}", lib.drm)).await;
            assert!(body_a == body_b && etag_a == etag_b, "{path}: B serves A's encrypted bytes and ETag");
            assert_ne!(etag_a, clear_etag, "{path}: an encrypted segment is another entity than the clear one");
            assert_ne!(body_a, clear, "{path}: encrypted");
            if !path.contains("=i,") {
                assert!(!holds_any(&body_a, &clear_windows(&clear)), "{path}: no clear sample bytes under cenc");
            }
            stream_bytes.extend(body_a);
            compared += 1;
        }
        let want = source_md5s(&lib.clip, file, map);
        let what = format!("DASH cenc {stream} {bitrate}");
        assert_source_packets(&decrypted_md5s(&stream_bytes, &lib.cenc.hex), &want, &what);
        let wrong = decrypted_md5s(&stream_bytes, &lib.cbcs.hex);
        let same = wrong.iter().zip(&want).filter(|(x, y)| x == y).count();
        assert!(same < want.len() / 2, "{what}: with another key {same} of {} packets come out clear", want.len());
    }

    // HLS fMP4, cbcs: session keys in the master, keys before the init in each media playlist.
    let (_, master) = ok(&http, &format!("{a}/{}/{ism}/manifest(format=m3u8-cmaf)", lib.drm)).await;
    let master = String::from_utf8(master).unwrap();
    assert!(master.contains("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"/keys/aes128/"), "{master}");
    assert!(master.contains(&format!("KEYID=0x{}", lib.cbcs.id.replace('-', ""))), "{master}");
    assert!(!master.contains("I-FRAME"), "no I-frame playlists of encrypted segments: {master}");
    for (stream, bitrate, file, map) in RENDITIONS {
        let dir = format!("{}/{ism}/QualityLevels({bitrate})", lib.drm);
        let playlist_path = format!("{dir}/Manifest({stream},format=m3u8-cmaf)");
        let (_, playlist) = ok(&http, &format!("{a}/{playlist_path}")).await;
        let playlist = String::from_utf8(playlist).unwrap();
        assert_eq!(ok(&http, &format!("{b}/{playlist_path}")).await.1, playlist.as_bytes());
        let key_at = playlist.find("#EXT-X-KEY:METHOD=SAMPLE-AES").unwrap_or_else(|| panic!("{playlist}"));
        assert!(key_at < playlist.find("#EXT-X-MAP").unwrap(), "the key applies from the init on: {playlist}");
        let mut stream_bytes = Vec::new();
        for url in hls_segments(&playlist, &format!("{a}/{dir}")) {
            let (etag_a, body_a) = ok(&http, &url).await;
            let (etag_b, body_b) = ok(&http, &url.replace(&a, &b)).await;
            assert!(body_a == body_b && etag_a == etag_b, "{url}: B serves A's encrypted bytes and ETag");
            let (_, clear) = ok(&http, &url.replace(&lib.drm, &lib.clear)).await;
            assert_ne!(body_a, clear, "{url}: encrypted");
            stream_bytes.extend(body_a);
            compared += 1;
        }
        let what = format!("HLS cbcs {stream} {bitrate}");
        assert_source_packets(&decrypted_md5s(&stream_bytes, &lib.cbcs.hex), &source_md5s(&lib.clip, file, map), &what);
    }

    // Smooth, cenc (PIFF): the PlayReady header in the manifest, encrypted fragments.
    let (_, smooth) = ok(&http, &format!("{a}/{}/{ism}/manifest", lib.drm)).await;
    let smooth = String::from_utf8(smooth).unwrap();
    assert!(smooth.contains("<Protection><ProtectionHeader SystemID=\"9a04f079-9840-4286-ab92-e65be0885f95\">"));
    for (stream, bitrate, _, _) in RENDITIONS {
        let path = format!("{ism}/QualityLevels({bitrate})/Fragments({stream}=0)");
        let (clear_etag, clear) = ok(&http, &format!("{a}/{}/{path}", lib.clear)).await;
        let (etag_a, body_a) = ok(&http, &format!("{a}/{}/{path}", lib.drm)).await;
        assert_eq!(ok(&http, &format!("{b}/{}/{path}", lib.drm)).await, (etag_a.clone(), body_a.clone()), "{path}");
        assert_ne!(etag_a, clear_etag, "{path}");
        assert!(!holds_any(&body_a, &clear_windows(&clear)), "{path}: no clear sample bytes");
    }

    // HLS TS, AES-128 (Predefined_ClearKey): openssl decrypts each segment with the playlist's IV
    // to the clear locator's segment.
    let (_, master) = ok(&http, &format!("{a}/{}/{ism}/manifest(format=m3u8-aapl)", lib.envelope)).await;
    let master = String::from_utf8(master).unwrap();
    let key_uri = format!("URI=\"/keys/aes128/{}\"", lib.aes.id);
    assert!(master.contains(&format!("#EXT-X-SESSION-KEY:METHOD=AES-128,{key_uri}")), "{master}");
    for (stream, bitrate, _, _) in RENDITIONS {
        let dir = format!("{ism}/QualityLevels({bitrate})");
        let (_, playlist) = ok(&http, &format!("{a}/{}/{dir}/Manifest({stream},format=m3u8-aapl)", lib.envelope)).await;
        let playlist = String::from_utf8(playlist).unwrap();
        let keys: Vec<&str> = playlist.lines().filter(|l| l.starts_with("#EXT-X-KEY:")).collect();
        let segments: Vec<&str> = playlist.lines().filter(|l| l.starts_with("Fragments(")).collect();
        assert_eq!(keys.len(), segments.len(), "a key line with its IV per segment: {playlist}");
        for (n, (key, segment)) in keys.iter().zip(&segments).enumerate() {
            let iv = format!("{n:032x}");
            assert_eq!(*key, format!("#EXT-X-KEY:METHOD=AES-128,{key_uri},IV=0x{iv}"), "{playlist}");
            let path = format!("{dir}/{segment}");
            let (etag_a, body_a) = ok(&http, &format!("{a}/{}/{path}", lib.envelope)).await;
            assert_eq!(ok(&http, &format!("{b}/{}/{path}", lib.envelope)).await, (etag_a, body_a.clone()), "{path}");
            let (_, clear) = ok(&http, &format!("{a}/{}/{path}", lib.clear)).await;
            assert!(!holds_any(&body_a, &clear_windows(&clear)), "{path}: no clear TS bytes");
            assert_eq!(openssl_decrypt(&body_a, &lib.aes.hex, &iv, lib.f.dir.path()), clear, "{path}");
            compared += 1;
        }
    }
    assert!(compared > 30, "{compared} segments compared");

    // No URL shape serves the protected locators in the clear: files, I-frames (TS of the cbcs
    // policy is SAMPLE-AES: see the test below).
    let mut refused = vec![
        "Clip.ism".to_owned(),
        "Clip.ismc".to_owned(),
        "Clip_320x180_600.mp4".to_owned(),
        "Clip_160x90_300.mp4".to_owned(),
        "notes.txt".to_owned(),
    ];
    refused.extend(
        [
            "QualityLevels(600000)/Manifest(video,format=m3u8-cmaf,type=keyframes)",
            "QualityLevels(600000)/Manifest(video,format=m3u8-aapl,type=keyframes)",
        ]
        .map(|p| format!("{ism}/{p}")),
    );
    for (locator, paths) in [(&lib.drm, &refused[..]), (&lib.envelope, &refused[..5])] {
        for path in paths {
            for origin in [&a, &b] {
                let (status, _, body) = fetch(&http, &format!("{origin}/{locator}/{path}")).await;
                assert!(matches!(status, 403 | 404), "{origin} {path}: {status}");
                assert!(body.len() < 100, "{path}: a short refusal, no media");
            }
        }
    }
    let (_, _, body) = fetch(&http, &format!("{a}/{}/Clip_320x180_600.mp4", lib.drm)).await;
    assert_eq!(String::from_utf8_lossy(&body), "protected stream (ClearKeyDrm): no download\n");

    // The audit compares what both serve, encrypted segments included, and finds them alike.
    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a, "--to-url", &b, "--json"];
    let audit = lib.run(&args).await;
    let report = audit.json();
    let entries: Vec<&serde_json::Value> =
        report["assets"].as_array().unwrap().iter().flat_map(|a| a["entries"].as_array().unwrap()).collect();
    let of = |locator: &str| entries.iter().filter(|e| e["path"].as_str().unwrap().contains(locator)).count();
    assert!(of(&lib.drm) > 10 && of(&lib.envelope) > 10, "both protected locators audited: {report:#}");
    assert!(
        entries.iter().any(|e| e["path"].as_str().unwrap().contains(&format!("{}/", lib.drm))
            && e["path"].as_str().unwrap().contains("mpd-time-csf).m4s")),
        "DASH media segments compared: {report:#}"
    );
    assert!(
        entries.iter().any(|e| e["path"].as_str().unwrap().contains(&format!("{}/", lib.drm))
            && e["path"].as_str().unwrap().contains("format=m3u8-aapl).ts")),
        "the cbcs policy's SAMPLE-AES TS segments compared: {report:#}"
    );
    assert_eq!(audit.code, 0, "{report:#}");
}

/// HLS TS of a streaming policy whose HLS is `cbcs` is SAMPLE-AES (FairPlay's TS form; a 403
/// before): ffmpeg at its defaults reads A's master to the end, fetching the key from the
/// playlists' identity key URI at A's key delivery, and its video frames and audio packets are
/// the source's; B serves every playlist and segment byte for byte with A's ETags; the segments
/// are encrypted (most of their TS packets differ from the clear locator's); hls.js in Chromium
/// plays it from A and from B, asking each one's key delivery; I-frames stay refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cbcs_policys_hls_ts_is_sample_aes_that_ffmpeg_decrypts_to_the_source_and_b_serves_alike() {
    use crate::serve::{differences, same_packets, source_frames_for_ts, ts_md5s};
    let lib = Library::new().await;
    let (sa, sb) = lib.serve().await;
    let http = reqwest::Client::new();
    let (a, b) = (format!("http://{}", sa.addr), format!("http://{}", sb.addr));
    let ism = "Clip.ism";
    let key_uri = format!("URI=\"/keys/aes128/{}\"", lib.cbcs.id);

    for format in ["m3u8-aapl", "m3u8-aapl-v3"] {
        let path = format!("{}/{ism}/manifest(format={format})", lib.drm);
        let (etag, master) = ok(&http, &format!("{a}/{path}")).await;
        assert_eq!(ok(&http, &format!("{b}/{path}")).await, (etag, master.clone()), "{path}: B's master is A's");
        let master = String::from_utf8(master).unwrap();
        assert!(master.contains(&format!("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,{key_uri}")), "{master}");
        assert!(master.contains("#EXT-X-VERSION:5\n") && !master.contains("I-FRAME"), "{master}");
    }

    let mut compared = 0;
    for (stream, bitrate, _, _) in RENDITIONS {
        let dir = format!("{}/{ism}/QualityLevels({bitrate})", lib.drm);
        let playlist_path = format!("{dir}/Manifest({stream},format=m3u8-aapl)");
        let (_, playlist) = ok(&http, &format!("{a}/{playlist_path}")).await;
        assert_eq!(ok(&http, &format!("{b}/{playlist_path}")).await.1, playlist, "{playlist_path}");
        let playlist = String::from_utf8(playlist).unwrap();
        let keys: Vec<&str> = playlist.lines().filter(|l| l.starts_with("#EXT-X-KEY:")).collect();
        assert_eq!(keys.len(), 1, "one key, one IV for the rendition: {playlist}");
        assert!(keys[0].starts_with(&format!("#EXT-X-KEY:METHOD=SAMPLE-AES,{key_uri},IV=0x")), "{playlist}");
        assert!(keys[0].ends_with(",KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\""), "{playlist}");
        let urls = hls_segments(&playlist, &format!("{a}/{dir}"));
        assert!(urls.len() > 2, "{playlist}");
        for url in urls {
            let (etag_a, body_a) = ok(&http, &url).await;
            assert_eq!(ok(&http, &url.replace(&a, &b)).await, (etag_a.clone(), body_a.clone()), "{url}: B is A");
            let (clear_etag, clear) = ok(&http, &url.replace(&lib.drm, &lib.clear)).await;
            assert_ne!(etag_a, clear_etag, "{url}: another entity than the clear segment");
            // SAMPLE-AES leaves headers, slice leaders and (video) 9 of every 10 blocks clear by
            // design, so clear windows remain; what is encrypted is spread over nearly every packet.
            let packets = clear.len().min(body_a.len()) / 188;
            let differing = clear.chunks(188).zip(body_a.chunks(188)).filter(|(x, y)| x != y).count();
            assert!(differing * 10 > packets * 8, "{url}: {differing} of {packets} TS packets encrypted");
            compared += 1;
        }
    }
    assert!(compared > 8, "{compared} segments compared");

    // ffmpeg at its defaults, the keys fetched by it from A's key delivery.
    let clip = |f: &str| lib.clip.join(f).to_str().unwrap().to_owned();
    let (big, small) = (clip(RENDITIONS[0].2), clip(RENDITIONS[1].2));
    let want = source_frames_for_ts(&[&big, &small], &big);
    assert!(want.iter().all(|s| s.packets.len() > 20), "packets in every source stream");
    let got = ts_md5s(&format!("{a}/{}/{ism}/manifest(format=m3u8-aapl)", lib.drm));
    assert!(same_packets(&got, &want), "SAMPLE-AES TS from A: the source's frames: {}", differences(&got, &want));

    // hls.js in Chromium plays it from A and from B, the key got from that origin's key delivery.
    require_chromium_and_players();
    let page = serve_page().await;
    for (dc, base) in [("A", &a), ("B", &b)] {
        let granted = || async { crate::key_delivery::key_metrics(base).await.get("granted").copied().unwrap_or(0) };
        let before = granted().await;
        let src =
            mirrorcast_core::streaming::encode_segment(&format!("{base}/{}/{ism}/manifest(format=m3u8-aapl)", lib.drm));
        let report = report_of_page(&format!("{page}/player.html?kind=hls&seconds=2&src={src}"), 60_000, None).await;
        assert_eq!(report["state"], "playing", "{dc}: {report}");
        assert!(report["currentTime"].as_f64().unwrap() > 2.0, "{dc}: {report}");
        assert_eq!(report["errors"], serde_json::json!([]), "{dc}: {report}");
        assert!(granted().await > before, "{dc}: hls.js asked {dc}'s key delivery for the key");
    }

    // The keyframe playlists stay refused (their byte ranges would be into the clear segments).
    for origin in [&a, &b] {
        let path = format!("{}/{ism}/QualityLevels(600000)/Manifest(video,format=m3u8-aapl,type=keyframes)", lib.drm);
        let (status, _, _) = fetch(&http, &format!("{origin}/{path}")).await;
        assert_eq!(status, 404, "{origin}: {path}");
    }
}

/// `(marker, path)` of a verify report's entries of check `check`.
fn marked(report: &serde_json::Value, check: &str) -> Vec<(String, String)> {
    report["assets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["entries"].as_array().unwrap())
        .filter(|e| e["check"] == check)
        .map(|e| (e["marker"].as_str().unwrap().to_owned(), e["path"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_http_marks_what_b_encrypts_under_another_key_and_records_verify_marks_the_key() {
    let lib = Library::new().await;
    let (sa, sb) = lib.serve().await;
    let http = reqwest::Client::new();
    let (a, b) = (format!("http://{}", sa.addr), format!("http://{}", sb.addr));
    let audit_args = ["verify", "--http", "--asset", &lib.asset, "--from", "a", "--to", "b"];
    let audit_args = [&audit_args[..], &["--from-url", &a, "--to-url", &b, "--json"]].concat();
    let clean = lib.run(&audit_args).await;
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    let drm = format!("{}/", lib.drm);
    let of_drm = |report: &serde_json::Value| -> Vec<(String, String)> {
        marked(report, "http").into_iter().filter(|(_, path)| path.contains(&drm)).collect()
    };
    let before = of_drm(&clean.json());
    assert!(before.iter().filter(|(_, p)| p.contains("format=mpd-time-csf).m4s")).count() > 3, "{before:?}");
    assert!(before.iter().all(|(m, _)| m == "="), "{before:?}");

    // B re-keyed through the CLI: its locator released, the cenc key deleted and made again under the
    // same id (a new random value, wrapped under B's KEK), the locator made again with A's id and keys.
    let shown = lib.run(&["content-key", "show", "--dc", "b", &lib.cenc.id, "--json"]).await.ok().json();
    lib.run(&["locator", "delete", "--dc", "b", &lib.drm]).await.ok();
    lib.run(&["content-key", "delete", "--dc", "b", &lib.cenc.id]).await.ok();
    let mut create = vec!["content-key", "create", "--dc", "b", "--type", "cenc", "--id", &lib.cenc.id];
    if let Some(policy) = shown["policyName"].as_str() {
        create.extend(["--policy", policy]);
    }
    lib.run(&create).await.ok();
    let locator = ["locator", "create", "--dc", "b", &lib.asset, "--type", "origin", "--id", &lib.drm];
    let protection = ["--streaming-policy", "ClearKeyDrm", "--content-key-policy", "Open"];
    let keys = ["--content-key", &lib.cenc.id, "--content-key", &lib.cbcs.id];
    lib.run(&[&locator[..], &protection, &keys].concat()).await.ok();
    let (_, rekeyed) = lib.reveal("b", &lib.cenc.id).await;
    assert_ne!(rekeyed, lib.cenc.hex, "B holds another key under the id");
    // An origin reuses a locator's records and keys for RECORD_TTL (5 s); past it B serves the new key.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;

    let audit = lib.run(&audit_args).await;
    let report = audit.json();
    assert_eq!(audit.code, 1, "differences: {report:#}");
    let after = of_drm(&report);
    let cenc_media =
        |p: &str| p.contains("format=mpd-time-csf).m4s") || (p.contains("/Fragments(") && !p.contains("format="));
    let rekeyed_segments: Vec<&(String, String)> = after.iter().filter(|(_, p)| cenc_media(p)).collect();
    assert!(rekeyed_segments.len() > 3, "{after:?}");
    assert!(rekeyed_segments.iter().all(|(m, _)| m == "*"), "every cenc segment B serves differs: {after:#?}");
    let cbcs_segments: Vec<&(String, String)> =
        after.iter().filter(|(_, p)| p.contains("format=m3u8-cmaf)") && !p.contains("Manifest(")).collect();
    assert!(!cbcs_segments.is_empty() && cbcs_segments.iter().all(|(m, _)| m == "="), "cbcs kept: {after:#?}");
    let others = marked(&report, "http").into_iter().filter(|(m, p)| m != "=" && !p.contains(&drm)).count();
    assert_eq!(others, 0, "only the re-keyed locator differs: {report:#}");

    // B's ETag tells its segment apart: A's ETag is no validator there, and B's body is B's key's.
    let (mpd_path, rep) = ("Clip.ism/manifest(format=mpd-time-csf)", "video_600000");
    let mpd = String::from_utf8(ok(&http, &format!("{b}/{}/{mpd_path}", lib.drm)).await.1).unwrap();
    let path = |t: Option<u64>| {
        let (at, ext) = t.map_or(("i".to_owned(), ".mp4"), |t| (t.to_string(), ".m4s"));
        format!("{}/Clip.ism/QualityLevels(600000)/Fragments(video={at},format=mpd-time-csf){ext}", lib.drm)
    };
    let (etag_a, _) = ok(&http, &format!("{a}/{}", path(Some(0)))).await;
    let conditional = http.get(format!("{b}/{}", path(Some(0)))).header("if-none-match", &etag_a).send().await.unwrap();
    assert_eq!(conditional.status().as_u16(), 200, "A's ETag must not validate B's segment under another key");
    assert_ne!(conditional.headers()["etag"].to_str().unwrap(), etag_a);
    let mut stream = ok(&http, &format!("{b}/{}", path(None))).await.1;
    for t in dash_times(&mpd, rep) {
        stream.extend(ok(&http, &format!("{b}/{}", path(Some(t)))).await.1);
    }
    let want = source_md5s(&lib.clip, "Clip_320x180_600.mp4", "0:v");
    assert_source_packets(&decrypted_md5s(&stream, &rekeyed), &want, "B's DASH video under B's new key");

    // The records say why: B holds another key under the cenc key's id.
    let records = lib.run(&["verify", "--asset", &lib.asset, "--from", "a", "--to", "b", "--json"]).await;
    assert_eq!(records.code, 1, "{}\n{}", records.stdout, records.stderr);
    let keys = marked(&records.json(), "protection");
    assert!(keys.contains(&("*".into(), format!("content key {}", lib.cenc.id))), "{keys:?}");
    assert!(keys.contains(&("=".into(), format!("content key {}", lib.cbcs.id))), "{keys:?}");
    let said = format!("{}{}{}{}", audit.stdout, audit.stderr, records.stdout, records.stderr).to_ascii_lowercase();
    for hex in [&lib.cenc.hex, &rekeyed] {
        assert!(!said.contains(&hex.to_ascii_lowercase()), "no key in verify's output");
    }
}

/// Shaka Player (pinned in tools/players) plays `url` with ClearKey EME, the keys got from the
/// W3C ClearKey licence server `licence` (an HLS identity key from the playlist's key URI).
async fn shaka_plays(page: &str, url: &str, licence: &str) -> serde_json::Value {
    let drm = format!("license={}", mirrorcast_core::streaming::encode_segment(licence));
    let src = mirrorcast_core::streaming::encode_segment(url);
    crate::player::report_of_page(&format!("{page}/shaka.html?seconds=2&{drm}&src={src}"), 90_000, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaka_plays_cenc_dash_and_cbcs_hls_from_a_and_b_with_keys_from_the_origins_licence_server() {
    require_chromium_and_players();
    assert!(
        crate::player::players_dir().join("node_modules/shaka-player/dist/shaka-player.compiled.js").exists(),
        "Shaka Player is missing: run `cargo xtask setup` (npm ci in tools/players)"
    );
    let lib = Library::new().await;
    let (sa, sb) = lib.serve().await;
    let page = serve_page().await;
    for (dc, origin) in [("A", &sa.addr), ("B", &sb.addr)] {
        for (what, manifest) in
            [("DASH cenc", "manifest(format=mpd-time-csf)"), ("HLS cbcs", "manifest(format=m3u8-cmaf)")]
        {
            let url = format!("http://{origin}/{}/Clip.ism/{manifest}", lib.drm);
            let report = shaka_plays(&page, &url, &format!("http://{origin}/keys/clearkey")).await;
            assert_eq!(report["state"], "playing", "{dc} {what}: {report:#}");
            assert!(report["currentTime"].as_f64().unwrap() > 2.0, "{dc} {what}: {report:#}");
            assert_eq!(report["encrypted"], true, "{dc} {what}: the stream went through EME: {report:#}");
        }
        let granted = crate::key_delivery::key_metrics(&format!("http://{origin}")).await;
        assert!(
            granted.get("granted").copied().unwrap_or(0) >= 2,
            "{dc}'s key delivery handed out the keys: {granted:?}"
        );
    }
}
