//! `mirrorcast serve --dc NAME [--listen ADDR]`: the data center's origin, until Ctrl-C, SIGTERM or SIGHUP.

use std::process::ExitCode;

use anyhow::Context as _;
use mirrorcast_core::Error;
use mirrorcast_http::{access_log, serve, ConnectionLimits, Shutdown};
use mirrorcast_origin::{router, Origin, OriginConfig};

use crate::args::ServeArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context<'_>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = args.resolve()?;
    let dc = ctx.dc(&args.dc)?;
    let listen = args.listen.or(dc.serve.clone()).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| Error::invalid_input(format!("--listen '{listen}' is not an address such as 127.0.0.1:8080")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::invalid_input(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().context("the listening address")?;
    let config = OriginConfig {
        index_cache_bytes: args.index_cache_bytes,
        upstream_timeout: args.upstream_timeout,
        name: Some(dc.name.clone()),
        segment_cache_bytes: args.cache_bytes,
        ..Default::default()
    };
    let limits = ConnectionLimits { max_connections: args.max_connections, ..Default::default() };
    let origin = Origin::new(dc.store.clone(), config);
    errln!("mirrorcast: serving data center '{}' at http://{bound}", dc.name);
    let shutdown = Shutdown::watch()?;
    serve(listener, router(origin), limits, stopped(shutdown), access_log::flush).await.context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// The first stop signal (also ends `front`).
pub(super) async fn stopped(shutdown: Shutdown) {
    shutdown.requested().await;
}
