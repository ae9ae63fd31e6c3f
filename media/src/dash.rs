//! DASH MPDs (ISO/IEC 23009-1): the model of what a player or an audit follows to segments:
//! Periods, AdaptationSets, Representations, their BaseURLs, SegmentTemplate (`$Number$`,
//! `$Time$`, `$RepresentationID$`, `$Bandwidth$`, `%0Nd` widths; SegmentTimeline or a fixed
//! duration), SegmentList and SegmentBase, with inheritance Representation → AdaptationSet → Period.
//! Pure: text in, model out; callers resolve URLs their own way (blob names, absolute URLs).
//! Bounded: at most [`MAX_SEGMENTS`] segments per template, template widths at most [`MAX_WIDTH`].

use roxmltree::Node;

use crate::{FormatError, Result};

/// A template expanding to more segments is refused (a day in 2 s segments is 43 200).
pub const MAX_SEGMENTS: u64 = 1_000_000;

/// A wider `%0Nd` in a template is refused rather than padded.
pub const MAX_WIDTH: usize = 64;

/// A parsed MPD: the presentation and its periods, as written (nothing inherited yet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mpd {
    /// `type="dynamic"`: a live presentation.
    pub dynamic: bool,
    /// `mediaPresentationDuration`, seconds.
    pub duration: Option<f64>,
    /// The MPD-level `BaseURL`, the root the lower levels' BaseURLs join onto.
    pub base_url: Option<String>,
    /// The `Period`s in document order.
    pub periods: Vec<Period>,
}

/// A `Period`: a stretch of the presentation with its own adaptation sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Period {
    /// Its own `duration`, seconds (see [`Mpd::period_duration`]).
    pub duration: Option<f64>,
    /// Its `BaseURL`, relative to the MPD's.
    pub base_url: Option<String>,
    /// Its `SegmentTemplate`, whose attributes the sets and representations inherit where they lack them.
    pub segment_template: Option<SegmentTemplate>,
    /// Its `AdaptationSet`s in document order.
    pub adaptation_sets: Vec<AdaptationSet>,
}

/// An `AdaptationSet`: interchangeable representations of one content (a video ladder, a language).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdaptationSet {
    /// `contentType` (`video`, `audio`, `text`…), which a Representation may override.
    pub content_type: Option<String>,
    /// `mimeType` (`video/mp4`…), used for the kind when there is no `contentType`.
    pub mime_type: Option<String>,
    /// `lang` (RFC 5646 tag): the set's language, when stated.
    pub lang: Option<String>,
    /// `<Label>`: the set's name for people, when stated.
    pub label: Option<String>,
    /// Its `BaseURL`, relative to the Period's.
    pub base_url: Option<String>,
    /// Its `SegmentTemplate`, whose attributes the representations inherit where they lack them.
    pub segment_template: Option<SegmentTemplate>,
    /// Its `SegmentList`, used by representations without their own.
    pub segment_list: Option<SegmentList>,
    /// Its `Representation`s in document order.
    pub representations: Vec<Representation>,
}

/// A `Representation`: one encoding a player can fetch segment by segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Representation {
    /// `id`, empty when absent.
    pub id: String,
    /// `bandwidth`; 0 when absent or not a number.
    pub bandwidth: u64,
    /// `contentType`, overriding its set's.
    pub content_type: Option<String>,
    /// `mimeType`, overriding its set's.
    pub mime_type: Option<String>,
    /// Its `BaseURL`, relative to the AdaptationSet's.
    pub base_url: Option<String>,
    /// Its own `SegmentTemplate` (see [`Representation::addressing`] for what it inherits).
    pub segment_template: Option<SegmentTemplate>,
    /// Its own `SegmentList`.
    pub segment_list: Option<SegmentList>,
}

/// One level's `SegmentTemplate` attributes, as written (see [`Template`] for the inherited view).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentTemplate {
    /// `media`: the media segments' URL template (`$Number$`, `$Time$`…).
    pub media: Option<String>,
    /// `initialization`: the init segment's URL template (`$RepresentationID$`, `$Bandwidth$`).
    pub initialization: Option<String>,
    /// `timescale`: units per second of `duration` and the timeline.
    pub timescale: Option<u64>,
    /// `startNumber`: the first segment's `$Number$`.
    pub start_number: Option<u64>,
    /// `duration`: every segment's duration in `timescale` units, when there is no timeline.
    pub duration: Option<u64>,
    /// The `SegmentTimeline`'s `S` entries, in order.
    pub timeline: Option<Vec<TimelineEntry>>,
}

