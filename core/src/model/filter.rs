//! Dynamic manifest filters in Media Services' v3 shape: a presentation time range,
//! a first quality, and track selections. Asset filters (per asset) and account
//! filters (per data center) share this one record; which one a name means is the
//! catalog's business (an asset filter wins over an account filter of the same name).
//!
//! Pure: read from the v3 JSON ([`Filter::from_json`], every field checked and named in
//! the error), written back in it (serde), checked ([`Filter::validate`]), and matched
//! against a track's facts ([`Filter::keeps`]). What a filter does to a manifest is the
//! origin's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Most conditions in one track selection (as Media Services allowed).
pub const MAX_CONDITIONS_PER_SELECTION: usize = 10;
/// Most conditions in one filter, over all its selections.
pub const MAX_CONDITIONS: usize = 1_000;
/// Longest filter name.
pub const NAME_CHARS: usize = 128;
/// Longest condition value.
pub const VALUE_CHARS: usize = 256;
/// The largest timestamp or duration: Media Services held them as signed 64-bit.
pub const MAX_TIME: u64 = i64::MAX as u64;
/// The timescale when a time range names none: 100 ns ticks, as Media Services.
pub const DEFAULT_TIMESCALE: u64 = 10_000_000;

/// A dynamic manifest filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// The filter's name: what `filter=` in a URL and a locator's `filters` name.
    pub name: String,
    /// Which part of the presentation is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_time_range: Option<PresentationTimeRange>,
    /// The bitrate an HLS master offers first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_quality: Option<FirstQuality>,
    /// Which tracks are kept: a track is kept when any selection keeps it (none: all are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<TrackSelection>,
}

/// v3 `presentationTimeRange`. Times are in `timescale` units (default 100 ns).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresentationTimeRange {
    /// Where the presentation starts (fragments that end before it are left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<u64>,
    /// Where it ends (fragments that start at or after it are left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<u64>,
    /// Live only: the length of the sliding window (kept, not applied to on-demand assets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_window_duration: Option<u64>,
    /// Live only: how far behind the live edge a player starts (kept, not applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_backoff_duration: Option<u64>,
    /// Units per second of the times above; [`DEFAULT_TIMESCALE`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timescale: Option<u64>,
    /// Live only: whether `endTimestamp` must be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_end_timestamp: Option<bool>,
}

impl PresentationTimeRange {
    /// The timescale in force.
    pub fn timescale(&self) -> u64 {
        self.timescale.unwrap_or(DEFAULT_TIMESCALE)
    }
}

/// v3 `firstQuality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstQuality {
    /// Bits per second of the rendition to offer first.
    pub bitrate: u64,
}

/// One v3 track selection: its conditions all hold for a kept track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackSelection {
    /// The conditions, ANDed.
    pub track_selections: Vec<Condition>,
}

/// One condition on a track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What of the track is compared.
    pub property: Property,
    /// Equal or not.
    pub operation: Operation,
    /// What it is compared with (`Audio`, `en`, `avc1`, `0-500000`, a track name).
    pub value: String,
}

/// The track properties a condition may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Property {
    /// `Audio`, `Video` or `Text`.
    Type,
    /// The track's name (`video`, or the `.ism`'s `trackName`).
    Name,
    /// The track's language tag.
    Language,
    /// The codec's four-character code (`avc1`, `mp4a`), case-insensitive.
    FourCC,
    /// The rendition's bitrate in bits per second: a number, or a range `low-high` (inclusive).
    Bitrate,
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// The property has the value (or is within the range).
    Equal,
    /// It has not (a track without the property has not).
    NotEqual,
}

/// What a filter's conditions are tested against: one rendition of a track.
#[derive(Debug, Clone, Copy)]
pub struct TrackFacts<'a> {
    /// `Audio`, `Video` or `Text`.
    pub kind: &'a str,
    /// The track's name.
    pub name: &'a str,
    /// Its language, if it has one.
    pub language: Option<&'a str>,
    /// Its sample entry's four-character code.
    pub fourcc: &'a str,
    /// Its bitrate in bits per second.
    pub bitrate: u64,
}

