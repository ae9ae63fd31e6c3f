//! A realistic encoded asset made of synthetic bytes: what an adaptive-bitrate
//! MP4 encode leaves in a container. For demos, tests and benchmarks.

use bytes::Bytes;

/// (width, height, kbps) of the renditions of a typical multi-bitrate encode.
pub const LADDER: [(u32, u32, u32); 6] =
    [(1920, 1080, 6000), (1280, 720, 3400), (960, 540, 2250), (960, 540, 1500), (640, 360, 1000), (320, 180, 400)];

/// The files of one encoded asset: name and bytes.
#[derive(Debug, Clone)]
pub struct SampleAsset {
    /// The asset's base name: every file name starts with it.
    pub base: String,
    /// Each file's name and bytes.
    pub files: Vec<(String, Bytes)>,
}

impl SampleAsset {
    /// The name of the primary file, `<base>.ism`.
    pub fn primary(&self) -> String {
        format!("{}.ism", self.base)
    }

    /// Bytes of all files together.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// Renditions `<base>_<W>x<H>_<kbps>.mp4` of `rendition_bytes` each (scaled
/// down for lower bitrates, at least 1 KiB), a server manifest `<base>.ism`
/// naming them, a client manifest `<base>.ismc`, `<base>_manifest.xml` and
/// `<guid>_metadata.xml`. `seed` makes the bytes differ between assets.
pub fn encoded_asset(base: &str, rendition_bytes: u64, seed: u64) -> SampleAsset {
    let mut files = Vec::new();
    let mut renditions = Vec::new();
    for (i, (w, h, kbps)) in LADDER.iter().enumerate() {
        let name = format!("{base}_{w}x{h}_{kbps}.mp4");
        let size = (rendition_bytes * *kbps as u64 / 6000).max(1024);
        files.push((name.clone(), Bytes::from(mp4(size, seed.wrapping_mul(31).wrapping_add(i as u64)))));
        renditions.push((name, *kbps));
    }
    files.push((format!("{base}.ism"), Bytes::from(server_manifest(base, &renditions))));
    files.push((format!("{base}.ismc"), Bytes::from(client_manifest())));
    files.push((format!("{base}_manifest.xml"), Bytes::from(asset_manifest(&files))));
    let guid = uuid::Uuid::from_u64_pair(seed, 0x6d69_7272_6f72_6361).hyphenated().to_string();
    files.push((
        format!("{guid}_metadata.xml"),
        Bytes::from(format!(
            "<?xml version=\"1.0\"?><AssetFiles><AssetFile Name=\"{}\"/></AssetFiles>",
            xml_escape(base)
        )),
    ));
    SampleAsset { base: base.to_owned(), files }
}

/// An MP4 whose top-level boxes (ftyp, moov, mdat) add up to `size` bytes.
pub fn mp4(size: u64, seed: u64) -> Vec<u8> {
    let size = size.max(64);
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(&24u32.to_be_bytes());
    out.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let moov_payload = 24u32;
    out.extend_from_slice(&(8 + moov_payload).to_be_bytes());
    out.extend_from_slice(b"moov");
    out.extend_from_slice(&[0u8; 24]);
    let mdat = size - out.len() as u64;
    out.extend_from_slice(&(mdat as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    while (out.len() as u64) < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = ((size - out.len() as u64) as usize).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A SMIL server manifest naming `renditions` (file name, kbps).
pub fn server_manifest(base: &str, renditions: &[(String, u32)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n  <head>\n");
    s.push_str(&format!("    <meta name=\"clientManifestRelativePath\" content=\"{}.ismc\" />\n", xml_escape(base)));
    s.push_str("  </head>\n  <body>\n    <switch>\n");
    for (name, kbps) in renditions {
        s.push_str(&format!(
            "      <video src=\"{}\" systemBitrate=\"{}\">\n        <param name=\"trackID\" value=\"1\" valuetype=\"data\" />\n      </video>\n",
            xml_escape(name),
            kbps * 1000
        ));
    }
    if let Some((first, _)) = renditions.first() {
        s.push_str(&format!(
            "      <audio src=\"{}\" systemBitrate=\"128000\">\n        <param name=\"trackID\" value=\"2\" valuetype=\"data\" />\n      </audio>\n",
            xml_escape(first)
        ));
    }
    s.push_str("    </switch>\n  </body>\n</smil>\n");
    s
}

/// A Smooth Streaming client manifest for [`LADDER`].
pub fn client_manifest() -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"2\" Duration=\"6000000000\">\n");
    s.push_str("  <StreamIndex Chunks=\"300\" Type=\"video\" Url=\"QualityLevels({bitrate})/Fragments(video={start time})\" QualityLevels=\"6\">\n");
    for (i, (w, h, kbps)) in LADDER.iter().enumerate() {
        s.push_str(&format!(
            "    <QualityLevel Index=\"{i}\" Bitrate=\"{}\" FourCC=\"H264\" MaxWidth=\"{w}\" MaxHeight=\"{h}\" />\n",
            kbps * 1000
        ));
    }
    s.push_str("  </StreamIndex>\n</SmoothStreamingMedia>\n");
    s
}

fn asset_manifest(files: &[(String, Bytes)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AssetFiles>\n");
    for (name, bytes) in files {
        s.push_str(&format!("  <AssetFile Name=\"{}\" Size=\"{}\" />\n", xml_escape(name), bytes.len()));
    }
    s.push_str("</AssetFiles>\n");
    s
}

/// HLS and DASH packagings of a sample asset, as a packager would leave them
/// beside the MP4s: `hls/` (master, two variants with init and segments) and
/// `dash/` (an MPD with a `$Number%05d$` template over a SegmentTimeline, a
/// `$Time$`/`$Bandwidth$` template, and a SegmentList under a nested BaseURL).
pub fn packaged(seed: u64) -> Vec<(String, Bytes)> {
    let mut files: Vec<(String, Bytes)> = Vec::new();
    let mut seg = |name: String, i: u64| files.push((name, Bytes::from(mp4(1500 + i * 37, seed ^ (i * 7919)))));
    let mut n = 0;
    for kbps in [800, 1500] {
        seg(format!("hls/init_{kbps}.mp4"), n);
        n += 1;
        for i in 1..=4 {
            seg(format!("hls/seg_{kbps}_{i:05}.m4s"), n);
            n += 1;
        }
    }
    for rep in ["v800", "v1500"] {
        seg(format!("dash/{rep}/init.mp4"), n);
        n += 1;
        for i in 1..=4 {
            seg(format!("dash/{rep}/seg_{i:05}.m4s"), n);
            n += 1;
        }
    }
    for t in [0, 1024, 2048] {
        seg(format!("dash/audio/128000/t_{t}.m4s"), n);
        n += 1;
    }
    for s in ["dash/subs/init.mp4", "dash/subs/s1.m4s", "dash/subs/s2.m4s"] {
        seg(s.to_owned(), n);
        n += 1;
    }
    let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nvideo_800.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=960x540\nvideo_1500.m3u8\n";
    files.push(("hls/master.m3u8".into(), Bytes::from(master)));
    for kbps in [800, 1500] {
        let mut p = format!("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init_{kbps}.mp4\"\n");
        for i in 1..=4 {
            p.push_str(&format!("#EXTINF:2.0,\nseg_{kbps}_{i:05}.m4s\n"));
        }
        p.push_str("#EXT-X-ENDLIST\n");
        files.push((format!("hls/video_{kbps}.m3u8"), Bytes::from(p)));
    }
    let mpd = r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT8S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period id="0" start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate timescale="1000" media="$RepresentationID$/seg_$Number%05d$.m4s" initialization="$RepresentationID$/init.mp4" startNumber="1">
        <SegmentTimeline><S t="0" d="2000" r="3"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v800" bandwidth="800000" width="640" height="360" codecs="avc1.64001e"/>
      <Representation id="v1500" bandwidth="1500000" width="960" height="540" codecs="avc1.64001f"/>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
      <SegmentTemplate timescale="1000" media="audio/$Bandwidth$/t_$Time$.m4s">
        <SegmentTimeline><S t="0" d="1024" r="2"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="a128" bandwidth="128000" codecs="mp4a.40.2"/>
    </AdaptationSet>
    <AdaptationSet contentType="text" mimeType="application/mp4" lang="en">
      <BaseURL>subs/</BaseURL>
      <Representation id="sub" bandwidth="1000" codecs="stpp">
        <SegmentList duration="4" timescale="1">
          <Initialization sourceURL="init.mp4"/>
          <SegmentURL media="s1.m4s"/>
          <SegmentURL media="s2.m4s"/>
        </SegmentList>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#;
    files.push(("dash/manifest.mpd".into(), Bytes::from(mpd)));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_asset_has_renditions_manifests_and_one_primary() {
        let a = encoded_asset("Big Buck Bunny", 64 * 1024, 1);
        let names: Vec<&str> = a.files.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"Big Buck Bunny_1280x720_3400.mp4"));
        assert!(names.contains(&"Big Buck Bunny.ismc"));
        assert!(names.contains(&"Big Buck Bunny_manifest.xml"));
        assert_eq!(crate::primary::select_primary(names.iter().copied()).unwrap(), "Big Buck Bunny.ism");
        let ism = String::from_utf8(a.files.iter().find(|(n, _)| n.ends_with(".ism")).unwrap().1.to_vec()).unwrap();
        assert!(ism.contains("src=\"Big Buck Bunny_320x180_400.mp4\""));
    }

    #[test]
    fn mp4_top_level_boxes_add_up_to_the_size() {
        let m = mp4(10_000, 7);
        assert_eq!(m.len(), 10_000);
        let mut at = 0usize;
        while at < m.len() {
            let size = u32::from_be_bytes(m[at..at + 4].try_into().unwrap()) as usize;
            at += size;
        }
        assert_eq!(at, m.len());
    }
}
