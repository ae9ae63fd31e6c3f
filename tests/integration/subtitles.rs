//! Text tracks (#24 item 2): a WebVTT sidecar and a TTML one listed in the `.ism` as
//! `textstream`s, published in A, replicated to B, served by both origins. ffmpeg, at its
//! defaults, reads the WebVTT cues (and the TTML's, converted) back from HLS (the subtitle playlist the master names: ffmpeg
//! 5.1's HLS demuxer opens no subtitle rendition of a master) and from DASH, equal to the
//! source's; the segments' `X-TIMESTAMP-MAP` is the video's clock; a malformed sidecar is left out
//! with its reason logged, the rest still served.

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};

use crate::helpers::Sandbox;
use crate::player::{play_in_chromium, require_chromium_and_players, serve_page};
use crate::replicate::Failover;
use crate::serve::{
    encode_test_pattern, ffmpeg, get, publish_folder_in, serve_dc, write_clip, x264_two_second_gops, Published,
};

/// The source cues: (start ms, end ms, text). One crosses the 2 s fragment boundary, one
/// has two lines and markup, one has an identifier and settings.
pub(crate) const CUES: &[(u64, u64, &str)] = &[
    (500, 1500, "Hello"),
    (1800, 2600, "Across the first boundary"),
    (3000, 3900, "Second <i>line</i>\nand a third"),
    (5200, 5800, "Last"),
];

