//! Tables for people, JSON for scripts; never both on stdout.
//!
//! Everything for stdout goes through [`write_out`] (the `out!`/`outln!`
//! macros): a reader that stops early (`| head -1`) closes the pipe, and
//! `println!` would panic on that. Here the rest of the output is dropped and
//! the command ends as it would have, with its own exit code.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// Like `print!`, to stdout; a closed stdout is not an error.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(format_args!($($arg)*)) };
}

/// Like `println!`, to stdout; a closed stdout is not an error.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `eprint!`; a closed stderr is not a panic.
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::write_err(format_args!($($arg)*)) };
}

/// Like `eprintln!`; a closed stderr is not a panic.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Set once stdout cannot be written to: later output is dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Set when output was lost for another reason than a reader that left.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether some output could not be written (a full disk, an I/O error):
/// the command then did not do all it was asked to.
pub(crate) fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

/// Writes to stdout. When the reader has gone (broken pipe) the output is
/// dropped quietly; any other failure to write is said once on stderr.
pub(crate) fn write_out(args: fmt::Arguments<'_>) {
    write_stdout(|stdout| stdout.write_fmt(args));
}

fn write_stdout(write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = write(&mut stdout).and_then(|()| stdout.flush()) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            write_err(format_args!("mirrorcast: warning: cannot write to stdout: {e}\n"));
        }
    }
}

/// stdout as an `io::Write` with [`write_out`]'s rules (a reader that left is not an error).
struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stdout(|stdout| stdout.write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// stdout as a buffered `io::Write` with [`write_out`]'s rules, for a long report written
/// piece by piece (never whole in memory). Flush it when done.
pub(crate) fn stdout_writer() -> std::io::BufWriter<impl Write> {
    std::io::BufWriter::with_capacity(64 * 1024, Stdout)
}

/// Writes to stderr, ignoring failure (`eprintln!` would panic on a closed pipe).
pub(crate) fn write_err(args: fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Prints `value` as pretty JSON on stdout, written as it is serialized: a
/// large report is never also one string in memory.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    write_json(value, true)
}

/// Prints `value` as compact JSON on one line of stdout (NDJSON), written as it is serialized.
pub(crate) fn json_line<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    write_json(value, false)
}

fn write_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, Stdout);
    if pretty {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// How a listing is printed: `--output table|json|ams` (`--json` is `--output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    /// Media Services' v2 REST shape (PascalCase, numeric enums).
    Ams,
}

impl Format {
    pub(crate) fn parse(json: bool, output: &str) -> Result<Format, mirrorcast_core::Error> {
        match output.to_ascii_lowercase().as_str() {
            "ams" | "v2" => Ok(Format::Ams),
            _ if json => Ok(Format::Json),
            "table" | "text" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            _ => Err(mirrorcast_core::Error::invalid_input(format!(
                "unknown --output '{output}': use table, json or ams"
            ))),
        }
    }
}

/// A cell as it may reach a terminal: control characters (an escape
/// sequence in a name written by someone else) are shown escaped.
pub(crate) fn printable(cell: &str) -> String {
    if !cell.chars().any(char::is_control) {
        return cell.to_owned();
    }
    cell.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Prints rows under headers, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    table_streamed(headers, || rows.iter());
}

/// [`table`] over rows made on demand, twice (once for the widths, once to
/// print): a long report is never held as cells in memory.
pub(crate) fn table_streamed<R, C>(headers: &[&str], rows: impl Fn() -> R)
where
    R: Iterator,
    R::Item: AsRef<[C]>,
    C: AsRef<str>,
{
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows() {
        for (i, cell) in row.as_ref().iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(printable(cell.as_ref()).chars().count());
            }
        }
    }
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, Stdout);
    let mut line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| if i == last { c } else { format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)) })
            .collect();
        // Stdout never fails a write (a reader that left, or a failure, is handled there).
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows() {
        line(row.as_ref().iter().map(|c| printable(c.as_ref())).collect());
    }
    let _ = out.flush();
}

/// A time as people read it: RFC 3339 to the second, in UTC (2026-12-07T08:59:49Z). `--json`
/// keeps the full precision.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Bytes as people read them: 1.5 MiB.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(super::printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(super::printable("Ünï 映画"), "Ünï 映画");
    }

    #[test]
    fn bytes_are_printed_in_binary_units() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(300 * 1024 * 1024), "300.0 MiB");
    }
}
