//! The floors of `core`: the records (`model`) at the bottom, the catalog on
//! them, the export reader (`ams`) on the model alone, import and adopt on
//! top. A module never names one above it, so there is no import cycle; this
//! reads the sources and fails on a `crate::` path that reaches up. (`store`
//! is leaving core for its own crate, whose edges the crate graph checks;
//! `sample`, the test asset, may be used by tests of the top floor.)

use std::path::{Path, PathBuf};

/// Each room (a file, or a folder with its `.rs` root) and the modules it must never name.
const FLOORS: &[(&str, &[&str])] = &[
    ("id", &["model", "catalog", "ams", "import", "adopt", "replicate", "copy", "store", "sample"]),
    ("error", &["model", "catalog", "ams", "import", "adopt", "replicate", "copy", "sample"]),
    ("model", &["catalog", "ams", "import", "adopt", "replicate", "copy", "store", "sample"]),
    ("catalog", &["ams", "import", "adopt", "replicate", "sample"]),
    ("ams", &["catalog", "import", "adopt", "replicate", "copy", "store", "sample"]),
    ("import", &["adopt", "replicate"]),
    ("adopt", &["import", "replicate"]),
];

#[test]
fn no_module_of_core_names_one_on_a_floor_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut reaching_up = Vec::new();
    for (room, forbidden) in FLOORS {
        let files = room_files(&src, room);
        assert!(!files.is_empty(), "room '{room}' has no source under {}: update FLOORS", src.display());
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for named in crate_modules(code_of(line)) {
                    if forbidden.contains(&named.as_str()) {
                        reaching_up.push(format!("{}:{}: {room} names crate::{named}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(reaching_up.is_empty(), "imports that reach a floor up:\n{}", reaching_up.join("\n"));
}

#[test]
fn the_path_reader_sees_grouped_and_nested_paths() {
    assert_eq!(crate_modules("use crate::ams::Export;"), ["ams"]);
    assert_eq!(crate_modules("use crate::{catalog::{Catalog, X}, model::Asset};"), ["catalog", "model"]);
    assert_eq!(crate_modules("let x = crate::ams::codes(crate :: store::Y);"), ["ams", "store"]);
    assert_eq!(code_of("use crate::id; // not crate::ams"), "use crate::id; ");
    assert!(crate_modules(code_of("/// see [`crate::ams`]")).is_empty());
}

/// `<room>.rs`, and every `.rs` file under `<room>/`.
fn room_files(src: &Path, room: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Some(src.join(format!("{room}.rs"))).filter(|f| f.is_file()).into_iter().collect();
    let mut folders = vec![src.join(room)];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for path in entries.map(|e| e.unwrap().path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// A line without its comment (doc links name modules without importing them).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The top-level modules a line names through `crate::` (also in `crate::{a, b::c}`).
fn crate_modules(code: &str) -> Vec<String> {
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let mut named = Vec::new();
    for (at, _) in compact.match_indices("crate::") {
        let rest = &compact[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each path at the group's own depth.
            let mut depth = 0;
            let mut segment_start = true;
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => segment_start = true,
                    c if depth == 0 && segment_start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if depth == 0 && !word.is_empty() => {
                        named.push(std::mem::take(&mut word));
                        segment_start = false;
                    }
                    _ => {}
                }
            }
            if !word.is_empty() {
                named.push(word);
            }
        } else {
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !word.is_empty() {
                named.push(word);
            }
        }
    }
    named
}
