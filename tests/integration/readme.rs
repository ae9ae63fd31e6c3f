//! The README and the guides in docs/ cannot drift from the CLI: every code block
//! fenced as ```` ```sh runnable ```` runs here, with the built `mirrorcast` first
//! on PATH, and must exit 0.
//!
//! The blocks of one file run in order in one `bash -euo pipefail` (a variable one
//! block sets is there for the next), in a fresh directory holding `encoded/` (a
//! small sample asset, `Big Buck Bunny.ism` and its MP4s, from
//! `mirrorcast_core::sample`), with `MIRRORCAST_DC_A` and `MIRRORCAST_DC_B` naming
//! `file://` folders in that directory (a block may export its own); background jobs
//! a block starts are killed when the file's blocks end. docs/README.md
//! states the same convention for writers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::write_sample;

/// The fence info string that marks a block to run.
const RUNNABLE: &str = "sh runnable";

/// The longest one file's blocks may take together (the README's tour encodes a 6 s clip).
const FILE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, PartialEq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    code: String,
}

/// The code blocks of `markdown` whose info string is exactly [`RUNNABLE`]. A block that
/// says `runnable` in any other way is an error: a typo must not quietly stop a block running.
fn runnable_blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    // The open fence: its characters (``` or ~~~, at least three), its indent, and whether it runs.
    let mut open: Option<(String, usize, Option<Block>)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let fence_len = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        match &mut open {
            None => {
                let ticks = fence_len('`').max(fence_len('~'));
                if ticks < 3 {
                    continue;
                }
                let fence = trimmed[..ticks].to_owned();
                let info = trimmed[ticks..].trim();
                let runs = info.split_whitespace().collect::<Vec<_>>().join(" ") == RUNNABLE;
                if !runs && info.contains("runnable") {
                    return Err(format!("line {}: fence '{info}' is not '{RUNNABLE}'", index + 1));
                }
                let block = runs.then(|| Block { line: index + 1, code: String::new() });
                open = Some((fence, indent, block));
            }
            Some((fence, fence_indent, block)) => {
                let closes =
                    trimmed.starts_with(fence.as_str()) && trimmed.trim_end().chars().all(|c| fence.starts_with(c));
                if closes {
                    if let Some(done) = block.take() {
                        blocks.push(done);
                    }
                    open = None;
                } else if let Some(block) = block {
                    // A block inside a list item is indented as its fence is; the shell needs no indent.
                    let strip = indent.min(*fence_indent);
                    block.code.push_str(&line[strip..]);
                    block.code.push('\n');
                }
            }
        }
    }
    match open {
        Some((_, _, Some(block))) => Err(format!("line {}: runnable block is never closed", block.line)),
        _ => Ok(blocks),
    }
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ sits in the repository").to_path_buf()
}

/// README.md and docs/*.md, in a stable order, as paths relative to the repository.
fn documents() -> Vec<String> {
    let root = repository_root();
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("read docs/")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    docs.insert(0, "README.md".to_owned());
    docs
}

/// One shell script of a document's blocks; on failure it names the block that failed.
fn script(document: &str, blocks: &[Block]) -> String {
    // Servers a block starts in the background end with the script, and a failure names its block.
    let mut script = String::from(
        "trap 'rc=$?; kill $(jobs -p) 2>/dev/null || true; \
         if [ $rc -ne 0 ]; then echo \"runnable block $MC_BLOCK failed (exit $rc)\" >&2; fi; exit $rc' EXIT\n",
    );
    for block in blocks {
        script.push_str(&format!("MC_BLOCK='{document}:{}'\n", block.line));
        script.push_str(&block.code);
    }
    script
}

