//! The drill's verdict: per rendition what arrived and what the viewer saw,
//! the kill, the failover, the HTTP errors; as text and as JSON. Pure.
//!
//! JSON schema (stable; fields are only ever added):
//! `{ "base", "locator", "selection": "top"|"all", "max_stall", "seconds", "missed_nothing": bool,
//!    "interrupted": bool,
//!    "manifests": [ {"format","path","ok","origin","detail"} ],
//!    "renditions": [ {"format","name","kind","init","segments_expected","segments_received",
//!                     "frames_received","frames_expected","media_seconds","started_at",
//!                     "stalls": [ {"at","seconds","segment"} ],"longest_stall","origins": {name: count},
//!                     "missed": [path],"saved","save_error" (only when set)} ],
//!    "kill": null | {"command","at","exit_code","seconds","note"},
//!    "failover": null | {"before","after","seconds_after_kill","path"},
//!    "errors": [ {"at","format","path","status","error","origin"} ] }`
//! Times are seconds since the drill began; paths carry no query string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::player::Stall;
use crate::playlist::Kind;

/// One manifest or playlist the drill read (or failed to).
#[derive(Debug, Clone, Serialize)]
pub struct ManifestResult {
    /// `hls` or `dash`.
    pub format: String,
    /// The URL's path, without query string.
    pub path: String,
    /// Fetched and understood.
    pub ok: bool,
    /// The origin that answered, when it said.
    pub origin: Option<String>,
    /// Why it is not ok: not fetched, or what was wrong with it.
    pub detail: Option<String>,
}

/// What one player received and what its viewer saw.
#[derive(Debug, Clone, Serialize)]
pub struct RenditionResult {
    /// `hls` or `dash`.
    pub format: String,
    /// The rendition as the manifest names it.
    pub name: String,
    /// Video, audio or other, as the manifest says.
    pub kind: Kind,
    /// The initialization segment: `None` when the rendition has none.
    pub init: Option<bool>,
    /// Media segments the playlist lists (after `--duration`).
    pub segments_expected: usize,
    /// Media segments that arrived whole, in time or late.
    pub segments_received: usize,
    /// Frames (samples) in the segments received.
    pub frames_received: u64,
    /// Frames of every segment, received or counted afterwards; `None` when a missed
    /// segment could not be fetched even then.
    pub frames_expected: Option<u64>,
    /// Seconds of media the playlist lists (after `--duration`).
    pub media_seconds: f64,
    /// When playback began, in seconds since the drill began; `None` if it never did.
    pub started_at: Option<f64>,
    /// Every time playback froze.
    pub stalls: Vec<Stall>,
    /// The longest of `stalls`, in seconds; 0 without any.
    pub longest_stall: f64,
    /// Which origin answered (the `x-mirrorcast-origin` header; `?` without it), segments per origin.
    pub origins: BTreeMap<String, u64>,
    /// Paths of the segments (init included) that never arrived after every retry.
    pub missed: Vec<String>,
    /// The file the received bytes were written to (`--save`), once the player was done.
    pub saved: Option<String>,
    /// Why `--save` kept no file for this rendition (it could not be written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_error: Option<String>,
}

impl RenditionResult {
    /// Whether every segment arrived, the init segment too; stalls are judged apart.
    pub fn complete(&self) -> bool {
        self.init != Some(false) && self.segments_received == self.segments_expected && self.missed.is_empty()
    }
}

/// The kill command's run.
#[derive(Debug, Clone, Serialize)]
pub struct KillResult {
    /// The shell command, as given.
    pub command: String,
    /// When it was started; `None` when the stream ended first.
    pub at: Option<f64>,
    /// Its exit status; `None` when it did not run, was stopped, or ended by a signal.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub seconds: f64,
    /// Why there is no exit code (the stream ended first, sh could not start, it ran past 120 s).
    pub note: Option<String>,
}