impl Filter {
    /// A filter read from v3 JSON (what `az ams asset-filter show` prints, or just the
    /// filter's properties), checked. The ARM envelope (`id`, `type`, `resourceGroup`,
    /// `systemData`) is accepted and dropped; any other unknown property is refused by name.
    /// `name` is used when the document names none.
    pub fn from_json(text: &str, name: Option<&str>) -> Result<Filter> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid_input(format!("a filter document is not JSON: {e}")))?;
        Filter::from_value(&value, name)
    }

    /// [`Filter::from_json`] of a parsed document.
    pub fn from_value(value: &Value, name: Option<&str>) -> Result<Filter> {
        let top = object(value, "the filter")?;
        // ARM wraps the properties in `properties`; az flattens them.
        const ENVELOPE: [&str; 6] = ["id", "name", "type", "resourceGroup", "systemData", "properties"];
        const PROPERTIES: [&str; 3] = ["presentationTimeRange", "firstQuality", "tracks"];
        let wrapped = top.get("properties").map(|p| object(p, "properties")).transpose()?;
        let props = wrapped.unwrap_or(top);
        for key in top.keys() {
            let flat_property = wrapped.is_none() && PROPERTIES.contains(&key.as_str());
            if !ENVELOPE.contains(&key.as_str()) && !flat_property {
                return Err(unknown(key, "the filter"));
            }
        }
        if let Some(key) = wrapped.and_then(|p| p.keys().find(|k| !PROPERTIES.contains(&k.as_str()))) {
            return Err(unknown(key, "properties"));
        }
        let name = match (top.get("name"), name) {
            (Some(Value::String(n)), _) => n.clone(),
            (Some(_), _) => return Err(Error::invalid_input("filter field 'name' is not text")),
            (None, Some(n)) => n.to_owned(),
            (None, None) => return Err(Error::invalid_input("a filter names no 'name'")),
        };
        let presentation_time_range = match props.get("presentationTimeRange") {
            None | Some(Value::Null) => None,
            Some(v) => Some(time_range(v)?),
        };
        let first_quality = match props.get("firstQuality") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let o = object(v, "firstQuality")?;
                if let Some(key) = o.keys().find(|k| *k != "bitrate") {
                    return Err(unknown(key, "firstQuality"));
                }
                let bitrate =
                    o.get("bitrate").ok_or_else(|| Error::invalid_input("firstQuality names no 'bitrate'"))?;
                Some(FirstQuality { bitrate: number(bitrate, "firstQuality.bitrate")? })
            }
        };
        let tracks = match props.get("tracks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.iter().enumerate().map(|(i, s)| selection(s, i)).collect::<Result<_>>()?,
            Some(_) => return Err(Error::invalid_input("filter field 'tracks' is not a list")),
        };
        let filter = Filter { name, presentation_time_range, first_quality, tracks };
        filter.validate()?;
        Ok(filter)
    }

    /// The filter's checks, each error naming the field: a name Media Services would take,
    /// times within signed 64 bits, a timescale above 0, an end after the start, at most
    /// [`MAX_CONDITIONS_PER_SELECTION`] conditions per selection and [`MAX_CONDITIONS`] in all,
    /// values that parse (`Type`: Audio/Video/Text, `Bitrate`: a number or `low-high`).
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name)?;
        let named = |e: Error| e.context(format!("filter '{}'", self.name));
        if let Some(range) = &self.presentation_time_range {
            range.validate().map_err(named)?;
        }
        if let Some(q) = &self.first_quality {
            if q.bitrate == 0 || q.bitrate > MAX_TIME {
                return Err(named(Error::invalid_input("firstQuality.bitrate must be above 0 and within 2^63")));
            }
        }
        let total: usize = self.tracks.iter().map(|s| s.track_selections.len()).sum();
        if total > MAX_CONDITIONS {
            return Err(named(Error::invalid_input(format!(
                "tracks hold {total} conditions; at most {MAX_CONDITIONS} in all"
            ))));
        }
        for (i, s) in self.tracks.iter().enumerate() {
            let n = s.track_selections.len();
            if n == 0 || n > MAX_CONDITIONS_PER_SELECTION {
                return Err(named(Error::invalid_input(format!(
                    "tracks[{i}] holds {n} conditions; from 1 to {MAX_CONDITIONS_PER_SELECTION}"
                ))));
            }
            for (j, c) in s.track_selections.iter().enumerate() {
                c.validate().map_err(|e| named(e.context(format!("tracks[{i}].trackSelections[{j}]"))))?;
            }
        }
        Ok(())
    }

    /// A filter that only names a first quality (the HLS master offers `bitrate` first).
    pub fn with_first_quality(name: &str, bitrate: u64) -> Filter {
        Filter {
            name: name.to_owned(),
            presentation_time_range: None,
            first_quality: Some(FirstQuality { bitrate }),
            tracks: Vec::new(),
        }
    }

    /// Whether `other` is this filter, but for the case of its name (the catalog keeps names
    /// case-blind).
    pub fn same_as(&self, other: &Filter) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && (&self.presentation_time_range, &self.first_quality, &self.tracks)
                == (&other.presentation_time_range, &other.first_quality, &other.tracks)
    }

    /// The filter as compact v3 JSON: what an origin hashes into a filtered manifest's ETag.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the filter's track selections keep this track (no selection: every track).
    pub fn keeps(&self, track: &TrackFacts<'_>) -> bool {
        self.tracks.is_empty() || self.tracks.iter().any(|s| s.track_selections.iter().all(|c| c.holds(track)))
    }

    /// The range of presentation time kept, in seconds as a fraction `(start, end, timescale)`:
    /// `None` when the filter keeps all of it.
    pub fn time_window(&self) -> Option<(u64, Option<u64>, u64)> {
        let r = self.presentation_time_range.as_ref()?;
        if r.start_timestamp.is_none() && r.end_timestamp.is_none() {
            return None;
        }
        Some((r.start_timestamp.unwrap_or(0), r.end_timestamp, r.timescale()))
    }
}

