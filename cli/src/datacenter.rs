//! Data centers by name: `MIRRORCAST_DC_<NAME>` (a connection string) or a
//! `[dc.<name>]` table of `mirrorcast.toml`, whose secrets are named by the
//! environment variable that holds them, never written in the file (a key-encryption
//! key: `MIRRORCAST_KEK_<NAME>`, `kek_env` or `kek_file`, see [`crate::kek`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mirrorcast_azure_blob::token::BearerSource;
use mirrorcast_azure_blob::{AzureBlobStore, AzureConfig, Credential, EntraCredential};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::secret::Secret;
use mirrorcast_core::store::BlobStore;
use mirrorcast_object_store::ObjectStoreBackend;
use mirrorcast_plugin::Registry;
use serde::Deserialize;

/// A data center the user named that cannot be used as configured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("unknown data center '{name}': set {env} to its connection string, or add a [dc.{name}] table to {file}")]
    UnknownDataCenter { name: String, env: String, file: String },
    #[error("data center '{name}' ({source_name}): {message}")]
    Invalid { name: String, source_name: String, message: String },
    #[error("configuration file '{path}': {message}")]
    File { path: PathBuf, message: String },
    #[error("data centers '{first}' and '{second}' are one: both reach {identity}; {what}")]
    SameData { first: String, second: String, identity: String, what: String },
}

/// A resolved data center: its store and the origin that serves its streams.
#[derive(Debug, Clone)]
pub(crate) struct DataCenter {
    pub name: String,
    pub store: Arc<dyn BlobStore>,
    /// Base of streaming URLs, e.g. `https://media-a.example.com`, as configured (`origin`, or the
    /// data center's `serve` address); empty when none is: URLs are then relative (`/<locator>/…`).
    pub origin: String,
    /// The `serve` address of its `[dc.<name>]` table: where `mirrorcast serve` listens by default.
    pub serve: Option<String>,
    /// Its key-encryption key as configured (read when a command needs it).
    pub kek: crate::kek::KekSetting,
}

impl DataCenter {
    pub(crate) fn catalog(&self) -> Catalog {
        Catalog::new(self.store.clone())
    }

    /// Refuses `other` when it holds this data center's own data under
    /// another name (another connection string of the same account, a
    /// directory inside this one): `what` says why that cannot be.
    pub(crate) fn check_apart_from(&self, other: &DataCenter, what: &str) -> Result<(), ConfigError> {
        let (Some(mine), Some(theirs)) = (self.store.identity(), other.store.identity()) else { return Ok(()) };
        if !mine.shares_data_with(&theirs) {
            return Ok(());
        }
        let identity =
            if mine == theirs { mine.to_string() } else { format!("{mine} and {theirs}, one inside the other") };
        Err(ConfigError::SameData {
            first: self.name.clone(),
            second: other.name.clone(),
            identity,
            what: what.to_owned(),
        })
    }

