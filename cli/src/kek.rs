//! A data center's key-encryption key: `MIRRORCAST_KEK_<NAME>` (32 bytes in
//! base64), else `kek_env` (the variable that holds it), `kek_file` (a file
//! holding it) or `kek_command` (a KMS reached through a command, see
//! `mirrorcast_core::protection::kek_command`) in its `[dc.<name>]` table.
//! Read only when a command needs it; its value is never echoed.

use std::path::PathBuf;
use std::sync::Arc;

use mirrorcast_core::protection::{CommandKek, KeyEncryptionKey, LocalKek};
use mirrorcast_core::replicate::KekAccess;

/// Where the table says the KEK is.
#[derive(Clone)]
pub(crate) enum KekSource {
    Env(String),
    File(PathBuf),
    /// Program and arguments (not echoed: they may hold a token), and how long one run may take.
    Command {
        argv: Vec<String>,
        timeout: std::time::Duration,
    },
}

impl std::fmt::Debug for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            KekSource::File(path) => f.debug_tuple("File").field(path).finish(),
            KekSource::Command { argv, timeout } => {
                f.debug_struct("Command").field("program", &argv.first()).field("timeout", timeout).finish()
            }
        }
    }
}

/// A data center's KEK as configured (not read yet).
#[derive(Debug, Clone)]
pub(crate) struct KekSetting {
    dc: String,
    table: Option<KekSource>,
}

impl KekSetting {
    pub(crate) fn new(dc: &str, table: Option<KekSource>) -> Self {
        KekSetting { dc: dc.to_owned(), table }
    }

    fn env_name(&self) -> String {
        format!("MIRRORCAST_KEK_{}", self.dc.to_ascii_uppercase().replace('-', "_"))
    }

    /// What to do to give this data center its KEK: the sentence every refusal ends with.
    pub(crate) fn how_to_set(&self) -> String {
        format!(
            "set {} to 32 random bytes in base64 (e.g. `openssl rand -base64 32`), or kek_env / kek_file / kek_command in [dc.{}]",
            self.env_name(),
            self.dc
        )
    }

    /// The KEK, `None` when none is configured; an error when one is configured but unusable.
    pub(crate) async fn load(&self) -> anyhow::Result<Option<Arc<dyn KeyEncryptionKey>>> {
        let env = self.env_name();
        if let Some(v) = std::env::var(&env).ok().filter(|v| !v.trim().is_empty()) {
            return Ok(Some(Arc::new(LocalKek::from_base64(&v, &env)?)));
        }
        match &self.table {
            None => Ok(None),
            Some(KekSource::Env(var)) => match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                Some(v) => Ok(Some(Arc::new(LocalKek::from_base64(&v, var)?))),
                None => Err(mirrorcast_core::Error::invalid_input(format!(
                    "data center '{}': kek_env names {var}, which is not set; set it to the KEK (32 bytes in base64)",
                    self.dc
                ))
                .into()),
            },
            Some(KekSource::File(path)) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    mirrorcast_core::Error::invalid_input(format!(
                        "data center '{}': kek_file '{}': {e}",
                        self.dc,
                        path.display()
                    ))
                })?);
                warn_if_readable_by_others(path);
                let source = format!("data center '{}': kek_file '{}'", self.dc, path.display());
                Ok(Some(Arc::new(LocalKek::from_base64(&text, &source)?)))
            }
            Some(KekSource::Command { argv, timeout }) => {
                Ok(Some(Arc::new(CommandKek::connect(&self.dc, argv.clone(), *timeout).await?)))
            }
        }
    }

    /// The KEK, or an error naming the variable to set.
    pub(crate) async fn require(&self, why: &str) -> anyhow::Result<Arc<dyn KeyEncryptionKey>> {
        self.load().await?.ok_or_else(|| {
            anyhow::Error::new(mirrorcast_core::Error::invalid_input(format!(
                "data center '{}' has no key-encryption key, which {why} needs: {}",
                self.dc,
                self.how_to_set()
            )))
        })
    }

    /// As replicate takes it: the KEK, or why there is none and how to give one.
    pub(crate) async fn access(&self) -> anyhow::Result<KekAccess> {
        Ok(match self.load().await? {
            Some(kek) => KekAccess::Given(kek),
            None => KekAccess::Missing(format!(
                "data center '{}' has no key-encryption key: {}",
                self.dc,
                self.how_to_set()
            )),
        })
    }
}

/// A KEK file others can read is a leak waiting to happen: said once, not refused
/// (a mounted secret's mode is not always the operator's to choose).
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                errln!(
                    "mirrorcast: warning: kek_file '{}' is readable by group or others; chmod 600 it",
                    path.display()
                );
            }
        }
    }
}
