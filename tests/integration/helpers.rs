//! Running the CLI with a clean environment against an Azurite of the test's own.

use std::path::Path;
use std::process::Output;

use mirrorcast_azurite::Azurite;

/// An Azurite with the dev account, and a working folder with no config file.
pub(crate) struct Sandbox {
    pub azurite: Azurite,
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) async fn start() -> Sandbox {
        let azurite = Azurite::start_default().await.expect("start Azurite (run `cargo xtask setup` first)");
        Sandbox { azurite, dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn connection_string(&self) -> String {
        self.azurite.connection_string("devstoreaccount1")
    }

    /// Runs `mirrorcast` with `MIRRORCAST_DC_A` set to this Azurite.
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[("MIRRORCAST_DC_A", &self.connection_string())], args).await
    }

    /// `asset create --dc a --name <name>`: the new asset's id.
    pub(crate) async fn create_asset(&self, name: &str) -> String {
        let created = self.run(&["asset", "create", "--dc", "a", "--name", name, "--json"]).await.ok().json();
        created["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned()
    }

    pub(crate) async fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        run_in(self.dir.path(), env, args).await
    }
}

/// The CLI as a command in `dir` with only `env` (and PATH/HOME) set.
pub(crate) fn command_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mirrorcast"));
    cmd.args(args).current_dir(dir).env_clear().kill_on_drop(true);
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Ok(v) = std::env::var(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs the CLI in `dir` with only `env` (and PATH/HOME) set.
pub(crate) async fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = command_in(dir, env, args).output().await.expect("run mirrorcast");
    Run::from(output)
}

#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "mirrorcast failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Exit 2 with exactly one line on stderr that contains `needle`.
    #[track_caller]
    pub(crate) fn usage_error(&self, needle: &str) {
        assert_eq!(self.code, 2, "expected exit 2; stdout: {} stderr: {}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected a one-line error, got: {}", self.stderr);
        assert!(lines[0].contains(needle), "error '{}' does not mention '{needle}'", lines[0]);
        assert!(self.stdout.is_empty(), "nothing belongs on stdout after an error: {}", self.stdout);
    }
}

/// Writes a sample encoded asset into `dir` and returns its base name.
pub(crate) fn write_sample(dir: &Path, rendition_bytes: u64) -> String {
    let sample = mirrorcast_core::sample::encoded_asset("Big Buck Bunny", rendition_bytes, 3);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in &sample.files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    sample.base
}

/// What a [`recording_proxy`] saw of one request: path and query, and the
/// `x-ms-copy-source` header (a source URL for a server-side copy).
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub path_and_query: String,
    pub copy_source: Option<String>,
}

/// A loopback HTTP proxy to `upstream` that records every request it forwards
/// and waits `delay` before each; returns its address and the record.
pub(crate) async fn recording_proxy(
    upstream: String,
    delay: std::time::Duration,
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    proxy(upstream, delay, None).await
}

/// Like [`recording_proxy`], but every request whose path contains `refuse`
/// is answered 400 (a failure no retry cures) instead of being forwarded.
pub(crate) async fn refusing_proxy(upstream: String, refuse: &str) -> std::net::SocketAddr {
    proxy(upstream, std::time::Duration::ZERO, Some(refuse.to_owned())).await.0
}

async fn proxy(
    upstream: String,
    delay: std::time::Duration,
    refuse: Option<String>,
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = reqwest::Client::new();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (client, upstream, record, refuse) = (client.clone(), upstream.clone(), record.clone(), refuse.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, record, refuse) =
                        (client.clone(), upstream.clone(), record.clone(), refuse.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
                        record.lock().unwrap().push(Seen {
                            path_and_query: path_and_query.clone(),
                            copy_source: parts
                                .headers
                                .get("x-ms-copy-source")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                        });
                        tokio::time::sleep(delay).await;
                        if refuse.as_deref().is_some_and(|r| parts.uri.path().contains(r)) {
                            return Ok(hyper::Response::builder()
                                .status(400)
                                .header("x-ms-error-code", "InvalidInput")
                                .body(Full::new(bytes::Bytes::from_static(
                                    b"<?xml version=\"1.0\"?><Error><Code>InvalidInput</Code><Message>refused by the test proxy</Message></Error>",
                                )))
                                .unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(forward(&client, &upstream, &parts, body).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Sends the request a test proxy received on to `upstream` and relays the
/// answer (502 if upstream cannot be reached).
pub(crate) async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: bytes::Bytes,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::Full;
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = client.request(parts.method.clone(), format!("{upstream}{path_and_query}")).body(body);
    for (k, v) in parts.headers.iter() {
        if k != "host" && k != "connection" {
            request = request.header(k, v);
        }
    }
    let Ok(resp) = request.send().await else {
        return hyper::Response::builder().status(502).body(Full::new(bytes::Bytes::new())).unwrap();
    };
    let mut out = hyper::Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers().iter() {
        if k != "transfer-encoding" && k != "connection" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    out.body(Full::new(bytes)).unwrap()
}

/// A server process (`serve`, `front`) that said where it listens.
pub(crate) struct Listening {
    pub(crate) child: tokio::process::Child,
    pub(crate) addr: String,
    /// What it wrote on stderr after that line, so far.
    pub(crate) stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `mirrorcast <args>` and waits for its `... at http://ADDR` line on stderr (the last
/// `at http://` of the line: the front names its origins' URLs first); the rest of stderr is
/// kept, and drained so the process never blocks on a full pipe.
pub(crate) async fn listening(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Listening {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = command_in(dir, env, args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next_line().await.unwrap().unwrap_or_else(|| panic!("{args:?} exited before listening"));
        if let Some((_, at)) = line.rsplit_once("at http://") {
            break at.trim().to_owned();
        }
    };
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    Listening { child, addr, stderr }
}
