//! HLS I-frame playlists (`EXT-X-I-FRAME-STREAM-INF`, `EXT-X-I-FRAMES-ONLY`), as Media Services
//! offered them: each `EXT-X-BYTERANGE`, fetched as a `Range` of the segment the media playlist
//! names, holds exactly one key frame: the source's sync sample that starts the segment, read back
//! with media's readers (a `moof` prefix, TS PES packets) and with ffmpeg/ffprobe at their defaults.

use md5::{Digest, Md5};
use mirrorcast_media::movie_fragment::MovieFragment;
use mirrorcast_media::mp4::Mp4;
use mirrorcast_media::ts_reader::pes_packets;

use crate::helpers::Sandbox;
use crate::serve::{framemd5_streams, packet_md5s, published_and_served};

/// An I-frame playlist's entries: (range length, segment URI), after its `EXT-X-MAP` URI if any.
fn entries(playlist: &str) -> (Option<String>, Vec<(u64, String)>) {
    let map =
        playlist.lines().find_map(|l| Some(l.strip_prefix("#EXT-X-MAP:URI=\"")?.trim_end_matches('"').to_owned()));
    let lines: Vec<&str> = playlist.lines().collect();
    let ranges = lines
        .windows(2)
        .filter_map(|w| {
            let (length, offset) = w[0].strip_prefix("#EXT-X-BYTERANGE:")?.split_once('@')?;
            assert_eq!(offset, "0", "a segment's prefix");
            Some((length.parse().unwrap(), w[1].to_owned()))
        })
        .collect();
    (map, ranges)
}

