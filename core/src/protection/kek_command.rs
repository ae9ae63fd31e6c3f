//! A key-encryption key that never leaves a KMS: a command the operator names
//! (`kek_command` in `[dc.<name>]`) wraps and unwraps for us, the way git
//! credential helpers and kubectl exec plugins plug in a vault.
//!
//! Envelope encryption: each secret is sealed (AES-256-GCM, its record as
//! associated data, as [`LocalKek`](super::kek::LocalKek) does) under a fresh
//! 32-byte data key, and only that data key goes to the KMS. So any KMS fits
//! (RSA-OAEP's ~190-byte limit, no associated data) and a record moved to
//! another still fails to open.
//!
//! Protocol (docs/protection.md): `<argv...> fingerprint|wrap|unwrap`, one JSON
//! object on stdin, one on stdout, exit 0.
//! - `fingerprint`: `{}` → `{"fingerprint": "<printable, ≤128 chars>"}`: names
//!   the KMS key (and version), recorded with every wrap.
//! - `wrap`: `{"context": "...", "data": "<base64 of 32 bytes>"}` →
//!   `{"data": "<printable text, ≤4096 chars>"}`.
//! - `unwrap`: `{"context": "...", "data": "<what wrap printed>"}` →
//!   `{"data": "<base64 of the 32 bytes>"}`.
//!
//! Stdin and stdout carry secrets: never logged, never echoed in an error (nor
//! are the command's arguments, which may hold a token). A failure names the
//! data center, the program and the first line of its stderr.
//!
//! The command runs in a process group of its own, and a timeout or a dropped
//! call (a run stopped by SIGTERM) kills the whole group: a script's own
//! children (a pipeline, `sh -c`, a `curl` it waits on) go with it instead of
//! running on, orphaned. A command therefore cannot prompt on the terminal.

use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::{Zeroize, Zeroizing};

use super::kek::{
    does_not_open, open, other_kek, seal, KeyEncryptionKey, Wrapped, COMMAND_ALGORITHM, KEK_LEN, MAX_WRAPPED_KEY_CHARS,
};
use crate::error::{Error, ErrorKind, Result};
use crate::process_group::ProcessGroup;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// How long a command may take unless the table says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// More stdout than this is not an answer of this protocol.
const MAX_STDOUT: usize = 64 * 1024;
/// Of stderr only the start is kept (its first line is reported).
const MAX_STDERR_KEPT: usize = 4 * 1024;
const MAX_FINGERPRINT_CHARS: usize = 128;

/// A KEK held by a KMS, reached through a command.
pub struct CommandKek {
    dc: String,
    argv: Vec<String>,
    timeout: Duration,
    fingerprint: String,
}

/// The arguments may hold a token: only the program is shown.
impl fmt::Debug for CommandKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandKek")
            .field("dc", &self.dc)
            .field("program", &self.argv.first())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Request<'a> {
    context: &'a str,
    data: &'a str,
}

/// An answer; its text may be a key, so it is wiped when dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    data: String,
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintAnswer {
    fingerprint: String,
}