fn clock(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub(crate) fn source_vtt() -> String {
    let mut s = String::from("WEBVTT\n\nNOTE made by the test\n\n");
    for (i, (start, end, text)) in CUES.iter().enumerate() {
        let settings = if i == 2 { " align:start line:0" } else { "" };
        s.push_str(&format!("cue{i}\n{} --> {}{settings}\n{text}\n\n", clock(*start), clock(*end)));
    }
    s
}

const TTML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="fr"><body><div><p begin="00:00:00.500" end="00:00:01.500">Bonjour</p></div></body></tt>
"#;

/// `ffmpeg -i <url> -map 0:s:<n> -f webvtt -` read back into (start ms, end ms, text).
pub(crate) fn cues_read_by_ffmpeg(url: &str, map: &str) -> Vec<(u64, u64, String)> {
    let out = ffmpeg(&["-v", "error", "-i", url, "-map", map, "-f", "webvtt", "-"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ffmpeg {url}: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    let ms = |t: &str| -> u64 {
        let (clock, millis) = t.trim().split_once('.').unwrap();
        let parts: Vec<u64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
        let seconds = parts.iter().fold(0, |acc, p| acc * 60 + p);
        seconds * 1000 + millis.parse::<u64>().unwrap()
    };
    let mut cues = Vec::new();
    for block in stdout.split("\n\n").skip(1).map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty()) {
        let mut lines = block.lines();
        let timing = lines.next().unwrap();
        let (start, rest) = timing.split_once("-->").unwrap_or_else(|| panic!("a cue block: {block:?}"));
        let end = rest.split_whitespace().next().unwrap();
        cues.push((ms(start), ms(end), lines.collect::<Vec<_>>().join("\n")));
    }
    cues
}

pub(crate) fn want() -> Vec<(u64, u64, String)> {
    CUES.iter().map(|(s, e, t)| (*s, *e, t.to_string())).collect()
}

/// A 6 s video (B-frames: its edit list starts presentation after 0) with an English WebVTT
/// sidecar, a French TTML one and a malformed WebVTT one, published in A.
async fn publish_with_subtitles(f: &Failover, env: &[(&str, &str)]) -> Published {
    let folder = f.dir.path().join("subs");
    std::fs::create_dir_all(&folder).unwrap();
    encode_test_pattern(&folder.join("Film_320x180_600.mp4"), "320x180", 6, &x264_two_second_gops("veryfast"));
    std::fs::write(folder.join("Film_en.vtt"), source_vtt()).unwrap();
    std::fs::write(folder.join("Film_fr.ttml"), TTML).unwrap();
    std::fs::write(folder.join("Film_bad.vtt"), "WEBVTT\n\n00:00:01.000 --> 00:00:6x.000\nBroken\n").unwrap();
    let text = |src: &str, name: &str, language: &str| IsmTrack {
        track_name: Some(name.into()),
        language: Some(language.into()),
        ..IsmTrack::new(TrackKind::Text, src, 1000)
    };
    let ism = ServerManifest {
        title: Some("Film".into()),
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Film_320x180_600.mp4", 600_000),
            text("Film_en.vtt", "English", "en"),
            text("Film_fr.ttml", "French", "fr"),
            text("Film_bad.vtt", "Broken", "de"),
        ],
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    publish_folder_in(f.dir.path(), env, "Film", &folder).await
}

/// The subtitle playlist URL the master names (relative to the master).
fn subtitle_playlist(master: &str) -> String {
    let line = master.lines().find(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES")).expect("a SUBTITLES rendition");
    line.split("URI=\"").nth(1).unwrap().trim_end_matches('"').to_owned()
}

/// The first PTS (90 kHz) of the video in `url` (a TS segment), as ffprobe reads it.
fn first_video_pts(url: &str) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts", "-of", "csv=p=0", url])
        .output()
        .expect("ffprobe is needed: apt-get install ffmpeg");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).min().expect("video packets")
}

async fn check_origin(addr: &str, locator: &str, dc: &str) {
    let base = format!("/{locator}/Film.ism");
    for format in ["m3u8-aapl", "m3u8-aapl-v3", "m3u8-cmaf"] {
        let (status, response) = get(addr, &format!("{base}/manifest(format={format})")).await;
        assert_eq!(status, 200, "{dc} {format}: {response}");
        let master = response.split("\r\n\r\n").nth(1).unwrap();
        assert!(
            master.contains(
                "TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=NO,AUTOSELECT=YES"
            ),
            "{dc} {format}: {master}"
        );
        assert!(!master.contains("Broken"), "the malformed one: not in HLS: {master}");
        // The TTML sidecar too, its paragraphs as WebVTT cues.
        let french = master.lines().find(|l| l.contains("NAME=\"French\",LANGUAGE=\"fr\"")).expect("French in HLS");
        let french = format!("http://{addr}{base}/{}", french.split("URI=\"").nth(1).unwrap().trim_end_matches('"'));
        assert_eq!(cues_read_by_ffmpeg(&french, "0:s"), [(500, 1500, "Bonjour".to_owned())], "{dc} {format}");
        assert!(!master.contains("CLOSED-CAPTIONS"), "no captions in this video: none announced: {master}");
        let variants = master.lines().filter(|l| l.starts_with("#EXT-X-STREAM-INF:")).count();
        assert!(variants > 0 && master.matches(",SUBTITLES=\"subs\"").count() == variants, "{dc} {format}: {master}");
        let playlist = format!("http://{addr}{base}/{}", subtitle_playlist(master));
        assert_eq!(cues_read_by_ffmpeg(&playlist, "0:s"), want(), "{dc} {format}: the cues through HLS");
        // The segments carry the video's clock: TS presentation starts at the first video PTS.
        let (_, body) = get(addr, &playlist.replace(&format!("http://{addr}"), "")).await;
        let first_segment = body.lines().find(|l| l.starts_with("Fragments(")).expect("a segment").to_owned();
        let (_, segment) = get(addr, &format!("{base}/QualityLevels(1000)/{first_segment}")).await;
        let map = segment.lines().find(|l| l.starts_with("X-TIMESTAMP-MAP=")).expect("X-TIMESTAMP-MAP");
        let mpegts: u64 = map["X-TIMESTAMP-MAP=MPEGTS:".len()..].split(',').next().unwrap().parse().unwrap();
        if format != "m3u8-cmaf" {
            let video = format!("http://{addr}{base}/QualityLevels(600000)/Fragments(video=0,format={format}).ts");
            assert_eq!(mpegts, first_video_pts(&video), "{dc} {format}: {map}");
        } else {
            // fMP4: decode times from 0, the edit list starts presentation at 0 (hls.js checks it below).
            assert_eq!(mpegts, 0, "{dc} {format}: {map}");
        }
    }
    for format in ["mpd-time-csf", "mpd-time-cmaf"] {
        let url = format!("http://{addr}{base}/manifest(format={format})");
        let (status, response) = get(addr, &format!("{base}/manifest(format={format})")).await;
        assert_eq!(status, 200, "{dc} {format}: {response}");
        assert!(response.contains("contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\""), "{response}");
        assert!(response.contains("mimeType=\"application/ttml+xml\" lang=\"fr\""), "{response}");
        assert!(response.contains("value=\"subtitle\"") && !response.contains("Broken"), "{response}");
        assert_eq!(cues_read_by_ffmpeg(&url, "0:s:m:language:en"), want(), "{dc} {format}: the cues through DASH");
        let ttml = response.split("<BaseURL>").nth(2).unwrap().split("</BaseURL>").next().unwrap();
        let (status, body) = get(addr, &format!("{base}/{ttml}")).await;
        assert!(status == 200 && body.contains("application/ttml+xml") && body.ends_with(TTML), "{dc}: {body}");
    }
}

/// The WebVTT sidecar through both origins' HLS (each format) and DASH, equal to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webvtt_sidecars_read_back_from_hls_and_dash_of_both_origins_with_the_source_cues() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let published = publish_with_subtitles(&f, &env).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &published.asset]).await.ok();
    for dc in ["a", "b"] {
        let served = serve_dc(f.dir.path(), &env, dc, &[]).await;
        check_origin(&served.addr, &published.locator, dc).await;
        let log = served.stderr.lock().unwrap().clone();
        assert!(log.contains("Film_bad.vtt") && log.contains("malformed"), "the reason it was left out: {log}");
    }
}

