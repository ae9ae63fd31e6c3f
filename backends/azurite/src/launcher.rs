//! Starts Azurite's blob service as a child process and stops it on drop.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mirrorcast_azure_blob::{AzureBlobStore, AzureConfig, Credential};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use url::Url;

use crate::account::{accounts_env, Account};
use crate::error::Error;

/// Where the emulator keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk; all is lost when it stops. Fast.
    InMemory,
    /// A folder that survives restarts (for kill-and-resume tests).
    Location(PathBuf),
}

/// A certificate and its private key (PEM files) for Azurite to serve HTTPS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate, which clients must trust (`ca_file`).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// How to start an emulator: accounts, data location, port, TLS, OAuth. By default the
/// dev account, in memory, on a free port, plain HTTP, a 60 s ready timeout.
#[derive(Debug, Clone)]
pub struct AzuriteBuilder {
    accounts: Vec<Account>,
    persistence: Persistence,
    port: u16,
    ready_timeout: Duration,
    tls: Option<Tls>,
    oauth: bool,
}

impl Default for AzuriteBuilder {
    fn default() -> Self {
        AzuriteBuilder {
            accounts: Vec::new(),
            persistence: Persistence::InMemory,
            port: 0,
            ready_timeout: Duration::from_secs(60),
            tls: None,
            oauth: false,
        }
    }
}

impl AzuriteBuilder {
    /// Adds an account. With none, Azurite serves only `devstoreaccount1`;
    /// with any, only those (as `AZURITE_ACCOUNTS` does).
    pub fn account(mut self, account: Account) -> Self {
        self.accounts.push(account);
        self
    }

    /// Where it keeps its data; in memory by default.
    pub fn persistence(mut self, persistence: Persistence) -> Self {
        self.persistence = persistence;
        self
    }

    /// A fixed port; 0 (the default) lets the system choose a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How long [`Self::start`] waits for it to listen before giving up (60 s by default).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Serve HTTPS with this certificate (clients must trust it: `ca_file`).
    pub fn https(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Accept Entra ID bearer tokens (`--oauth basic`): Azurite checks their
    /// audience, issuer and times, not their signature. Needs [`Self::https`].
    pub fn oauth(mut self) -> Self {
        self.oauth = true;
        self
    }

    /// Starts the emulator and waits until it listens; the process is killed if it does not in time.
    pub async fn start(self) -> Result<Azurite, Error> {
        if self.oauth && self.tls.is_none() {
            return Err(Error::OAuthNeedsHttps);
        }
        let program = find_azurite()?;
        let accounts = if self.accounts.is_empty() { vec![Account::dev()] } else { self.accounts.clone() };
        let mut azurite =
            Azurite { program, builder: self, accounts, child: None, port: 0, output: Default::default() };
        azurite.spawn().await?;
        Ok(azurite)
    }
}

/// A running Azurite blob service on loopback. Dropping it kills the process.
#[derive(Debug)]
pub struct Azurite {
    program: PathBuf,
    builder: AzuriteBuilder,
    accounts: Vec<Account>,
    child: Option<Child>,
    port: u16,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl Azurite {
    /// A builder with the defaults; see [`AzuriteBuilder`].
    pub fn builder() -> AzuriteBuilder {
        AzuriteBuilder::default()
    }

    /// The dev account, in memory, on a free port.
    pub async fn start_default() -> Result<Azurite, Error> {
        Self::builder().start().await
    }

    /// The loopback port it listens on (chosen by the system unless fixed).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the running emulator (for a drill that kills it from a shell).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The accounts it serves; their keys included.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    fn account(&self, name: &str) -> &Account {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("account '{name}' is not served by this Azurite"))
    }

    /// `http://127.0.0.1:<port>/<account>` (path-style, as the emulator wants;
    /// `https://` when it serves HTTPS).
    pub fn blob_endpoint(&self, account: &str) -> Url {
        let scheme = if self.builder.tls.is_some() { "https" } else { "http" };
        Url::parse(&format!("{scheme}://127.0.0.1:{}/{account}", self.port)).expect("a loopback URL is valid")
    }

    /// A store configuration for `account` with its key (and the certificate to trust, under HTTPS).
    ///
    /// # Panics
    /// If this instance does not serve `account`: a mistake in the test that asks.
    pub fn config(&self, account: &str) -> AzureConfig {
        let a = self.account(account);
        let mut config =
            AzureConfig::new(&a.name, self.blob_endpoint(account).as_str(), Credential::SharedKey(a.key.clone()))
                .expect("emulator endpoints are loopback and keys are base64");
        config.ca_file = self.builder.tls.as_ref().map(|t| t.cert.clone());
        config
    }