impl CommandKek {
    /// The KEK behind `argv` (program first) for data center `dc`: asks the
    /// command for its fingerprint, so a command that does not work is found now.
    pub async fn connect(dc: &str, argv: Vec<String>, timeout: Duration) -> Result<Self> {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(Error::invalid_input(format!(
                "data center '{dc}': kek_command is empty; give the program and its arguments as a list, e.g. [\"/etc/mirrorcast/kms.sh\"]"
            )));
        }
        if timeout.is_zero() {
            return Err(Error::invalid_input(format!(
                "data center '{dc}': kek_command_timeout_secs must be at least 1"
            )));
        }
        let mut kek = CommandKek { dc: dc.to_owned(), argv, timeout, fingerprint: String::new() };
        let out = kek.run("fingerprint", b"{}").await?;
        let answer: FingerprintAnswer =
            serde_json::from_slice(&out).map_err(|_| kek.fail("did not print {\"fingerprint\": \"...\"} JSON"))?;
        let fp = answer.fingerprint;
        if fp.is_empty() || fp.len() > MAX_FINGERPRINT_CHARS || !fp.chars().all(|c| c.is_ascii_graphic()) {
            return Err(kek.fail(&format!(
                "printed a fingerprint that is not 1 to {MAX_FINGERPRINT_CHARS} printable characters without spaces"
            )));
        }
        kek.fingerprint = fp;
        Ok(kek)
    }

    fn program(&self) -> &str {
        &self.argv[0]
    }

    fn fail(&self, what: &str) -> Error {
        Error::new(ErrorKind::Other, format!("data center '{}': kek_command '{}' {what}", self.dc, self.program()))
    }

    /// Runs `<argv...> <op>` with `request` on stdin: its stdout when it exits 0 in time.
    async fn run(&self, op: &str, request: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        tracing::debug!(dc = %self.dc, program = %self.program(), op, "kek_command");
        let mut child = tokio::process::Command::new(self.program())
            .args(&self.argv[1..])
            .arg(op)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("data center '{}': kek_command '{}' could not start: {e}", self.dc, self.program()),
                )
            })?;
        // Declared after `child`, so dropped before it: the group dies while its
        // leader is still unreaped, so its id cannot have been reused.
        let mut group = ProcessGroup::led_by(&child);
        let (mut stdin, mut stdout, mut stderr) = (
            child.stdin.take().expect("piped"),
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        // Drained apart from stdout so a chatty stderr cannot stall the command.
        let stderr_task = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let room = MAX_STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            kept
        });
        let work = async {
            let write = async {
                // A command that does not read its stdin is not an error here; its answer tells.
                let _ = stdin.write_all(request).await;
                drop(stdin);
            };
            let read = async {
                let mut out = Zeroizing::new(Vec::new());
                let read = (&mut stdout).take(MAX_STDOUT as u64 + 1).read_to_end(&mut out).await;
                (read, out)
            };
            let ((), (read, out)) = tokio::join!(write, read);
            if out.len() > MAX_STDOUT {
                return Err(self.fail(&format!("printed more than {} KiB; refused", MAX_STDOUT / 1024)));
            }
            read.map_err(|e| self.fail(&format!("could not be read: {e}")))?;
            let status = child.wait().await.map_err(|e| self.fail(&format!("could not be waited for: {e}")))?;
            group.disarm();
            Ok((status, out))
        };
        let outcome = tokio::time::timeout(self.timeout, work).await;
        let (status, out) = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                group.kill();
                stderr_task.abort();
                return Err(e);
            }
            Err(_) => {
                group.kill();
                stderr_task.abort();
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "data center '{}': kek_command '{}' {op} did not finish within {} s and was killed (kek_command_timeout_secs)",
                        self.dc,
                        self.program(),
                        self.timeout.as_secs_f64()
                    ),
                ));
            }
        };
        if !status.success() {
            let stderr = tokio::time::timeout(Duration::from_secs(1), stderr_task).await.ok().and_then(|r| r.ok());
            let line = stderr.as_deref().map(first_line).unwrap_or_default();
            let said = if line.is_empty() { String::new() } else { format!(": {line}") };
            return Err(self.fail(&format!("{op} failed ({status}){said}")));
        }
        stderr_task.abort();
        Ok(out)
    }
}

