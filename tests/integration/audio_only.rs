//! The audio-only variant of HLS masters (Media Services listed one by default, for app-store
//! certification): an `EXT-X-STREAM-INF` naming the audio codec alone whose playlist plays the
//! source's audio packets; `audio-only=false` leaves it out and changes nothing else.

use crate::helpers::Sandbox;
use crate::serve::{packet_md5s, published_and_served, same_packets};

/// The variants of an HLS master: (its `EXT-X-STREAM-INF` line, its URI).
fn variants(master: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = master.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("#EXT-X-STREAM-INF:"))
        .map(|w| (w[0].to_owned(), w[1].to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_masters_list_an_audio_only_variant_that_plays_unless_audio_only_is_false() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let base = format!("http://{}/{}/Clip.ism", s.addr, p.locator);
    let source = sb.dir.path().join("clip/Clip_320x180_600.mp4");
    let want = packet_md5s(source.to_str().unwrap(), "0:a");
    let http = reqwest::Client::new();
    for format in ["m3u8-cmaf", "m3u8-aapl", "m3u8-aapl-v3"] {
        let master = http.get(format!("{base}/manifest(format={format})")).send().await.unwrap().text().await.unwrap();
        let all = variants(&master);
        let audio_only: Vec<&(String, String)> = all.iter().filter(|(inf, _)| !inf.contains("RESOLUTION=")).collect();
        assert_eq!(all.len(), 3, "{format}: two video variants and the audio-only one: {master}");
        assert_eq!(audio_only.len(), 1, "{format}: {master}");
        let (inf, uri) = audio_only[0];
        assert!(
            inf.contains("CODECS=\"mp4a.40.2\"") && !inf.contains("avc1"),
            "{format}: the audio's codec alone: {inf}"
        );
        let got = packet_md5s(&format!("{base}/{uri}"), "0:a");
        let got = if format == "m3u8-cmaf" {
            got
        } else {
            // TS carries AAC in ADTS: the packets once its headers are taken off.
            crate::serve::framemd5_streams(
                &format!("{base}/{uri}"),
                &["-map", "0:a", "-c", "copy", "-bsf:a", "aac_adtstoasc"],
            )
        };
        assert!(same_packets(&got, &want), "{format}: the audio-only variant plays the source's audio");

        let without =
            http.get(format!("{base}/manifest(format={format},audio-only=false)")).send().await.unwrap().text().await;
        let without = without.unwrap();
        assert_eq!(variants(&without).len(), 2, "{format}: {without}");
        assert!(variants(&without).iter().all(|(inf, _)| inf.contains("RESOLUTION=")), "{format}: {without}");
        assert_eq!(master.replace(&format!("{inf}\n{uri}\n"), ""), without, "{format}: nothing else changes");
    }
}