impl PresentationTimeRange {
    /// Times within signed 64 bits, a timescale above 0, an end after the start.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("startTimestamp", self.start_timestamp),
            ("endTimestamp", self.end_timestamp),
            ("presentationWindowDuration", self.presentation_window_duration),
            ("liveBackoffDuration", self.live_backoff_duration),
            ("timescale", self.timescale),
        ] {
            if v.is_some_and(|v| v > MAX_TIME) {
                return Err(Error::invalid_input(format!(
                    "presentationTimeRange.{field} is past 2^63-1 (Media Services held times as signed 64-bit)"
                )));
            }
        }
        if self.timescale == Some(0) {
            return Err(Error::invalid_input(
                "presentationTimeRange.timescale is 0: give units per second, e.g. 10000000",
            ));
        }
        if let (Some(start), Some(end)) = (self.start_timestamp, self.end_timestamp) {
            if end <= start {
                return Err(Error::invalid_input(format!(
                    "presentationTimeRange.endTimestamp {end} is not after startTimestamp {start}"
                )));
            }
        }
        Ok(())
    }
}

impl Condition {
    /// A value that parses for its property, not empty, not too long, no control character.
    pub fn validate(&self) -> Result<()> {
        let v = self.value.trim();
        if v.is_empty() || self.value.chars().count() > VALUE_CHARS || self.value.chars().any(char::is_control) {
            return Err(Error::invalid_input(format!(
                "the value of a {:?} condition is empty, longer than {VALUE_CHARS} characters or holds control characters",
                self.property
            )));
        }
        match self.property {
            Property::Type if !["audio", "video", "text"].contains(&v.to_ascii_lowercase().as_str()) => {
                Err(Error::invalid_input(format!("Type '{v}' is not Audio, Video or Text")))
            }
            Property::Bitrate => bitrate_range(v).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Whether the track meets the condition.
    pub fn holds(&self, track: &TrackFacts<'_>) -> bool {
        let v = self.value.trim();
        let equal = match self.property {
            Property::Type => track.kind.eq_ignore_ascii_case(v),
            Property::Name => track.name.eq_ignore_ascii_case(v),
            Property::Language => track.language.is_some_and(|l| same_language(l, v)),
            Property::FourCC => track.fourcc.eq_ignore_ascii_case(v),
            Property::Bitrate => bitrate_range(v).is_ok_and(|(low, high)| (low..=high).contains(&track.bitrate)),
        };
        equal == (self.operation == Operation::Equal)
    }
}

/// `en` matches `en-US` and `EN`: a tag, or its primary subtag.
fn same_language(track: &str, wanted: &str) -> bool {
    let primary = |t: &str| t.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    track.eq_ignore_ascii_case(wanted) || (!wanted.contains(['-', '_']) && primary(track) == primary(wanted))
}

/// `500000` or `0-500000` (inclusive); low not above high.
fn bitrate_range(v: &str) -> Result<(u64, u64)> {
    let parse = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| {
            Error::invalid_input(format!("Bitrate '{v}' is not a number or a range 'low-high' of bits per second"))
        })
    };
    let (low, high) = match v.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let n = parse(v)?;
            (n, n)
        }
    };
    if low > high {
        return Err(Error::invalid_input(format!("Bitrate range '{v}' runs backwards")));
    }
    Ok((low, high))
}