/// From B after the failover, in headless Chromium: hls.js lists the English subtitles (and
/// loads their cues on the video's timeline: each cue where the source has it, shifted as the
/// video is), dash.js lists both text tracks by language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_and_dash_js_list_the_text_tracks_in_headless_chromium() {
    require_chromium_and_players();
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let published = publish_with_subtitles(&f, &env).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &published.asset]).await.ok();
    let served = serve_dc(f.dir.path(), &env, "b", &[]).await;
    let page = serve_page().await;
    let manifest = format!("http://{}/{}/Film.ism/manifest", served.addr, published.locator);
    for (kind, format) in [("hls", "m3u8-aapl"), ("hls", "m3u8-cmaf"), ("dash", "mpd-time-csf")] {
        let report = play_in_chromium(&page, kind, &format!("{manifest}(format={format})"), 5).await;
        assert_eq!(report["state"], "playing", "{kind} {format}: {report}");
        let tracks = &report["text"]["tracks"];
        let langs: Vec<&str> = tracks.as_array().unwrap().iter().filter_map(|t| t["lang"].as_str()).collect();
        if kind == "hls" {
            assert_eq!(langs, ["en", "fr"], "{format}: {report}");
            assert_eq!(tracks[0]["name"], "English", "{format}: {report}");
            // hls.js placed each cue by the segments' X-TIMESTAMP-MAP against the video's first
            // PTS (TS) or its init (fMP4); the video starts at 0, so the cues are the source's.
            assert!(report["start"].as_f64().unwrap().abs() < 0.001, "{format}: the video starts at 0: {report}");
            let cues = report["text"]["cues"]["English"].as_array().expect("hls.js loaded the cues");
            let got: Vec<(u64, u64, String)> = cues
                .iter()
                .map(|c| {
                    let ms = |v: &serde_json::Value| (v.as_f64().unwrap() * 1000.0).round() as u64;
                    (ms(&c[0]), ms(&c[1]), c[2].as_str().unwrap().to_owned())
                })
                .collect();
            assert_eq!(got, want(), "{format}: the cues on the video's timeline: {report}");
        } else {
            assert!(langs.contains(&"en") && langs.contains(&"fr"), "{format}: {report}");
        }
    }
}