/// An `S` of a `SegmentTimeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Start time in the template's timescale; `None`: right after the previous entry.
    pub t: Option<u64>,
    /// Duration of each segment the entry stands for, in the template's timescale.
    pub d: u64,
    /// Repeats after the first; negative: until the period's end.
    pub r: i64,
}

/// A `SegmentList`: each media segment's URL written out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentList {
    /// `Initialization@sourceURL`, the init segment's URL, if any.
    pub initialization: Option<String>,
    /// Each `SegmentURL@media`, in play order.
    pub media: Vec<String>,
    /// Each segment's duration, in `timescale` units.
    pub duration: Option<f64>,
    /// `timescale`: units per second of `duration` (1 when absent or 0).
    pub timescale: u64,
}

/// How a Representation's segments are addressed, with what it inherits.
#[derive(Debug, Clone, PartialEq)]
pub enum Addressing<'m> {
    /// Segment URLs listed one by one.
    List(&'m SegmentList),
    /// Segment URLs from a template, numbered or timed.
    Template(Template<'m>),
    /// SegmentBase or a plain BaseURL: the Representation is one file.
    Single,
}

/// A SegmentTemplate, its attributes inherited Representation → AdaptationSet → Period.
#[derive(Debug, Clone, PartialEq)]
pub struct Template<'m> {
    levels: Vec<&'m SegmentTemplate>,
}

/// A segment of a template: its `$Number$`, `$Time$` and duration in the template's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateSegment {
    /// The `$Number$` it fills in.
    pub number: u64,
    /// The `$Time$` it fills in: its start in the template's timescale.
    pub time: u64,
    /// Its duration in the template's timescale.
    pub duration: u64,
}

impl Mpd {
    /// Reads an MPD; an error names what is wrong (not XML, a root other than `<MPD>`, a bad duration).
    pub fn parse(text: &str) -> Result<Mpd> {
        let doc = roxmltree::Document::parse(text).map_err(|e| bad(format!("not an XML document: {e}")))?;
        let mpd = doc.root_element();
        if mpd.tag_name().name() != "MPD" {
            return Err(bad(format!("root element is <{}>, not <MPD>", mpd.tag_name().name())));
        }
        Ok(Mpd {
            dynamic: mpd.attribute("type") == Some("dynamic"),
            duration: mpd.attribute("mediaPresentationDuration").map(iso_duration).transpose()?,
            base_url: base_url(mpd),
            periods: children(mpd, "Period").map(period).collect::<Result<_>>()?,
        })
    }

    /// A Period's duration: its own, else the presentation's.
    pub fn period_duration(&self, period: &Period) -> Option<f64> {
        period.duration.or(self.duration)
    }

    /// The BaseURLs in force for a Representation, outermost first (each to be joined to the last).
    pub fn base_urls<'m>(
        &'m self,
        period: &'m Period,
        set: &'m AdaptationSet,
        rep: &'m Representation,
    ) -> impl Iterator<Item = &'m str> {
        [&self.base_url, &period.base_url, &set.base_url, &rep.base_url].into_iter().filter_map(|b| b.as_deref())
    }
}

impl Representation {
    /// Its segments' addressing: a SegmentList (its own, else its set's), else a SegmentTemplate
    /// (inherited), else a single file.
    pub fn addressing<'m>(&'m self, set: &'m AdaptationSet, period: &'m Period) -> Addressing<'m> {
        if let Some(list) = self.segment_list.as_ref().or(set.segment_list.as_ref()) {
            return Addressing::List(list);
        }
        let levels: Vec<&SegmentTemplate> =
            [&self.segment_template, &set.segment_template, &period.segment_template].into_iter().flatten().collect();
        if levels.is_empty() {
            Addressing::Single
        } else {
            Addressing::Template(Template { levels })
        }
    }

    /// `contentType`, else `mimeType`, of the Representation, else of its set.
    pub fn content<'m>(&'m self, set: &'m AdaptationSet) -> &'m str {
        [&self.content_type, &self.mime_type, &set.content_type, &set.mime_type]
            .into_iter()
            .find_map(|c| c.as_deref())
            .unwrap_or("")
    }
}

