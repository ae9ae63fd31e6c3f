//! Renditions whose samples are in `moof`s (Smooth-encoded `.ismv`/`.isma`, fragmented MP4 with
//! and without an `mfra`) play from A and from B after replication: ffmpeg at its default
//! options reads the sources' very packets through CMAF HLS, DASH, MPEG-TS HLS and Smooth; the
//! `.ismv`'s Smooth fragments are its stored ones, byte for byte.
//! Lying ones are a 502 with the origin's memory bounded, the other assets unaffected.

use std::path::Path;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use mirrorcast_media::ismc::ClientManifest;

use crate::helpers::Sandbox;
use crate::replicate::Failover;
use crate::serve::{
    differences, encode_test_pattern, ffmpeg, forgive_dash_last_audio_packet, packet_md5s, publish_folder_in,
    same_packets, serve, serve_dc, source_frames_for_ts, ts_md5s, Packets, Published,
};

const X264: [&str; 12] =
    ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"];
const CMAF_FLAGS: &str = "frag_keyframe+empty_moov+default_base_moof";

fn video(path: &Path, size: &str, extra: &[&str]) {
    let mut args = X264.to_vec();
    args.extend(extra);
    encode_test_pattern(path, size, 6, &args);
}

/// The packets of Smooth's wire form: the stream's fragments at the manifest's times, behind the
/// CMAF init segment of the same track (Smooth has none; ffmpeg needs one).
async fn smooth_packets(
    http: &reqwest::Client,
    base: &str,
    manifest: &ClientManifest,
    kind: &str,
    bitrate: u64,
) -> Vec<Packets> {
    let stream = manifest.streams.iter().find(|s| s.kind == kind).unwrap();
    let name = &stream.name;
    let init = http
        .get(format!("{base}/QualityLevels({bitrate})/Fragments({name}=i,format=mpd-time-csf)"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let mut wrapped = init.bytes().await.unwrap().to_vec();
    for (t, _) in stream.fragments() {
        let path = stream.url.replace("{bitrate}", &bitrate.to_string()).replace("{start time}", &t.to_string());
        let got = http.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(got.status(), 200, "{path}");
        wrapped.extend_from_slice(&got.bytes().await.unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smooth.mp4");
    std::fs::write(&file, wrapped).unwrap();
    packet_md5s(file.to_str().unwrap(), "0")
}

/// Every stored `moof` with the `mdat` after it, as bytes.
fn stored_pairs(file: &[u8]) -> Vec<Vec<u8>> {
    let boxes: Vec<_> = mirrorcast_media::bmff::children(file).map(|b| b.unwrap()).collect();
    boxes
        .windows(2)
        .filter(|w| &w[0].kind == b"moof" && &w[1].kind == b"mdat")
        .map(|w| [w[0].raw, w[1].raw].concat())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_renditions_play_their_sources_packets_in_every_format_from_a_and_b() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let folder = f.dir.path().join("frag");
    std::fs::create_dir_all(&folder).unwrap();
    let ismv = folder.join("Frag_320x180_600.ismv");
    let with_mfra = folder.join("Frag_256x144_400.mp4");
    let without_mfra = folder.join("Frag_160x90_300.mp4");
    let isma = folder.join("Frag_128.isma");
    video(&ismv, "320x180", &["-f", "ismv"]);
    // Smooth's quality levels of a stream share one timeline: the ismv's 10 MHz timescale.
    let timescale = ["-video_track_timescale", "10000000"];
    video(&with_mfra, "256x144", &[&timescale[..], &["-movflags", CMAF_FLAGS]].concat());
    let no_mfra = format!("{CMAF_FLAGS}+skip_trailer");
    video(&without_mfra, "160x90", &[&timescale[..], &["-movflags", &no_mfra]].concat());
    let sine: Vec<&str> = "-v error -f lavfi -i sine -t 6 -c:a aac -f ismv -y".split(' ').collect();
    let out = ffmpeg(&[&sine[..], &[isma.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tail = |p: &Path| std::fs::read(p).unwrap().iter().rev().skip(8).take(4).rev().copied().collect::<Vec<u8>>();
    assert_eq!(tail(&with_mfra), b"mfro", "an mfra closes the file");
    assert_ne!(tail(&without_mfra), b"mfro", "no mfra");

    let ism = ServerManifest {
        title: Some("Frag".into()),
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Frag_320x180_600.ismv", 600_000),
            IsmTrack::new(TrackKind::Video, "Frag_256x144_400.mp4", 400_000),
            IsmTrack::new(TrackKind::Video, "Frag_160x90_300.mp4", 300_000),
            IsmTrack::new(TrackKind::Audio, "Frag_128.isma", 128_000),
        ],
    };
    std::fs::write(folder.join("Frag.ism"), ism.to_xml()).unwrap();
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Published { asset, locator } = publish_folder_in(f.dir.path(), &env, "Frag", &folder).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &asset]).await.ok();
    let (a, b) = tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));

    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (ismv, with_mfra, without_mfra, isma) = (path(&ismv), path(&with_mfra), path(&without_mfra), path(&isma));
    let source = |file: &str, map: &str| packet_md5s(file, map).remove(0);
    let videos = [(600_000, &ismv), (400_000, &with_mfra), (300_000, &without_mfra)];
    let mut want: Vec<Packets> = videos.iter().map(|(_, v)| source(v, "0:v")).collect();
    want.push(source(&isma, "0:a"));
    want.sort_by(|a, b| a.packets.iter().map(|p| &p.2).cmp(b.packets.iter().map(|p| &p.2)));
    assert!(want.iter().all(|s| s.packets.len() >= 150), "packets in every source");
    let want_ts = source_frames_for_ts(&[&ismv, &with_mfra, &without_mfra], &isma);

    let http = reqwest::Client::new();
    for (dc, origin) in [("A", &a.addr), ("B", &b.addr)] {
        let base = format!("http://{origin}/{locator}/Frag.ism");
        for format in ["m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf"] {
            let url = format!("{base}/manifest(format={format})");
            let mut got = if format.starts_with("mpd") {
                // One stream at a time: ffmpeg's DASH reader stops every stream at the first one's
                // end, and the fMP4s (no edit list) present their B-frame delay past the ismv's end.
                let maps = ["0:v:0", "0:v:1", "0:v:2", "0:a:0"];
                let mut got: Vec<Packets> = maps.iter().flat_map(|m| packet_md5s(&url, m)).collect();
                forgive_dash_last_audio_packet(&mut got, &want);
                got
            } else {
                packet_md5s(&url, "0")
            };
            got.sort_by(|a, b| a.packets.iter().map(|p| &p.2).cmp(b.packets.iter().map(|p| &p.2)));
            assert!(same_packets(&got, &want), "{dc} {format}: the sources' packets: {}", differences(&got, &want));
        }
        let got = ts_md5s(&format!("{base}/manifest(format=m3u8-aapl)"));
        assert!(same_packets(&got, &want_ts), "{dc} m3u8-aapl: the sources' frames: {}", differences(&got, &want_ts));

        let text = http.get(format!("{base}/manifest")).send().await.unwrap().text().await.unwrap();
        let manifest = ClientManifest::parse(&text).unwrap();
        for (kind, bitrate, file, map) in [
            ("video", 600_000, &ismv, "0:v"),
            ("video", 400_000, &with_mfra, "0:v"),
            ("video", 300_000, &without_mfra, "0:v"),
            ("audio", 128_000, &isma, "0:a"),
        ] {
            let got = smooth_packets(&http, &base, &manifest, kind, bitrate).await;
            let want = [source(file, map)];
            assert!(same_packets(&got, &want), "{dc} Smooth {kind} {bitrate}: {}", differences(&got, &want));
        }
        // The ismv's Smooth fragments are its stored moof+mdat pairs, byte for byte; the isma's
        // (AAC moved to start at 0 past its priming: not the times stored) and the fMP4s' (tfdt,
        // no tfxd) are cut.
        for (kind, bitrate, file, as_stored) in
            [("video", 600_000, &ismv, true), ("video", 400_000, &with_mfra, false), ("audio", 128_000, &isma, false)]
        {
            let pairs = stored_pairs(&std::fs::read(file).unwrap());
            let stream = manifest.streams.iter().find(|s| s.kind == kind).unwrap();
            for (t, _) in stream.fragments() {
                let path =
                    stream.url.replace("{bitrate}", &bitrate.to_string()).replace("{start time}", &t.to_string());
                let got = http.get(format!("{base}/{path}")).send().await.unwrap().bytes().await.unwrap();
                assert_eq!(pairs.contains(&got.to_vec()), as_stored, "{dc} {kind} {bitrate} at {t}: served as stored?");
            }
        }
    }

    // verify --http compares what A and B serve of it: the same, every format.
    let (a_url, b_url) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a_url, "--to-url", &b_url, "--json"];
    let audit = f.run(&args).await;
    let report = audit.json();
    assert_eq!((audit.code, &report["identical"]), (0, &serde_json::Value::Bool(true)), "{report:#}");
}

/// Where the body of the first box at `path` (top-level first) starts in `file`.
fn body_of(file: &[u8], path: &[&[u8; 4]]) -> usize {
    let (mut at, mut end) = (0, file.len());
    for kind in path {
        loop {
            assert!(at + 8 <= end, "no {} box", String::from_utf8_lossy(*kind));
            let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            if &file[at + 4..at + 8] == *kind {
                (end, at) = (at + size, at + 8);
                break;
            }
            at += size;
        }
    }
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_fragmented_renditions_are_a_502_with_bounded_memory_and_other_assets_play() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = sb.dir.path().join("made.mp4");
    video(&made, "160x90", &["-movflags", CMAF_FLAGS]);
    let file = std::fs::read(&made).unwrap();
    let patched = |at: usize, bytes: &[u8]| {
        let mut out = file.clone();
        out[at..at + bytes.len()].copy_from_slice(bytes);
        out
    };
    let trun = body_of(&file, &[b"moof", b"traf", b"trun"]);
    let tfra = body_of(&file, &[b"mfra", b"tfra"]);
    let cases = [
        // trun: version/flags, sample_count, data_offset; tfra (version 1): …, entry count, (time, moof_offset)…
        ("Huge", patched(trun + 4, &u32::MAX.to_be_bytes())),
        ("PastEnd", patched(tfra + 16 + 8, &(file.len() as u64 * 2).to_be_bytes())),
        ("Outside", patched(trun + 8, &i32::MAX.to_be_bytes())),
        ("Good", file.clone()),
    ];
    let mut locators = Vec::new();
    for (name, bytes) in &cases {
        let folder = sb.dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("v.mp4"), bytes).unwrap();
        let ism = ServerManifest {
            title: Some((*name).into()),
            client_manifest: None,
            tracks: vec![IsmTrack::new(TrackKind::Video, "v.mp4", 300_000)],
        };
        std::fs::write(folder.join(format!("{name}.ism")), ism.to_xml()).unwrap();
        locators.push((*name, publish_folder_in(sb.dir.path(), &env, name, &folder).await.locator));
    }
    let s = serve(sb.dir.path(), &env, &[]).await;
    let http = reqwest::Client::new();
    for round in 0..2 {
        for (name, locator) in &locators {
            for path in ["manifest", "manifest(format=m3u8-cmaf)", "manifest(format=mpd-time-csf)"] {
                let got = http.get(format!("http://{}/{locator}/{name}.ism/{path}", s.addr)).send().await.unwrap();
                let want = if *name == "Good" { 200 } else { 502 };
                assert_eq!(got.status(), want, "round {round}: {name} {path}");
            }
        }
    }
    let good = format!("http://{}/{}/Good.ism/manifest(format=m3u8-cmaf)", s.addr, locators[3].1);
    let got = packet_md5s(&good, "0");
    let want = packet_md5s(made.to_str().unwrap(), "0:v");
    assert!(same_packets(&got, &want), "the good asset plays: {}", differences(&got, &want));
    let peak_mib = s.peak_rss_kib() / 1024;
    eprintln!("origin peak RSS: {peak_mib} MiB");
    assert!(peak_mib < 256, "a trun of 2^32 samples allocates nothing it claims: {peak_mib} MiB");
}
