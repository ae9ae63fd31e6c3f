//! `front` resolved: each setting from its flag, else from `[front]` in
//! mirrorcast.toml, else the default, checked before the front is built.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mirrorcast_core::Error;
use mirrorcast_front::{FrontConfig, OriginSpec};
use serde::Deserialize;

use super::FrontArgs;
use crate::datacenter::{self, ConfigError};

/// `[front]` of mirrorcast.toml: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontTable {
    listen: Option<String>,
    /// `["a=http://…", "b=http://…"]`, in priority order.
    origins: Option<Vec<String>>,
    mode: Option<String>,
    probe_interval: Option<String>,
    probe_timeout: Option<String>,
    fail_after: Option<u32>,
    recover_after: Option<u32>,
    failback: Option<bool>,
    upstream_timeout: Option<String>,
    players: Option<PathBuf>,
}

/// What the front runs with. `Front::new` checks the configuration as a whole (origins, probe timings).
pub(crate) struct FrontSettings {
    pub config: FrontConfig,
    /// The address to listen on (parsed where it is bound).
    pub listen: String,
}

impl FrontArgs {
    /// `config_file`: the global `--config`, whose `[front]` table fills what the flags leave out.
    pub(crate) fn resolve(self, config_file: Option<&Path>) -> anyhow::Result<FrontSettings> {
        let (path, table) = datacenter::front_table(config_file)?;
        let file_error = |message: String| ConfigError::File {
            path: path.clone().unwrap_or_else(|| PathBuf::from("mirrorcast.toml")),
            message: format!("[front]: {message}"),
        };
        let table: FrontTable = match table {
            Some(t) => t.try_into().map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?,
            None => FrontTable::default(),
        };
        let duration =
            |flag: Option<Duration>, key: &str, value: &Option<String>| -> anyhow::Result<Option<Duration>> {
                match (flag, value) {
                    (Some(d), _) => Ok(Some(d)),
                    (None, Some(v)) => Ok(Some(
                        humantime::parse_duration(v)
                            .map_err(|e| file_error(format!("{key} = \"{v}\": {e} (use e.g. 2s)")))?,
                    )),
                    (None, None) => Ok(None),
                }
            };

        let specs =
            if self.origins.is_empty() { table.origins.clone().unwrap_or_default() } else { self.origins.clone() };
        let origins = specs.iter().map(|s| OriginSpec::parse(s)).collect::<Result<Vec<_>, _>>()?;
        let mut config = FrontConfig::new(origins);
        if let Some(mode) = self.mode.as_ref().or(table.mode.as_ref()) {
            config.mode = mode.parse()?;
        }
        if let Some(d) = duration(self.probe_interval, "probe_interval", &table.probe_interval)? {
            config.probe.interval = d;
        }
        if let Some(d) = duration(self.probe_timeout, "probe_timeout", &table.probe_timeout)? {
            config.probe.timeout = d;
        }
        if let Some(d) = duration(self.upstream_timeout, "upstream_timeout", &table.upstream_timeout)? {
            config.upstream_timeout = d;
        }
        if let Some(k) = self.fail_after.or(table.fail_after) {
            config.probe.thresholds.fail_after = k;
        }
        if let Some(m) = self.recover_after.or(table.recover_after) {
            config.probe.thresholds.recover_after = m;
        }
        config.failback = !self.no_failback && table.failback.unwrap_or(true);
        config.players = self.players.or(table.players);
        if let Some(dir) = &config.players {
            if !dir.join("hls.js").is_dir() && !dir.join("dashjs").is_dir() {
                return Err(Error::invalid_input(format!(
                    "--players '{}' holds neither hls.js/ nor dashjs/ (give tools/players/node_modules after `npm ci` there)",
                    dir.display()
                ))
                .into());
            }
        }
        let listen = self.listen.or(table.listen).unwrap_or_else(|| "127.0.0.1:8000".to_owned());
        Ok(FrontSettings { config, listen })
    }
}