impl<'m> Template<'m> {
    fn attr<T>(&self, get: impl Fn(&'m SegmentTemplate) -> Option<T>) -> Option<T> {
        self.levels.iter().find_map(|t| get(t))
    }

    /// The media segments' URL template, from the nearest level that has one.
    pub fn media(&self) -> Option<&'m str> {
        self.attr(|t| t.media.as_deref())
    }

    /// The init segment's URL template, from the nearest level that has one.
    pub fn initialization(&self) -> Option<&'m str> {
        self.attr(|t| t.initialization.as_deref())
    }

    /// Units per second (1 when absent or 0).
    pub fn timescale(&self) -> u64 {
        self.attr(|t| t.timescale).unwrap_or(1).max(1)
    }

    /// The first segment's `$Number$` (1 when absent).
    pub fn start_number(&self) -> u64 {
        self.attr(|t| t.start_number).unwrap_or(1)
    }

    /// Every segment, from the SegmentTimeline, else from the fixed duration over the period
    /// (`period_seconds`, which a timeline's `r="-1"` also needs).
    pub fn segments(&self, period_seconds: Option<f64>) -> Result<Vec<TemplateSegment>> {
        let timescale = self.timescale();
        let start = self.start_number();
        let too_many = || bad("more than a million segments");
        let number = |i: usize| start.checked_add(i as u64).ok_or_else(|| bad("$Number$ past 2^64"));
        if let Some(timeline) = self.attr(|t| t.timeline.as_ref()) {
            let end = period_seconds.map(|p| (p * timescale as f64).round() as u64);
            let mut out = Vec::new();
            let mut t = 0u64;
            for s in timeline {
                t = s.t.unwrap_or(t);
                if s.d == 0 {
                    return Err(bad("a SegmentTimeline entry with no duration"));
                }
                let count = if s.r < 0 {
                    let end = end.ok_or_else(|| bad("r=-1 with no period duration"))?;
                    end.saturating_sub(t).div_ceil(s.d)
                } else {
                    s.r as u64 + 1
                };
                if (out.len() as u64).saturating_add(count) > MAX_SEGMENTS {
                    return Err(too_many());
                }
                for _ in 0..count {
                    out.push(TemplateSegment { number: number(out.len())?, time: t, duration: s.d });
                    t = t.checked_add(s.d).ok_or_else(|| bad("SegmentTimeline times past 2^64"))?;
                }
            }
            return Ok(out);
        }
        let Some(d) = self.attr(|t| t.duration) else {
            return Err(bad("a SegmentTemplate with neither a SegmentTimeline nor a duration"));
        };
        let total = period_seconds.ok_or_else(|| bad("a SegmentTemplate duration with no presentation duration"))?;
        let count = ((total * timescale as f64) / d.max(1) as f64).ceil() as u64;
        if d == 0 || count > MAX_SEGMENTS {
            return Err(bad("a SegmentTemplate duration of 0, or more than a million segments"));
        }
        (0..count).map(|i| Ok(TemplateSegment { number: number(i as usize)?, time: i * d, duration: d })).collect()
    }
}

