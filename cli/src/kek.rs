//! A data center's key-encryption key: `MIRRORCAST_KEK_<NAME>` (32 bytes in
//! base64), else `kek_env` (the variable that holds it) or `kek_file` (a file
//! holding it) in its `[dc.<name>]` table. Read only when a command needs it;
//! its value is never echoed.

use std::path::PathBuf;
use std::sync::Arc;

use mirrorcast_core::protection::{KeyEncryptionKey, LocalKek};
use mirrorcast_core::replicate::KekAccess;

/// Where the table says the KEK is.
#[derive(Debug, Clone)]
pub(crate) enum KekSource {
    Env(String),
    File(PathBuf),
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
            "set {} to 32 random bytes in base64 (e.g. `openssl rand -base64 32`), or kek_env / kek_file in [dc.{}]",
            self.env_name(),
            self.dc
        )
    }

    /// The KEK, `None` when none is configured; an error when one is configured but unusable.
    pub(crate) fn load(&self) -> anyhow::Result<Option<Arc<dyn KeyEncryptionKey>>> {
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
        }
    }

    /// The KEK, or an error naming the variable to set.
    pub(crate) fn require(&self, why: &str) -> anyhow::Result<Arc<dyn KeyEncryptionKey>> {
        self.load()?.ok_or_else(|| {
            anyhow::Error::new(mirrorcast_core::Error::invalid_input(format!(
                "data center '{}' has no key-encryption key, which {why} needs: {}",
                self.dc,
                self.how_to_set()
            )))
        })
    }

    /// As replicate takes it: the KEK, or why there is none and how to give one.
    pub(crate) fn access(&self) -> anyhow::Result<KekAccess> {
        Ok(match self.load()? {
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
