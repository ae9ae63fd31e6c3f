//! A player's buffer, as arithmetic on one clock (seconds since the drill began):
//! playback starts once `start_buffer` seconds of media are in; the next segment is
//! asked for when less than `target` seconds are buffered ahead; when the buffer runs
//! dry before the next segment arrives, the viewer sees a stall, from the moment it
//! ran dry to the moment that segment arrived. Pure: no clock of its own.

use serde::Serialize;

/// One stall: playback stopped at `at` (seconds since the drill began) for `seconds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stall {
    /// When playback stopped, in seconds since the drill began.
    pub at: f64,
    /// How long the viewer looked at a frozen picture.
    pub seconds: f64,
    /// The segment whose late arrival ended it (its index in the rendition).
    pub segment: usize,
}

/// One player's buffer and playback position, moved forward by the caller's clock.
#[derive(Debug, Clone)]
pub struct Playhead {
    start_buffer: f64,
    target: f64,
    /// Media seconds received (or given up on: a missed segment is skipped, not waited for).
    buffered: f64,
    /// When playback last (re)started, and the media position it started from.
    playing: Option<(f64, f64)>,
    /// When playback first started.
    pub started_at: Option<f64>,
    /// Every stall so far, in order.
    pub stalls: Vec<Stall>,
}

impl Playhead {
    /// `start_buffer`: seconds of media before playback starts; `target`: seconds kept ahead.
    pub fn new(start_buffer: f64, target: f64) -> Self {
        Playhead {
            start_buffer,
            target: target.max(start_buffer),
            buffered: 0.0,
            playing: None,
            started_at: None,
            stalls: Vec::new(),
        }
    }

    /// When the buffer runs (or ran) dry if nothing more arrives.
    fn dry_at(&self) -> Option<f64> {
        self.playing.map(|(since, from)| since + (self.buffered - from))
    }

    /// The media position shown at `now`.
    pub fn position(&self, now: f64) -> f64 {
        match self.playing {
            Some((since, from)) => (from + (now - since).max(0.0)).min(self.buffered),
            None => 0.0,
        }
    }

    /// When to ask for the next segment: now, unless `target` seconds are already buffered ahead.
    pub fn next_fetch_at(&self, now: f64) -> f64 {
        match self.dry_at() {
            Some(dry) => now.max(dry - self.target),
            None => now,
        }
    }

    /// A segment of `duration` seconds, the `index`th of its rendition, arrived at `now`.
    /// `last`: no segment follows it (playback starts even below the start buffer).
    pub fn arrived(&mut self, now: f64, duration: f64, index: usize, last: bool) {
        if let Some(dry) = self.dry_at() {
            if now > dry {
                self.stalls.push(Stall { at: dry, seconds: now - dry, segment: index });
                self.playing = Some((now, self.buffered));
            }
        }
        self.buffered += duration;
        if self.playing.is_none() && (self.buffered >= self.start_buffer || last) {
            self.playing = Some((now, 0.0));
            self.started_at = Some(now);
        }
    }

    /// A segment that never arrived: the player skips its media (the viewer misses it)
    /// rather than waiting for ever.
    pub fn missed(&mut self, now: f64, duration: f64, index: usize, last: bool) {
        self.arrived(now, duration, index, last);
    }

    /// The longest stall so far, in seconds.
    pub fn longest_stall(&self) -> f64 {
        self.stalls.iter().map(|s| s.seconds).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_starts_after_the_start_buffer_and_fetches_are_paced_by_the_target() {
        let mut p = Playhead::new(2.0, 4.0);
        assert_eq!(p.next_fetch_at(0.0), 0.0, "nothing buffered: fetch at once");
        p.arrived(0.5, 2.0, 0, false);
        assert_eq!(p.started_at, Some(0.5));
        assert_eq!(p.next_fetch_at(0.5), 0.5, "2 s ahead < 4 s target");
        p.arrived(0.7, 2.0, 1, false);
        // 4 s received, playing since 0.5: dry at 4.5; the next is asked for at 4.5 - 4 = 0.5 → now.
        assert_eq!(p.next_fetch_at(0.7), 0.7);
        p.arrived(0.9, 2.0, 2, false);
        // 6 s received: dry at 6.5, next asked for at 2.5.
        assert_eq!(p.next_fetch_at(0.9), 2.5);
        assert!((p.position(2.5) - 2.0).abs() < 1e-9);
        assert!(p.stalls.is_empty());
    }

    #[test]
    fn a_segment_arriving_after_the_buffer_ran_dry_is_a_stall_of_the_gap() {
        let mut p = Playhead::new(2.0, 2.0);
        p.arrived(1.0, 2.0, 0, false); // playing from 1.0, dry at 3.0
        p.arrived(2.0, 2.0, 1, false); // dry at 5.0
        p.arrived(6.5, 2.0, 2, false); // 1.5 s late
        assert_eq!(p.stalls, [Stall { at: 5.0, seconds: 1.5, segment: 2 }]);
        // Playback resumed at 6.5 from 4 s: dry at 8.5.
        p.arrived(8.5, 2.0, 3, true);
        assert_eq!(p.stalls.len(), 1, "arriving exactly when the buffer runs dry is no stall");
        assert_eq!(p.longest_stall(), 1.5);
        assert!((p.position(9.0) - 6.5).abs() < 1e-9);
    }

    #[test]
    fn startup_is_not_a_stall_and_a_short_stream_starts_on_its_last_segment() {
        let mut p = Playhead::new(10.0, 10.0);
        p.arrived(3.0, 1.0, 0, true);
        assert_eq!(p.started_at, Some(3.0));
        assert!(p.stalls.is_empty());
    }

    #[test]
    fn a_missed_segment_is_skipped_and_what_comes_late_after_it_still_counts() {
        let mut p = Playhead::new(2.0, 2.0);
        p.arrived(0.0, 2.0, 0, false); // dry at 2.0
        p.missed(1.0, 2.0, 1, false); // given up on before it was due: dry at 4.0
        p.arrived(5.0, 2.0, 2, true);
        assert_eq!(p.stalls, [Stall { at: 4.0, seconds: 1.0, segment: 2 }]);
    }
}
