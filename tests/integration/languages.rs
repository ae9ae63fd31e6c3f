//! Several audio languages, as a Media Services library holds them (`systemLanguage` and
//! `trackName` in the `.ism`): ffmpeg, at its defaults, finds each language in the HLS
//! master and the DASH MPD, tagged with its language, with the very packets of its source;
//! DASH keeps each language in its own AdaptationSet (a player switches bitrate, never
//! language, with the bandwidth).

use std::path::Path;

use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::serve::{encode_test_pattern, ffmpeg, packet_md5s, publish_folder_in, serve, x264_two_second_gops};

/// What ffprobe says of `url`'s audio streams: (language tag, codec) per stream.
pub(crate) fn audio_languages(url: &str) -> Vec<String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_entries", "stream_tags=language", "-of", "csv=p=0", url])
        .output()
        .expect("ffprobe is needed: apt-get install ffmpeg");
    assert!(out.status.success(), "ffprobe {url}: {}", String::from_utf8_lossy(&out.stderr));
    let mut tags: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_owned()).collect();
    tags.sort();
    tags.dedup();
    tags
}

/// An AAC tone of `seconds` (`frequency` Hz: languages told apart by their tones) at `path`, with `extra` output options.
pub(crate) fn write_tone(path: &std::path::Path, frequency: &str, seconds: u32, extra: &[&str]) {
    let (sine, seconds) = (format!("sine=frequency={frequency}"), seconds.to_string());
    let mut args = vec!["-v", "error", "-f", "lavfi", "-i", &sine, "-t", &seconds, "-c:a", "aac"];
    args.extend(extra);
    args.extend(["-movflags", "+faststart", "-y", path.to_str().unwrap()]);
    let out = ffmpeg(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Each audio stream of `url` (ffprobe's `index,language` lines) has the packets `want` gives its
/// language: a stream per language, none missing.
pub(crate) fn assert_each_language_has_its_packets(url: &str, want: &[(&str, &Vec<String>)]) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_entries", "stream=index:stream_tags=language"])
        .args(["-of", "csv=p=0", url])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    // Stream lines are `index,language`; HLS also lists its programs' stream indexes alone.
    let streams: Vec<(&str, &str)> = listed.lines().filter_map(|l| l.trim().split_once(',')).collect();
    let mut languages: Vec<&str> = streams.iter().map(|(_, l)| *l).collect();
    languages.sort();
    let mut wanted: Vec<&str> = want.iter().map(|(l, _)| *l).collect();
    wanted.sort();
    assert_eq!(languages, wanted, "{url}: {listed}");
    for (index, language) in streams {
        let mut got: Vec<String> =
            packet_md5s(url, &format!("0:{index}")).remove(0).packets.into_iter().map(|p| p.2).collect();
        let want = want.iter().find(|(l, _)| *l == language).unwrap().1;
        // ffmpeg 5.1's DASH reader leaves out a presentation's very last AAC packet (see serve.rs).
        if url.contains("format=mpd") && got.len() + 1 == want.len() {
            got.push(want.last().unwrap().clone());
        }
        assert_eq!(&got, want, "{url}: stream {index} ({language}) has its language's packets");
    }
}

/// A film of `seconds` in `folder`: a 320x180 H.264 rendition (key frames every 2 s) and two
/// AAC languages told apart by their tones, English 440 Hz and Spanish 660 Hz (`Film_AAC_en.mp4`,
/// `Film_AAC_es.mp4`); its `.ism` tracks, with `systemLanguage` and `trackName`, for the caller to
/// add to and write.
pub(crate) fn film_with_two_languages(folder: &Path, seconds: u32) -> Vec<IsmTrack> {
    std::fs::create_dir_all(folder).unwrap();
    let video = folder.join("Film_320x180_600.mp4");
    encode_test_pattern(&video, "320x180", seconds, &x264_two_second_gops("ultrafast"));
    // Two languages, told apart by their tones.
    for (name, tone) in [("Film_AAC_en.mp4", "440"), ("Film_AAC_es.mp4", "660")] {
        write_tone(&folder.join(name), tone, seconds, &[]);
    }
    let audio = |src: &str, bitrate, name: &str, language: &str| IsmTrack {
        track_name: Some(name.into()),
        language: Some(language.into()),
        ..IsmTrack::new(TrackKind::Audio, src, bitrate)
    };
    vec![
        IsmTrack::new(TrackKind::Video, "Film_320x180_600.mp4", 600_000),
        audio("Film_AAC_en.mp4", 128_000, "aac_en", "en"),
        audio("Film_AAC_es.mp4", 128_001, "aac_es", "es"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audio_language_plays_as_its_own_tagged_stream_in_hls_and_dash() {
    let sb = Sandbox::start().await;
    let folder = sb.dir.path().join("langs");
    let ism = ServerManifest {
        title: Some("Film".into()),
        client_manifest: None,
        tracks: film_with_two_languages(&folder, 6),
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let locator = publish_folder_in(sb.dir.path(), &env, "Film", &folder).await.locator;
    let s = serve(sb.dir.path(), &[("MIRRORCAST_DC_A", &sb.connection_string())], &[]).await;
    let base = format!("http://{}/{locator}/Film.ism", s.addr);

    let mut want: Vec<Vec<String>> = ["Film_AAC_en.mp4", "Film_AAC_es.mp4"]
        .iter()
        .map(|f| {
            packet_md5s(folder.join(f).to_str().unwrap(), "0:a").remove(0).packets.into_iter().map(|p| p.2).collect()
        })
        .collect();
    want.sort();
    assert_ne!(want[0], want[1]);
    // The HLS master without its audio-only variant: that variant's stream carries no language tag.
    for format in ["m3u8-cmaf,audio-only=false", "mpd-time-csf"] {
        let url = format!("{base}/manifest(format={format})");
        assert_eq!(audio_languages(&url), ["en", "es"], "{format}: each audio stream tagged with its language");
        let mut got: Vec<Vec<String>> = packet_md5s(&url, "0:a")
            .into_iter()
            .map(|s| s.packets.into_iter().map(|p| p.2).collect::<Vec<String>>())
            .collect();
        got.sort();
        got.dedup();
        // ffmpeg 5.1's DASH reader leaves out a presentation's very last AAC packet (see serve.rs).
        if format.starts_with("mpd") {
            for (g, w) in got.iter_mut().zip(&want) {
                if g.len() + 1 == w.len() && w.starts_with(g) {
                    g.push(w.last().unwrap().clone());
                }
            }
        }
        assert_eq!(got, want, "{format}: each language's own packets");
    }
    let mpd = reqwest::get(format!("{base}/manifest(format=mpd-time-csf)")).await.unwrap().text().await.unwrap();
    assert_eq!(mpd.matches("contentType=\"audio\"").count(), 2, "one AdaptationSet per language: {mpd}");
    let smooth = reqwest::get(format!("{base}/manifest")).await.unwrap().text().await.unwrap();
    assert!(smooth.contains("Name=\"aac_en\"") && smooth.contains("Language=\"en\""), "{smooth}");
    assert!(smooth.contains("Name=\"aac_es\"") && smooth.contains("Language=\"es\""), "{smooth}");
    let master = reqwest::get(format!("{base}/manifest(format=m3u8-aapl)")).await.unwrap().text().await.unwrap();
    assert!(
        master.contains("LANGUAGE=\"en\",DEFAULT=YES") && master.contains("LANGUAGE=\"es\",DEFAULT=NO"),
        "{master}"
    );
}