/// Hostile sidecars, each listed in the `.ism`: oversized, too many cues, not UTF-8, a
/// timestamp past 59 minutes, an `.ismt`, one not uploaded. Each is left out of every manifest
/// with its reason in the origin's log; the good one and the video still play; asking for a
/// left-out stream is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sidecars_are_left_out_with_their_reason_and_the_rest_is_served() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let folder = sb.dir.path().join("hostile");
    std::fs::create_dir_all(&folder).unwrap();
    encode_test_pattern(
        &folder.join("Film_320x180_600.mp4"),
        "320x180",
        4,
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-movflags", "+faststart"],
    );
    std::fs::write(folder.join("good.vtt"), source_vtt()).unwrap();
    let mut huge = b"WEBVTT\n\n".to_vec();
    huge.resize(9 * 1024 * 1024, b'x');
    std::fs::write(folder.join("huge.vtt"), huge).unwrap();
    std::fs::write(folder.join("many.vtt"), format!("WEBVTT\n\n{}", "00:00.000 --> 00:00.001\nx\n\n".repeat(100_001)))
        .unwrap();
    std::fs::write(folder.join("latin1.vtt"), b"WEBVTT\n\n00:00.000 --> 00:01.000\nd\xe9j\xe0\n").unwrap();
    std::fs::write(folder.join("minutes.vtt"), "WEBVTT\n\n00:60:00.000 --> 00:61:00.000\nx\n").unwrap();
    std::fs::write(folder.join("frag.ismt"), b"\0\0\0\x08free").unwrap();
    let text = |src: &str, name: &str| IsmTrack {
        track_name: Some(name.into()),
        language: Some("en".into()),
        ..IsmTrack::new(TrackKind::Text, src, 1000)
    };
    let ism = ServerManifest {
        title: None,
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Film_320x180_600.mp4", 600_000),
            text("huge.vtt", "huge"),
            text("many.vtt", "many"),
            text("latin1.vtt", "latin1"),
            text("minutes.vtt", "minutes"),
            text("frag.ismt", "frag"),
            text("absent.vtt", "absent"),
            text("good.vtt", "good"),
        ],
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let published = publish_folder_in(sb.dir.path(), &env, "Hostile", &folder).await;
    let served = serve_dc(sb.dir.path(), &env, "a", &[]).await;
    let base = format!("/{}/Film.ism", published.locator);
    let (status, master) = get(&served.addr, &format!("{base}/manifest(format=m3u8-cmaf)")).await;
    assert_eq!(status, 200, "{master}");
    assert_eq!(master.matches("TYPE=SUBTITLES").count(), 1, "the good one only: {master}");
    assert!(master.contains("NAME=\"good\""), "{master}");
    let (status, mpd) = get(&served.addr, &format!("{base}/manifest(format=mpd-time-csf)")).await;
    assert_eq!((status, mpd.matches("contentType=\"text\"").count()), (200, 1), "{mpd}");
    let playlist = format!("http://{}{base}/QualityLevels(1000)/Manifest(good,format=m3u8-cmaf)", served.addr);
    assert_eq!(cues_read_by_ffmpeg(&playlist, "0:s"), want());
    for stream in ["huge", "many", "frag", "absent"] {
        let (status, body) =
            get(&served.addr, &format!("{base}/QualityLevels(1000)/Manifest({stream},format=m3u8-cmaf)")).await;
        assert_eq!(status, 404, "{stream}: {body}");
    }
    let log = served.stderr.lock().unwrap().clone();
    for (file, why) in [
        ("huge.vtt", "more than"),
        ("many.vtt", "more than 100000 cues"),
        ("latin1.vtt", "not UTF-8"),
        ("minutes.vtt", "malformed"),
        ("frag.ismt", "that can be indexed"),
        ("absent.vtt", "not a file of the asset"),
    ] {
        let line = log.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("{file} is not named: {log}"));
        assert!(line.contains(why), "{file}: {line}");
    }
}