    /// Called once streaming URLs of this data center are about to be printed:
    /// with no origin configured, says once on stderr that they are relative
    /// and how to set one.
    pub(crate) fn note_relative_urls(&self) {
        if self.origin.is_empty() {
            static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
            if let Ok(mut said) = SAID.lock() {
                if !said.contains(&self.name) {
                    said.push(self.name.clone());
                    errln!(
                        "mirrorcast: note: no origin for data center '{}': streaming URLs are relative; set {} or origin = \"https://…\" (or serve = \"host:port\") in [dc.{}]",
                        self.name,
                        env_name("MIRRORCAST_ORIGIN_", &self.name),
                        self.name
                    );
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    dc: BTreeMap<String, DcTable>,
    /// `mirrorcast front`'s settings, read and checked by that command.
    front: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DcTable {
    /// Environment variable holding a whole connection string.
    connection_string_env: Option<String>,
    account: Option<String>,
    /// Environment variable holding the account key.
    key_env: Option<String>,
    /// Environment variable holding a SAS token.
    sas_env: Option<String>,
    /// Blob endpoint (default `https://<account>.blob.core.windows.net`).
    endpoint: Option<String>,
    /// Streaming origin base URL.
    origin: Option<String>,
    /// The address `mirrorcast serve` listens on for this data center (`127.0.0.1:8080`): the
    /// origin base when no `origin` is set.
    serve: Option<String>,
    /// A non-Azure store: `file:///dir`, `memory://`, `s3://bucket/prefix`.
    url: Option<String>,
    /// `plugin:<name>`: a store from a plugin, opened with `config`.
    backend: Option<String>,
    config: Option<String>,
    /// Reach the account at its read-only geo-secondary endpoint (`<account>-secondary`).
    #[serde(default)]
    secondary: bool,
    /// `"entra"`: sign in with Microsoft Entra ID instead of a key or SAS.
    auth: Option<String>,
    /// With `auth = "entra"`: which credential (`default`, `environment`,
    /// `workload-identity`, `managed-identity`, `azure-cli`).
    credential: Option<String>,
    /// With `auth = "entra"`: environment variable holding a bearer token got elsewhere.
    token_env: Option<String>,
    /// An extra root certificate (PEM) to trust: a test emulator's self-signed one.
    ca_file: Option<PathBuf>,
    /// Environment variable holding the key-encryption key (32 bytes in base64).
    kek_env: Option<String>,
    /// A file holding the key-encryption key (32 bytes in base64).
    kek_file: Option<PathBuf>,
    /// A command (program and arguments) that wraps and unwraps through a KMS.
    kek_command: Option<Vec<String>>,
    /// How long one run of `kek_command` may take (default 30).
    kek_command_timeout_secs: Option<u64>,
}

fn env_name(prefix: &str, dc: &str) -> String {
    format!("{prefix}{}", dc.to_ascii_uppercase().replace('-', "_"))
}

/// What the command line says about every data center.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long a failing request is tried again (`--retry-for`).
    pub retry_for: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { retry_for: std::time::Duration::from_secs(30) }
    }
}

/// Reads and checks an explicitly named configuration file, even when the
/// environment defines the data centers a command uses: a broken file is
/// reported, never silently ignored.
pub(crate) fn check_file(path: &Path) -> Result<(), ConfigError> {
    load_file(Some(path)).map(|_| ())
}

/// Resolves `name`: the environment first, then the configuration file.
pub(crate) fn resolve_with(
    name: &str,
    config: Option<&Path>,
    plugins: &Registry,
    settings: &Settings,
) -> Result<DataCenter, ConfigError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            source_name: "--dc".into(),
            message: "a data center name is letters, digits, '-' and '_'".into(),
        });
    }
    let env = env_name("MIRRORCAST_DC_", name);
    let origin_env = std::env::var(env_name("MIRRORCAST_ORIGIN_", name)).ok().filter(|s| !s.is_empty());
    let invalid = |source_name: &str, message: String| ConfigError::Invalid {
        name: name.to_owned(),
        source_name: source_name.to_owned(),
        message,
    };

    let (backend, source_name, file_origin, serve, kek) =
        if let Some(value) = std::env::var(&env).ok().filter(|v| !v.trim().is_empty()) {
            (from_value(&value).map_err(|m| invalid(&env, m))?, env.clone(), None, None, None)
        } else {
            let (path, file) = load_file(config)?;
            let Some(table) = file.dc.get(name) else {
                return Err(ConfigError::UnknownDataCenter {
                    name: name.to_owned(),
                    env,
                    file: path.map_or_else(|| "mirrorcast.toml".to_owned(), |p| p.display().to_string()),
                });
            };
            let where_ = format!("[dc.{name}]");
            let kek = table_kek(table).map_err(|m| invalid(&where_, m))?;
            (from_table(table).map_err(|m| invalid(&where_, m))?, where_, table_origin(table), table.serve.clone(), kek)
        };
    // No invented host: Media Services named its streaming hosts after the media account, and
    // those hosts are gone. Only a configured origin (or serve address) makes URLs absolute.
    let origin = origin_env.or(file_origin).unwrap_or_default();
    let origin = origin.trim().trim_end_matches('/').to_owned();
    if !(origin.is_empty() || origin.starts_with("https://") || origin.starts_with("http://")) {
        return Err(invalid(
            &env_name("MIRRORCAST_ORIGIN_", name),
            format!("origin '{origin}' must be an http:// or https:// URL"),
        ));
    }
    let store: Arc<dyn BlobStore> = match backend {
        Backend::Azure(mut azure) => {
            mirrorcast_azure_blob::config::check_account_name(&azure.account)
                .map_err(|e| invalid(&source_name, e.to_string()))?;
            azure.retry.budget = settings.retry_for;
            Arc::new(AzureBlobStore::named(azure, name).map_err(|e| invalid(&source_name, e.to_string()))?)
        }
        Backend::ObjectStore(url) => {
            Arc::new(ObjectStoreBackend::from_url(&url).map_err(|e| invalid(&source_name, e.message().to_owned()))?)
        }
        Backend::Plugin { plugin, config } => {
            let library = plugins.get(&plugin).map_err(|e| invalid(&source_name, e.to_string()))?;
            Arc::new(library.open(&config).map_err(|e| invalid(&source_name, e.message().to_owned()))?)
        }
    };
    let kek = crate::kek::KekSetting::new(name, kek);
    Ok(DataCenter { name: name.to_owned(), store, origin, serve, kek })
}

