//! Audio languages and roles the MP4s state when the `.ism` says nothing (no `systemLanguage`,
//! no `trackName`): ffmpeg writes each track's language into its `mdhd` and a disposition into a
//! `kind` box; the origin serves them as HLS LANGUAGE and DASH `lang` (which ffprobe reads back,
//! each language with its own packets) with a DASH Role, one AdaptationSet per language.

use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::languages::{assert_each_language_has_its_packets, audio_languages, write_tone};
use crate::serve::{encode_test_pattern, packet_md5s, publish_folder_in, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ism_without_languages_serves_the_languages_its_mp4s_state() {
    let sb = Sandbox::start().await;
    let folder = sb.dir.path().join("mp4langs");
    std::fs::create_dir_all(&folder).unwrap();
    let video = folder.join("Film_320x180_600.mp4");
    let gop = ["-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-movflags", "+faststart"];
    encode_test_pattern(&video, "320x180", 6, &[&["-c:v", "libx264", "-preset", "ultrafast"][..], &gop].concat());
    // Two languages told apart by their tones; the Spanish one a commentary (a `kind` box).
    for (name, tone, language, disposition) in
        [("Film_AAC_1.mp4", "440", "eng", "default"), ("Film_AAC_2.mp4", "660", "spa", "comment")]
    {
        let language = format!("language={language}");
        write_tone(&folder.join(name), tone, 6, &["-metadata:s:a:0", &language, "-disposition:a:0", disposition]);
    }
    let ism = ServerManifest {
        title: Some("Film".into()),
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Film_320x180_600.mp4", 600_000),
            IsmTrack::new(TrackKind::Audio, "Film_AAC_1.mp4", 128_000),
            IsmTrack::new(TrackKind::Audio, "Film_AAC_2.mp4", 128_001),
        ],
    };
    assert!(ism.tracks.iter().all(|t| t.language.is_none() && t.track_name.is_none()));
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let locator = publish_folder_in(sb.dir.path(), &env, "Film", &folder).await.locator;
    let s = serve(sb.dir.path(), &env, &[]).await;
    let base = format!("http://{}/{locator}/Film.ism", s.addr);

    let source = |f: &str| -> Vec<String> {
        packet_md5s(folder.join(f).to_str().unwrap(), "0:a").remove(0).packets.into_iter().map(|p| p.2).collect()
    };
    let (eng, spa) = (source("Film_AAC_1.mp4"), source("Film_AAC_2.mp4"));
    assert_ne!(eng, spa);
    for format in ["m3u8-cmaf,audio-only=false", "mpd-time-csf"] {
        let url = format!("{base}/manifest(format={format})");
        assert_eq!(audio_languages(&url), ["eng", "spa"], "{format}: each audio stream tagged with its MP4's language");
        assert_each_language_has_its_packets(&url, &[("eng", &eng), ("spa", &spa)]);
    }
    let master = reqwest::get(format!("{base}/manifest(format=m3u8-cmaf)")).await.unwrap().text().await.unwrap();
    assert!(master.contains("NAME=\"eng\",LANGUAGE=\"eng\",DEFAULT=YES"), "{master}");
    assert!(master.contains("NAME=\"spa\",LANGUAGE=\"spa\",DEFAULT=NO"), "{master}");
    let mpd = reqwest::get(format!("{base}/manifest(format=mpd-time-csf)")).await.unwrap().text().await.unwrap();
    assert_eq!(mpd.matches("contentType=\"audio\"").count(), 2, "one AdaptationSet per language: {mpd}");
    assert!(mpd.contains("lang=\"spa\"") && mpd.contains("value=\"commentary\""), "the kind box's role: {mpd}");
    let smooth = reqwest::get(format!("{base}/manifest")).await.unwrap().text().await.unwrap();
    assert!(smooth.contains("Language=\"eng\"") && smooth.contains("Language=\"spa\""), "{smooth}");
}
