//! A connection whose client stops reading: a write (or flush) that makes no
//! progress for [`WRITE_STALL_LIMIT`] fails, so hyper drops the connection and
//! the response it was holding (a segment in memory, an upstream read).
//! Without it a client that never reads keeps both for as long as it likes:
//! the request timeout only bounds making the response, not sending it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a client may take no bytes at all before it is cut off.
pub const WRITE_STALL_LIMIT: Duration = Duration::from_secs(30);

/// `inner` whose writes fail once they have been stalled for `limit` (never when it is `None`).
#[derive(Debug)]
pub struct StallGuard<S> {
    inner: S,
    limit: Option<Duration>,
    /// Running while writes are pending; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    /// Wraps `inner`; `limit` is how long writes may make no progress (`None`: forever).
    pub fn new(inner: S, limit: Option<Duration>) -> Self {
        StallGuard { inner, limit, stalled: None }
    }
}

impl<S: Progress> StallGuard<S> {
    fn progress<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let moved = self.inner.progressed();
        match polled {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(limit) = self.limit else { return Poll::Pending };
                if moved {
                    self.stalled = None;
                }
                let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

/// What a stream tells of bytes it sent while a write or flush stayed pending (a spliced
/// segment leaves its pipe in pieces within one pending flush): progress, not a stall.
pub trait Progress {
    /// Whether bytes went out since the last call.
    fn progressed(&mut self) -> bool {
        false
    }
}

impl Progress for tokio::net::TcpStream {}

impl Progress for tokio::io::DuplexStream {}

#[cfg(target_os = "linux")]
impl Progress for crate::zero_copy::SpliceStream {
    fn progressed(&mut self) -> bool {
        self.take_drained()
    }
}

impl<S: AsyncWrite + Progress + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_fails_the_write_after_the_limit() {
        let (near, _far) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(near, Some(Duration::from_secs(5)));
        let err = guarded.write_all(&[0; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_slowly_but_steadily_is_not_cut_off() {
        let (near, mut far) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut got = 0;
            while got < 8192 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                got += tokio::io::AsyncReadExt::read(&mut far, &mut buf).await.unwrap();
            }
            got
        });
        let mut guarded = StallGuard::new(near, Some(Duration::from_secs(5)));
        guarded.write_all(&[0; 8192]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 8192);
    }
}
