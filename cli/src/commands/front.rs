//! `mirrorcast front --listen ADDR --origin a=URL --origin b=URL [...]`: priority
//! failover in front of the origins, until Ctrl-C, SIGTERM or SIGHUP (with --tls-cert, SIGHUP
//! reloads the certificate instead). Settings come from
//! the flags, else from `[front]` in mirrorcast.toml, else the defaults.

use std::process::ExitCode;

use anyhow::Context as _;
use mirrorcast_core::Error;
use mirrorcast_front::{router, Front};
use mirrorcast_http::{serve_with_tls, ConnectionLimits};

use crate::args::front::FrontSettings;
use crate::args::FrontArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context<'_>, args: FrontArgs) -> anyhow::Result<ExitCode> {
    let tls = args.tls_cert.clone().zip(args.tls_key.clone());
    let FrontSettings { config, listen } = args.resolve(ctx.config)?;
    let front = Front::new(config)?;

    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| Error::invalid_input(format!("--listen '{listen}' is not an address such as 127.0.0.1:8000")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::invalid_input(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().context("the listening address")?;
    let (acceptor, shutdown) = super::serve::tls_and_shutdown(tls.as_ref())?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let names: Vec<&str> = front.config.origins.iter().map(|o| o.name.as_str()).collect();
    errln!(
        "mirrorcast: front ({} mode, origins {}; status at /_front/) at {scheme}://{bound}",
        front.config.mode.as_str(),
        names.join(", ")
    );
    let probes = front.start_probes();
    let limits = ConnectionLimits { header_read_timeout: front.config.header_read_timeout, ..Default::default() };
    let stopped = super::serve::stopped(shutdown);
    let served =
        serve_with_tls(listener, router(front), limits, acceptor, stopped, mirrorcast_http::access_log::flush).await;
    probes.iter().for_each(tokio::task::JoinHandle::abort);
    served.context("serving")?;
    Ok(ExitCode::SUCCESS)
}
