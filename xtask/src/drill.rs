//! `cargo xtask drill [-- DRILL-ARGS]`: the failover rehearsal on one machine.
//! A and B are two Azurite instances (they cannot see each other, as two data
//! centers); a generated clip is encoded and published in A with `mirrorcast
//! encode`, replicated to B, and served by a `mirrorcast serve` per data center.
//! A viewer (`mirrorcast drill`) streams through the front (`mirrorcast front`,
//! priority A then B) — or through A's origin alone when this build has no front —
//! and halfway through, A's Azurite and A's origin are killed. Prints the drill's
//! report and exits with its code.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use mirrorcast_azurite::{Account, Azurite};

/// A child process that is killed when dropped (a failed drill leaves nothing running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run(root: &Path, extra: &[String]) -> Result<()> {
    super::run(Command::new("cargo").args(["build", "--quiet", "-p", "mirrorcast"]))?;
    let bin = root.join("target/debug/mirrorcast");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The emulators live on this runtime; the rest of the rehearsal is plain processes.
    let (a, b) = runtime.block_on(async {
        tokio::try_join!(
            Azurite::builder().account(Account::generate("dca")).start(),
            Azurite::builder().account(Account::generate("dcb")).start(),
        )
    })?;
    let work = std::env::temp_dir().join(format!("mirrorcast-drill-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let env = [("MIRRORCAST_DC_A", a.connection_string("dca")), ("MIRRORCAST_DC_B", b.connection_string("dcb"))];
    let cli = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args).current_dir(&work).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    };

    eprintln!("xtask drill: A on Azurite :{}, B on Azurite :{} (two instances)", a.port(), b.port());
    let clip = work.join("Drill Clip.mp4");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=20"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", "-y"])
        .arg(&clip)
        .status()
        .context("ffmpeg is needed: apt-get install ffmpeg")?;
    if !made.success() {
        bail!("ffmpeg could not make the drill clip");
    }
    eprintln!("xtask drill: encoding a 20 s clip in A and publishing it…");
    let encoded = cli(&["encode", "--dc", "a", clip.to_str().unwrap_or_default(), "--publish", "--json"]).output()?;
    if !encoded.status.success() {
        bail!("mirrorcast encode failed: {}", String::from_utf8_lossy(&encoded.stderr));
    }
    let last = String::from_utf8_lossy(&encoded.stdout).lines().last().unwrap_or_default().to_owned();
    let line: serde_json::Value = serde_json::from_str(&last).context("encode --json's last line")?;
    let locator = line["locator"]["id"].as_str().context("no locator in encode's output")?.to_owned();
    let ism = line["output_asset"]["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["is_primary"] == true))
        .and_then(|f| f["name"].as_str())
        .context("no primary file in encode's output")?
        .to_owned();
    eprintln!("xtask drill: replicating A to B…");
    super::run(cli(&["replicate", "--from", "a", "--to", "b", "--all"]).stdout(Stdio::null()))?;

    let (serve_a, a_url) = listening(cli(&["serve", "--dc", "a", "--listen", "127.0.0.1:0"]))?;
    let (_serve_b, b_url) = listening(cli(&["serve", "--dc", "b", "--listen", "127.0.0.1:0"]))?;
    let has_front = cli(&["front", "--help"]).stdout(Stdio::null()).stderr(Stdio::null()).status()?.success();
    let (_front, base) = if has_front {
        let (f, url) = listening(cli(&[
            "front",
            "--listen",
            "127.0.0.1:0",
            "--origin",
            &format!("a={a_url}"),
            "--origin",
            &format!("b={b_url}"),
        ]))?;
        (Some(f), url)
    } else {
        eprintln!("xtask drill: this build has no `mirrorcast front`: the viewer connects to A's origin directly");
        (None, a_url.clone())
    };
    let pids = [Some(serve_a.0.id()), a.pid()].into_iter().flatten().map(|p| p.to_string()).collect::<Vec<_>>();
    let kill = format!("kill {}", pids.join(" "));
    eprintln!("xtask drill: A at {a_url}, B at {b_url}; the viewer streams through {base}; halfway: `{kill}`");
    let status =
        cli(&["drill", "--front", &base, "--locator", &locator, "--ism", &ism, "--kill", &kill, "--max-stall", "2"])
            .args(extra)
            .status()?;
    drop(serve_a);
    drop((a, b));
    let _ = std::fs::remove_dir_all(&work);
    match status.code() {
        Some(0) => Ok(()),
        _ => bail!("the drill reports that the viewer missed something ({status})"),
    }
}

/// Starts a server process and waits for the `http://host:port` it says it listens on (stderr).
fn listening(mut cmd: Command) -> Result<(Running, String)> {
    let mut child = Running(cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn()?);
    let stderr = child.0.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let Some(line) = lines.next() else { bail!("{cmd:?} exited before listening") };
        let line = line?;
        if let Some((_, at)) = line.rsplit_once("at http://") {
            let addr: String = at.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
            break format!("http://{addr}");
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((child, url))
}
