//! HLS version 3 from `mirrorcast serve` (`format=m3u8-aapl-v3`): MPEG-TS
//! segments made on the fly. ffmpeg reads each media playlist to the end; the
//! video decodes to the source rendition's very frames, and the audio holds
//! the source's AAC packets (once the ADTS headers are taken off again).
//! (Playback in hls.js: player.rs.)

use crate::helpers::Sandbox;
use crate::serve::{ffmpeg, published_and_served};

/// The sixth framemd5 column of what ffmpeg reads from `input` with `args` (decoded frames, or packets with `-c copy`).
fn hashes(input: &str, args: &[&str]) -> Vec<String> {
    // ffmpeg's defaults: no option that relaxes its HLS reader's checks.
    let mut all = vec!["-v", "error"];
    all.extend(["-i", input]);
    all.extend(args);
    all.extend(["-f", "framemd5", "-"]);
    let out = ffmpeg(&all);
    assert!(out.status.success(), "ffmpeg -i {input}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5))
        .map(|s| s.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_v3_ts_segments_decode_to_the_sources_frames_and_packets() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let base = format!("http://{}/{}/Clip.ism", s.addr, p.locator);
    let http = reqwest::Client::new();
    let master = http.get(format!("{base}/manifest(format=m3u8-aapl-v3)")).send().await.unwrap();
    assert_eq!(master.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = master.text().await.unwrap();
    assert!(master.contains("QualityLevels(300000)/Manifest(video,format=m3u8-aapl-v3)"), "{master}");

    let folder = sb.dir.path().join("clip");
    let source = |file: &str| folder.join(file).to_str().unwrap().to_owned();
    let cases = [
        ("600000", "video", source("Clip_320x180_600.mp4"), "0:v"),
        ("300000", "video", source("Clip_160x90_300.mp4"), "0:v"),
        ("128000", "audio", source("Clip_320x180_600.mp4"), "0:a"),
    ];
    for (bitrate, stream, src, map) in &cases {
        let playlist = format!("{base}/QualityLevels({bitrate})/Manifest({stream},format=m3u8-aapl-v3)");
        let text = http.get(&playlist).send().await.unwrap().text().await.unwrap();
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n") && !text.contains("EXT-X-MAP"), "{text}");
        let segment = http
            .get(format!("{base}/QualityLevels({bitrate})/Fragments({stream}=0,format=m3u8-aapl-v3)"))
            .send()
            .await
            .unwrap();
        assert_eq!(segment.status(), 200);
        assert_eq!(segment.headers()["content-type"], "video/MP2T");
        assert!(segment.headers()["etag"].to_str().unwrap().starts_with("\"mc3-"));
        let bytes = segment.bytes().await.unwrap();
        assert!(bytes.len() % 188 == 0 && bytes[0] == 0x47 && bytes[188] == 0x47, "TS packets");

        let (got, want) = if *stream == "video" {
            (hashes(&playlist, &["-map", "0:v"]), hashes(src, &["-map", map]))
        } else {
            (
                hashes(&playlist, &["-map", "0:a", "-c", "copy", "-bsf:a", "aac_adtstoasc"]),
                hashes(src, &["-map", map, "-c", "copy"]),
            )
        };
        assert!(want.len() > 100, "{stream} {bitrate}: {}", want.len());
        assert_eq!(got.len(), want.len(), "{stream} {bitrate}: every frame");
        assert!(
            got == want,
            "{stream} {bitrate}: first difference at {:?}",
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
    let init = http.get(format!("{base}/QualityLevels(600000)/Fragments(video=i,format=m3u8-aapl-v3)")).send().await;
    assert_eq!(init.unwrap().status(), 404, "TS has no init segment");
}

/// GStreamer (playbin: souphttpsrc, hlsdemux, tsdemux, avdec_h264; its defaults) plays
/// `m3u8-aapl`, HLS 4 over MPEG-TS, to the end: every video frame of the clip reaches
/// its sink, and it ends at end-of-stream, not on an error. Needs `gst-launch-1.0`
/// (`.ci/run` installs it); without it this test fails, it never skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_plays_m3u8_aapl_over_ts_to_the_end() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let master = format!("http://{}/{}/Clip.ism/manifest(format=m3u8-aapl)", s.addr, p.locator);
    let source = sb.dir.path().join("clip/Clip_320x180_600.mp4");
    let frames = hashes(source.to_str().unwrap(), &["-map", "0:v"]).len();
    assert!(frames > 100, "{frames} frames in the source");
    let run = tokio::process::Command::new("gst-launch-1.0")
        .args(["-v", "playbin", &format!("uri={master}")])
        .arg("video-sink=fakesink name=v silent=false sync=false")
        .arg("audio-sink=fakesink sync=false")
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("GStreamer did not finish within 120 s")
        .expect("gst-launch-1.0 is needed: apt-get install gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gst-launch-1.0: {stderr}\n{:.2000}", stdout);
    assert!(stdout.contains("Got EOS"), "it ends at end-of-stream: {:.2000}", stdout);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    let shown = stdout.lines().filter(|l| l.contains("GstFakeSink:v: last-message = chain")).count();
    assert_eq!(shown, frames, "every video frame reaches the sink");
}