/// The first non-empty line of `stderr`, printable and short.
fn first_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[async_trait]
impl KeyEncryptionKey for CommandKek {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn wrap(&self, secret: &[u8], context: &str) -> Result<Wrapped> {
        let mut data_key = Zeroizing::new([0u8; KEK_LEN]);
        aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut data_key[..]);
        let (nonce, ciphertext) = seal(&data_key, secret, context)?;
        let data = Zeroizing::new(B64.encode(&data_key[..]));
        let request = Zeroizing::new(serde_json::to_vec(&Request { context, data: &data }).expect("strings serialize"));
        let out = self.run("wrap", &request).await?;
        let answer: Answer = serde_json::from_slice(&out)
            .map_err(|_| self.fail(&format!("wrap of {context} did not print {{\"data\": \"...\"}} JSON")))?;
        let key = &answer.data;
        if key.is_empty() || key.len() > MAX_WRAPPED_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(self.fail(&format!(
                "wrap of {context} printed a wrapped key that is not 1 to {MAX_WRAPPED_KEY_CHARS} printable characters"
            )));
        }
        Ok(Wrapped {
            algorithm: COMMAND_ALGORITHM.to_owned(),
            kek: self.fingerprint.clone(),
            nonce,
            ciphertext,
            wrapped_key: Some(key.clone()),
        })
    }

    async fn unwrap(&self, wrapped: &Wrapped, context: &str) -> Result<Zeroizing<Vec<u8>>> {
        wrapped.validate()?;
        let (true, Some(key)) = (wrapped.kek == self.fingerprint, &wrapped.wrapped_key) else {
            return Err(other_kek(context, wrapped, &self.fingerprint));
        };
        let request = serde_json::to_vec(&Request { context, data: key }).expect("strings serialize");
        let out = self.run("unwrap", &request).await?;
        let answer: Answer = serde_json::from_slice(&out)
            .map_err(|_| self.fail(&format!("unwrap of {context} did not print {{\"data\": \"...\"}} JSON")))?;
        let decoded = Zeroizing::new(B64.decode(answer.data.as_bytes()).unwrap_or_default());
        let data_key: Zeroizing<[u8; KEK_LEN]> = Zeroizing::new(decoded.as_slice().try_into().map_err(|_| {
            self.fail(&format!("unwrap of {context} did not print the base64 of a {KEK_LEN}-byte key"))
        })?);
        open(&data_key, wrapped, context).ok_or_else(|| does_not_open(context, &self.fingerprint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_kms(key_hex: &str) -> Vec<String> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/kms/fake-kms.sh");
        vec!["bash".into(), script.into(), key_hex.into()]
    }

    /// A command whose fingerprint step works and whose other steps run `body`.
    fn scripted(body: &str) -> Vec<String> {
        let script = format!("case \"$1\" in fingerprint) echo '{{\"fingerprint\": \"scripted\"}}';; *) {body};; esac");
        vec!["bash".into(), "-c".into(), script, "scripted".into()]
    }

    const SECRET: &[u8] = b"sixteen byte key";

    #[tokio::test]
    async fn a_secret_wrapped_through_the_kms_opens_only_for_its_record_and_its_kms_key() {
        let kek = CommandKek::connect("a", fake_kms(&"11".repeat(32)), DEFAULT_TIMEOUT).await.unwrap();
        assert!(kek.fingerprint().starts_with("fake-kms:"), "{}", kek.fingerprint());
        let w = kek.wrap(SECRET, "content key 1").await.unwrap();
        assert_eq!((w.algorithm.as_str(), w.kek.as_str()), (COMMAND_ALGORITHM, kek.fingerprint()));
        w.validate().unwrap();
        assert_eq!(&kek.unwrap(&w, "content key 1").await.unwrap()[..], SECRET);
        // The record holds neither the secret nor the data key in the clear.
        let json = serde_json::to_string(&w).unwrap();
        assert!(!json.contains(&B64.encode(SECRET)) && !json.contains("sixteen"), "{json}");
        // Moved to another record: the KMS hands the data key back, the seal refuses it.
        let moved = kek.unwrap(&w, "content key 2").await.unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::Corrupt, "{moved}");
        // Another KMS key is named as such, before the KMS is asked.
        let other = CommandKek::connect("a", fake_kms(&"22".repeat(32)), DEFAULT_TIMEOUT).await.unwrap();
        let err = other.unwrap(&w, "content key 1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(err.to_string().contains(kek.fingerprint()) && err.to_string().contains(other.fingerprint()), "{err}");
        // A LocalKek's record is not one the command opens, and the other way round.
        let local = super::super::kek::LocalKek::from_bytes([1; KEK_LEN]);
        let local_w = local.wrap(SECRET, "content key 1").await.unwrap();
        assert_eq!(kek.unwrap(&local_w, "content key 1").await.unwrap_err().kind(), ErrorKind::Authentication);
        assert_eq!(local.unwrap(&w, "content key 1").await.unwrap_err().kind(), ErrorKind::Authentication);
        // A KMS that answers with the wrong data key: the seal refuses it.
        let mut swapped = w.clone();
        swapped.wrapped_key = kek.wrap(SECRET, "content key 1").await.unwrap().wrapped_key;
        assert_eq!(kek.unwrap(&swapped, "content key 1").await.unwrap_err().kind(), ErrorKind::Corrupt);
        assert!(!format!("{kek:?}{w:?}").contains(&"11".repeat(32)), "{kek:?}");
    }

    #[tokio::test]
    async fn a_failing_command_is_named_with_its_first_stderr_line_and_never_its_input_or_output() {
        let kek = CommandKek::connect(
            "east",
            scripted("cat > /dev/null; echo '{\"data\": \"a-secret-answer\"}'; printf '\\nkms: access denied for mirrorcast\\nmore\\n' >&2; exit 1"),
            DEFAULT_TIMEOUT,
        )
        .await
        .unwrap();
        let err = kek.wrap(SECRET, "content key 1").await.unwrap_err().to_string();
        assert!(err.contains("data center 'east'") && err.contains("kek_command 'bash'"), "{err}");
        assert!(err.contains("kms: access denied for mirrorcast") && !err.contains("more"), "{err}");
        assert!(!err.contains("a-secret-answer") && !err.contains("scripted") && !err.contains("case"), "{err}");

        let missing = CommandKek::connect("east", vec!["/nonexistent/kms".into()], DEFAULT_TIMEOUT).await.unwrap_err();
        assert!(missing.to_string().contains("could not start"), "{missing}");
        let empty = CommandKek::connect("east", vec![], DEFAULT_TIMEOUT).await.unwrap_err();
        assert!(empty.to_string().contains("kek_command is empty"), "{empty}");
    }

    #[tokio::test]
    async fn a_hung_command_is_killed_at_its_timeout() {
        let kek = CommandKek::connect("a", scripted("exec sleep 60"), Duration::from_millis(500)).await.unwrap();
        let started = std::time::Instant::now();
        let err = kek.wrap(SECRET, "content key 1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(err.to_string().contains("did not finish within 0.5 s"), "{err}");
        // Not a timing claim: the 60 s sleep was not waited for.
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    /// A command whose wrap starts a sleeping grandchild (its pid written to `pid_file`) and waits for it.
    fn spawns_a_sleeping_grandchild(pid_file: &std::path::Path) -> Vec<String> {
        let pid_file = pid_file.display();
        scripted(&format!("sh -c 'echo $$ > {pid_file}; exec sleep 60' </dev/null >/dev/null 2>&1 & wait"))
    }

    /// The pid the grandchild wrote, once it has.
    async fn grandchild_pid(pid_file: &std::path::Path) -> u32 {
        for _ in 0..200 {
            if let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|t| t.trim().parse().ok()) {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the grandchild never wrote {}", pid_file.display());
    }

    /// Whether `pid` is gone within a few seconds (a zombie waiting for init to reap it counts).
    async fn is_gone(pid: u32) -> bool {
        for _ in 0..100 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                // The state follows the parenthesised command name.
                Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => {
                    return true
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        false
    }

    #[tokio::test]
    async fn a_timed_out_command_is_killed_with_the_processes_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let kek =
            CommandKek::connect("a", spawns_a_sleeping_grandchild(&pid_file), Duration::from_secs(2)).await.unwrap();
        let err = kek.wrap(SECRET, "content key 1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
        let pid = grandchild_pid(&pid_file).await;
        assert!(is_gone(pid).await, "the grandchild {pid} outlived its command's timeout");
    }

    #[tokio::test]
    async fn a_dropped_call_kills_the_command_with_the_processes_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let kek = CommandKek::connect("a", spawns_a_sleeping_grandchild(&pid_file), DEFAULT_TIMEOUT).await.unwrap();
        // What a run stopped by SIGTERM does to a wrap in flight: drops it.
        let call = tokio::spawn(async move { kek.wrap(SECRET, "content key 1").await.map(|_| ()) });
        let pid = grandchild_pid(&pid_file).await;
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        assert!(is_gone(pid).await, "the grandchild {pid} outlived its dropped command");
    }

    #[tokio::test]
    async fn garbage_or_too_much_output_is_refused_without_echoing_it() {
        for (body, expect) in [
            ("echo 'the data key is hunter2'", "did not print {\"data\": \"...\"} JSON"),
            ("echo '{\"data\": \"has space hunter2\"}'", "not 1 to 4096 printable characters"),
            ("echo '{\"data\": \"\"}'", "not 1 to 4096 printable characters"),
            ("head -c 1000000 /dev/zero | tr '\\0' x", "printed more than 64 KiB"),
            ("yes hunter2", "printed more than 64 KiB"),
        ] {
            let kek = CommandKek::connect("a", scripted(body), DEFAULT_TIMEOUT).await.unwrap();
            let err = kek.wrap(SECRET, "content key 1").await.unwrap_err().to_string();
            assert!(err.contains(expect) && !err.contains("hunter2"), "{body}: {err}");
        }
        // An unwrap answer that is not a 32-byte key.
        let good = CommandKek::connect("a", fake_kms(&"33".repeat(32)), DEFAULT_TIMEOUT).await.unwrap();
        let w = good.wrap(SECRET, "c").await.unwrap();
        let short =
            CommandKek::connect("a", scripted("echo '{\"data\": \"aHVudGVyMg==\"}'"), DEFAULT_TIMEOUT).await.unwrap();
        let w = Wrapped { kek: short.fingerprint().to_owned(), ..w };
        let err = short.unwrap(&w, "c").await.unwrap_err().to_string();
        assert!(err.contains("base64 of a 32-byte key") && !err.contains("aHVudGVyMg"), "{err}");
        // A fingerprint that is not one.
        let bad = CommandKek::connect(
            "a",
            vec!["bash".into(), "-c".into(), "echo '{\"fingerprint\": \"two words\"}'".into()],
            DEFAULT_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(bad.to_string().contains("printable characters without spaces"), "{bad}");
    }
}
