//! The access log: one common-log-format line per request on stderr, written
//! in batches by a thread of its own, as nginx's `access_log … buffer=` does.
//! A line per `write(2)` on the serving thread, formatted by the tracing
//! subscriber, was a tenth of the origin's CPU under segment load, and a stderr
//! nobody reads blocked serving. Each server decides whether it logs (the
//! origin and the front while their `…::access` tracing target is enabled at
//! `info`) and calls [`flush`] at shutdown (the accept loop's hook).
//!
//! Lines wait at most [`FLUSH_EVERY`]. Past 4 MiB not yet
//! written (stderr blocked), lines are dropped and the count is logged once
//! writing works again: serving never waits for its log, and a shutdown waits
//! for its last lines one second at most.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{Method, Version};
use chrono::Utc;

/// Longest time a line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Lines pending past this are written without waiting for the interval.
const FLUSH_AT_BYTES: usize = 64 * 1024;
/// Lines pending past this are dropped (and counted): stderr is not being read.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    dropped: u64,
}

impl Pending {
    /// Adds `line`, or counts it when too much is pending; true when the writer should not wait.
    fn push(&mut self, line: std::fmt::Arguments<'_>) -> bool {
        if self.lines.len() >= MAX_PENDING_BYTES {
            self.dropped += 1;
            return false;
        }
        let _ = self.lines.write_fmt(line);
        self.lines.push(b'\n');
        self.lines.len() >= FLUSH_AT_BYTES
    }
}

struct Log {
    pending: Mutex<Pending>,
    ready: Condvar,
}

fn log() -> &'static Log {
    static LOG: OnceLock<&'static Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Log = Box::leak(Box::new(Log { pending: Mutex::default(), ready: Condvar::new() }));
        let started = std::thread::Builder::new().name("access-log".into()).spawn(move || loop {
            let batch = {
                let pending = log.pending.lock().unwrap_or_else(|e| e.into_inner());
                let (mut pending, _) = log
                    .ready
                    .wait_timeout_while(pending, FLUSH_EVERY, |p| p.lines.len() < FLUSH_AT_BYTES)
                    .unwrap_or_else(|e| e.into_inner());
                std::mem::take(&mut *pending)
            };
            write_out(batch);
        });
        if let Err(e) = started {
            // Without its thread the log is written by `flush` alone (at shutdown): say so once.
            tracing::warn!(target: "mirrorcast_http", "the access log cannot start its writer thread: {e}");
        }
        log
    })
}

fn write_out(batch: Pending) {
    let mut err = std::io::stderr().lock();
    // A closed or failing stderr loses its lines; serving goes on.
    let _ = err.write_all(&batch.lines);
    if batch.dropped > 0 {
        let _ = writeln!(err, "mirrorcast: {} access log line(s) dropped: stderr was not being read", batch.dropped);
    }
}

/// One request as the log shows it.
#[derive(Debug)]
pub struct Line<'a> {
    /// The client's address, `-` in the log when it is not known.
    pub peer: Option<IpAddr>,
    /// The request's method, as the client sent it.
    pub method: &'a Method,
    /// The path only, never a query string; cut at [`MAX_PATH_CHARS`].
    pub path: &'a str,
    /// The request's HTTP version, shown as `HTTP/1.1` and the like.
    pub version: Version,
    /// The status code the response went out with.
    pub status: u16,
    /// The response's Content-Length.
    pub length: Option<u64>,
    /// Fields after the common ones (the front: the origin that answered), `-` for a missing one.
    pub extra: &'a [Option<&'a str>],
}

/// Longest path written.
pub const MAX_PATH_CHARS: usize = 512;

/// Adds the line of one request.
pub fn record(line: &Line<'_>) {
    with_log_time(|time| push(format_args!("{}", Common(line, time))));
}

/// A request's line at a time (already in the log's format).
struct Common<'a>(&'a Line<'a>, &'a str);