/// Who served before the kill, who took over, and how soon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failover {
    /// The origin that served the last segment before the kill.
    pub before: Option<String>,
    /// The first other origin to serve a segment after it.
    pub after: Option<String>,
    /// When that segment arrived, in seconds after the kill started; `None` if no other origin served.
    pub seconds_after_kill: Option<f64>,
    /// The path of that segment.
    pub path: Option<String>,
}

/// One failed request attempt, as a player's network layer would see it.
#[derive(Debug, Clone, Serialize)]
pub struct HttpError {
    /// When it failed, in seconds since the drill began.
    pub at: f64,
    /// `hls` or `dash`.
    pub format: String,
    /// The URL's path, without query string.
    pub path: String,
    /// The HTTP status; `None` when no answer came (refused, reset, timed out).
    pub status: Option<u16>,
    /// What went wrong, in words.
    pub error: String,
    /// The origin that answered, when one did and said so.
    pub origin: Option<String>,
}

/// A media segment that arrived: when, from which origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// When it arrived, in seconds since the drill began.
    pub at: f64,
    /// The origin that served it, when it said.
    pub origin: Option<String>,
    /// Its URL's path.
    pub path: String,
}

/// The origin before the kill and the first segment another origin served after it.
pub fn failover(arrivals: &[Arrival], kill_at: f64) -> Failover {
    let mut sorted: Vec<&Arrival> = arrivals.iter().collect();
    sorted.sort_by(|a, b| a.at.total_cmp(&b.at));
    let before = sorted.iter().rev().find(|a| a.at <= kill_at).and_then(|a| a.origin.clone());
    let after = sorted.iter().find(|a| a.at > kill_at && a.origin.is_some() && a.origin != before);
    Failover {
        before,
        after: after.and_then(|a| a.origin.clone()),
        seconds_after_kill: after.map(|a| a.at - kill_at),
        path: after.map(|a| a.path.clone()),
    }
}

/// The whole verdict; its JSON form is the schema in this module's docs.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The base URL played through, without a trailing slash.
    pub base: String,
    /// The locator's GUID.
    pub locator: String,
    /// `top` or `all`.
    pub selection: String,
    /// The longest stall, in seconds, that still counts as missing nothing.
    pub max_stall: f64,
    /// How long the drill took.
    pub seconds: f64,
    /// The verdict, set by [`DrillReport::judge`].
    pub missed_nothing: bool,
    /// Stopped before the end (a signal): no verdict; a rendition not played to its end keeps no `--save` file.
    pub interrupted: bool,
    /// Every manifest and playlist read.
    pub manifests: Vec<ManifestResult>,
    /// One per player.
    pub renditions: Vec<RenditionResult>,
    /// The kill, when `--kill` was given.
    pub kill: Option<KillResult>,
    /// The takeover, when the kill ran.
    pub failover: Option<Failover>,
    /// Every failed request attempt, retried ones included.
    pub errors: Vec<HttpError>,
}

impl DrillReport {
    /// The viewer missed nothing: the drill ran to its end, every manifest read, every segment
    /// of every rendition received, and no stall longer than `max_stall`.
    pub fn judge(&mut self) {
        self.missed_nothing = !self.interrupted
            && !self.manifests.is_empty()
            && self.manifests.iter().all(|m| m.ok)
            && !self.renditions.is_empty()
            && self.renditions.iter().all(|r| r.complete() && r.longest_stall <= self.max_stall);
    }

