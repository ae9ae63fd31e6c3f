//! Fragmented text tracks and TTML in every format (#24 items 2-3): an asset with a video, an
//! `.ismt` (TTML `stpp` samples in `moof`s), a `.cmft` (WebVTT `wvtt` samples) and a TTML sidecar
//! made by ffmpeg's TTML encoder, published in A, replicated to B, served by both origins:
//! - HLS: each is a SUBTITLES rendition; ffmpeg at its defaults reads the cues back equal to the
//!   source's (TTML's converted to WebVTT: text, times and line breaks; its styling dropped);
//! - DASH: the fragmented tracks are `stpp`/`wvtt` AdaptationSets whose init and segments carry
//!   exactly the source file's samples, whose cues are the source's (ffmpeg 5.1 demuxes neither
//!   codec from MP4 as subtitles, so the cues are read with the house's reader), and ffmpeg at its
//!   defaults opens the MPD with them in it;
//! - Smooth: the TTML ones are `StreamIndex Type="text"` streams whose fragments carry the
//!   source's samples (the `.ismt`'s) or the sidecar as stored; WebVTT has no Smooth form.
//!
//! ffmpeg 5.1 cannot fragment TTML and writes no `wvtt`: the fragmented tracks are written with
//! the house's muxer (`text_samples::write_fragmented_track`).

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_media::bmff::children;
use mirrorcast_media::dash::{fill, Addressing, Mpd};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use mirrorcast_media::ismc::ClientManifest;
use mirrorcast_media::movie_fragment::MovieFragment;
use mirrorcast_media::smooth_fragment::SmoothFragment;
use mirrorcast_media::text_samples::{self, plain_text, write_fragmented_track, TextCodec, TextSample};
use mirrorcast_media::webvtt::{Cue, WebVtt};

use crate::helpers::Sandbox;
use crate::replicate::Failover;
use crate::serve::{encode_test_pattern, ffmpeg, get, publish_folder_in, serve_dc, x264_two_second_gops, Published};
use crate::subtitles::{cues_read_by_ffmpeg, source_vtt, want, CUES};

/// The source cues as the WebVTT sidecar has them (identifiers, one with settings).
fn source_cues() -> Vec<Cue> {
    WebVtt::parse(source_vtt().as_bytes()).unwrap().cues
}

/// What a TTML track's cues read back as: the source's text without its markup.
fn want_plain() -> Vec<(u64, u64, String)> {
    CUES.iter().map(|(s, e, t)| (*s, *e, plain_text(t))).collect()
}

/// Each sample's bytes of a run of `moof`+`mdat` (anything else, e.g. `ftyp`/`moov`, skipped),
/// and each sample's (start, end) from its `tfdt` or `tfxd` and durations.
fn fragment_samples(bytes: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let boxes: Vec<_> = children(bytes).map(|b| b.unwrap()).collect();
    let mut out = Vec::new();
    for pair in boxes.windows(2).filter(|w| &w[0].kind == b"moof" && &w[1].kind == b"mdat") {
        let f = MovieFragment::parse(&[pair[0].raw, pair[1].raw].concat()).unwrap();
        let mut at = f.decode_time.or(f.tfxd.map(|(t, _)| t)).expect("tfdt or tfxd");
        for s in f.samples {
            out.push((at, at + s.duration as u64, s.data));
            at += s.duration as u64;
        }
    }
    out
}

/// The cues of samples (times in ms, the tracks' timescale here), as HLS reads them.
fn cues_of(codec: TextCodec, samples: &[(u64, u64, Vec<u8>)]) -> Vec<(u64, u64, String)> {
    let samples = samples.iter().map(|(s, e, d)| TextSample { start_ms: *s, end_ms: *e, data: d });
    let vtt = text_samples::cues(codec, samples).unwrap();
    vtt.cues.into_iter().map(|c| (c.start_ms, c.end_ms, c.text.replace("&amp;", "&"))).collect()
}

