//! `mirrorcast front --listen ADDR --origin a=URL --origin b=URL [...]`: priority
//! failover in front of the origins, until Ctrl-C or SIGTERM. Settings come from
//! the flags, else from `[front]` in mirrorcast.toml, else the defaults.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use mirrorcast_core::Error;
use mirrorcast_front::{router, Front, FrontConfig, OriginSpec};
use serde::Deserialize;

use crate::args::FrontArgs;
use crate::context::Context;
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

pub async fn run(ctx: &Context<'_>, args: FrontArgs) -> anyhow::Result<ExitCode> {
    let (path, table) = datacenter::front_table(ctx.config)?;
    let file_error = |message: String| ConfigError::File {
        path: path.clone().unwrap_or_else(|| PathBuf::from("mirrorcast.toml")),
        message: format!("[front]: {message}"),
    };
    let table: FrontTable = match table {
        Some(t) => t.try_into().map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?,
        None => FrontTable::default(),
    };
    let duration = |flag: Option<Duration>, key: &str, value: &Option<String>| -> anyhow::Result<Option<Duration>> {
        match (flag, value) {
            (Some(d), _) => Ok(Some(d)),
            (None, Some(v)) => Ok(Some(
                humantime::parse_duration(v).map_err(|e| file_error(format!("{key} = \"{v}\": {e} (use e.g. 2s)")))?,
            )),
            (None, None) => Ok(None),
        }
    };

    let specs = if args.origins.is_empty() { table.origins.clone().unwrap_or_default() } else { args.origins.clone() };
    let origins = specs.iter().map(|s| OriginSpec::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let mut config = FrontConfig::new(origins);
    if let Some(mode) = args.mode.as_ref().or(table.mode.as_ref()) {
        config.mode = mode.parse()?;
    }
    if let Some(d) = duration(args.probe_interval, "probe_interval", &table.probe_interval)? {
        config.probe.interval = d;
    }
    if let Some(d) = duration(args.probe_timeout, "probe_timeout", &table.probe_timeout)? {
        config.probe.timeout = d;
    }
    if let Some(d) = duration(args.upstream_timeout, "upstream_timeout", &table.upstream_timeout)? {
        config.upstream_timeout = d;
    }
    if let Some(k) = args.fail_after.or(table.fail_after) {
        config.probe.thresholds.fail_after = k;
    }
    if let Some(m) = args.recover_after.or(table.recover_after) {
        config.probe.thresholds.recover_after = m;
    }
    config.failback = !args.no_failback && table.failback.unwrap_or(true);
    config.players = args.players.or(table.players);
    if let Some(dir) = &config.players {
        if !dir.join("hls.js").is_dir() && !dir.join("dashjs").is_dir() {
            return Err(Error::invalid_input(format!(
                "--players '{}' holds neither hls.js/ nor dashjs/ (give tools/players/node_modules after `npm ci` there)",
                dir.display()
            ))
            .into());
        }
    }
    let front = Front::new(config)?;

    let listen = args.listen.or(table.listen).unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| Error::invalid_input(format!("--listen '{listen}' is not an address such as 127.0.0.1:8000")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::invalid_input(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().context("the listening address")?;
    let names: Vec<&str> = front.config.origins.iter().map(|o| o.name.as_str()).collect();
    errln!(
        "mirrorcast: front ({} mode, origins {}; status at /_front/) at http://{bound}",
        front.config.mode.as_str(),
        names.join(", ")
    );
    let probes = front.start_probes();
    let limits = mirrorcast_origin::ConnectionLimits {
        header_read_timeout: front.config.header_read_timeout,
        ..Default::default()
    };
    let served = mirrorcast_origin::serve(listener, router(front), limits, super::serve::shutdown()).await;
    probes.iter().for_each(tokio::task::JoinHandle::abort);
    served.context("serving")?;
    Ok(ExitCode::SUCCESS)
}