/// The segment times a media playlist lists (`Fragments(<stream>=<time>,…)`) and its EXTINFs summed.
fn segment_times_and_length(playlist: &str) -> (Vec<u64>, f64) {
    let times = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("Fragments(")?.split_once('=')?.1.split(',').next()?.parse().ok())
        .collect();
    let length = playlist.lines().filter_map(|l| l.strip_prefix("#EXTINF:")?.trim_end_matches(',').parse::<f64>().ok());
    (times, length.sum())
}

/// A 2–4 s time-range filter trims the subtitle playlist to the video's kept fragments: the
/// same segment times and length as the filtered video playlist, and the cues ffmpeg reads
/// from it are only those over 2–4 s; without the filter, all the cues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_range_filter_trims_the_subtitle_playlist_to_the_videos_kept_fragments() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let folder = sb.dir.path().join("trimmed");
    std::fs::create_dir_all(&folder).unwrap();
    encode_test_pattern(&folder.join("Film_320x180_600.mp4"), "320x180", 6, &x264_two_second_gops("veryfast"));
    std::fs::write(folder.join("Film_en.vtt"), source_vtt()).unwrap();
    let ism = ServerManifest {
        title: None,
        client_manifest: None,
        tracks: vec![
            IsmTrack::new(TrackKind::Video, "Film_320x180_600.mp4", 600_000),
            IsmTrack {
                track_name: Some("English".into()),
                language: Some("en".into()),
                ..IsmTrack::new(TrackKind::Text, "Film_en.vtt", 1000)
            },
        ],
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let published = publish_folder_in(sb.dir.path(), &env, "Trimmed", &folder).await;
    // 2 s to 4 s in 100 ns ticks: one whole fragment (key frames every 2 s).
    let create = ["filter", "create", "--dc", "a", "--asset", &published.asset, "mid", "--start", "20000000"];
    crate::helpers::run_in(sb.dir.path(), &env, &[&create[..], &["--end", "40000000"]].concat()).await.ok();
    let late = ["filter", "create", "--dc", "a", "--asset", &published.asset, "late", "--start", "600000000"];
    crate::helpers::run_in(sb.dir.path(), &env, &late).await.ok();
    let served = serve_dc(sb.dir.path(), &env, "a", &[]).await;
    let base = format!("/{}/Film.ism", published.locator);
    // A range past the end holds no fragment: the subtitle playlist is refused as the video's is.
    let (status, body) =
        get(&served.addr, &format!("{base}/QualityLevels(1000)/Manifest(English,format=m3u8-cmaf,filter=late)")).await;
    assert!((400..500).contains(&status) && body.contains("no fragment"), "{body}");
    for format in ["m3u8-cmaf", "m3u8-aapl"] {
        let body = |response: String| response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        let subtitles = format!("{base}/QualityLevels(1000)/Manifest(English,format={format},filter=mid)");
        let video = format!("{base}/QualityLevels(600000)/Manifest(video,format={format},filter=mid)");
        let ((s1, subtitles_playlist), (s2, video_playlist)) =
            (get(&served.addr, &subtitles).await, get(&served.addr, &video).await);
        assert_eq!((s1, s2), (200, 200), "{subtitles_playlist}{video_playlist}");
        let (text_times, text_length) = segment_times_and_length(&body(subtitles_playlist.clone()));
        let (video_times, video_length) = segment_times_and_length(&body(video_playlist.clone()));
        assert_eq!(video_times.len(), 1, "the 2-4 s filter keeps one fragment: {video_playlist}");
        assert_eq!(
            text_times, video_times,
            "{format}: the subtitle segments are the video's kept fragments: {subtitles_playlist}"
        );
        assert!(
            (text_length - video_length).abs() < 0.001,
            "{format}: {text_length} s of subtitles, {video_length} s of video"
        );
        let cues = cues_read_by_ffmpeg(&format!("http://{}{subtitles}", served.addr), "0:s");
        let texts: Vec<&str> = cues.iter().map(|(_, _, t)| t.as_str()).collect();
        assert_eq!(texts, ["Across the first boundary", "Second <i>line</i>\nand a third"], "{format}: {cues:?}");
        let (kept_start, kept_end) = (2000, 4000);
        assert!(cues.iter().all(|(s, e, _)| *s < kept_end && *e > kept_start), "{format}: within 2-4 s: {cues:?}");
        let unfiltered = format!("http://{}{base}/QualityLevels(1000)/Manifest(English,format={format})", served.addr);
        assert_eq!(cues_read_by_ffmpeg(&unfiltered, "0:s"), want(), "{format}: without the filter, every cue");
    }
    // DASH: the sidecar's Representation starts the period where the video's kept fragment does,
    // and ffmpeg still opens the trimmed MPD with its text set.
    let mpd = format!("{base}/manifest(format=mpd-time-csf,filter=mid)");
    let (status, response) = get(&served.addr, &mpd).await;
    assert_eq!(status, 200, "{response}");
    // The video has B-frames: the duration is the kept fragment's 2 s, not the whole 6 s.
    assert!(response.contains("mediaPresentationDuration=\"PT2.0"), "{response}");
    let text_set = response.split("contentType=\"text\"").nth(1).expect("a text set");
    assert!(text_set.contains("<SegmentBase timescale=\"1000\" presentationTimeOffset=\"2000\" />"), "{response}");
    let out = ffmpeg(&["-v", "error", "-i", &format!("http://{}{mpd}", served.addr), "-map", "0:v", "-f", "null", "-"]);
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

/// H.264 (Annex B) with an A/53 SEI of two CEA-608 byte pairs (field 1) before every slice.
fn with_608_sei(annex_b: &[u8]) -> Vec<u8> {
    let cc = [0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03, 0x42, 0xff, 0xfc, 0x94, 0x20, 0xfc, 0x94, 0x2c, 0xff];
    let mut sei = vec![0, 0, 0, 1, 0x06, 0x04, cc.len() as u8];
    sei.extend(cc);
    sei.push(0x80);
    let starts: Vec<usize> =
        annex_b.windows(3).enumerate().filter(|(_, w)| *w == [0, 0, 1]).map(|(i, _)| i + 3).collect();
    let mut out = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(annex_b.len(), |next| next - 3);
        let nal = &annex_b[start..end];
        let nal = &nal[..nal.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)];
        if matches!(nal.first().map(|h| h & 0x1f), Some(1 | 5)) {
            out.extend_from_slice(&sei);
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// A video whose SEI carries CEA-608: the HLS masters name a CLOSED-CAPTIONS group (INSTREAM-ID
/// CC1) on every variant, the MPD an Accessibility descriptor, and ffmpeg finds the captions in
/// the packaged video; the sidecar asset, without captions, names none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_in_the_video_sei_are_announced_in_hls_and_dash() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let folder = sb.dir.path().join("cc");
    std::fs::create_dir_all(&folder).unwrap();
    let raw = sb.dir.path().join("raw.h264");
    let mut args = x264_two_second_gops("ultrafast");
    args.truncate(args.len() - 2);
    args.extend(["-bsf:v", "h264_mp4toannexb", "-f", "h264"]);
    encode_test_pattern(&raw, "320x180", 4, &args);
    let captioned = sb.dir.path().join("cc.h264");
    std::fs::write(&captioned, with_608_sei(&std::fs::read(&raw).unwrap())).unwrap();
    let mp4 = folder.join("Cc_320x180_600.mp4");
    let out = ffmpeg(&[
        "-v",
        "error",
        "-r",
        "25",
        "-i",
        captioned.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-y",
        mp4.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ism = ServerManifest {
        title: None,
        client_manifest: None,
        tracks: vec![IsmTrack::new(TrackKind::Video, "Cc_320x180_600.mp4", 600_000)],
    };
    std::fs::write(folder.join("Cc.ism"), ism.to_xml()).unwrap();
    let published = publish_folder_in(sb.dir.path(), &env, "Cc", &folder).await;
    let served = serve_dc(sb.dir.path(), &env, "a", &[]).await;
    let base = format!("/{}/Cc.ism", published.locator);
    let says_captions = |url: &str| {
        let out = ffmpeg(&["-i", url]);
        String::from_utf8_lossy(&out.stderr).lines().any(|l| l.contains("Video:") && l.contains("Closed Captions"))
    };
    assert!(says_captions(mp4.to_str().unwrap()), "the source carries them");
    for format in ["m3u8-aapl", "m3u8-cmaf"] {
        let (status, master) = get(&served.addr, &format!("{base}/manifest(format={format})")).await;
        assert_eq!(status, 200, "{master}");
        assert!(
            master.contains(
                "TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC1\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\""
            ),
            "{master}"
        );
        assert!(master.contains(",CLOSED-CAPTIONS=\"cc\"\n"), "{master}");
        let variant = format!("http://{}{base}/QualityLevels(600000)/Manifest(video,format={format})", served.addr);
        assert!(says_captions(&variant), "{format}: the captions reach the player");
    }
    let (_, mpd) = get(&served.addr, &format!("{base}/manifest(format=mpd-time-csf)")).await;
    assert!(mpd.contains("<Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1\" />"), "{mpd}");
}

/// A text segment's name (`.vtt`, `.ttml`) on a URL naming the video, the audio or no stream
/// at all is a 404 in every format: never the video's or the audio's samples under a text
/// name, never a 500; so is a WebVTT track's segment named `.ttml`. The text track's own
/// segment and the video's under their own names are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_segment_url_naming_an_audio_or_video_track_or_none_is_a_404() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let folder = write_clip(sb.dir.path());
    std::fs::write(folder.join("Clip_en.vtt"), source_vtt()).unwrap();
    let ism_path = folder.join("Clip.ism");
    let mut ism = ServerManifest::parse(&std::fs::read_to_string(&ism_path).unwrap()).unwrap();
    ism.tracks.push(IsmTrack {
        track_name: Some("English".into()),
        language: Some("en".into()),
        ..IsmTrack::new(TrackKind::Text, "Clip_en.vtt", 1000)
    });
    std::fs::write(&ism_path, ism.to_xml()).unwrap();
    let published = publish_folder_in(sb.dir.path(), &env, "Clip", &folder).await;
    let served = serve_dc(sb.dir.path(), &env, "a", &[]).await;
    let base = format!("/{}/Clip.ism", published.locator);

    let (status, body) =
        get(&served.addr, &format!("{base}/QualityLevels(1000)/Fragments(English=0,format=m3u8-cmaf).vtt")).await;
    assert!(status == 200 && body.contains("WEBVTT"), "the text track's own segment: {body}");
    let (status, body) =
        get(&served.addr, &format!("{base}/QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf).m4s")).await;
    assert_eq!(status, 200, "the video's own segment: {body}");
    for format in ["m3u8-cmaf", "m3u8-aapl", "mpd-time-csf", "mpd-time-cmaf"] {
        for ext in [".vtt", ".ttml"] {
            for (level, stream) in [(600_000, "video"), (128_000, "audio"), (1000, "Nothing"), (600_000, "English")] {
                let path = format!("{base}/QualityLevels({level})/Fragments({stream}=0,format={format}){ext}");
                let (status, body) = get(&served.addr, &path).await;
                let head = body.split("\r\n\r\n").next().unwrap_or_default();
                assert_eq!(status, 404, "{path}: {head}");
            }
        }
        // The WebVTT sidecar's segment under its own name only.
        let own = format!("{base}/QualityLevels(1000)/Fragments(English=0,format={format})");
        let (status, body) = get(&served.addr, &format!("{own}.vtt")).await;
        assert!(status == 200 && body.contains("text/vtt") && body.contains("WEBVTT"), "{own}.vtt: {body}");
        let (status, body) = get(&served.addr, &format!("{own}.ttml")).await;
        assert_eq!(status, 404, "{own}.ttml: {body}");
    }
}