/// Names Media Services took for filters: 1 to 128 letters, digits, `-`, `_` (a URL
/// combines names with `;` inside `(…,…)`, so no other character can stand in one).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "filter name '{}' is not 1 to {NAME_CHARS} letters, digits, '-' or '_'",
            name.chars().take(NAME_CHARS).filter(|c| !c.is_control()).collect::<String>()
        )))
    }
}

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>> {
    value.as_object().ok_or_else(|| Error::invalid_input(format!("{what} is not a JSON object")))
}

fn unknown(key: &str, within: &str) -> Error {
    let key: String = key.chars().take(64).filter(|c| !c.is_control()).collect();
    Error::invalid_input(format!("unknown property '{key}' in {within}"))
}

/// A whole number within signed 64 bits (so `2^63` and `-1` are refused, naming `field`).
fn number(value: &Value, field: &str) -> Result<u64> {
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(v) if v <= MAX_TIME => Ok(v),
            Some(_) => Err(Error::invalid_input(format!("{field} is past 2^63-1"))),
            None if n.as_i64().is_some() => Err(Error::invalid_input(format!("{field} is negative"))),
            None => Err(Error::invalid_input(format!("{field} is not a whole number within 2^63-1"))),
        },
        // Some exports write 64-bit numbers as text, so they survive JavaScript.
        Value::String(s) => match s.trim().parse::<u128>() {
            Ok(v) if v <= MAX_TIME as u128 => Ok(v as u64),
            Ok(_) => Err(Error::invalid_input(format!("{field} is past 2^63-1"))),
            Err(_) => Err(Error::invalid_input(format!("{field} is not a whole number"))),
        },
        _ => Err(Error::invalid_input(format!("{field} is not a whole number"))),
    }
}