/// A 6 s video, an English `.ismt` (stpp), a Spanish `.cmft` (wvtt) and a German TTML sidecar
/// (ffmpeg's TTML encoder's output of the WebVTT source), published in A.
async fn publish_with_text_tracks(dir: &std::path::Path, env: &[(&str, &str)]) -> (Published, std::path::PathBuf) {
    let folder = dir.join("texts");
    std::fs::create_dir_all(&folder).unwrap();
    encode_test_pattern(&folder.join("Film_320x180_600.mp4"), "320x180", 6, &x264_two_second_gops("veryfast"));
    let plain: Vec<Cue> = source_cues().into_iter().map(|c| Cue { text: plain_text(&c.text), ..c }).collect();
    std::fs::write(folder.join("Film_en.ismt"), write_fragmented_track(TextCodec::Ttml, &plain, 2000)).unwrap();
    std::fs::write(folder.join("Film_es.cmft"), write_fragmented_track(TextCodec::WebVtt, &source_cues(), 2000))
        .unwrap();
    let vtt = dir.join("source.vtt");
    std::fs::write(&vtt, source_vtt()).unwrap();
    let ttml = folder.join("Film_de.ttml");
    let out = ffmpeg(&["-v", "error", "-i", vtt.to_str().unwrap(), "-c:s", "ttml", "-y", ttml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
            text("Film_en.ismt", "English", "en"),
            text("Film_es.cmft", "Spanish", "es"),
            text("Film_de.ttml", "German", "de"),
        ],
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    (publish_folder_in(dir, env, "Film", &folder).await, folder)
}

async fn get_bytes(url: &str) -> Vec<u8> {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

async fn check_hls(addr: &str, base: &str, dc: &str) {
    for format in ["m3u8-cmaf", "m3u8-aapl"] {
        let (status, response) = get(addr, &format!("{base}/manifest(format={format})")).await;
        assert_eq!(status, 200, "{dc} {format}: {response}");
        for (name, language, want) in
            [("English", "en", want_plain()), ("Spanish", "es", want()), ("German", "de", want_plain())]
        {
            let line = response
                .lines()
                .find(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES") && l.contains(&format!("NAME=\"{name}\"")))
                .unwrap_or_else(|| panic!("{dc} {format}: {name} is not a SUBTITLES rendition: {response}"));
            assert!(line.contains(&format!("LANGUAGE=\"{language}\"")), "{line}");
            let uri = line.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
            let playlist = format!("http://{addr}{base}/{uri}");
            assert_eq!(cues_read_by_ffmpeg(&playlist, "0:s"), want, "{dc} {format} {name}: the cues through HLS");
        }
    }
}

