//! Tables for people, JSON for scripts; never both on stdout.

use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How a listing is printed: `--output table|json|ams` (`--json` is `--output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// Media Services' v2 REST shape (PascalCase, numeric enums).
    Ams,
}

impl Format {
    pub fn parse(json: bool, output: &str) -> Result<Format, mirrorcast_core::Error> {
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

/// Prints rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == cells.len() { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Bytes as people read them: 1.5 MiB.
pub fn bytes(n: u64) -> String {
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
    fn bytes_are_printed_in_binary_units() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(300 * 1024 * 1024), "300.0 MiB");
    }
}