fn time_range(value: &Value) -> Result<PresentationTimeRange> {
    let o = object(value, "presentationTimeRange")?;
    let mut r = PresentationTimeRange::default();
    for (key, v) in o {
        let field = format!("presentationTimeRange.{key}");
        if v.is_null() {
            continue;
        }
        match key.as_str() {
            "startTimestamp" => r.start_timestamp = Some(number(v, &field)?),
            "endTimestamp" => r.end_timestamp = Some(number(v, &field)?),
            "presentationWindowDuration" => r.presentation_window_duration = Some(number(v, &field)?),
            "liveBackoffDuration" => r.live_backoff_duration = Some(number(v, &field)?),
            "timescale" => r.timescale = Some(number(v, &field)?),
            "forceEndTimestamp" => {
                r.force_end_timestamp =
                    Some(v.as_bool().ok_or_else(|| Error::invalid_input(format!("{field} is not true or false")))?)
            }
            other => return Err(unknown(other, "presentationTimeRange")),
        }
    }
    Ok(r)
}

fn selection(value: &Value, i: usize) -> Result<TrackSelection> {
    let within = format!("tracks[{i}]");
    let o = object(value, &within)?;
    if let Some(key) = o.keys().find(|k| *k != "trackSelections") {
        return Err(unknown(key, &within));
    }
    let list = match o.get("trackSelections") {
        Some(Value::Array(list)) => list,
        _ => return Err(Error::invalid_input(format!("{within}.trackSelections is not a list"))),
    };
    let conditions = list
        .iter()
        .enumerate()
        .map(|(j, c)| condition(c, &format!("{within}.trackSelections[{j}]")))
        .collect::<Result<_>>()?;
    Ok(TrackSelection { track_selections: conditions })
}