async fn check_dash(addr: &str, base: &str, folder: &std::path::Path, dc: &str) {
    let url = format!("http://{addr}{base}/manifest(format=mpd-time-csf)");
    let text = String::from_utf8(get_bytes(&url).await).unwrap();
    assert!(text.contains("contentType=\"text\" mimeType=\"application/mp4\" codecs=\"stpp\" lang=\"en\""), "{text}");
    assert!(text.contains("contentType=\"text\" mimeType=\"application/mp4\" codecs=\"wvtt\" lang=\"es\""), "{text}");
    assert!(text.contains("mimeType=\"application/ttml+xml\" lang=\"de\""), "{text}");
    let mpd = Mpd::parse(&text).unwrap();
    let period = &mpd.periods[0];
    for (file, id, codec, want) in [
        ("Film_en.ismt", "English_1000", TextCodec::Ttml, want_plain()),
        ("Film_es.cmft", "Spanish_1000", TextCodec::WebVtt, want()),
    ] {
        let set = period.adaptation_sets.iter().find(|s| s.representations.iter().any(|r| r.id == id)).unwrap();
        let rep = set.representations.iter().find(|r| r.id == id).unwrap();
        let Addressing::Template(template) = rep.addressing(set, period) else { panic!("{id}: a template") };
        let mut served = get_bytes(&format!(
            "http://{addr}{base}/{}",
            fill(template.initialization().unwrap(), rep, None, None).unwrap()
        ))
        .await;
        for s in template.segments(None).unwrap() {
            let media = fill(template.media().unwrap(), rep, Some(s.number), Some(s.time)).unwrap();
            served.extend(get_bytes(&format!("http://{addr}{base}/{media}")).await);
        }
        let source = fragment_samples(&std::fs::read(folder.join(file)).unwrap());
        let got = fragment_samples(&served);
        assert_eq!(got, source, "{dc} {id}: the DASH segments carry the source's samples at its times");
        assert_eq!(cues_of(codec, &got), want, "{dc} {id}: the cues through DASH");
    }
    // ffmpeg at its defaults opens the MPD with the text sets in it (as data: 5.1 reads neither
    // stpp nor wvtt in MP4 as subtitles) and reads the video from it.
    let out = ffmpeg(&["-v", "error", "-i", &url, "-map", "0:v", "-c", "copy", "-f", "null", "-"]);
    assert!(out.status.success(), "{dc}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn check_smooth(addr: &str, base: &str, folder: &std::path::Path, dc: &str) {
    let text = String::from_utf8(get_bytes(&format!("http://{addr}{base}/manifest")).await).unwrap();
    let manifest = ClientManifest::parse(&text).unwrap();
    let texts: Vec<&str> = manifest.streams.iter().filter(|s| s.kind == "text").map(|s| s.name.as_str()).collect();
    assert_eq!(texts, ["English", "German"], "TTML streams only (WebVTT has no Smooth form): {text}");
    assert!(text.contains("Type=\"text\" Name=\"English\"") || text.contains("Name=\"English\""), "{text}");
    for stream in manifest.streams.iter().filter(|s| s.kind == "text") {
        assert_eq!(stream.subtype.as_deref(), Some("SUBT"), "{text}");
        assert_eq!(stream.quality_levels[0].fourcc, "TTML", "{text}");
        let mut samples = Vec::new();
        for (t, d) in stream.fragments() {
            let url = format!("http://{addr}{base}/QualityLevels(1000)/Fragments({}={t})", stream.name);
            let f = SmoothFragment::parse(&get_bytes(&url).await).unwrap();
            assert_eq!((f.time, f.duration), (t, d), "{dc} {}: the tfxd says the chunk's times", stream.name);
            samples.extend(f.samples.into_iter().map(|s| s.data));
        }
        let want: Vec<Vec<u8>> = match stream.name.as_str() {
            "English" => fragment_samples(&std::fs::read(folder.join("Film_en.ismt")).unwrap())
                .into_iter()
                .map(|(_, _, d)| d)
                .collect(),
            _ => vec![std::fs::read(folder.join("Film_de.ttml")).unwrap()],
        };
        assert_eq!(samples, want, "{dc} {}: the Smooth fragments carry the source's samples", stream.name);
    }
    let (status, _) = get(addr, &format!("{base}/QualityLevels(1000)/Fragments(Spanish=0)")).await;
    assert_eq!(status, 404, "no Smooth fragment of WebVTT");
}

/// The fragmented text tracks and the TTML sidecar through HLS, DASH and Smooth of both origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_text_tracks_and_ttml_play_in_hls_dash_and_smooth_from_both_origins() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (published, folder) = publish_with_text_tracks(f.dir.path(), &env).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &published.asset]).await.ok();
    for dc in ["a", "b"] {
        let served = serve_dc(f.dir.path(), &env, dc, &[]).await;
        let base = format!("/{}/Film.ism", published.locator);
        check_hls(&served.addr, &base, dc).await;
        check_dash(&served.addr, &base, &folder, dc).await;
        check_smooth(&served.addr, &base, &folder, dc).await;
    }
}