/// A table's `kek_env`, `kek_file` or `kek_command` (one of them).
fn table_kek(t: &DcTable) -> Result<Option<crate::kek::KekSource>, String> {
    use crate::kek::KekSource;
    if t.kek_command_timeout_secs.is_some() && t.kek_command.is_none() {
        return Err("kek_command_timeout_secs is set without kek_command".into());
    }
    match (&t.kek_env, &t.kek_file, &t.kek_command) {
        (Some(var), None, None) => Ok(Some(KekSource::Env(var.clone()))),
        (None, Some(path), None) => Ok(Some(KekSource::File(path.clone()))),
        (None, None, Some(argv)) => {
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(
                    "kek_command is a list: the program, then its arguments (e.g. [\"/etc/mirrorcast/kms.sh\"])".into(),
                );
            }
            let secs = t
                .kek_command_timeout_secs
                .unwrap_or(mirrorcast_core::protection::kek_command::DEFAULT_TIMEOUT.as_secs());
            if !(1..=3600).contains(&secs) {
                return Err(format!("kek_command_timeout_secs is {secs}; give 1 to 3600"));
            }
            Ok(Some(KekSource::Command { argv: argv.clone(), timeout: std::time::Duration::from_secs(secs) }))
        }
        (None, None, None) => Ok(None),
        _ => Err("set one of kek_env, kek_file and kek_command".into()),
    }
}

/// A table's origin: `origin`, else its `serve` address as an http:// base.
fn table_origin(t: &DcTable) -> Option<String> {
    t.origin.clone().filter(|o| !o.trim().is_empty()).or_else(|| t.serve.as_deref().map(serve_base))
}

/// `127.0.0.1:8080` → `http://127.0.0.1:8080`; a wildcard listen address is
/// reached on loopback.
fn serve_base(listen: &str) -> String {
    let listen = listen.trim();
    if listen.contains("://") {
        return listen.to_owned();
    }
    let reachable = match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => listen.to_owned(),
    };
    format!("http://{reachable}")
}

/// Where a data center's store is.
#[derive(Debug)]
enum Backend {
    Azure(AzureConfig),
    /// `file://`, `memory://` or `s3://`: the object_store backend.
    ObjectStore(String),
    /// `plugin:<name>:<config>`: a store opened from a loaded plugin.
    Plugin {
        plugin: String,
        config: String,
    },
}

fn from_value(value: &str) -> Result<Backend, String> {
    if let Some(rest) = value.trim().strip_prefix("plugin:") {
        let (plugin, config) = rest.split_once(':').unwrap_or((rest, ""));
        if plugin.is_empty() {
            return Err("a plugin data center is 'plugin:<name>:<config>'".into());
        }
        return Ok(Backend::Plugin { plugin: plugin.to_owned(), config: config.to_owned() });
    }
    let scheme = value.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file" | "s3" | "memory") => Ok(Backend::ObjectStore(value.trim().to_owned())),
        Some(s @ ("gs" | "gcs" | "az" | "abfs")) => Err(format!(
            "'{s}://' data centers are not supported; use an Azure connection string, file://, memory:// or s3://"
        )),
        _ => AzureConfig::from_connection_string(value).map(Backend::Azure).map_err(|e| e.to_string()),
    }
}

fn from_table(t: &DcTable) -> Result<Backend, String> {
    let backend = match (from_table_primary(t)?, &t.ca_file) {
        (Backend::Azure(mut config), Some(ca)) => {
            config.ca_file = Some(ca.clone());
            Backend::Azure(config)
        }
        (_, Some(_)) => return Err("ca_file applies to Azure data centers only".into()),
        (backend, None) => backend,
    };
    match (backend, t.secondary) {
        (Backend::Azure(config), true) => config.to_secondary().map(Backend::Azure).map_err(|e| e.to_string()),
        (_, true) => Err("secondary = true applies to Azure data centers only".into()),
        (backend, false) => Ok(backend),
    }
}

