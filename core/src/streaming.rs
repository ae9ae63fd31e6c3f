//! Streaming URLs of an origin locator: `<origin>/<locator-guid>/<Base>.ism/manifest`.

use serde::{Deserialize, Serialize};

use crate::id::LocatorId;

/// The response header naming the data center (origin) that answered: set by
/// `serve`, kept or set by the front, read by the drill and by operators.
pub const ORIGIN_HEADER: &str = "x-mirrorcast-origin";

/// Percent-encodes one path segment; the storage layer's, which signed URLs use too.
pub use mirrorcast_store::encode_segment;

/// The streaming URLs of one primary file behind one origin locator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamingUrls {
    /// Smooth Streaming: `…/<file>.ism/manifest`.
    pub smooth: String,
    /// HLS: `…/manifest(format=m3u8-aapl)`.
    pub hls: String,
    /// HLS with CMAF segments: `…/manifest(format=m3u8-cmaf)`.
    pub hls_cmaf: String,
    /// DASH: `…/manifest(format=mpd-time-csf)`.
    pub dash: String,
    /// DASH with CMAF segments: `…/manifest(format=mpd-time-cmaf)`.
    pub dash_cmaf: String,
}

impl StreamingUrls {
    /// The URLs of `primary_file` behind `locator` on the origin at `origin_base`.
    pub fn new(origin_base: &str, locator: &LocatorId, primary_file: &str) -> Self {
        let smooth = format!(
            "{}/{}/{}/manifest",
            origin_base.trim_end_matches('/'),
            locator.guid(),
            encode_segment(primary_file)
        );
        StreamingUrls {
            hls: format!("{smooth}(format=m3u8-aapl)"),
            hls_cmaf: format!("{smooth}(format=m3u8-cmaf)"),
            dash: format!("{smooth}(format=mpd-time-csf)"),
            dash_cmaf: format!("{smooth}(format=mpd-time-cmaf)"),
            smooth,
        }
    }

    /// The same manifests with the dynamic filter `name` applied (`filter=name` among the
    /// manifest's arguments).
    pub fn with_filter(&self, name: &str) -> StreamingUrls {
        let add = |url: &str| match url.strip_suffix(')') {
            Some(open) => format!("{open},filter={name})"),
            None => format!("{url}(filter={name})"),
        };
        StreamingUrls {
            smooth: add(&self.smooth),
            hls: add(&self.hls),
            hls_cmaf: add(&self.hls_cmaf),
            dash: add(&self.dash),
            dash_cmaf: add(&self.dash_cmaf),
        }
    }

    /// The URL of one file of the asset behind `locator` (progressive download): each path
    /// segment of `name` encoded, as the origin resolves it.
    pub fn file(origin_base: &str, locator: &LocatorId, name: &str) -> String {
        let path: Vec<String> = name.split('/').map(encode_segment).collect();
        format!("{}/{}/{}", origin_base.trim_end_matches('/'), locator.guid(), path.join("/"))
    }

    /// (format name, URL) pairs, in a stable order.
    pub fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("smooth", &self.smooth),
            ("hls", &self.hls),
            ("hls-cmaf", &self.hls_cmaf),
            ("dash", &self.dash),
            ("dash-cmaf", &self.dash_cmaf),
        ]
    }

    /// The URL with its origin base removed: identical across data centers.
    pub fn relative<'a>(url: &'a str, origin_base: &str) -> &'a str {
        url.strip_prefix(origin_base.trim_end_matches('/')).unwrap_or(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_joins_each_manifest_s_arguments() {
        let l = LocatorId::parse("7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
        let u = StreamingUrls::new("http://a", &l, "Clip.ism").with_filter("mid");
        assert_eq!(u.smooth, "http://a/7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/Clip.ism/manifest(filter=mid)");
        assert!(u.hls.ends_with("/manifest(format=m3u8-aapl,filter=mid)"), "{}", u.hls);
        assert!(u.dash_cmaf.ends_with("/manifest(format=mpd-time-cmaf,filter=mid)"), "{}", u.dash_cmaf);
    }

    #[test]
    fn urls_follow_the_origin_layout_and_encode_names() {
        let l = LocatorId::parse("7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
        let u = StreamingUrls::new("https://a.streaming.example/", &l, "Big Buck Bunny.ism");
        assert_eq!(
            u.smooth,
            "https://a.streaming.example/7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/Big%20Buck%20Bunny.ism/manifest"
        );
        assert!(u.hls.ends_with("/manifest(format=m3u8-aapl)"));
        assert!(u.hls_cmaf.ends_with("(format=m3u8-cmaf)"));
        assert!(u.dash.ends_with("(format=mpd-time-csf)"));
        assert!(u.dash_cmaf.ends_with("(format=mpd-time-cmaf)"));
        let b = StreamingUrls::new("https://b.streaming.example", &l, "Big Buck Bunny.ism");
        assert_eq!(
            StreamingUrls::relative(&u.dash, "https://a.streaming.example/"),
            StreamingUrls::relative(&b.dash, "https://b.streaming.example")
        );
    }

    #[test]
    fn without_an_origin_urls_are_relative_paths() {
        let l = LocatorId::parse("7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
        let u = StreamingUrls::new("", &l, "Big Buck Bunny.ism");
        assert_eq!(u.smooth, "/7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/Big%20Buck%20Bunny.ism/manifest");
        assert_eq!(StreamingUrls::relative(&u.hls, ""), u.hls);
    }

    #[test]
    fn a_file_url_encodes_each_segment_and_keeps_folders() {
        let l = LocatorId::parse("7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
        assert_eq!(
            StreamingUrls::file("https://a.example/", &l, "clips/my clip#1.mp4"),
            "https://a.example/7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/clips/my%20clip%231.mp4"
        );
        assert_eq!(StreamingUrls::file("", &l, "clip.mp4"), "/7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d/clip.mp4");
    }
}
