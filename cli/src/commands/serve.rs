//! `mirrorcast serve --dc NAME [--listen ADDR]`: the data center's origin, until Ctrl-C, SIGTERM or
//! SIGHUP (with --tls-cert, SIGHUP reloads the certificate instead).

use std::process::ExitCode;

use anyhow::Context as _;
use mirrorcast_core::Error;
use mirrorcast_http::tls::ReloadableCertificate;
use mirrorcast_http::{access_log, serve, serve_with_tls, ConnectionLimits, Shutdown, TlsAcceptor};
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
    let config = OriginConfig {
        required_header: args.required_header,
        metrics_on_main: args.metrics_listen.is_none(),
        ..config
    };
    // Key delivery opens keys with it (loaded once: a kek_command runs at load). Without
    // the KEK, key requests are a 503 and protected locators are refused, never served clear.
    let kek = dc.kek.load().await?;
    let without_kek = kek.is_none();
    let origin = Origin::new(dc.store.clone(), OriginConfig { kek, ..config });
    let (acceptor, shutdown) = tls_and_shutdown(args.tls.as_ref())?;
    if let Some(metrics_addr) = args.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(metrics_addr)
            .await
            .map_err(|e| Error::invalid_input(format!("--metrics-listen: cannot listen on {metrics_addr}: {e}")))?;
        let at = metrics.local_addr().context("the metrics address")?;
        errln!("mirrorcast: /metrics of data center '{}' on http://{at}", dc.name);
        let app = mirrorcast_origin::metrics_router(origin.clone());
        tokio::spawn(serve(metrics, app, ConnectionLimits::default(), stopped(shutdown.clone()), || {}));
    }
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    errln!("mirrorcast: serving data center '{}' at {scheme}://{bound}", dc.name);
    if without_kek {
        errln!(
            "mirrorcast: warning: data center '{}' has no key-encryption key: its protected locators are refused with 503 ({})",
            dc.name,
            dc.kek.how_to_set()
        );
    }
    serve_with_tls(listener, router(origin), limits, acceptor, stopped(shutdown), access_log::flush)
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// An HTTPS server's acceptor (`tls`: certificate and key files) and its stop signals: with a
/// certificate, SIGHUP reloads it instead of stopping the server (`serve` and `front`).
pub(super) fn tls_and_shutdown(
    tls: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> anyhow::Result<(Option<TlsAcceptor>, Shutdown)> {
    match tls {
        Some((cert, key)) => {
            let certificate =
                ReloadableCertificate::load(cert, key).map_err(|e| Error::invalid_input(e.to_string()))?;
            let shutdown = Shutdown::watch_stops_only()?;
            reload_on_hangup(certificate.clone())?;
            Ok((Some(certificate.acceptor()), shutdown))
        }
        None => Ok((None, Shutdown::watch()?)),
    }
}

/// Each SIGHUP reads the certificate files again; a bad file keeps the old certificate (said on stderr).
fn reload_on_hangup(certificate: std::sync::Arc<ReloadableCertificate>) -> anyhow::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("watching SIGHUP for certificate reloads")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match certificate.reload() {
                Ok(()) => errln!("mirrorcast: SIGHUP: TLS certificate reloaded"),
                Err(e) => errln!("mirrorcast: SIGHUP: {e}; the previous certificate stays"),
            }
        }
    });
    Ok(())
}

/// The first stop signal (also ends `front`).
pub(super) async fn stopped(shutdown: Shutdown) {
    shutdown.requested().await;
}
