//! Progress of long work on stderr, never stdout (stdout is for reports), for
//! every command (upload, adopt, import, verify, encode, replicate): an indicatif
//! bar on a terminal, a few plain lines otherwise (logs, CI), nothing with
//! `--json`. Plain mode says nothing before the first work is done, so a run
//! that fails at once still ends in its one error line.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Plain-line mode says how far it got at each tenth of the work.
const PLAIN_STEPS: u64 = 10;

/// How a bar shows itself: decided once from `--json` and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Bar,
    Lines,
    Silent,
}

/// `-q`: no progress, whatever the command asks.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set once by `main` from `-q`.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

impl Mode {
    pub(crate) fn detect(quiet: bool) -> Self {
        if quiet || QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Work of a known size in bytes or items, of a size learnt as it is planned, a
/// percentage, or of unknown size (a spinner).
#[derive(Debug)]
pub(crate) struct Work {
    mode: Mode,
    label: String,
    /// How plain-line mode shows its progress.
    plain: Plain,
    bar: Option<ProgressBar>,
    total: u64,
    done: AtomicU64,
    /// The last tenth reported in plain-line mode.
    step: AtomicU64,
    /// `finish` says "done" once, however often it is called.
    finished: AtomicBool,
}

/// Plain-line mode's counts, at each tenth of a known total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plain {
    Bytes,
    Items,
    /// No tenths: the total is unknown or still growing (a share of it would go backwards),
    /// or the work reports its progress elsewhere.
    None,
}

/// A bar of bytes: the label, then the command's own detail (replicate's blob counts) after it.
const BYTES_TEMPLATE: &str = "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}  {msg}";
const ITEMS_TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} ETA {eta}";
/// A percentage, with the work's state as its message (an encode job's).
const PERCENT_TEMPLATE: &str = "{spinner} [{elapsed_precise}] {bar:40} {pos:>3}% {msg}";
const SPINNER_TEMPLATE: &str = "{spinner} {prefix} {elapsed}";

impl Work {
    fn new(mode: Mode, label: impl Into<String>, plain: Plain, total: Option<u64>, template: &str) -> Self {
        let label = label.into();
        let bar = (mode == Mode::Bar).then(|| {
            // Built whole before its first draw: a bar of a total still 0 would flash full.
            let style = ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
                .with_style(style)
                .with_prefix(label.clone());
            if total.is_none() {
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            bar
        });
        let total = total.unwrap_or(0);
        Work {
            mode,
            label,
            plain,
            bar,
            total,
            done: AtomicU64::new(0),
            step: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }

    /// Bytes to move: a bar with rate and ETA.
    pub(crate) fn bytes(mode: Mode, label: impl Into<String>, total: u64) -> Self {
        Work::new(mode, label, Plain::Bytes, Some(total), BYTES_TEMPLATE)
    }

    /// Bytes to move, learnt as the work is planned (`plan`): a bar with rate and ETA;
    /// plain mode says only the lines the command says.
    pub(crate) fn bytes_as_planned(mode: Mode, label: impl Into<String>) -> Self {
        Work::new(mode, label, Plain::None, Some(0), BYTES_TEMPLATE)
    }

    /// Items to go through (containers, records): a bar with a count and ETA.
    pub(crate) fn items(mode: Mode, label: impl Into<String>, total: u64) -> Self {
        Work::new(mode, label, Plain::Items, Some(total), ITEMS_TEMPLATE)
    }

    /// A percentage set by the work itself (`set_position`), on a terminal only: off one,
    /// the work's own record says how far it got (an encode job's, in `job show`).
    pub(crate) fn percent(mode: Mode, label: impl Into<String>) -> Self {
        Work::new(mode, label, Plain::None, Some(100), PERCENT_TEMPLATE)
    }

    /// Work whose size is not known up front: a spinner with the time spent.
    pub(crate) fn spinner(mode: Mode, label: impl Into<String>) -> Self {
        Work::new(mode, label, Plain::None, None, SPINNER_TEMPLATE)
    }

    /// `n` more bytes or items to do, learnt while the work runs.
    pub(crate) fn plan(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(n);
        }
    }

    /// `n` more bytes or items done.
    pub(crate) fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if self.mode == Mode::Lines && self.plain != Plain::None && self.total > 0 {
            let step = (done.min(self.total) * PLAIN_STEPS) / self.total;
            let before = self.step.fetch_max(step, Ordering::Relaxed);
            if step > before && step < PLAIN_STEPS {
                let (done, total) = match self.plain {
                    Plain::Items => (done.to_string(), self.total.to_string()),
                    _ => (crate::output::bytes(done), crate::output::bytes(self.total)),
                };
                errln!("{}: {}% ({done} of {total})", self.label, step * 100 / PLAIN_STEPS);
            }
        }
    }

    /// How far the work got, when it says so itself (a percentage).
    pub(crate) fn set_position(&self, position: u64) {
        self.done.store(position, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// The bar's detail after its counts (replicate's blobs, an encode job's state).
    pub(crate) fn set_detail(&self, detail: impl Into<std::borrow::Cow<'static, str>>) {
        if let Some(bar) = &self.bar {
            bar.set_message(detail);
        }
    }

    /// A line for the user: above the bar on a terminal, plain otherwise, none when silent.
    pub(crate) fn say(&self, line: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.suspend(|| errln!("{line}")),
            (None, Mode::Lines) => errln!("{line}"),
            (None, _) => {}
        }
    }

    /// A line plain mode says where the bar already shows it.
    pub(crate) fn say_plain(&self, line: &str) {
        if self.mode == Mode::Lines {
            errln!("{line}");
        }
    }

    /// Clears the bar; plain mode says it is done (once).
    pub(crate) fn finish(&self) {
        self.clear();
        if self.mode == Mode::Lines && !self.finished.swap(true, Ordering::Relaxed) {
            errln!("{}: done", self.label);
        }
    }

    /// Clears the bar before a report is printed; no closing line.
    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
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

    #[test]
    fn every_kind_of_bar_draws_with_a_valid_template() {
        let kinds = [
            Work::bytes(Mode::Bar, "upload", 10),
            Work::bytes_as_planned(Mode::Bar, "replicate"),
            Work::items(Mode::Bar, "adopt", 3),
            Work::percent(Mode::Bar, "encode"),
            Work::spinner(Mode::Bar, "verify"),
        ];
        for work in &kinds {
            work.plan(5);
            work.advance(1);
            work.set_detail("1/2 blobs");
            work.finish();
            assert!(work.bar.as_ref().is_some_and(ProgressBar::is_finished), "{}", work.label);
        }
    }

    #[test]
    fn work_of_a_growing_total_or_a_percentage_counts_no_tenths() {
        let planned = Work::bytes_as_planned(Mode::Lines, "replicate");
        planned.plan(100);
        planned.advance(100);
        assert_eq!(planned.step.load(Ordering::Relaxed), 0, "a share of a growing total would go backwards");
        let percent = Work::percent(Mode::Lines, "encode");
        percent.set_position(50);
        assert_eq!((percent.step.load(Ordering::Relaxed), percent.done.load(Ordering::Relaxed)), (0, 50));
        assert!(planned.bar.is_none() && percent.bar.is_none(), "no bar off a terminal");
    }
}