/// Hostile text tracks, each listed in the `.ism`: an `.ismt` with a sample over 1 MiB, a `.cmft`
/// whose wvtt sample holds a box that is not a cue, TTML sidecars of a million elements and of
/// deep nesting. Each is left out of every manifest with its reason logged; the good text track
/// and the video are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_tracks_are_left_out_with_their_reason_and_the_rest_is_served() {
    let sb = Sandbox::start().await;
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let folder = sb.dir.path().join("hostile_text");
    std::fs::create_dir_all(&folder).unwrap();
    encode_test_pattern(&folder.join("Film_320x180_600.mp4"), "320x180", 4, &x264_two_second_gops("ultrafast"));
    let big = Cue { id: None, start_ms: 0, end_ms: 1000, settings: String::new(), text: "x".repeat(1024 * 1024 + 1) };
    std::fs::write(folder.join("big.ismt"), write_fragmented_track(TextCodec::Ttml, &[big], 2000)).unwrap();
    // A wvtt track whose first sample's vttc is renamed: a box that is not a cue.
    let mut bad = write_fragmented_track(TextCodec::WebVtt, &source_cues(), 2000);
    let at = bad.windows(4).position(|w| w == b"vttc").unwrap();
    bad[at..at + 4].copy_from_slice(b"moov");
    std::fs::write(folder.join("badbox.cmft"), bad).unwrap();
    let ns = "xmlns=\"http://www.w3.org/ns/ttml\"";
    std::fs::write(folder.join("million.ttml"), format!("<tt {ns}><body>{}</body></tt>", "<br/>".repeat(1_000_000)))
        .unwrap();
    std::fs::write(
        folder.join("deep.ttml"),
        format!("<tt {ns}>{}{}</tt>", "<div>".repeat(10_000), "</div>".repeat(10_000)),
    )
    .unwrap();
    std::fs::write(folder.join("good.cmft"), write_fragmented_track(TextCodec::WebVtt, &source_cues(), 2000)).unwrap();
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
            text("big.ismt", "big"),
            text("badbox.cmft", "badbox"),
            text("million.ttml", "million"),
            text("deep.ttml", "deep"),
            text("good.cmft", "good"),
        ],
    };
    std::fs::write(folder.join("Film.ism"), ism.to_xml()).unwrap();
    let published = publish_folder_in(sb.dir.path(), &env, "HostileText", &folder).await;
    let served = serve_dc(sb.dir.path(), &env, "a", &[]).await;
    let base = format!("/{}/Film.ism", published.locator);
    for format in ["m3u8-cmaf", "mpd-time-csf"] {
        let (status, manifest) = get(&served.addr, &format!("{base}/manifest(format={format})")).await;
        assert_eq!(status, 200, "{manifest}");
        for name in ["big", "badbox", "million", "deep"] {
            assert!(
                !manifest.contains(&format!("\"{name}\"")) && !manifest.contains(&format!("({name}=")),
                "{name}: {manifest}"
            );
        }
        assert!(manifest.contains("good"), "{manifest}");
    }
    let playlist = format!("http://{}{base}/QualityLevels(1000)/Manifest(good,format=m3u8-cmaf)", served.addr);
    assert_eq!(cues_read_by_ffmpeg(&playlist, "0:s"), want());
    let (status, _) =
        get(&served.addr, &format!("{base}/QualityLevels(600000)/Fragments(video=0,format=mpd-time-csf).m4s")).await;
    assert_eq!(status, 200, "the video is served");
    let log = served.stderr.lock().unwrap().clone();
    for (file, why) in [
        ("big.ismt", "more than 1048576"),
        ("badbox.cmft", "not vttc or vtte"),
        ("million.ttml", "elements"),
        ("deep.ttml", "deeper than"),
    ] {
        let line = log.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("{file} is not named: {log}"));
        assert!(line.contains(why), "{file}: {line}");
    }
}
