//! `mirrorcast demo` as a newcomer meets it: off a terminal it exits with the summary as its
//! last output; on a terminal it stays up serving the front's page, whose switch makes A
//! fail while the player goes on from B, until Ctrl-C stops everything.
//!
//! The terminal is util-linux's `script` (Debian's bsdutils, an essential package: on every
//! machine the tests run on), not a pty crate: it gives the demo a real pseudo-terminal on
//! stdin, stdout and stderr, and a `\x03` written to it reaches the demo as the terminal's
//! Ctrl-C (SIGINT to the foreground process group, Azurite included), exactly a user's path.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::front::{origin_of, start_front, TinyOrigin};
use crate::player::{players_dir, require_chromium_and_players};

/// The demo encodes, replicates, verifies and plays: minutes on a loaded machine.
const DEMO_TIME: Duration = Duration::from_secs(900);

/// `program args…` in `dir` with only PATH, HOME and TMPDIR kept from the environment.
fn clean_command(dir: &Path, program: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).current_dir(dir).env_clear().kill_on_drop(true);
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Ok(v) = std::env::var(keep) {
            cmd.env(keep, v);
        }
    }
    cmd
}

/// Lines that belong to the summary (stdout), as the demo prints them.
fn summary_line(line: &str) -> bool {
    ["data center ", "asset ", "source clip: ", "origin locator ", "replicated ", "run again: ", "verify --deep"]
        .iter()
        .any(|p| line.starts_with(p))
        || line.starts_with("streaming URLs")
        || line.starts_with("  ")
        || line.starts_with("played ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_off_a_terminal_exits_after_its_summary_which_is_its_last_output() {
    let dir = tempfile::tempdir().unwrap();
    // stdout and stderr into one pipe, so their order is the order a reader sees.
    let mut cmd = clean_command(dir.path(), "sh", &["-c", "exec \"$0\" demo 2>&1", env!("CARGO_BIN_EXE_mirrorcast")]);
    let run =
        tokio::time::timeout(DEMO_TIME, cmd.stdin(Stdio::null()).output()).await.expect("the demo exits").unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    let first = lines.iter().position(|l| l.starts_with("data center A: ")).unwrap_or_else(|| panic!("{out}"));
    // Progress before the summary; from its first line to the end, nothing but the summary.
    for line in &lines[first..] {
        assert!(summary_line(line), "not part of the summary, after it began: '{line}'\n{out}");
    }
    assert!(lines.last().unwrap().starts_with("played dash from b: "), "{out}");
    assert!(!out.contains("HTTP/1.1\""), "no access log in the demo: {out}");
    // All of A is replicated and verified: the encode and its source clip (#29 item 5).
    assert!(out.contains("kept in A and replicated with its encode"), "{out}");
    assert!(out.contains("verify --deep, all of A (2 assets): "), "{out}");
    assert!(out.contains("B holds everything A serves"), "{out}");
    assert!(!out.contains("Ctrl-C"), "off a terminal the demo does not stay up: {out}");
}

/// Every process below `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // The command may hold spaces and parentheses: the fields after its closing one.
            let after = &stat[stat.rfind(')')? + 2..];
            Some((p, after.split(' ').nth(1)?.parse().ok()?))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` is still a live process (a zombie waiting to be reaped counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|at| !s[at + 2..].starts_with('Z')))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_a_terminal_serves_a_page_whose_switch_fails_a_over_to_b_and_ctrl_c_stops_everything() {
    require_chromium_and_players();
    let dir = tempfile::tempdir().unwrap();
    // exec: the demo is the terminal's foreground process, as when a user runs it (no shell between).
    let demo = format!("exec '{}' demo", env!("CARGO_BIN_EXE_mirrorcast"));
    let mut script = clean_command(dir.path(), "script", &["-qefc", &demo, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) is needed");
    let mut terminal = script.stdin.take().unwrap();
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let page = tokio::time::timeout(DEMO_TIME, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.contains("Ctrl-C to stop") {
                return line;
            }
        }
        panic!("the demo ended without its page line:\n{}", seen.join("\n"))
    })
    .await
    .expect("the demo prints its page line");
    let url = page.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap_or_else(|| panic!("{page}"));
    assert!(url.contains("/_front/?demo&src="), "{page}");
    // The page's line comes right after the summary.
    let before: Vec<&String> = seen.iter().rev().skip(1).filter(|l| !l.trim().is_empty()).take(2).collect();
    assert!(before[0].starts_with("data centers: `source "), "{seen:#?}");
    assert!(before[1].trim_end().starts_with("played dash from b: "), "{seen:#?}");

    // The switch turns only for a request carrying the demo's header (what a page of another
    // origin cannot send without a preflight), and it is POST only.
    let base = &url[..url.find("/_front/").unwrap()];
    let client = reqwest::Client::new();
    let bare = client.post(format!("{base}/_demo/a/fail")).send().await.unwrap();
    assert_eq!(bare.status(), 403, "a change without the demo's header is refused");
    assert_eq!(client.get(format!("{base}/_demo/a/fail")).send().await.unwrap().status(), 405);
    let state = client.get(format!("{base}/_demo/a")).send().await.unwrap().bytes().await.unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["failing"], false, "A still serves: {state}");

    let shot = dir.path().join("page.png");
    let node = tokio::process::Command::new("node")
        .arg(players_dir().join("demo.mjs"))
        .args([url, "90000"])
        .env("SCREENSHOT", &shot)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node is needed (Node.js 18+)");
    let stages: Vec<serde_json::Value> = String::from_utf8_lossy(&node.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("demo.mjs: {e}: {l}")))
        .collect();
    let names: Vec<&str> = stages.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(names, ["playing from a", "b answers", "b plays on", "a back"], "{stages:#?}");
    assert!(node.status.success(), "{stages:#?}");
    let (failed, going_on) = (&stages[1], &stages[2]);
    assert_eq!((failed["answering"].as_str(), failed["active"].as_str()), (Some("b"), Some("b")), "{failed:#}");
    assert!(failed["demo_state"].as_str().unwrap().starts_with("failing"), "{failed:#}");
    // The player's time went on with B answering: more seconds played after the switch than before it.
    let played = |s: &serde_json::Value| s["played"].as_f64().unwrap();
    assert!(played(going_on) > played(failed) + 2.0 && played(failed) > played(&stages[0]), "{stages:#?}");
    assert!(!going_on["player"].as_str().unwrap().starts_with("hls.js"), "no player error: {going_on:#}");
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 0).unwrap_or(false), "the page's screenshot");

    // Ctrl-C on the terminal: the demo, its origins, front and Azurite all stop.
    let pid = script.id().unwrap();
    let below = descendants(pid);
    assert!(below.len() >= 2, "the demo and Azurite run below script: {below:?}");
    terminal.write_all(b"\x03").await.unwrap();
    terminal.flush().await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(120), async {
        let mut rest = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .expect("the demo ends after Ctrl-C");
    let status = tokio::time::timeout(Duration::from_secs(60), script.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the demo stopped cleanly: {status} {rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped: the front, both origins and Azurite")), "{rest:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while below.iter().any(|p| alive(*p)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: Vec<&u32> = below.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "processes left after Ctrl-C: {left:?} of {below:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrorcast_front_has_no_demo_switch_a_post_to_it_is_refused_and_never_reaches_an_origin() {
    let dir = tempfile::tempdir().unwrap();
    let origin = TinyOrigin::start("a").await;
    let front = start_front(dir.path(), &[], &["--origin", &format!("a={}", origin.url)]).await;
    front.wait_for("a up", |s| origin_of(s, "a")["health"] == "up").await;
    let client = reqwest::Client::new();
    for path in ["/_demo/a/fail", "/_demo/a/restore"] {
        let r = client.post(front.url(path)).header("x-mirrorcast-demo", "1").send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}: the front proxies GET, HEAD and OPTIONS only");
        assert!(!origin.saw(path), "{path} reached the origin");
    }
    // Its page shows the switch only once /_demo/a answers with the switch's state: on this
    // front that path is a viewer's, passed to the origin, with no route of the front's own.
    let page = client.get(front.url("/_front/?demo")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<section id="demo" hidden>"#), "the panel starts hidden");
    let state = client.get(front.url("/_demo/a")).send().await.unwrap().text().await.unwrap();
    assert!(origin.saw("/_demo/a") && !state.contains("failing"), "{state}");
}