impl std::fmt::Display for Common<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Common(line, time) = self;
        let path = &line.path[..line.path.char_indices().nth(MAX_PATH_CHARS).map_or(line.path.len(), |(at, _)| at)];
        write!(
            f,
            "{} - - [{time}] \"{} {path} {:?}\" {} {}{}",
            OrDash(line.peer),
            line.method,
            line.version,
            line.status,
            OrDash(line.length),
            Extra(line.extra)
        )
    }
}

/// Adds one line (without its newline).
fn push(line: std::fmt::Arguments<'_>) {
    let log = log();
    if log.pending.lock().unwrap_or_else(|e| e.into_inner()).push(line) {
        log.ready.notify_one();
    }
}

/// A log field: its value, or `-` when there is none.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The extra fields, each after a space.
struct Extra<'a>(&'a [Option<&'a str>]);

impl std::fmt::Display for Extra<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|field| write!(f, " {}", OrDash(*field)))
    }
}

/// Calls `write` with now in the common log format, formatted once a second per thread
/// (strftime per request showed in profiles).
fn with_log_time(write: impl FnOnce(&str)) {
    thread_local! {
        static STAMP: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = Utc::now();
    STAMP.with(|stamp| {
        let mut stamp = stamp.borrow_mut();
        if stamp.0 != now.timestamp() {
            *stamp = (now.timestamp(), now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        }
        write(&stamp.1);
    })
}

/// Longest a shutdown waits for the last lines to be written: a stderr nobody reads must
/// not keep a stopped server from exiting.
const FLUSH_AT_EXIT_WITHIN: Duration = Duration::from_secs(1);

/// Writes what is pending now (at shutdown), waiting at most one second.
pub fn flush() {
    let batch = std::mem::take(&mut *log().pending.lock().unwrap_or_else(|e| e.into_inner()));
    let (done, written) = std::sync::mpsc::channel();
    let writing = std::thread::Builder::new().name("access-log-flush".into()).spawn(move || {
        write_out(batch);
        let _ = done.send(());
    });
    if writing.is_ok() {
        let _ = written.recv_timeout(FLUSH_AT_EXIT_WITHIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_the_common_log_format_with_its_extra_fields() {
        let line = Line {
            peer: Some(IpAddr::from([127, 0, 0, 1])),
            method: &Method::GET,
            path: "/a/b.mp4",
            version: Version::HTTP_11,
            status: 206,
            length: None,
            extra: &[Some("a"), None],
        };
        let text = Common(&line, "07/Dec/2026:05:00:00 +0000").to_string();
        assert_eq!(text, "127.0.0.1 - - [07/Dec/2026:05:00:00 +0000] \"GET /a/b.mp4 HTTP/1.1\" 206 - a -");
        let long = "/x".repeat(MAX_PATH_CHARS);
        let cut = Common(&Line { path: &long, extra: &[], ..line }, "t").to_string();
        assert!(cut.contains(&format!(" {} HTTP/1.1", &long[..MAX_PATH_CHARS])), "{cut}");
    }

    #[test]
    fn lines_past_the_pending_bound_are_dropped_and_counted_not_held() {
        let mut pending = Pending::default();
        assert!(!pending.push(format_args!("{} - - \"GET /a HTTP/1.1\" 200 {}", "127.0.0.1", 5)));
        assert_eq!(pending.lines, b"127.0.0.1 - - \"GET /a HTTP/1.1\" 200 5\n");
        let mut woke = false;
        while pending.lines.len() < MAX_PENDING_BYTES {
            woke |= pending.push(format_args!("{}", "x".repeat(1000)));
        }
        assert!(woke, "a full batch wakes the writer");
        let held = pending.lines.len();
        assert!(!pending.push(format_args!("one more")));
        assert_eq!((pending.lines.len(), pending.dropped), (held, 1), "the line past the bound was counted, not kept");
    }
}