fn condition(value: &Value, within: &str) -> Result<Condition> {
    let o = object(value, within)?;
    if let Some(key) = o.keys().find(|k| !["property", "operation", "value"].contains(&k.as_str())) {
        return Err(unknown(key, within));
    }
    let text = |key: &str| match o.get(key) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(Error::invalid_input(format!("{within}.{key} is missing or not text"))),
    };
    let property = match text("property")?.to_ascii_lowercase().as_str() {
        "type" => Property::Type,
        "name" => Property::Name,
        "language" => Property::Language,
        "fourcc" => Property::FourCC,
        "bitrate" => Property::Bitrate,
        _ => {
            return Err(Error::invalid_input(format!(
                "{within}.property '{}' is not Type, Name, Language, FourCC or Bitrate",
                text("property")?.chars().take(32).collect::<String>()
            )))
        }
    };
    let operation = match text("operation")?.to_ascii_lowercase().as_str() {
        "equal" => Operation::Equal,
        "notequal" => Operation::NotEqual,
        _ => {
            return Err(Error::invalid_input(format!(
                "{within}.operation '{}' is not Equal or NotEqual",
                text("operation")?.chars().take(32).collect::<String>()
            )))
        }
    };
    let value = match o.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(Error::invalid_input(format!("{within}.value is missing or not text"))),
    };
    Ok(Condition { property, operation, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AZ_SHOW: &str = r#"{
      "firstQuality": { "bitrate": 128000 },
      "id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Media/mediaservices/ams/assets/a/assetFilters/first30s",
      "name": "first30s",
      "presentationTimeRange": {
        "endTimestamp": 300000000, "forceEndTimestamp": false, "liveBackoffDuration": 0,
        "presentationWindowDuration": 9223372036854775807, "startTimestamp": 0, "timescale": 10000000
      },
      "resourceGroup": "rg",
      "tracks": [
        { "trackSelections": [
          { "operation": "Equal", "property": "Type", "value": "Audio" },
          { "operation": "Equal", "property": "Language", "value": "en" } ] },
        { "trackSelections": [
          { "operation": "Equal", "property": "Type", "value": "Video" },
          { "operation": "Equal", "property": "Bitrate", "value": "0-1000000" } ] }
      ],
      "type": "Microsoft.Media/mediaservices/assets/assetFilters"
    }"#;

    fn facts<'a>(kind: &'a str, language: Option<&'a str>, bitrate: u64) -> TrackFacts<'a> {
        TrackFacts { kind, name: if kind == "Video" { "video" } else { "aac_eng" }, language, fourcc: "avc1", bitrate }
    }

    #[test]
    fn an_az_ams_filter_reads_and_writes_back_in_the_v3_shape() {
        let f = Filter::from_json(AZ_SHOW, None).unwrap();
        assert_eq!(f.name, "first30s");
        assert_eq!(f.first_quality, Some(FirstQuality { bitrate: 128_000 }));
        let r = f.presentation_time_range.as_ref().unwrap();
        assert_eq!((r.start_timestamp, r.end_timestamp, r.timescale()), (Some(0), Some(300_000_000), 10_000_000));
        assert_eq!(r.presentation_window_duration, Some(MAX_TIME));
        assert_eq!(f.tracks.len(), 2);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"presentationTimeRange\"") && json.contains("\"trackSelections\""), "{json}");
        assert_eq!(Filter::from_json(&json, None).unwrap(), f, "written back, read the same");
        let arm = format!(
            r#"{{"name":"x","properties":{}}}"#,
            serde_json::to_string(&serde_json::json!({"tracks": f.tracks})).unwrap()
        );
        assert_eq!(Filter::from_json(&arm, None).unwrap().tracks, f.tracks, "ARM's properties envelope");
    }

    #[test]
    fn selections_are_ored_and_conditions_anded() {
        let f = Filter::from_json(AZ_SHOW, None).unwrap();
        assert!(f.keeps(&facts("Audio", Some("en-US"), 128_000)));
        assert!(!f.keeps(&facts("Audio", Some("es"), 128_000)), "Spanish audio is in no selection");
        assert!(!f.keeps(&facts("Audio", None, 128_000)), "a track without a language is not English");
        assert!(f.keeps(&facts("Video", None, 1_000_000)), "the range is inclusive");
        assert!(!f.keeps(&facts("Video", None, 1_000_001)));
        let not = Filter::from_json(
            r#"{"name":"noaudio","tracks":[{"trackSelections":[{"property":"Type","operation":"NotEqual","value":"audio"}]}]}"#,
            None,
        )
        .unwrap();
        assert!(not.keeps(&facts("Video", None, 1)) && !not.keeps(&facts("Audio", None, 1)));
        let all = Filter { name: "all".into(), presentation_time_range: None, first_quality: None, tracks: vec![] };
        assert!(all.keeps(&facts("Audio", None, 1)));
    }

    #[test]
    fn each_bad_filter_is_refused_naming_its_field() {
        let with_range = |range: &str| format!(r#"{{"name":"f","presentationTimeRange":{range}}}"#);
        let cond = |c: &str| format!(r#"{{"name":"f","tracks":[{{"trackSelections":[{c}]}}]}}"#);
        let ok_cond = r#"{"property":"Type","operation":"Equal","value":"Video"}"#;
        let cases: Vec<(String, &str)> = vec![
            (with_range(r#"{"startTimestamp":20,"endTimestamp":10}"#), "endTimestamp"),
            (with_range(r#"{"startTimestamp":10,"endTimestamp":10}"#), "endTimestamp"),
            (with_range(r#"{"endTimestamp":9223372036854775808}"#), "endTimestamp"),
            (with_range(r#"{"startTimestamp":99999999999999999999999}"#), "startTimestamp"),
            (with_range(r#"{"startTimestamp":-1}"#), "startTimestamp"),
            (with_range(r#"{"timescale":0}"#), "timescale"),
            (with_range(r#"{"timeScale":10}"#), "timeScale"),
            (with_range(r#"{"forceEndTimestamp":"yes"}"#), "forceEndTimestamp"),
            (cond(r#"{"property":"Colour","operation":"Equal","value":"x"}"#), "property"),
            (cond(r#"{"property":"Type","operation":"GreaterThan","value":"Video"}"#), "operation"),
            (cond(r#"{"property":"Type","operation":"Equal","value":"Subtitle"}"#), "Type"),
            (cond(r#"{"property":"Bitrate","operation":"Equal","value":"9-1"}"#), "Bitrate"),
            (cond(r#"{"property":"Bitrate","operation":"Equal","value":"lots"}"#), "Bitrate"),
            (cond(r#"{"property":"Name","operation":"Equal","value":""}"#), "empty"),
            (cond(r#"{"property":"Name","operation":"Equal","value":"x","extra":1}"#), "extra"),
            (cond(&[ok_cond; 11].join(",")), "11 conditions"),
            (r#"{"name":"f","tracks":[{"trackSelections":[]}]}"#.to_owned(), "0 conditions"),
            (r#"{"name":"f","colour":"red"}"#.to_owned(), "colour"),
            (r#"{"name":"f","firstQuality":{"bitrate":0}}"#.to_owned(), "firstQuality.bitrate"),
            (r#"{"name":"f","firstQuality":{"bitRate":1}}"#.to_owned(), "bitRate"),
            (r#"{"name":"a;b"}"#.to_owned(), "filter name"),
            (r#"{"name":""}"#.to_owned(), "filter name"),
            (format!(r#"{{"name":"{}"}}"#, "n".repeat(NAME_CHARS + 1)), "filter name"),
            (r#"{"name":"a b"}"#.to_owned(), "filter name"),
            (r#"[1]"#.to_owned(), "not a JSON object"),
        ];
        for (doc, field) in cases {
            let err = Filter::from_json(&doc, None).expect_err(&doc).to_string();
            assert!(err.contains(field), "{doc}: {err} names no {field}");
        }
        let many = format!(r#"{{"trackSelections":[{}]}}"#, [ok_cond; 10].join(","));
        let doc = format!(r#"{{"name":"f","tracks":[{}]}}"#, vec![many.as_str(); 101].join(","));
        let err = Filter::from_json(&doc, None).unwrap_err().to_string();
        assert!(err.contains("1010 conditions"), "{err}");
    }

    proptest! {
        /// Whatever a valid filter holds, its JSON reads back the same filter.
        #[test]
        fn valid_filters_round_trip(
            start in proptest::option::of(0u64..1_000_000),
            length in 1u64..MAX_TIME / 2,
            timescale in proptest::option::of(1u64..=MAX_TIME),
            bitrate in proptest::option::of(1u64..=MAX_TIME),
            low in 0u64..10_000_000, span in 0u64..10_000_000,
            name in "[A-Za-z0-9_-]{1,128}",
        ) {
            let range = PresentationTimeRange {
                start_timestamp: start,
                end_timestamp: start.map(|s| s + length),
                timescale,
                ..Default::default()
            };
            let tracks = vec![TrackSelection { track_selections: vec![Condition {
                property: Property::Bitrate, operation: Operation::NotEqual, value: format!("{low}-{}", low + span),
            }] }];
            let f = Filter { name, presentation_time_range: Some(range), first_quality: bitrate.map(|bitrate| FirstQuality { bitrate }), tracks };
            f.validate().unwrap();
            let json = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(Filter::from_json(&json, None).unwrap(), f);
        }

        /// Any JSON is read or refused, never a panic.
        #[test]
        fn any_document_is_read_or_refused(doc in ".{0,200}") {
            let _ = Filter::from_json(&doc, Some("f"));
        }

        /// Any numbers in a time range: accepted only within 2^63 with the end after the start.
        #[test]
        fn time_ranges_are_refused_exactly_when_out_of_bounds(start in any::<u64>(), end in any::<u64>(), ts in any::<u64>()) {
            let doc = format!(r#"{{"name":"f","presentationTimeRange":{{"startTimestamp":{start},"endTimestamp":{end},"timescale":{ts}}}}}"#);
            let ok = start <= MAX_TIME && end <= MAX_TIME && ts <= MAX_TIME && ts > 0 && end > start;
            prop_assert_eq!(Filter::from_json(&doc, None).is_ok(), ok);
        }
    }
}
