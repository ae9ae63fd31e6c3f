//! Dynamic manifest filters applied to an `.ism`'s renditions before they are packaged
//! (pure: renditions and filters in, the renditions to package out), as Media Services
//! documented them:
//!
//! - track selection removes the renditions no selection keeps (whole tracks when none of
//!   their renditions is kept);
//! - a time range keeps the fragments that overlap it, whole (those whose middle is in it, so
//!   audio keeps the fragments its video does): fragments start at sync samples, so a GOP is
//!   never cut, and their URLs are the unfiltered ones (caches shared);
//! - first quality puts the video rendition nearest that bitrate first in an HLS master.
//!
//! Several filters (a locator's and a URL's) combine: a rendition is kept when every filter
//! keeps it, the time ranges intersect, the last first quality given wins. A combination
//! that leaves no video and no audio, or a time range that holds no fragment, is refused.

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use mirrorcast_core::model::filter::{Filter, TrackFacts};
use mirrorcast_media::fragment::TrackIndex;
use mirrorcast_media::ism::TrackKind;

use crate::packaging::Rendition;

/// Most filters one URL combines (`filter=a;b;c`), as Media Services allowed.
pub const MAX_URL_FILTERS: usize = 3;

/// The filters one request is packaged with: the locator's, then the URL's.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Each filter's record, in the order named.
    pub list: Vec<Arc<Filter>>,
    /// The names the URL gave (`filter=a;b`): an HLS master carries them into its playlists' URLs.
    pub from_url: Vec<String>,
}

impl Filters {
    /// No filter at all: the manifest is the unfiltered one.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// What a filtered response's ETag covers beside its target: the URL's names and each
    /// filter's content, so a changed filter or another combination is another entity.
    pub fn tag(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut tag = format!("url-filters={}", self.from_url.join(";"));
        for f in &self.list {
            tag.push('|');
            tag.push_str(&f.to_json());
        }
        tag
    }
}

/// The facts a filter's conditions test, of one rendition.
fn facts<'a>(r: &Rendition<'a>) -> TrackFacts<'a> {
    TrackFacts {
        kind: match r.kind {
            TrackKind::Video => "Video",
            TrackKind::Audio => "Audio",
            TrackKind::Text => "Text",
        },
        name: r.stream,
        language: r.language,
        fourcc: &r.track.info.codec,
        bitrate: r.bitrate,
    }
}

/// Whether every filter keeps `r`.
pub fn keeps(r: &Rendition<'_>, filters: &Filters) -> bool {
    filters.list.iter().all(|f| f.keeps(&facts(r)))
}

/// A time as a fraction of a second: `units / scale`.
#[derive(Debug, Clone, Copy)]
struct Time {
    units: u64,
    scale: u64,
}

impl Time {
    fn cmp(self, other: Time) -> Ordering {
        (self.units as u128 * other.scale as u128).cmp(&(other.units as u128 * self.scale as u128))
    }
}

/// The intersection of the filters' time ranges: `None` when none sets one.
fn window(filters: &Filters) -> Option<(Time, Option<Time>)> {
    let mut out: Option<(Time, Option<Time>)> = None;
    for (start, end, scale) in filters.list.iter().filter_map(|f| f.time_window()) {
        let (start, end) = (Time { units: start, scale }, end.map(|units| Time { units, scale }));
        out = Some(match out {
            None => (start, end),
            Some((s, e)) => {
                let s = if start.cmp(s) == Ordering::Greater { start } else { s };
                let e = match (e, end) {
                    (Some(a), Some(b)) => Some(if a.cmp(b) == Ordering::Less { a } else { b }),
                    (a, b) => a.or(b),
                };
                (s, e)
            }
        });
    }
    out
}

/// The fragments of `track` a time range `[start, end)` keeps: those whose middle lies in it,
/// so a track cut a few milliseconds off another's boundaries (audio beside its video) keeps the
/// fragments its video does, not one more that barely overlaps; a range too short to hold any
/// fragment's middle keeps the fragments it overlaps. Whole fragments either way.
fn overlapping(track: &TrackIndex, (start, end): (Time, Option<Time>)) -> Range<usize> {
    let scale = track.info.timescale.max(1) as u64;
    let before_end = |t: Time| end.is_none_or(|e| t.cmp(e) == Ordering::Less);
    let run = |keep: &dyn Fn(&mirrorcast_media::fragment::Fragment) -> bool| {
        let first = track.fragments.iter().position(keep).unwrap_or(track.fragments.len());
        first..first + track.fragments[first..].iter().take_while(|f| keep(f)).count()
    };
    let middles = run(&|f| {
        let middle = Time { units: f.start.saturating_mul(2).saturating_add(f.duration), scale: scale * 2 };
        middle.cmp(start) != Ordering::Less && before_end(middle)
    });
    if !middles.is_empty() {
        return middles;
    }
    run(&|f| {
        let ends_after_start =
            Time { units: f.start.saturating_add(f.duration), scale }.cmp(start) == Ordering::Greater;
        ends_after_start && before_end(Time { units: f.start, scale })
    })
}

