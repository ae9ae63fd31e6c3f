//! Progress of long work on stderr, never stdout (stdout is for reports):
//! an indicatif bar on a terminal, a few plain lines otherwise (logs, CI),
//! nothing with `--json`. Plain mode says nothing before the first work is
//! done, so a run that fails at once still ends in its one error line.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Plain-line mode says how far it got at each tenth of the work.
const PLAIN_STEPS: u64 = 10;

/// How a bar shows itself: decided once from `--json` and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Silent,
}

impl Mode {
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Work of a known size in bytes or items (`total` > 0) or of unknown size (a spinner).
#[derive(Debug)]
pub struct Work {
    mode: Mode,
    label: String,
    /// Counting items (containers, records) rather than bytes.
    items: bool,
    bar: Option<ProgressBar>,
    total: u64,
    done: AtomicU64,
    /// The last tenth reported in plain-line mode.
    step: AtomicU64,
}

impl Work {
    /// Bytes to move: a bar with rate and ETA.
    pub fn bytes(mode: Mode, label: impl Into<String>, total: u64) -> Self {
        let label = label.into();
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(label.clone());
            bar
        });
        Work { mode, label, items: false, bar, total, done: AtomicU64::new(0), step: AtomicU64::new(0) }
    }

    /// Items to go through (containers, records): a bar with a count and ETA.
    pub fn items(mode: Mode, label: impl Into<String>, total: u64) -> Self {
        let label = label.into();
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ETA {eta}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(label.clone());
            bar
        });
        Work { mode, label, items: true, bar, total, done: AtomicU64::new(0), step: AtomicU64::new(0) }
    }

    /// Work whose size is not known up front: a spinner with the time spent.
    pub fn spinner(mode: Mode, label: impl Into<String>) -> Self {
        let label = label.into();
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("the template is valid"));
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Work { mode, label, items: false, bar, total: 0, done: AtomicU64::new(0), step: AtomicU64::new(0) }
    }

    /// `n` more bytes done.
    pub fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if self.mode == Mode::Lines && self.total > 0 {
            let step = (done.min(self.total) * PLAIN_STEPS) / self.total;
            let before = self.step.fetch_max(step, Ordering::Relaxed);
            if step > before && step < PLAIN_STEPS {
                let (done, total) = match self.items {
                    true => (done.to_string(), self.total.to_string()),
                    false => (crate::output::bytes(done), crate::output::bytes(self.total)),
                };
                errln!("{}: {}% ({done} of {total})", self.label, step * 100 / PLAIN_STEPS);
            }
        }
    }

    /// Clears the bar; plain mode says it is done.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.mode == Mode::Lines {
            errln!("{}: done", self.label);
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // An error path leaves no half-drawn bar over the error line.
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_report_each_tenth_once() {
        let work = Work::bytes(Mode::Lines, "upload", 1000);
        for _ in 0..100 {
            work.advance(10);
        }
        assert_eq!(work.step.load(Ordering::Relaxed), PLAIN_STEPS);
        assert_eq!(work.done.load(Ordering::Relaxed), 1000);
        assert!(work.bar.is_none(), "no bar off a terminal");
        let silent = Work::bytes(Mode::Silent, "upload", 1000);
        silent.advance(500);
        assert_eq!(silent.step.load(Ordering::Relaxed), 0, "silent mode counts no steps");
        let items = Work::items(Mode::Lines, "adopt", 3);
        (0..3).for_each(|_| items.advance(1));
        assert_eq!((items.step.load(Ordering::Relaxed), items.done.load(Ordering::Relaxed)), (PLAIN_STEPS, 3));
    }
}
