//! The accept loop every server of the house runs: HTTP/1.1 connections, each
//! with a deadline on its request head and a bound on its size, at most
//! [`ConnectionLimits::max_connections`] at once, each behind the write-stall
//! guard ([`crate::stall`]). The peer's address is in each request's
//! extensions as axum's `ConnectInfo<SocketAddr>`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt as _};
use tracing::{debug, warn};

use crate::stall::{StallGuard, WRITE_STALL_LIMIT};

/// Largest request head (request line and headers) read; longer gets 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What one server lets its clients hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client that has not sent its request head by then is cut off (slowloris).
    pub header_read_timeout: Duration,
    /// Connections served at once; past it, new ones wait in the listen backlog until one
    /// closes (as nginx's worker_connections), so clients cannot take every file descriptor
    /// (the origin needs some for its storage).
    pub max_connections: usize,
    /// A client that takes no byte of its response for this long is cut off; `None` for a
    /// client that may pause as long as it likes (ffmpeg reading its source at the encoder's pace).
    pub write_stall_limit: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_stall_limit: Some(WRITE_STALL_LIMIT),
        }
    }
}

/// Connections served at once unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// At most one "at the connection limit" warning per this long.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then calls `at_shutdown` (the
/// caller's last words: the access log's flush) and returns.
pub async fn serve<S, B>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    at_shutdown: impl FnOnce(),
) -> std::io::Result<()>
where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_with_tls(listener, app, limits, None, shutdown, at_shutdown).await
}

/// [`serve`], over TLS when `tls` is given: each connection's handshake must end within
/// the head-read deadline (a client that stalls it is cut off like a slow request head).
pub async fn serve_with_tls<S, B>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    at_shutdown: impl FnOnce(),
) -> std::io::Result<()>
where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(shutdown);
    let slots =
        Arc::new(tokio::sync::Semaphore::new(limits.max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS)));
    let mut warned: Option<Instant> = None;
    loop {
        if slots.available_permits() == 0 && warned.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
            warn!(target: "mirrorcast_http", "{} connections open (the limit): new ones wait", limits.max_connections);
            warned = Some(Instant::now());
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => {
                at_shutdown();
                return Ok(());
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    warn!(target: "mirrorcast_http", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => {
                at_shutdown();
                return Ok(());
            }
        };
        // A segment goes out in several writes (header, then slices of the bytes read): without
        // TCP_NODELAY, Nagle holds the last small one until the client's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            debug!(target: "mirrorcast_http", "TCP_NODELAY for {peer}: {e}");
        }
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            // Cached segments go out by splice on a plain connection (TLS writes ciphertext).
            #[cfg(target_os = "linux")]
            let stream = crate::zero_copy::SpliceStream::new(stream, tls.is_none());
            let guarded = StallGuard::new(stream, limits.write_stall_limit);
            let served = match tls {
                None => connection(guarded, service, limits).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(guarded)).await {
                        Ok(Ok(tls_stream)) => connection(tls_stream, service, limits).await,
                        Ok(Err(e)) => {
                            debug!(target: "mirrorcast_http", "TLS handshake with {peer}: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(target: "mirrorcast_http", "TLS handshake with {peer}: not done in time");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = served {
                debug!(target: "mirrorcast_http", "connection from {peer}: {e}");
            }
        });
    }
}

/// One HTTP/1.1 connection over `io` (plain or TLS), with the head bounds.
async fn connection<I, S, B>(io: I, service: S, limits: ConnectionLimits) -> hyper::Result<()>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Past `max_connections`, a new client waits in the backlog (its request is not read) until
    /// an open connection closes; then it is served.
    #[tokio::test]
    async fn a_connection_past_the_limit_waits_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/ok", get(|| async { "ok" }));
        let limits = ConnectionLimits { max_connections: 1, ..Default::default() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (flushed, was_flushed) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            app,
            limits,
            async move {
                let _ = stopped.await;
            },
            move || {
                let _ = flushed.send(());
            },
        ));
        async fn ask(stream: &mut tokio::net::TcpStream) -> String {
            stream.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"), "the first connection is served");
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(500), ask(&mut second)).await;
        assert!(waiting.is_err(), "a second connection past the limit of one was served: {waiting:?}");
        drop(first);
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
            .await
            .expect("served once the first connection closed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        assert!(was_flushed.await.is_ok(), "the shutdown hook ran");
    }
}
