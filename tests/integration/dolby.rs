//! AC-3 audio (ffmpeg's `ac3` encoder, 5.1): packaged into CMAF HLS and DASH with its codec
//! string and its channels as players need them (HLS `CHANNELS`, DASH Dolby
//! `AudioChannelConfiguration` with the channel mask), checked against what ffprobe says of the
//! source; ffmpeg at its defaults reads the source's very packets back from both. The MPEG-TS
//! formats cannot carry it here: refused, naming the codec and the format to ask for instead.

use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::serve::{differences, encode_test_pattern, ffmpeg, packet_md5s, publish_folder_in, same_packets, serve};

/// ffprobe's `codec_name` and `channels` of the first audio stream of `path`.
fn probe_audio(path: &str) -> (String, u64) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name,channels", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is needed: apt-get install ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &json["streams"][0];
    (stream["codec_name"].as_str().unwrap().to_owned(), stream["channels"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ac3_rendition_plays_in_cmaf_hls_and_dash_with_its_channels_and_ts_refuses_it_by_name() {
    let sb = Sandbox::start().await;
    let folder = sb.dir.path().join("dolby");
    std::fs::create_dir_all(&folder).unwrap();
    let video = folder.join("Dolby_320x180_400.mp4");
    encode_test_pattern(
        &video,
        "320x180",
        6,
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-sc_threshold", "0", "-movflags", "+faststart"],
    );
    let audio = folder.join("Dolby_ac3_384.mp4");
    let out = ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=6,aformat=channel_layouts=5.1",
        "-c:a",
        "ac3",
        "-b:a",
        "384k",
        "-movflags",
        "+faststart",
        "-y",
        audio.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ism = ServerManifest {
        title: Some("Dolby".into()),
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Dolby_320x180_400.mp4", 400_000),
            IsmTrack::new(TrackKind::Audio, "Dolby_ac3_384.mp4", 384_000),
        ],
    };
    std::fs::write(folder.join("Dolby.ism"), ism.to_xml()).unwrap();
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let locator = publish_folder_in(sb.dir.path(), &env, "Dolby", &folder).await.locator;
    let s = serve(sb.dir.path(), &env, &[]).await;
    let base = format!("http://{}/{locator}/Dolby.ism", s.addr);

    let (codec, channels) = probe_audio(audio.to_str().unwrap());
    assert_eq!((codec.as_str(), channels), ("ac3", 6), "the source, as ffprobe reads it");
    let master = reqwest::get(format!("{base}/manifest(format=m3u8-cmaf)")).await.unwrap().text().await.unwrap();
    assert!(master.contains(&format!("CHANNELS=\"{channels}\"")), "{master}");
    assert!(master.contains(",ac-3\""), "the variant names the audio's codec: {master}");
    let mpd = reqwest::get(format!("{base}/manifest(format=mpd-time-csf)")).await.unwrap().text().await.unwrap();
    assert!(mpd.contains("codecs=\"ac-3\""), "{mpd}");
    assert!(
        mpd.contains(
            "<AudioChannelConfiguration schemeIdUri=\"tag:dolby.com,2014:dash:audio_channel_configuration:2011\" value=\"F801\" />"
        ),
        "5.1: L C R Ls Rs LFE: {mpd}"
    );

    let want = packet_md5s(audio.to_str().unwrap(), "0:a");
    assert!(want[0].packets.len() >= 180, "{}", want[0].packets.len());
    for format in ["m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf"] {
        let manifest = format!("{base}/manifest(format={format})");
        let got = packet_md5s(&manifest, "0:a");
        assert!(same_packets(&got, &want), "{format}: the source's packets: {}", differences(&got, &want));
        assert_eq!(probe_audio(&manifest), ("ac3".to_owned(), 6), "{format}");
    }

    let http = reqwest::Client::new();
    for url in [
        format!("{base}/manifest(format=m3u8-aapl)"),
        format!("{base}/manifest(format=m3u8-aapl-v3).m3u8"),
        format!("{base}/QualityLevels(384000)/Manifest(audio,format=m3u8-aapl)"),
        format!("{base}/QualityLevels(384000)/Fragments(audio=0,format=m3u8-aapl-v3).ts"),
    ] {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 406, "{url}");
        let body = r.text().await.unwrap();
        assert!(body.contains("cannot carry ac-3") && body.contains("format=m3u8-cmaf"), "{url}: {body}");
    }
    // The video alone is still carried: its TS segment is made.
    let r = http.get(format!("{base}/QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl).ts")).send().await;
    assert_eq!(r.unwrap().status(), 200);
}