/// The loopback ports `blocks` name (`127.0.0.1:8081`), for servers a block starts.
fn loopback_ports(blocks: &[Block]) -> Vec<u16> {
    let mut ports: Vec<u16> = blocks
        .iter()
        .flat_map(|block| block.code.split("127.0.0.1:").skip(1))
        .filter_map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Runs `blocks` as the docs promise; Err holds what a reader needs to see the failure.
async fn run_blocks(document: &str, blocks: &[Block]) -> Result<(), String> {
    // A port another process holds would answer the block's requests in place of its own server.
    for port in loopback_ports(blocks) {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Err(format!("{document}: its blocks serve on 127.0.0.1:{port}, which is taken ({e}): free it"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_sample(&dir.path().join("encoded"), 64 * 1024);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mirrorcast")).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let file_dc = |name: &str| format!("file://{}", dir.path().join(name).display());
    let mut cmd = tokio::process::Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script(document, blocks)])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("MIRRORCAST_DC_A", file_dc("dc-a"))
        .env("MIRRORCAST_DC_B", file_dc("dc-b"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so a timeout also ends the servers a block left running.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        cmd.env("TMPDIR", tmp);
    }
    let child = cmd.spawn().expect("run bash");
    let group = child.id().expect("bash's pid");
    let output = match tokio::time::timeout(FILE_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.expect("wait for bash"),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
            return Err(format!("{document}: runnable blocks still running after {FILE_TIMEOUT:?}"));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{document}: {}\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
        output.status,
        last_lines(&output.stdout),
        last_lines(&output.stderr)
    ))
}

/// The end of an output, where a failure shows; the tour's whole output would bury it.
fn last_lines(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_and_docs_runnable_blocks_exit_0() {
    let root = repository_root();
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for document in documents() {
        let markdown = std::fs::read_to_string(root.join(&document)).unwrap();
        let blocks = runnable_blocks(&markdown).unwrap_or_else(|e| panic!("{document}: {e}"));
        if document == "README.md" {
            assert!(!blocks.is_empty(), "README.md marks no block '{RUNNABLE}': its tour must run");
        }
        if blocks.is_empty() {
            continue;
        }
        ran.push(format!("{document} ({} block(s))", blocks.len()));
        if let Err(failure) = run_blocks(&document, &blocks).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "runnable blocks failed:\n{}", failures.join("\n\n"));
    eprintln!("ran {}", ran.join(", "));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown file's headings (outside code blocks).
fn anchors(markdown: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.push(heading_anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// Relative link targets `](path#anchor)` of a markdown file, outside code blocks, with their lines.
fn relative_links(markdown: &str) -> Vec<(usize, String)> {
    let mut in_fence = false;
    let mut links = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                links.push((index + 1, target.to_owned()));
            }
        }
    }
    links
}

/// The guides moved out of the README: a link to a file or a heading that is not there
/// (a section renamed or moved) fails here instead of in a reader's browser.
#[test]
fn readme_and_docs_links_resolve() {
    let root = repository_root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents().into_iter().chain(["ARCHITECTURE.md".to_owned()]) {
        let path = root.join(&document);
        let markdown = std::fs::read_to_string(&path).unwrap();
        for (line, target) in relative_links(&markdown) {
            checked += 1;
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if file.is_empty() { path.clone() } else { path.parent().unwrap().join(file) };
            if !linked.exists() {
                broken.push(format!("{document}:{line}: {target}: no file {}", linked.display()));
            } else if !anchor.is_empty() {
                let text = std::fs::read_to_string(&linked).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == anchor) {
                    broken.push(format!("{document}:{line}: {target}: no heading with anchor '{anchor}'"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 0, "no relative link found: the README links into docs/");
}

#[test]
fn readme_heading_anchors_follow_github() {
    assert_eq!(
        heading_anchor(" Behind a CDN (Azure Front Door / Azure CDN)"),
        "behind-a-cdn-azure-front-door--azure-cdn"
    );
    assert_eq!(heading_anchor(" Or a table in `mirrorcast.toml`"), "or-a-table-in-mirrorcasttoml");
    assert_eq!(heading_anchor(" The drill: a viewer while A dies"), "the-drill-a-viewer-while-a-dies");
}

#[test]
fn readme_runnable_fence_marks_only_its_own_blocks() {
    let markdown = "\
intro
```sh
not run
```
```sh runnable
echo one
```
- a list item:

  ```sh runnable
  echo two
    indented
  ```
````md
```sh runnable
quoted, not run
```
````
~~~toml
x = 1
~~~
";
    let blocks = runnable_blocks(markdown).unwrap();
    assert_eq!(
        blocks,
        vec![
            Block { line: 5, code: "echo one\n".to_owned() },
            Block { line: 10, code: "echo two\n  indented\n".to_owned() },
        ]
    );
    let serve = Block {
        line: 1,
        code: "serve --listen 127.0.0.1:8081 &\ncurl http://127.0.0.1:8000/x 127.0.0.1:8081\n".into(),
    };
    assert_eq!(loopback_ports(&[serve]), vec![8000, 8081]);
    assert!(runnable_blocks("```sh runable\n```\n").is_ok(), "a misspelling without 'runnable' is plain text");
    assert!(runnable_blocks("```bash runnable\nx\n```\n").unwrap_err().contains("line 1"));
    assert!(runnable_blocks("```sh runnable\nx\n").unwrap_err().contains("never closed"));
}
