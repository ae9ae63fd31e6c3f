//! Codecs beyond H.264: an HEVC rendition is packaged into CMAF HLS and DASH with a full
//! codec string (profile, tier, level: players refuse a bare `hvc1`), and ffmpeg at its
//! defaults reads the source's very packets back from both.

use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::serve::{differences, encode_test_pattern, packet_md5s, publish_folder_in, same_packets, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hevc_rendition_plays_in_cmaf_hls_and_dash_with_its_full_codec_string() {
    let sb = Sandbox::start().await;
    let folder = sb.dir.path().join("hevc");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("Hevc_320x180_400.mp4");
    encode_test_pattern(
        &file,
        "320x180",
        6,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=50:min-keyint=50:scenecut=0",
            "-tag:v",
            "hvc1",
            "-movflags",
            "+faststart",
        ],
    );
    let ism = ServerManifest {
        title: Some("Hevc".into()),
        client_manifest: None,
        tracks: vec![IsmTrack::new(TrackKind::Video, "Hevc_320x180_400.mp4", 400_000)],
    };
    std::fs::write(folder.join("Hevc.ism"), ism.to_xml()).unwrap();
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let locator = publish_folder_in(sb.dir.path(), &env, "Hevc", &folder).await.locator;
    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let base = format!("http://{}/{locator}/Hevc.ism", s.addr);

    let master = reqwest::get(format!("{base}/manifest(format=m3u8-cmaf)")).await.unwrap().text().await.unwrap();
    assert!(master.contains("CODECS=\"hvc1.1.6.L"), "{master}");
    let mpd = reqwest::get(format!("{base}/manifest(format=mpd-time-csf)")).await.unwrap().text().await.unwrap();
    assert!(mpd.contains("codecs=\"hvc1.1.6.L"), "{mpd}");
    let want = packet_md5s(file.to_str().unwrap(), "0:v");
    assert!(want[0].packets.len() >= 150, "{}", want[0].packets.len());
    for format in ["m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf"] {
        let got = packet_md5s(&format!("{base}/manifest(format={format})"), "0:v");
        assert!(same_packets(&got, &want), "{format}: the source's packets: {}", differences(&got, &want));
    }
}