    /// 0 when the viewer missed nothing, else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.missed_nothing)
    }

    /// The longest stall of any player, in seconds.
    pub fn longest_stall(&self) -> f64 {
        self.renditions.iter().map(|r| r.longest_stall).fold(0.0, f64::max)
    }

    /// The report for people: failed manifests, a line per rendition, the kill, the failover, the errors.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ =
            writeln!(s, "drill: {} locator {} ({} rendition of each kind)", self.base, self.locator, self.selection);
        for m in self.manifests.iter().filter(|m| !m.ok) {
            let _ = writeln!(s, "  {:<4} manifest {}: {}", m.format, m.path, m.detail.as_deref().unwrap_or("failed"));
        }
        for r in &self.renditions {
            let frames = match r.frames_expected {
                Some(e) => format!("{}/{e}", r.frames_received),
                None => format!("{}/?", r.frames_received),
            };
            let origins: Vec<String> = r.origins.iter().map(|(o, n)| format!("{o} {n}")).collect();
            let _ = writeln!(
                s,
                "  {:<4} {:<24} {}/{} segments, {frames} frames{}, {} stall(s){}, origins: {}",
                r.format,
                r.name,
                r.segments_received,
                r.segments_expected,
                if r.init == Some(false) { ", NO init segment" } else { "" },
                r.stalls.len(),
                if r.stalls.is_empty() { String::new() } else { format!(" (longest {:.2} s)", r.longest_stall) },
                if origins.is_empty() { "none".to_owned() } else { origins.join(", ") }
            );
            for m in &r.missed {
                let _ = writeln!(s, "       missed {m}");
            }
            if let Some(why) = &r.save_error {
                let _ = writeln!(s, "       not saved: {why}");
            }
        }
        match &self.kill {
            Some(k) => match k.at {
                Some(at) => {
                    let _ = writeln!(
                        s,
                        "kill: `{}` at {at:.2} s, exit {}, took {:.2} s",
                        k.command,
                        k.exit_code.map_or("by signal".to_owned(), |c| c.to_string()),
                        k.seconds
                    );
                }
                None => {
                    let _ = writeln!(s, "kill: `{}` not run: {}", k.command, k.note.as_deref().unwrap_or(""));
                }
            },
            None => s.push_str("kill: none\n"),
        }
        if let Some(f) = &self.failover {
            let before = f.before.as_deref().unwrap_or("?");
            let _ = match (&f.after, f.seconds_after_kill) {
                (Some(after), Some(secs)) => writeln!(
                    s,
                    "failover: {before} → {after}: first segment from {after} {secs:.2} s after the kill ({})",
                    f.path.as_deref().unwrap_or("")
                ),
                _ => writeln!(s, "failover: none seen (last origin before the kill: {before})"),
            };
        }
        let _ = writeln!(s, "HTTP errors seen by the client: {}", self.errors.len());
        for e in self.errors.iter().take(20) {
            let what = match e.status {
                Some(st) if !e.error.starts_with("HTTP") => format!("HTTP {st}: {}", e.error),
                _ => e.error.clone(),
            };
            let _ = writeln!(
                s,
                "  {:>7.2} s {:<4} {} from {}: {what}",
                e.at,
                e.format,
                e.path,
                e.origin.as_deref().unwrap_or("?")
            );
        }
        if self.errors.len() > 20 {
            let _ = writeln!(s, "  … and {} more (see --json)", self.errors.len() - 20);
        }
        let _ = writeln!(s, "longest stall: {:.2} s (allowed {:.2} s)", self.longest_stall(), self.max_stall);
        s.push_str(match (self.interrupted, self.missed_nothing) {
            (true, _) => "INTERRUPTED before the end: no verdict\n",
            (false, true) => "the viewer missed nothing\n",
            (false, false) => "the viewer MISSED something\n",
        });
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(at: f64, origin: &str) -> Arrival {
        Arrival { at, origin: Some(origin.to_owned()), path: format!("/s{at}") }
    }

    #[test]
    fn failover_is_the_first_segment_from_another_origin_after_the_kill() {
        let arrivals = [arrival(1.0, "a"), arrival(5.0, "b"), arrival(2.0, "a"), arrival(3.5, "a"), arrival(6.0, "b")];
        let f = failover(&arrivals, 3.0);
        assert_eq!(f.before.as_deref(), Some("a"));
        assert_eq!(f.after.as_deref(), Some("b"));
        assert_eq!(f.seconds_after_kill, Some(2.0));
        assert_eq!(f.path.as_deref(), Some("/s5"));
        let none = failover(&[arrival(1.0, "a"), arrival(4.0, "a")], 3.0);
        assert_eq!((none.before.as_deref(), none.after), (Some("a"), None));
    }

    fn rendition(received: usize, stall: f64) -> RenditionResult {
        RenditionResult {
            format: "hls".into(),
            name: "video-320x180".into(),
            kind: Kind::Video,
            init: Some(true),
            segments_expected: 3,
            segments_received: received,
            frames_received: 75,
            frames_expected: Some(75),
            media_seconds: 6.0,
            started_at: Some(0.2),
            stalls: if stall > 0.0 { vec![Stall { at: 3.0, seconds: stall, segment: 2 }] } else { vec![] },
            longest_stall: stall,
            origins: BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 1)]),
            missed: vec![],
            saved: None,
            save_error: None,
        }
    }

    fn report(renditions: Vec<RenditionResult>, max_stall: f64) -> DrillReport {
        let mut r = DrillReport {
            base: "http://front".into(),
            locator: "l".into(),
            selection: "top".into(),
            max_stall,
            seconds: 7.0,
            missed_nothing: false,
            interrupted: false,
            manifests: vec![ManifestResult {
                format: "hls".into(),
                path: "/l/Clip.ism/manifest(format=m3u8-aapl)".into(),
                ok: true,
                origin: Some("a".into()),
                detail: None,
            }],
            renditions,
            kill: None,
            failover: None,
            errors: vec![],
        };
        r.judge();
        r
    }

    #[test]
    fn the_viewer_missed_nothing_only_with_every_segment_and_no_stall_beyond_the_allowance() {
        assert_eq!(report(vec![rendition(3, 0.0)], 0.0).exit_code(), 0);
        assert_eq!(report(vec![rendition(2, 0.0)], 0.0).exit_code(), 1, "a segment short");
        assert_eq!(report(vec![rendition(3, 0.5)], 0.0).exit_code(), 1, "a stall");
        assert_eq!(report(vec![rendition(3, 0.5)], 2.0).exit_code(), 0, "a stall within --max-stall");
        assert_eq!(report(vec![], 0.0).exit_code(), 1, "nothing played is not nothing missed");
        let mut no_init = rendition(3, 0.0);
        no_init.init = Some(false);
        assert_eq!(report(vec![no_init], 0.0).exit_code(), 1);
        let mut bad_manifest = report(vec![rendition(3, 0.0)], 0.0);
        bad_manifest.manifests[0].ok = false;
        bad_manifest.judge();
        assert_eq!(bad_manifest.exit_code(), 1);
        let mut interrupted = report(vec![rendition(3, 0.0)], 0.0);
        interrupted.interrupted = true;
        interrupted.judge();
        assert_eq!(interrupted.exit_code(), 1, "stopped before the end is no verdict");
        assert!(interrupted.to_text().contains("INTERRUPTED before the end"), "{}", interrupted.to_text());
    }

    #[test]
    fn the_text_names_segments_frames_stalls_origins_and_the_verdict() {
        let mut r = report(vec![rendition(3, 0.5)], 1.0);
        r.failover = Some(failover(&[arrival(1.0, "a"), arrival(4.2, "b")], 3.0));
        r.kill = Some(KillResult {
            command: "kill 42".into(),
            at: Some(3.0),
            exit_code: Some(0),
            seconds: 0.01,
            note: None,
        });
        let text = r.to_text();
        for needle in [
            "3/3 segments, 75/75 frames, 1 stall(s) (longest 0.50 s), origins: a 2, b 1",
            "kill: `kill 42` at 3.00 s, exit 0",
            "failover: a → b: first segment from b 1.20 s after the kill",
            "HTTP errors seen by the client: 0",
            "the viewer missed nothing",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["renditions"][0]["origins"]["b"], 1);
        assert_eq!(json["missed_nothing"], true);
    }
}