/// Fills a template's `$RepresentationID$`, `$Bandwidth$`, `$Number$`, `$Time$` (each with an
/// optional `%0Nd` width) and `$$`; `number`/`time` are `None` outside a media template.
pub fn fill(template: &str, rep: &Representation, number: Option<u64>, time: Option<u64>) -> Result<String> {
    let mut out = String::new();
    let mut parts = template.split('$');
    out.push_str(parts.next().unwrap_or(""));
    while let Some(name) = parts.next() {
        let Some(after) = parts.next() else {
            return Err(bad(format!("unclosed $ in template '{template}'")));
        };
        let (var, width) = match name.split_once('%') {
            Some((v, format)) => {
                let digits = format.strip_prefix('0').unwrap_or(format).trim_end_matches('d');
                let width: usize = match digits {
                    "" => 1,
                    w => w.parse().map_err(|_| bad(format!("bad width '%{format}' in template '{template}'")))?,
                };
                if width > MAX_WIDTH {
                    return Err(bad(format!("width {width} in template '{template}' is over {MAX_WIDTH}")));
                }
                (v, width)
            }
            None => (name, 0),
        };
        let value = match var {
            "" => "$".to_owned(),
            "RepresentationID" => rep.id.clone(),
            "Bandwidth" => rep.bandwidth.to_string(),
            "Number" => number.ok_or_else(|| bad("$Number$ where no number applies"))?.to_string(),
            "Time" => time.ok_or_else(|| bad("$Time$ where no time applies"))?.to_string(),
            other => return Err(bad(format!("unknown template variable ${other}$"))),
        };
        out.push_str(&format!("{value:0>width$}"));
        out.push_str(after);
    }
    Ok(out)
}

