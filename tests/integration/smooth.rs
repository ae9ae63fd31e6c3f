//! Smooth Streaming from `mirrorcast serve`, at the packet level: the client
//! manifest is made from the renditions' indexes, and every fragment it names,
//! fetched over HTTP in Smooth's wire form, carries the source rendition's
//! samples at the manifest's times. (Playback in a real player: player.rs.)

use mirrorcast_media::ismc::ClientManifest;
use mirrorcast_media::smooth_fragment::SmoothFragment;

use crate::helpers::Sandbox;
use crate::serve::{differences, packet_md5s, published_and_served, same_packets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smooth_manifest_and_fragments_carry_the_sources_packets() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let base = format!("http://{}/{}/Clip.ism", s.addr, p.locator);
    let http = reqwest::Client::new();

    let got = http.get(format!("{base}/manifest")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let h = got.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/xml"), "{h:?}");
    assert!(h["cache-control"].to_str().unwrap().contains("max-age=10"), "{h:?}");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let text = got.text().await.unwrap();
    // publish_media stores a one-line .ismc with no streams: this one is made from the renditions.
    let manifest = ClientManifest::parse(&text).unwrap();
    assert_eq!((manifest.major_version, manifest.minor_version), (2, 2), "{text}");
    let again = http.get(format!("{base}/manifest")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    let folder = sb.dir.path().join("clip");
    let source = |file: &str, map: &str| packet_md5s(folder.join(file).to_str().unwrap(), map).remove(0);
    let want = [
        ("video", 600_000, source("Clip_320x180_600.mp4", "0:v")),
        ("video", 300_000, source("Clip_160x90_300.mp4", "0:v")),
        ("audio", 128_000, source("Clip_320x180_600.mp4", "0:a")),
    ];
    let kinds: Vec<(&str, usize)> =
        manifest.streams.iter().map(|st| (st.kind.as_str(), st.quality_levels.len())).collect();
    assert_eq!(kinds, [("video", 2), ("audio", 1)], "{text}");
    let dir = tempfile::tempdir().unwrap();
    for (kind, bitrate, packets) in &want {
        let stream = manifest.streams.iter().find(|st| st.kind == *kind).unwrap();
        assert!(stream.quality_levels.iter().any(|q| q.bitrate == *bitrate), "{kind} {bitrate}: {text}");
        let timescale = stream.timescale.unwrap_or(manifest.timescale);
        let timeline = stream.fragments();
        if *kind == "video" {
            assert_eq!(timeline.len(), 3, "6 s cut at the 2 s key frames: {text}");
        }
        let end = timeline.last().map(|(t, d)| t + d).unwrap() as f64 / timescale as f64;
        assert!((end - 6.0).abs() < 0.1, "{kind}: the timeline covers the clip: {end}");

        // The fragments in a row behind the CMAF init segment of the same track: what ffmpeg
        // demuxes must be the source's packets, so a sample lost, reordered or altered fails.
        let stream_name = stream.name.as_str();
        let init = http
            .get(format!("{base}/QualityLevels({bitrate})/Fragments({stream_name}=i,format=mpd-time-csf)"))
            .send()
            .await
            .unwrap();
        assert_eq!(init.status(), 200);
        let mut wrapped = init.bytes().await.unwrap().to_vec();
        for (n, (t, d)) in timeline.iter().enumerate() {
            let path = stream.url.replace("{bitrate}", &bitrate.to_string()).replace("{start time}", &t.to_string());
            let got = http.get(format!("{base}/{path}")).send().await.unwrap();
            assert_eq!(got.status(), 200, "{path}");
            assert_eq!(got.headers()["content-type"], format!("{kind}/mp4"), "{path}");
            assert!(got.headers()["cache-control"].to_str().unwrap().contains("max-age=86400"), "{path}");
            assert!(got.headers()["etag"].to_str().unwrap().starts_with("\"mc3-"), "{path}");
            let bytes = got.bytes().await.unwrap();
            let fragment = SmoothFragment::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!((fragment.time, fragment.duration), (*t, *d), "{path}: tfxd says where it sits");
            assert_eq!(fragment.sequence_number, n as u32 + 1, "{path}");
            assert!(!fragment.traf_boxes.iter().any(|b| b == "tfdt"), "{path}: Smooth's wire form has no tfdt");
            let span: u64 = fragment.samples.iter().map(|s| s.duration as u64).sum();
            assert_eq!(span, *d, "{path}: the samples fill the chunk");
            wrapped.extend_from_slice(&bytes);
        }
        let file = dir.path().join(format!("{kind}-{bitrate}.mp4"));
        std::fs::write(&file, wrapped).unwrap();
        let got = packet_md5s(file.to_str().unwrap(), "0");
        let want = std::slice::from_ref(packets);
        assert!(packets.packets.len() > 100, "{kind}: packets in the source");
        assert!(same_packets(&got, want), "{kind} {bitrate}: the source's packets: {}", differences(&got, want));
    }

    // No init segment in Smooth, only the fragments the manifest names, only its quality levels.
    for path in [
        "QualityLevels(600000)/Fragments(video=i)",
        "QualityLevels(600000)/Fragments(video=1)",
        "QualityLevels(600000)/Fragments(video=-1)",
        "QualityLevels(600000)/Fragments(video=99999999999999999999999)",
        "QualityLevels(600000)/Fragments(audio=0)",
        "QualityLevels(600000)/Fragments(video=0,format=)",
        "QualityLevels(600000)/Fragments(video)",
        "QualityLevels(600000)/Fragments(video=0)/more",
    ] {
        let got = http.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(got.status(), 404, "{path}");
        assert_eq!(got.text().await.unwrap(), "not found\n", "{path}");
    }
}