fn ffprobe_video_packets(path: &std::path::Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is needed: apt-get install ffmpeg");
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    // A TS file lists its stream under its program too: once each.
    let mut lines: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    lines.dedup();
    lines.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_iframe_byte_range_holds_exactly_the_key_frame_that_starts_its_segment() {
    let sb = Sandbox::start().await;
    let (p, s) = published_and_served(&sb).await;
    let base = format!("http://{}/{}/Clip.ism", s.addr, p.locator);
    let source = sb.dir.path().join("clip/Clip_320x180_600.mp4");
    let mp4 = Mp4::open(&source).unwrap();
    let v = mp4.video().unwrap();
    let sync: Vec<usize> = v.sync_samples.as_ref().unwrap().iter().map(|n| *n as usize - 1).collect();
    assert_eq!(sync.len(), 3, "a key frame every 2 s of 6");
    let packets = packet_md5s(source.to_str().unwrap(), "0:v").remove(0).packets;
    let frames = framemd5_streams(source.to_str().unwrap(), &["-map", "0:v"]).remove(0).packets;
    let http = reqwest::Client::new();
    let work = sb.dir.path().join("iframes");
    std::fs::create_dir_all(&work).unwrap();

    for format in ["m3u8-cmaf", "m3u8-aapl"] {
        let master = http.get(format!("{base}/manifest(format={format})")).send().await.unwrap().text().await.unwrap();
        let infs: Vec<&str> = master.lines().filter(|l| l.starts_with("#EXT-X-I-FRAME-STREAM-INF:")).collect();
        assert_eq!(infs.len(), 2, "{format}: one per video rendition: {master}");
        let inf = infs.iter().find(|l| l.contains("RESOLUTION=320x180")).expect("the 320x180 rendition's");
        assert!(inf.contains("CODECS=\"avc1.") && !inf.contains("mp4a") && inf.contains("BANDWIDTH="), "{inf}");
        let uri = inf.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
        assert_eq!(uri, format!("QualityLevels(600000)/Manifest(video,format={format},type=keyframes)"));
        let playlist_url = format!("{base}/{uri}");
        let playlist = http.get(&playlist_url).send().await.unwrap().text().await.unwrap();
        assert!(playlist.contains("\n#EXT-X-I-FRAMES-ONLY\n"), "{playlist}");
        let (map, ranges) = entries(&playlist);
        assert_eq!(ranges.len(), sync.len(), "{format}: one per key frame: {playlist}");
        let init = match &map {
            Some(m) => {
                http.get(format!("{base}/QualityLevels(600000)/{m}")).send().await.unwrap().bytes().await.unwrap()
            }
            None => Default::default(),
        };
        assert_eq!(map.is_some(), format == "m3u8-cmaf", "{playlist}");

        for (i, (length, segment)) in ranges.iter().enumerate() {
            let at = format!("{format} key frame {i}");
            let url = format!("{base}/QualityLevels(600000)/{segment}");
            let r = http.get(&url).header("range", format!("bytes=0-{}", length - 1)).send().await.unwrap();
            assert_eq!(r.status(), 206, "{at}");
            let whole_len = http.get(&url).send().await.unwrap().bytes().await.unwrap().len() as u64;
            assert!(whole_len > *length, "{at}: a prefix of the segment");
            assert_eq!(r.headers()["content-range"], format!("bytes 0-{}/{whole_len}", length - 1).as_str(), "{at}");
            let range = r.bytes().await.unwrap();
            assert_eq!(range.len() as u64, *length, "{at}");
            let file = work.join(format!("{format}-{i}.{}", if map.is_some() { "mp4" } else { "ts" }));
            if map.is_some() {
                let back = MovieFragment::parse_prefix(&range).unwrap();
                assert_eq!(back.samples.len(), 1, "{at}: exactly one sample");
                assert_eq!(back.samples[0].flags & 0x0001_0000, 0, "{at}: a sync sample");
                assert_eq!(back.decode_time, Some(v.decode_times[sync[i]]), "{at}: the source's key frame time");
                let md5 = format!("{:x}", Md5::digest(&back.samples[0].data));
                assert_eq!(md5, packets[sync[i]].2, "{at}: the source's key frame bytes");
                std::fs::write(&file, [&init[..], &range[..]].concat()).unwrap();
                let got = packet_md5s(file.to_str().unwrap(), "0:v").remove(0).packets;
                assert_eq!(got.len(), 1, "{at}: ffmpeg reads one packet");
                assert_eq!(got[0].2, packets[sync[i]].2, "{at}: ffmpeg reads the source's key frame");
            } else {
                let pes = pes_packets(&range).unwrap();
                assert_eq!(pes.len(), 1, "{at}: exactly one PES");
                assert!(pes[0].random_access, "{at}: a random access point");
                std::fs::write(&file, &range).unwrap();
                // TS carries Annex B: the decoded picture is compared.
                let got = framemd5_streams(file.to_str().unwrap(), &["-map", "0:v"]).remove(0).packets;
                assert_eq!(got.len(), 1, "{at}: ffmpeg decodes one picture");
                assert_eq!(got[0].2, frames[sync[i]].2, "{at}: the source's key frame, decoded");
            }
            assert_eq!(ffprobe_video_packets(&file), "h264,1", "{at}: ffprobe reads one H.264 packet");
        }
    }
    // Ranges a client should not send: past the end 416; backwards, several, or an If-Range of
    // another version: the whole segment (RFC 9110 lets a server ignore them).
    let segment = format!("{base}/QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf).m4s");
    let whole = http.get(&segment).send().await.unwrap();
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    let size = whole.bytes().await.unwrap().len();
    for (range, if_range, status, length) in [
        (format!("bytes={size}-"), None, 416, None),
        (format!("bytes={}-{}", size + 10, size + 20), None, 416, None),
        ("bytes=10-5".to_owned(), None, 200, Some(size)),
        ("bytes=0-1,5-9".to_owned(), None, 200, Some(size)),
        ("bytes=0-99".to_owned(), Some("\"mc-other\""), 200, Some(size)),
        ("bytes=0-99".to_owned(), Some(etag.as_str()), 206, Some(100)),
        ("bytes=-100".to_owned(), None, 206, Some(100)),
        (format!("bytes=0-{}", u64::MAX), None, 206, Some(size)),
    ] {
        let mut request = http.get(&segment).header("range", &range);
        if let Some(tag) = if_range {
            request = request.header("if-range", tag);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{range} {if_range:?}");
        if let Some(length) = length {
            assert_eq!(r.bytes().await.unwrap().len(), length, "{range} {if_range:?}");
        }
    }
    let v3_iframes = format!("{base}/QualityLevels(600000)/Manifest(video,format=m3u8-aapl-v3,type=keyframes)");
    assert_eq!(http.get(v3_iframes).send().await.unwrap().status(), 400, "HLS 3: type=keyframes refused by name");
    let v3 = http.get(format!("{base}/manifest(format=m3u8-aapl-v3)")).send().await.unwrap().text().await.unwrap();
    assert!(!v3.contains("I-FRAME"), "HLS 3 has no byte ranges: {v3}");
    let refused =
        http.get(format!("{base}/QualityLevels(128000)/Manifest(audio,format=m3u8-cmaf,type=keyframes)")).send();
    assert_eq!(refused.await.unwrap().status(), 404, "audio has no I-frame playlist");
}