    /// A store on `account`.
    ///
    /// # Panics
    /// If this instance does not serve `account`.
    pub fn store(&self, account: &str) -> AzureBlobStore {
        AzureBlobStore::new(self.config(account)).expect("emulator configs are valid")
    }

    /// A connection string for `account`. It holds the key: do not print it.
    pub fn connection_string(&self, account: &str) -> String {
        let a = self.account(account);
        format!(
            "DefaultEndpointsProtocol={};AccountName={};AccountKey={};BlobEndpoint={};",
            self.blob_endpoint(account).scheme(),
            a.name,
            a.key.expose(),
            self.blob_endpoint(account)
        )
    }

    /// Kills the process at once, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port with the same data location.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill().await;
        self.builder.port = self.port;
        self.spawn().await
    }

    async fn spawn(&mut self) -> Result<(), Error> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &self.builder.port.to_string()])
            .args(["--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match &self.builder.persistence {
            Persistence::InMemory => {
                cmd.arg("--inMemoryPersistence");
            }
            Persistence::Location(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::Location(dir.clone(), e))?;
                cmd.arg("--location").arg(dir);
                // Azurite writes a debug log and its metadata DB under the
                // location; keep the working directory there too.
                cmd.current_dir(dir);
            }
        }
        if let Some(tls) = &self.builder.tls {
            cmd.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
        }
        if self.builder.oauth {
            cmd.args(["--oauth", "basic"]);
        }
        if self.accounts != [Account::dev()] {
            cmd.env("AZURITE_ACCOUNTS", accounts_env(&self.accounts));
        }
        let mut child = cmd.spawn().map_err(|source| Error::Spawn { program: self.program.clone(), source })?;
        let (tx, mut rx) = watch::channel(None::<u16>);
        let tx = Arc::new(tx);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, self.output.clone(), tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, self.output.clone(), tx.clone()));
        }
        let waited = tokio::time::timeout(self.builder.ready_timeout, async {
            loop {
                if let Some(port) = *rx.borrow_and_update() {
                    return Some(port);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match waited {
            Ok(Some(port)) => {
                self.port = port;
                self.child = Some(child);
                tracing::debug!(port, "azurite ready");
                Ok(())
            }
            _ => {
                let _ = child.kill().await;
                let output =
                    self.output.lock().map(|o| o.iter().cloned().collect::<Vec<_>>().join(" | ")).unwrap_or_default();
                Err(Error::NotReady { seconds: self.builder.ready_timeout.as_secs(), output })
            }
        }
    }
}

/// Reads the child's output: keeps the last lines for error messages and
/// reports the port once Azurite says it listens.
async fn pump<R: AsyncRead + Unpin>(
    stream: R,
    output: Arc<Mutex<VecDeque<String>>>,
    ready: Arc<watch::Sender<Option<u16>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(port) = listening_port(&line) {
            let _ = ready.send(Some(port));
        }
        if let Ok(mut o) = output.lock() {
            if o.len() == 20 {
                o.pop_front();
            }
            o.push_back(line);
        }
    }
}

/// `Azurite Blob service successfully listens on http://127.0.0.1:42285`.
fn listening_port(line: &str) -> Option<u16> {
    let (_, url) = line.split_once("successfully listens on ")?;
    url.trim().rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// `MIRRORCAST_AZURITE_BIN`, else `tools/azurite/node_modules/.bin/azurite-blob`
/// above the working directory or this source tree, else `azurite-blob` on PATH.
pub fn find_azurite() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("MIRRORCAST_AZURITE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let relative = Path::new("tools/azurite/node_modules/.bin/azurite-blob");
    let mut searched = Vec::new();
    let starts = [std::env::current_dir().ok(), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")))];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(relative);
            if candidate.is_file() {
                return Ok(candidate);
            }
            if dir.join("Cargo.lock").is_file() {
                searched.push(candidate.display().to_string());
                break;
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("azurite-blob");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    searched.push("azurite-blob on PATH".into());
    Err(Error::NotInstalled { searched: searched.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_port() {
        assert_eq!(listening_port("Azurite Blob service successfully listens on http://127.0.0.1:42285"), Some(42285));
        assert_eq!(listening_port("Azurite Blob service is starting on 127.0.0.1:0"), None);
    }
}