fn from_table_primary(t: &DcTable) -> Result<Backend, String> {
    let read = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("environment variable {var} is not set"))
    };
    if let Some(var) = &t.connection_string_env {
        return from_value(&read(var)?);
    }
    if let Some(url) = &t.url {
        return from_value(url);
    }
    if let Some(backend) = &t.backend {
        let plugin = backend.strip_prefix("plugin:").ok_or("backend must be \"plugin:<name>\"")?;
        return Ok(Backend::Plugin { plugin: plugin.to_owned(), config: t.config.clone().unwrap_or_default() });
    }
    let account = t
        .account
        .as_deref()
        .ok_or("set url, connection_string_env, or account with key_env, sas_env or auth = \"entra\"")?;
    let entra = match t.auth.as_deref().map(str::trim) {
        None => false,
        Some(a) if a.eq_ignore_ascii_case("entra") => true,
        Some(other) => return Err(format!("auth = \"{other}\" is not known; the one value is \"entra\"")),
    };
    if !entra && (t.credential.is_some() || t.token_env.is_some()) {
        return Err("credential and token_env need auth = \"entra\"".into());
    }
    let credential = match (&t.key_env, &t.sas_env) {
        (Some(_), _) | (_, Some(_)) if entra => {
            return Err("auth = \"entra\" signs in without a key or SAS; remove key_env / sas_env".into())
        }
        _ if entra => entra_credential(t, read)?,
        (Some(k), None) => Credential::SharedKey(Secret::new(read(k)?)),
        (None, Some(s)) => Credential::Sas(Secret::new(read(s)?.trim_start_matches('?'))),
        _ => return Err("set exactly one of key_env, sas_env and auth = \"entra\"".into()),
    };
    let endpoint = t.endpoint.clone().unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
    AzureConfig::new(account, &endpoint, credential).map(Backend::Azure).map_err(|e| e.to_string())
}

/// `auth = "entra"`: a token from `token_env`, or the named `credential` (default: `default`).
fn entra_credential(t: &DcTable, read: impl Fn(&str) -> Result<String, String>) -> Result<Credential, String> {
    match (&t.token_env, &t.credential) {
        (Some(_), Some(_)) => Err("set one of token_env and credential".into()),
        (Some(var), None) => Ok(Credential::Entra(BearerSource::fixed(Secret::new(read(var)?.trim())))),
        (None, kind) => {
            let name = kind.as_deref().unwrap_or("default");
            let kind = EntraCredential::parse(name)
                .ok_or_else(|| format!("credential = \"{name}\" is not one of {}", EntraCredential::NAMES))?;
            Credential::entra(kind).map_err(|e| e.to_string())
        }
    }
}

/// The `[front]` table of the configuration file, if any, and the file it came from.
pub(crate) fn front_table(explicit: Option<&Path>) -> Result<(Option<PathBuf>, Option<toml::Table>), ConfigError> {
    let (path, file) = load_file(explicit)?;
    Ok((path, file.front))
}

fn load_file(explicit: Option<&Path>) -> Result<(Option<PathBuf>, FileConfig), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("mirrorcast.toml");
            if !default.is_file() {
                return Ok((None, FileConfig::default()));
            }
            default
        }
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?;
    let parsed: FileConfig =
        toml::from_str(&text).map_err(|e| ConfigError::File { path: path.clone(), message: e.message().to_owned() })?;
    Ok((Some(path), parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serve_address_is_an_http_origin_reachable_on_loopback() {
        assert_eq!(serve_base("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(serve_base("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(serve_base("[::]:9000"), "http://[::1]:9000");
        let t = DcTable { serve: Some("127.0.0.1:8080".into()), ..Default::default() };
        assert_eq!(table_origin(&t).as_deref(), Some("http://127.0.0.1:8080"));
        let t = DcTable { origin: Some("https://o.example".into()), serve: t.serve, ..Default::default() };
        assert_eq!(table_origin(&t).as_deref(), Some("https://o.example"), "an explicit origin wins");
    }

    #[test]
    fn a_kek_command_is_a_non_empty_list_alone_with_a_bounded_timeout() {
        let parse = |extra: &str| -> Result<Option<crate::kek::KekSource>, String> {
            let file: FileConfig =
                toml::from_str(&format!("[dc.a]\nurl = \"memory://\"\n{extra}\n")).map_err(|e| e.to_string())?;
            table_kek(&file.dc["a"])
        };
        let Ok(Some(crate::kek::KekSource::Command { argv, timeout })) =
            parse("kek_command = [\"/bin/kms\", \"--token\", \"s3cret\"]\nkek_command_timeout_secs = 5")
        else {
            panic!("a command with a timeout is read");
        };
        assert_eq!((argv.len(), timeout), (3, std::time::Duration::from_secs(5)));
        let shown = format!("{:?}", parse("kek_command = [\"/bin/kms\", \"--token\", \"s3cret\"]"));
        assert!(shown.contains("/bin/kms") && !shown.contains("s3cret"), "arguments are not in Debug: {shown}");
        assert!(parse("kek_command = \"/bin/kms wrap\"").is_err(), "a shell string is not a list");
        assert!(parse("kek_command = []").unwrap_err().contains("is a list"));
        assert!(parse("kek_command = [\"k\"]\nkek_file = \"f\"")
            .unwrap_err()
            .contains("one of kek_env, kek_file and kek_command"));
        assert!(parse("kek_command_timeout_secs = 5").unwrap_err().contains("without kek_command"));
        assert!(parse("kek_command = [\"k\"]\nkek_command_timeout_secs = 0").unwrap_err().contains("1 to 3600"));
    }
}
