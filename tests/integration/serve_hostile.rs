//! `mirrorcast serve` attacked as a hostile user would: lying renditions and
//! manifests in the asset, hostile packaged URLs, Range and If-None-Match
//! abuse. Each gets its documented status and a short body, nothing leaks,
//! no panic reaches the server's stderr, and the server keeps serving.

use bytes::Bytes;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::store::{BlobStore, PutOptions};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::serve::{get, publish_folder_in, publish_media, raw, serve};

fn ism_of(src: &str) -> String {
    ServerManifest {
        title: None,
        client_manifest: None,
        tracks: vec![IsmTrack {
            kind: TrackKind::Video,
            src: src.into(),
            system_bitrate: 600_000,
            track_id: 1,
            track_name: None,
            language: None,
        }],
    }
    .to_xml()
}

/// An asset of `files`, uploaded and published: its origin locator's GUID.
async fn hostile_asset(sb: &Sandbox, name: &str, files: &[(&str, Vec<u8>)]) -> String {
    hostile_asset_and_id(sb, name, files).await.0
}

/// [`hostile_asset`], and the asset's id.
async fn hostile_asset_and_id(sb: &Sandbox, name: &str, files: &[(&str, Vec<u8>)]) -> (String, String) {
    let folder = sb.dir.path().join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for (file, bytes) in files {
        std::fs::write(folder.join(file), bytes).unwrap();
    }
    let p = publish_folder_in(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], name, &folder).await;
    (p.locator, p.asset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_renditions_and_requests_get_their_status_and_never_a_panic() {
    let sb = Sandbox::start().await;
    let p = publish_media(&sb).await;
    // Renditions that lie, a rendition the .ism names but the asset lacks, a 10 MB .ism
    // (one asset each: an asset holds one .ism).
    let mut huge = b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\x01mdat".to_vec();
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    let big = ism_of("Clip_320x180_600.mp4").replace("<body>", &format!("<body><!--{}-->", "x".repeat(10 << 20)));
    let text = "not an mp4 at all".repeat(100).into_bytes();
    let huge = hostile_asset(&sb, "Huge", &[("Huge.mp4", huge), ("Huge.ism", ism_of("Huge.mp4").into_bytes())]).await;
    let missing = hostile_asset(&sb, "Missing", &[("Missing.ism", ism_of("Gone.mp4").into_bytes())]).await;
    let empty =
        hostile_asset(&sb, "Empty", &[("Empty.mp4", vec![]), ("Empty.ism", ism_of("Empty.mp4").into_bytes())]).await;
    let text = hostile_asset(&sb, "Text", &[("Text.mp4", text), ("Text.ism", ism_of("Text.mp4").into_bytes())]).await;
    let rendition = std::fs::read(sb.dir.path().join("clip/Clip_320x180_600.mp4")).unwrap();
    let big = hostile_asset(&sb, "Big", &[("Big.ism", big.into_bytes()), ("Clip_320x180_600.mp4", rendition)]).await;

    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let l = &p.locator;
    let c = format!("/{l}/Clip.ism");
    let cases: Vec<(String, u16)> = vec![
        (format!("{c}/QualityLevels(600000)/Fragments(video=18446744073709551615)"), 404),
        (format!("{c}/QualityLevels(600000)/Fragments(video=18446744073709551616)"), 404),
        (format!("{c}/QualityLevels(600000)/Fragments(video=-0)"), 404),
        (format!("{c}/QualityLevels(0)/Fragments(video=0,format=m3u8-cmaf)"), 404),
        (format!("{c}/QualityLevels(99999999999999999999)/Fragments(video=0)"), 404),
        (format!("{c}/QualityLevels(-600000)/Fragments(video=0)"), 404),
        (format!("{c}/QualityLevels(600000)/Fragments(video=i,format=m3u8-aapl-v3)"), 404),
        (format!("{c}/QualityLevels(600000)/Fragments(video=0,format=m3u8-aapl-v3)"), 200),
        (format!("{c}/QualityLevels(128000)/Fragments(audio=0,format=m3u8-aapl-v3)"), 200),
        (format!("{c}/QualityLevels(600000)/Manifest(video,format=mpd-time-csf)"), 404),
        (format!("{c}/manifest(format=m3u8-aapl,format=flv)"), 400),
        (format!("{c}/manifest(format=m3u8-cmaf,filter={})", "x".repeat(500)), 400),
        (format!("/{l}/%2e%2e%2fClip.ism/manifest"), 404),
        (format!("/{l}/Clip.ism%00/manifest"), 404),
        (format!("/{l}/Clip.ism/%2e%2e/notes.txt"), 404),
        (format!("/{huge}/Huge.ism/manifest(format=m3u8-cmaf)"), 502),
        // Smooth too: renditions that cannot be indexed are never stood in for by a stored .ismc.
        (format!("/{huge}/Huge.ism/manifest"), 502),
        (format!("/{missing}/Missing.ism/manifest(format=mpd-time-csf)"), 404),
        (format!("/{empty}/Empty.ism/manifest(format=m3u8-cmaf)"), 502),
        (format!("/{empty}/Empty.mp4"), 200),
        (format!("/{text}/Text.ism/manifest(format=m3u8-aapl-v3)"), 502),
        (format!("/{big}/Big.ism/manifest(format=m3u8-cmaf)"), 502),
    ];
    let mut wrong = Vec::new();
    for (path, want) in &cases {
        let (status, text) = get(&s.addr, path).await;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        if status != *want || (status >= 400 && body.len() > 64) || body.contains("sig=") || body.contains("devstore") {
            wrong.push(format!("{path}: {status} (want {want}) {:.120}", body));
        }
    }
    // Range and If-None-Match abuse on a plain file of 1000 bytes.
    let notes = format!("/{l}/notes.txt");
    let many_ranges = (0..1000).map(|i| format!("{i}-{i}")).collect::<Vec<_>>().join(",");
    let many_tags = (0..10_000).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    for (header, want) in [
        ("Range: bytes=-0".to_owned(), 416),
        ("Range: bytes=5-4".to_owned(), 200),
        ("Range: bytes=0-18446744073709551616".to_owned(), 206),
        (format!("Range: bytes={many_ranges}"), 200),
        (format!("If-None-Match: {many_tags}"), 431),
    ] {
        let req = format!("GET {notes} HTTP/1.1\r\nHost: x\r\n{header}\r\nConnection: close\r\n\r\n");
        let (status, _) = raw(&s.addr, req.as_bytes()).await;
        if status != want {
            wrong.push(format!("{:.40}: {status} (want {want})", header));
        }
    }
    let long = format!("GET /{l}/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a/".repeat(32 * 1024));
    let (status, _) = raw(&s.addr, long.as_bytes()).await;
    if !(status == 431 || status == 414 || status == 0) {
        wrong.push(format!("a 64 KiB path: {status}"));
    }

    // A rendition replaced by non-MP4 bytes after its index was cached: its ETag moves.
    let fragment = format!("{c}/QualityLevels(300000)/Fragments(video=0,format=m3u8-cmaf)");
    let (status, text) = get(&s.addr, &fragment).await;
    assert_eq!(status, 200, "the control case: {text}\n{}\n{}", wrong.join("\n"), s.stderr.lock().unwrap());
    let store = sb.azurite.store("devstoreaccount1");
    let container = AssetId::parse(&p.asset).unwrap().container_name();
    let garbage = Bytes::from(vec![0x47u8; 300_000]);
    store.put_blob(&container, "Clip_160x90_300.mp4", garbage, &PutOptions::default()).await.unwrap();
    // The segment cache confirms a kept rendition's version once a second: past that, the new one.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let first = get(&s.addr, &fragment).await.0;
    let then = get(&s.addr, &fragment).await.0;
    if !(first == 503 || first == 502) || then != 502 {
        wrong.push(format!("a replaced rendition: {first} then {then} (want 503/502 then 502)"));
    }

    // Still serving, and no panic on its stderr.
    assert_eq!(get(&s.addr, &notes).await.0, 200, "the server keeps serving");
    assert_eq!(get(&s.addr, &format!("{c}/manifest(format=m3u8-cmaf)")).await.0, 502, "a rendition is not an MP4 now");
    assert_eq!(get(&s.addr, "/healthz").await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = s.stderr.lock().unwrap().clone();
    if log.contains("panicked") {
        wrong.push(format!("a panic on stderr: {:.600}", &log[log.find("panicked").unwrap().saturating_sub(200)..]));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Slow clients are cut off and the others still served: a head sent one byte
/// a second (the header deadline), and a client that asks for 32 MiB and never
/// reads (the write-stall limit, 30 s: else it holds the response and its
/// upstream read for as long as it likes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_still_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sb = Sandbox::start().await;
    const BIG: usize = 32 << 20;
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    let l = hostile_asset(&sb, "Slow", &[("big.bin", big)]).await;
    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;

    let addr = s.addr.clone();
    let dribble = tokio::spawn(async move {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in head {
            if c.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) = tokio::time::timeout(std::time::Duration::from_millis(1), c.read(&mut probe)).await {
                return true;
            }
        }
        false
    });

    let mut stuck = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
    stuck.write_all(format!("GET /{l}/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    // Others are served while both slow clients hold their connections.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(get(&s.addr, "/healthz").await.0, 200);
    assert!(dribble.await.unwrap(), "a head sent a byte a second is cut off before its end");
    tokio::time::sleep(crate::serve_hostile::STALL + std::time::Duration::from_secs(10)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), stuck.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was closed by the server");
    assert!(got.len() < BIG, "cut off before the end: {} of {BIG} bytes", got.len());
    assert_eq!(get(&s.addr, "/healthz").await.0, 200, "still serving");
    let log = s.stderr.lock().unwrap().clone();
    assert!(!log.contains("panicked"), "{log}");
}

const STALL: std::time::Duration = mirrorcast_http::WRITE_STALL_LIMIT;

/// A `.ism` swapped in storage for a 96 MiB blob while its record still says a few
/// hundred bytes: the blob's own length is checked before its body is read, so three
/// requests at once cost the origin no memory (it reached 253–442 MiB before each 502
/// when the bound was checked after the read). The stored `.ismc` is never read into
/// memory at all (a plain file streams; a Smooth manifest is made from the renditions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_ism_under_a_small_record_is_refused_before_its_body_is_read() {
    let sb = Sandbox::start().await;
    publish_media(&sb).await;
    let rendition = std::fs::read(sb.dir.path().join("clip/Clip_320x180_600.mp4")).unwrap();
    let (l, asset) = hostile_asset_and_id(
        &sb,
        "Swap",
        &[("Swap.ism", ism_of("Clip_320x180_600.mp4").into_bytes()), ("Clip_320x180_600.mp4", rendition)],
    )
    .await;
    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let manifest = format!("/{l}/Swap.ism/manifest(format=m3u8-cmaf)");
    assert_eq!(get(&s.addr, &manifest).await.0, 200, "the control case");

    // The records still say a few hundred bytes; storage now holds 96 MiB of XML comment.
    let store = sb.azurite.store("devstoreaccount1");
    let container = AssetId::parse(&asset).unwrap().container_name();
    let huge = ism_of("Clip_320x180_600.mp4").replace("<body>", &format!("<body><!--{}-->", "x".repeat(96 << 20)));
    store.put_blob(&container, "Swap.ism", Bytes::from(huge), &PutOptions::default()).await.unwrap();
    // A new origin, so the .ism is read afresh (not from the 30 s manifest cache).
    drop(s);
    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let before = s.peak_rss_kib();
    let asks = (0..3).map(|_| get(&s.addr, &manifest));
    let statuses: Vec<u16> = futures::future::join_all(asks).await.into_iter().map(|(status, _)| status).collect();
    assert_eq!(statuses, vec![502, 502, 502]);
    let after = s.peak_rss_kib();
    eprintln!("origin VmHWM: {before} KiB before, {after} KiB after three requests for a 96 MiB .ism");
    assert!(after < before + 32 * 1024, "the origin read the .ism's body: VmHWM {before} -> {after} KiB");
    assert_eq!(get(&s.addr, "/healthz").await.0, 200);
}