/// `PT1H2M3.5S` (and `P1DT…`, `P1Y`, `P2W`) in seconds.
pub fn iso_duration(s: &str) -> Result<f64> {
    let invalid = || bad(format!("'{s}' is not an ISO 8601 duration"));
    let rest = s.trim().strip_prefix('P').ok_or_else(invalid)?;
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0.0;
    for (text, units) in [
        (days, &[('Y', 365.0 * 86400.0), ('M', 30.0 * 86400.0), ('W', 7.0 * 86400.0), ('D', 86400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let scale = units.iter().find(|(u, _)| *u == c).ok_or_else(invalid)?.1;
            total += number.parse::<f64>().map_err(|_| invalid())? * scale;
            number.clear();
        }
        if !number.is_empty() {
            return Err(invalid());
        }
    }
    Ok(total)
}

fn bad(why: impl Into<String>) -> FormatError {
    FormatError::new(why)
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// The node's first `<BaseURL>`, trimmed; `None` if absent or empty.
fn base_url(node: Node<'_, '_>) -> Option<String> {
    child(node, "BaseURL").and_then(|b| b.text()).map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned)
}

fn owned(node: Node<'_, '_>, name: &str) -> Option<String> {
    node.attribute(name).map(str::to_owned)
}

/// An unsigned attribute; present and not a number is an error that names it.
fn unsigned(node: Node<'_, '_>, name: &str) -> Result<Option<u64>> {
    node.attribute(name)
        .map(|v| v.trim().parse().map_err(|_| bad(format!("{}@{name}='{v}' is not a number", node.tag_name().name()))))
        .transpose()
}

fn period(node: Node<'_, '_>) -> Result<Period> {
    Ok(Period {
        duration: node.attribute("duration").map(iso_duration).transpose()?,
        base_url: base_url(node),
        segment_template: child(node, "SegmentTemplate").map(segment_template).transpose()?,
        adaptation_sets: children(node, "AdaptationSet").map(adaptation_set).collect::<Result<_>>()?,
    })
}

fn adaptation_set(node: Node<'_, '_>) -> Result<AdaptationSet> {
    Ok(AdaptationSet {
        content_type: owned(node, "contentType"),
        mime_type: owned(node, "mimeType"),
        lang: owned(node, "lang"),
        label: child(node, "Label").and_then(|l| l.text()).map(str::to_owned),
        base_url: base_url(node),
        segment_template: child(node, "SegmentTemplate").map(segment_template).transpose()?,
        segment_list: child(node, "SegmentList").map(segment_list).transpose()?,
        representations: children(node, "Representation").map(representation).collect::<Result<_>>()?,
    })
}

fn representation(node: Node<'_, '_>) -> Result<Representation> {
    Ok(Representation {
        id: node.attribute("id").unwrap_or("").to_owned(),
        bandwidth: node.attribute("bandwidth").and_then(|b| b.trim().parse().ok()).unwrap_or(0),
        content_type: owned(node, "contentType"),
        mime_type: owned(node, "mimeType"),
        base_url: base_url(node),
        segment_template: child(node, "SegmentTemplate").map(segment_template).transpose()?,
        segment_list: child(node, "SegmentList").map(segment_list).transpose()?,
    })
}

fn segment_template(node: Node<'_, '_>) -> Result<SegmentTemplate> {
    let timeline = child(node, "SegmentTimeline")
        .map(|timeline| {
            children(timeline, "S")
                .map(|s| {
                    let r =
                        s.attribute("r").map_or(Ok(0), |r| r.trim().parse().map_err(|_| bad(format!("r='{r}'"))))?;
                    Ok(TimelineEntry { t: unsigned(s, "t")?, d: unsigned(s, "d")?.unwrap_or(0), r })
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    Ok(SegmentTemplate {
        media: owned(node, "media"),
        initialization: owned(node, "initialization"),
        timescale: unsigned(node, "timescale")?,
        start_number: unsigned(node, "startNumber")?,
        duration: unsigned(node, "duration")?,
        timeline,
    })
}

fn segment_list(node: Node<'_, '_>) -> Result<SegmentList> {
    let duration = node
        .attribute("duration")
        .map(|d| d.trim().parse::<f64>().map_err(|_| bad(format!("SegmentList duration '{d}'"))))
        .transpose()?;
    Ok(SegmentList {
        initialization: child(node, "Initialization").and_then(|i| owned(i, "sourceURL")),
        media: children(node, "SegmentURL").filter_map(|s| owned(s, "media")).collect(),
        duration,
        timescale: unsigned(node, "timescale")?.unwrap_or(1).max(1),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Each addressing a stored MPD may use, and a template inherited from the Period.
    pub(crate) const MPD: &str = r#"<MPD type="static" mediaPresentationDuration="PT5.5S"><BaseURL>media/</BaseURL><Period>
<SegmentTemplate timescale="10" startNumber="5" duration="20" media="$RepresentationID$/$Number%03d$.m4s" initialization="$RepresentationID$/init.mp4"/>
<AdaptationSet contentType="video">
<Representation id="tl" bandwidth="600000"><SegmentTemplate timescale="12800" media="v/$Time$.m4s"><SegmentTimeline><S t="0" d="25600" r="1"/><S d="19200"/></SegmentTimeline></SegmentTemplate></Representation>
<Representation id="fixed" bandwidth="300000"/></AdaptationSet>
<AdaptationSet mimeType="audio/mp4"><BaseURL>audio/</BaseURL><SegmentList duration="2"><Initialization sourceURL="init.mp4"/><SegmentURL media="a1.m4s"/><SegmentURL media="a2.m4s"/><SegmentURL media="a3.m4s"/></SegmentList>
<Representation id="aac" bandwidth="128000"/></AdaptationSet>
<AdaptationSet><Representation id="whole"><BaseURL>whole.mp4</BaseURL><SegmentBase/></Representation></AdaptationSet>
</Period></MPD>"#;

    #[test]
    fn the_model_holds_periods_sets_representations_and_their_addressing() {
        let mpd = Mpd::parse(MPD).unwrap();
        assert_eq!((mpd.dynamic, mpd.duration, mpd.base_url.as_deref()), (false, Some(5.5), Some("media/")));
        let period = &mpd.periods[0];
        assert_eq!(mpd.period_duration(period), Some(5.5));
        let [video, audio, single] = &period.adaptation_sets[..] else { panic!("three sets") };
        let tl = &video.representations[0];
        assert_eq!((tl.id.as_str(), tl.bandwidth, tl.content(video)), ("tl", 600_000, "video"));
        let Addressing::Template(t) = tl.addressing(video, period) else { panic!("a template") };
        assert_eq!(t.timescale(), 12800, "its own timescale over the period's");
        let times: Vec<(u64, u64, u64)> =
            t.segments(Some(5.5)).unwrap().iter().map(|s| (s.number, s.time, s.duration)).collect();
        assert_eq!(times, [(5, 0, 25600), (6, 25600, 25600), (7, 51200, 19200)], "startNumber from the period");
        assert_eq!(fill(t.initialization().unwrap(), tl, None, None).unwrap(), "tl/init.mp4");

        let fixed = &video.representations[1];
        let Addressing::Template(t) = fixed.addressing(video, period) else { panic!("the period's template") };
        let segments = t.segments(mpd.period_duration(period)).unwrap();
        assert_eq!(segments.len(), 3, "5.5 s in 2 s segments");
        assert_eq!(fill(t.media().unwrap(), fixed, Some(segments[0].number), None).unwrap(), "fixed/005.m4s");

        let aac = &audio.representations[0];
        assert_eq!(aac.content(audio), "audio/mp4");
        let Addressing::List(list) = aac.addressing(audio, period) else { panic!("the set's list") };
        assert_eq!((list.initialization.as_deref(), list.media.len(), list.duration), (Some("init.mp4"), 3, Some(2.0)));
        let whole = &single.representations[0];
        let bare = (Representation::default(), AdaptationSet::default(), Period::default());
        assert_eq!(bare.0.addressing(&bare.1, &bare.2), Addressing::Single, "no list, no template");
        assert_eq!(mpd.base_urls(period, single, whole).collect::<Vec<_>>(), ["media/", "whole.mp4"]);
    }

    #[test]
    fn templates_fill_numbers_times_widths_and_ids() {
        let rep = Representation { id: "v1".into(), bandwidth: 800_000, ..Default::default() };
        assert_eq!(fill("$RepresentationID$/seg_$Number%05d$.m4s", &rep, Some(7), None).unwrap(), "v1/seg_00007.m4s");
        assert_eq!(fill("a/$Bandwidth$/t_$Time$.m4s", &rep, None, Some(2048)).unwrap(), "a/800000/t_2048.m4s");
        assert_eq!(fill("cost$$.mp4", &rep, None, None).unwrap(), "cost$.mp4");
        assert!(fill("$Nope$", &rep, None, None).unwrap_err().0.contains("unknown template variable"));
        assert!(fill("$Number", &rep, Some(1), None).unwrap_err().0.contains("unclosed"));
        assert!(fill("$Number%0999999999d$", &rep, Some(1), None).unwrap_err().0.contains("over 64"));
    }

    #[test]
    fn timelines_near_2_pow_64_and_huge_repeats_are_refused_not_overflowed() {
        let at = |s: &str| {
            let xml = format!(
                r#"<MPD><Period><AdaptationSet><Representation id="x"><SegmentTemplate media="$Time$"><SegmentTimeline>{s}</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>"#
            );
            let mpd = Mpd::parse(&xml)?;
            let p = &mpd.periods[0];
            let set = &p.adaptation_sets[0];
            let Addressing::Template(t) = set.representations[0].addressing(set, p) else { panic!("a template") };
            t.segments(Some(1.0))
        };
        assert!(at(r#"<S t="18446744073709551615" d="5" r="3"/>"#).unwrap_err().0.contains("2^64"));
        assert!(at(r#"<S d="1" r="2000000"/>"#).unwrap_err().0.contains("more than a million"));
        assert!(at(r#"<S d="1" r="9223372036854775807"/><S d="1" r="9223372036854775807"/>"#).is_err());
        assert!(at(r#"<S d="0"/>"#).unwrap_err().0.contains("no duration"));
        assert!(at(r#"<S t="-1" d="1"/>"#).unwrap_err().0.contains("not a number"));
    }

    #[test]
    fn durations_read_hours_minutes_seconds_and_days() {
        assert_eq!(iso_duration("PT5.500S").unwrap(), 5.5);
        assert_eq!(iso_duration("PT1H2M3S").unwrap(), 3723.0);
        assert_eq!(iso_duration("P1DT1S").unwrap(), 86401.0);
        assert_eq!(iso_duration("PT1M30.5S").unwrap(), 90.5);
        assert_eq!(iso_duration("P1DT1H").unwrap(), 90_000.0);
        assert!(iso_duration("5S").is_err());
        assert!(iso_duration("PT5").is_err());
        assert!(Mpd::parse(r#"<MPD mediaPresentationDuration="P1X"/>"#).unwrap_err().0.contains("ISO 8601"));
        assert!(Mpd::parse("<html/>").unwrap_err().0.contains("<MPD>"));
        assert!(Mpd::parse("not xml").unwrap_err().0.contains("XML"));
    }
}