/// The renditions a request packages, with the fragments its time range keeps.
#[derive(Debug)]
pub struct Selection<'a> {
    renditions: Vec<Rendition<'a>>,
    /// Each rendition's fragments kept; `None`: all of them (no time range).
    ranges: Option<Vec<Range<usize>>>,
}

impl<'a> Selection<'a> {
    /// The tracks with only the kept fragments (clones, made only under a time range: what
    /// [`Selection::renditions`] borrows from). Made when a body is packaged, not per request.
    pub fn trimmed(&self) -> Vec<TrackIndex> {
        let Some(ranges) = &self.ranges else { return Vec::new() };
        self.renditions.iter().zip(ranges).map(|(r, range)| trim(r.track, range.clone())).collect()
    }

    /// The renditions to package, over `trimmed` (from [`Selection::trimmed`]) when it holds tracks.
    pub fn renditions<'s>(&'s self, trimmed: &'s [TrackIndex]) -> Vec<Rendition<'s>> {
        if trimmed.is_empty() {
            return self.renditions.clone();
        }
        self.renditions.iter().zip(trimmed).map(|(r, track)| Rendition { track, ..*r }).collect()
    }
}

/// The renditions `filters` keep of `all`, in the order to package them (`hls`: the first
/// quality first), or why the combination is refused (a short text naming the cause).
pub fn select<'a>(all: &[Rendition<'a>], filters: &Filters, hls: bool) -> Result<Selection<'a>, String> {
    let kept: Vec<Rendition<'a>> = all.iter().filter(|r| keeps(r, filters)).copied().collect();
    if !kept.iter().any(|r| matches!(r.kind, TrackKind::Video | TrackKind::Audio)) {
        return Err("the filters leave no video and no audio".to_owned());
    }
    let window = window(filters);
    let mut paired: Vec<(Rendition<'a>, Range<usize>)> = kept
        .into_iter()
        .map(|r| {
            let range = window.map_or(0..r.track.fragments.len(), |w| overlapping(r.track, w));
            (r, range)
        })
        .collect();
    if let (Some(_), Some((r, _))) = (window, paired.iter().find(|(_, range)| range.is_empty())) {
        return Err(format!("the time range holds no fragment of {}", r.stream));
    }
    let first_quality = filters.list.iter().rev().find_map(|f| f.first_quality);
    if let (true, Some(q)) = (hls, first_quality) {
        if let Some(best) = nearest(paired.iter().map(|(r, _)| r), q.bitrate) {
            let moved = paired.remove(best);
            paired.insert(0, moved);
        }
    }
    let (renditions, ranges): (Vec<_>, Vec<_>) = paired.into_iter().unzip();
    Ok(Selection { renditions, ranges: window.map(|_| ranges) })
}

/// The index of the variant nearest `bitrate` (the lower of two as near): a video rendition,
/// or an audio one when there is no video (what an HLS master lists as variants).
fn nearest<'r, 'a: 'r>(renditions: impl Iterator<Item = &'r Rendition<'a>> + Clone, bitrate: u64) -> Option<usize> {
    let kind = if renditions.clone().any(|r| r.kind == TrackKind::Video) { TrackKind::Video } else { TrackKind::Audio };
    renditions
        .enumerate()
        .filter(|(_, r)| r.kind == kind)
        .min_by_key(|(_, r)| (r.bitrate.abs_diff(bitrate), r.bitrate))
        .map(|(i, _)| i)
}

/// The fragments of one rendition (an HLS media playlist) the filters' time range keeps,
/// `None` without a time range; `Err` as [`select`].
pub fn range_of(r: &Rendition<'_>, filters: &Filters) -> Result<Option<Range<usize>>, String> {
    let Some(w) = window(filters) else { return Ok(None) };
    let range = overlapping(r.track, w);
    if range.is_empty() {
        return Err(format!("the time range holds no fragment of {}", r.stream));
    }
    Ok(Some(range))
}

/// A copy of `track` holding the fragments the kept span `[start, end)` (in `scale` units: the
/// video's kept fragments) keeps by the time range's rule, so a text track lines up with the
/// video; `None` when none does.
pub fn trim_to_span(track: &TrackIndex, (start, end, scale): (u64, u64, u64)) -> Option<TrackIndex> {
    let range = overlapping(track, (Time { units: start, scale }, Some(Time { units: end, scale })));
    (!range.is_empty()).then(|| trim(track, range))
}

/// A copy of `track` holding only the fragments in `range` (what a trimmed playlist is made of).
pub fn trim(track: &TrackIndex, range: Range<usize>) -> TrackIndex {
    let mut trimmed = track.clone();
    trimmed.fragments = track.fragments[range].to_vec();
    trimmed
}

/// An HLS master whose playlist URLs carry the URL's `filter=` (the locator's filters need
/// none: every request through it is filtered): `…/Manifest(<stream>,format=<f>)` becomes
/// `…/Manifest(<stream>,format=<f>,filter=a;b)`.
pub fn carry_url_filters(master: String, names: &[String]) -> String {
    if names.is_empty() {
        return master;
    }
    let argument = format!(",filter={}", names.join(";"));
    let mut out = String::with_capacity(master.len() + 64);
    let mut rest = master.as_str();
    while let Some(at) = rest.find("/Manifest(") {
        let Some(close) = rest[at..].find(')') else { break };
        out.push_str(&rest[..at + close]);
        out.push_str(&argument);
        rest = &rest[at + close..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clip::clip;

    fn filter(json: &str) -> Arc<Filter> {
        Arc::new(Filter::from_json(json, Some("f")).unwrap())
    }

    fn filters(list: &[&str]) -> Filters {
        Filters { list: list.iter().map(|j| filter(j)).collect(), from_url: Vec::new() }
    }

    #[test]
    fn track_selection_time_range_and_first_quality() {
        let dir = tempfile::tempdir().unwrap();
        let (high, low) = (clip(dir.path(), "high.mp4", "320x180"), clip(dir.path(), "low.mp4", "160x90"));
        let (hv, lv, ha) =
            (high.by_handler("vide").unwrap(), low.by_handler("vide").unwrap(), high.by_handler("soun").unwrap());
        let all = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: hv },
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 300_000, language: None, track: lv },
            Rendition { kind: TrackKind::Audio, stream: "aac_eng", bitrate: 128_000, language: Some("en"), track: ha },
        ];
        let bitrates = |s: &Selection<'_>| s.renditions(&s.trimmed()).iter().map(|r| r.bitrate).collect::<Vec<_>>();

        let none = select(&all, &Filters::default(), true).unwrap();
        assert_eq!(bitrates(&none), [600_000, 300_000, 128_000]);

        let low_only =
            r#"{"tracks":[{"trackSelections":[{"property":"Bitrate","operation":"Equal","value":"0-400000"}]}]}"#;
        assert_eq!(bitrates(&select(&all, &filters(&[low_only]), false).unwrap()), [300_000, 128_000]);

        let first = r#"{"firstQuality":{"bitrate":290000}}"#;
        assert_eq!(bitrates(&select(&all, &filters(&[first]), true).unwrap()), [300_000, 600_000, 128_000]);
        assert_eq!(
            bitrates(&select(&all, &filters(&[first]), false).unwrap()),
            [600_000, 300_000, 128_000],
            "HLS only"
        );

        // 2.5 s to 3.5 s: only the fragment starting at 2 s (the clip has key frames every 2 s).
        let range = r#"{"presentationTimeRange":{"startTimestamp":2500,"endTimestamp":3500,"timescale":1000}}"#;
        let s = select(&all, &filters(&[range, first]), true).unwrap();
        let trimmed = s.trimmed();
        let kept = s.renditions(&trimmed);
        assert_eq!(kept[0].bitrate, 300_000, "first quality under a time range too");
        let ts = hv.info.timescale as u64;
        let starts: Vec<u64> = kept[0].track.fragments.iter().map(|f| f.start).collect();
        assert_eq!(starts, [2 * ts], "the fragment overlapping 2.5-3.5 s, whole");
        assert!(kept.iter().all(|r| !r.track.fragments.is_empty()));

        // Two ranges intersect: 0-3 s and 2-5 s keep the fragment at 2 s only.
        let a = r#"{"presentationTimeRange":{"startTimestamp":0,"endTimestamp":30000000}}"#;
        let b = r#"{"presentationTimeRange":{"startTimestamp":20000000,"endTimestamp":50000000}}"#;
        let s = select(&all, &filters(&[a, b]), false).unwrap();
        let trimmed = s.trimmed();
        let starts: Vec<u64> = s.renditions(&trimmed)[0].track.fragments.iter().map(|f| f.start).collect();
        assert_eq!(starts, [2 * ts]);

        let audio_off = r#"{"tracks":[{"trackSelections":[{"property":"Type","operation":"Equal","value":"Text"}]}]}"#;
        assert_eq!(select(&all, &filters(&[audio_off]), false).unwrap_err(), "the filters leave no video and no audio");
        let late = r#"{"presentationTimeRange":{"startTimestamp":600000000}}"#;
        assert!(select(&all, &filters(&[late]), false).unwrap_err().contains("no fragment"));
    }

    #[test]
    fn a_url_filter_is_carried_into_the_masters_playlist_urls_only() {
        let master = "#EXT-X-MEDIA:TYPE=AUDIO,URI=\"QualityLevels(1)/Manifest(audio,format=m3u8-cmaf)\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nQualityLevels(2)/Manifest(video,format=m3u8-cmaf)\n";
        let carried = carry_url_filters(master.to_owned(), &["a".into(), "b".into()]);
        assert_eq!(
            carried,
            "#EXT-X-MEDIA:TYPE=AUDIO,URI=\"QualityLevels(1)/Manifest(audio,format=m3u8-cmaf,filter=a;b)\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nQualityLevels(2)/Manifest(video,format=m3u8-cmaf,filter=a;b)\n"
        );
        assert_eq!(carry_url_filters(master.to_owned(), &[]), master);
    }
}
