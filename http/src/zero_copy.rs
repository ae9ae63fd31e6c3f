//! Cached segments sent without copying them through user space (as nginx's `sendfile`):
//! a cache keeps an entry's bytes in [`pin`]ned memory, each entry its own anonymous
//! mapping that is never written after it is filled and is only ever unmapped (so pages
//! the kernel still holds in a pipe or a socket's queue stay as they were after eviction).
//! A connection's [`SpliceStream`] sends a slice that lies inside such a mapping by
//! `vmsplice` (the pipe references its pages) and `splice` (the socket takes the page
//! references); every other write is the plain `writev` it always was, unless bytes are
//! still in the pipe, when it follows them through the pipe (a copy, as `writev` does) to
//! keep the order. Without it, copying the segment into the socket was a third of the
//! origin's CPU in the serve bench. Linux only; elsewhere [`pin`] keeps nothing.

use bytes::Bytes;

/// Smaller entries stay on the heap: a mapping costs two syscalls and rounds up to a page,
/// and copying a few KiB costs less than splicing it.
pub const MIN_PINNED: usize = 16 * 1024;

/// What `data` will hold in memory once [`pin`]ned (a mapping is whole pages).
pub fn footprint(len: usize) -> usize {
    if cfg!(target_os = "linux") && len >= MIN_PINNED {
        len.next_multiple_of(4096)
    } else {
        len
    }
}

/// `data` copied into its own read-only mapping, which connections send without copying;
/// `None` when it is smaller than [`MIN_PINNED`], the mapping fails or not on Linux
/// (the caller keeps `data` as it is).
pub fn pin(data: &[u8]) -> Option<Bytes> {
    #[cfg(target_os = "linux")]
    {
        linux::pin(data)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = data;
        None
    }
}

/// Whether `bytes` lies inside a [`pin`]ned mapping (that is alive: `bytes` holds it).
pub fn is_pinned(bytes: &[u8]) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::is_pinned(bytes)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = bytes;
        false
    }
}

/// Bytes sent by `splice` so far, all connections (the tests' proof the path is taken).
pub fn spliced_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        linux::SPLICED.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(target_os = "linux")]
pub use linux::SpliceStream;

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::io::{self, IoSlice};
    use std::os::fd::OwnedFd;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::RwLock;
    use std::task::{ready, Context, Poll};

    use bytes::Bytes;
    use memmap2::{Mmap, MmapMut};
    use nix::errno::Errno;
    use nix::fcntl::{fcntl, splice, vmsplice, FcntlArg, OFlag, SpliceFFlags};
    use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
    use tokio::net::TcpStream;

    pub(super) static SPLICED: AtomicU64 = AtomicU64::new(0);

    /// The live pinned mappings: start address -> end address. An address range is in it
    /// exactly while its mapping is mapped (added once filled and read-only, removed
    /// before it is unmapped), and live mappings never overlap.
    static PINNED: RwLock<BTreeMap<usize, usize>> = RwLock::new(BTreeMap::new());

    /// A pipe's room asked for: a segment (~70 KiB over 18 pages) and its header in one go.
    const PIPE_BYTES: i32 = 256 * 1024;

    /// One pinned mapping: read-only from the moment it is registered to its unmapping.
    struct Pinned(Mmap);

    impl AsRef<[u8]> for Pinned {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Pinned {
        fn drop(&mut self) {
            // Out of the registry before `Mmap`'s own drop unmaps it: a later mapping at the
            // same address is not taken for this one.
            PINNED.write().unwrap_or_else(|e| e.into_inner()).remove(&(self.0.as_ptr() as usize));
        }
    }

    pub(super) fn pin(data: &[u8]) -> Option<Bytes> {
        if data.len() < super::MIN_PINNED {
            return None;
        }
        let mut map = MmapMut::map_anon(data.len()).ok()?;
        map.copy_from_slice(data);
        // Read-only: nothing can change the pages a pipe or socket still references.
        let map = map.make_read_only().ok()?;
        let start = map.as_ptr() as usize;
        PINNED.write().unwrap_or_else(|e| e.into_inner()).insert(start, start + map.len());
        Some(Bytes::from_owner(Pinned(map)))
    }

    pub(super) fn is_pinned(bytes: &[u8]) -> bool {
        let start = bytes.as_ptr() as usize;
        let pinned = PINNED.read().unwrap_or_else(|e| e.into_inner());
        pinned.range(..=start).next_back().is_some_and(|(_, &end)| start + bytes.len() <= end)
    }

    /// Below a page a slice is copied (into the socket or the pipe) whatever its memory: as
    /// cheap as referencing it, and a head or chunk marker never takes the registry's lock.
    const MIN_SPLICED: usize = 4096;

    fn spliceable(buf: &[u8]) -> bool {
        buf.len() >= MIN_SPLICED && is_pinned(buf)
    }

    /// The connection's pipe: bytes in it are written as far as hyper knows, and go out
    /// before anything written after them.
    #[derive(Debug)]
    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        /// Bytes in the pipe, not yet in the socket.
        pending: usize,
    }

    impl Pipe {
        fn new() -> io::Result<Pipe> {
            let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
            // Refused past the user's pipe budget (fs.pipe-user-pages-soft): the default
            // room (16 pages) only splits a segment into more calls.
            let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
            Ok(Pipe { read, write, pending: 0 })
        }

        /// As much of `bufs` as the pipe takes, in order: pinned slices by reference, the
        /// others copied. Errors only when nothing was taken.
        fn fill(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut placed = 0;
            for buf in bufs.iter().filter(|b| !b.is_empty()) {
                let taken = if spliceable(buf) {
                    vmsplice(&self.write, std::slice::from_ref(buf), SpliceFFlags::SPLICE_F_NONBLOCK)
                } else {
                    nix::unistd::write(&self.write, buf)
                };
                match taken {
                    Ok(n) => {
                        placed += n;
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(Errno::EAGAIN) if placed > 0 => break,
                    Err(e) if placed == 0 => return Err(e.into()),
                    Err(_) => break,
                }
            }
            self.pending += placed;
            Ok(placed)
        }
    }

    /// A plain TCP connection whose writes of [`pin`](super::pin)ned slices are spliced
    /// (see the module's documentation); reads and every other write are the stream's own.
    #[derive(Debug)]
    pub struct SpliceStream {
        tcp: TcpStream,
        /// Made at the first pinned write; `None` after that too when it could not be made.
        pipe: Option<Pipe>,
        /// Off for a TLS connection (what it writes is ciphertext, never pinned) and once
        /// a pipe could not be made.
        enabled: bool,
        /// Bytes went from the pipe to the socket while a write or flush stayed pending.
        drained: bool,
        /// Bytes this connection sent by `splice`.
        spliced: u64,
    }

    impl SpliceStream {
        /// Wraps `tcp`; `enabled: false` leaves every write plain.
        pub fn new(tcp: TcpStream, enabled: bool) -> SpliceStream {
            SpliceStream { tcp, pipe: None, enabled, drained: false, spliced: 0 }
        }

        /// Bytes this connection sent by `splice` (the rest went by `writev`).
        pub fn spliced(&self) -> u64 {
            self.spliced
        }

        /// Whether bytes left the pipe since the last call (the stall guard's progress
        /// while a flush stays pending).
        pub fn take_drained(&mut self) -> bool {
            std::mem::take(&mut self.drained)
        }

        /// Moves the pipe's bytes into the socket until it is empty (`Ready`) or the
        /// socket is full (`Pending`, woken when it has room).
        fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let Some(pipe) = &mut self.pipe else { return Poll::Ready(Ok(())) };
            while pipe.pending > 0 {
                let moved = self.tcp.try_io(Interest::WRITABLE, || {
                    splice(&pipe.read, None, &self.tcp, None, pipe.pending, SpliceFFlags::SPLICE_F_NONBLOCK)
                        .map_err(io::Error::from)
                });
                match moved {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        pipe.pending -= n;
                        self.drained = true;
                        self.spliced += n as u64;
                        SPLICED.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.tcp.poll_write_ready(cx))?,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            Poll::Ready(Ok(()))
        }

        fn pipe(&mut self) -> Option<&mut Pipe> {
            if self.pipe.is_none() && self.enabled {
                match Pipe::new() {
                    Ok(pipe) => self.pipe = Some(pipe),
                    Err(e) => {
                        tracing::debug!(target: "mirrorcast_http", "no pipe to splice through: {e}");
                        self.enabled = false;
                    }
                }
            }
            self.pipe.as_mut()
        }
    }

    /// The pipe took nothing: it is full, so the drain before is pending on the socket's
    /// room and wakes the task; were it not (`drained`), the task asks again at once.
    fn full<T>(cx: &mut Context<'_>, drained: bool) -> Poll<T> {
        if drained {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    impl AsyncRead for SpliceStream {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for SpliceStream {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let queued = this.pipe.as_ref().is_some_and(|p| p.pending > 0);
            let splices = this.enabled && bufs.iter().any(|b| spliceable(b));
            if !queued && !splices {
                return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
            }
            // What is already in the pipe goes first; the new bytes follow it through the pipe.
            let drained = match this.poll_drain(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => true,
                Poll::Pending => false,
            };
            let Some(pipe) = this.pipe() else {
                return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
            };
            match pipe.fill(bufs) {
                Ok(0) if bufs.iter().any(|b| !b.is_empty()) => full(cx, drained),
                Ok(placed) => {
                    // Sent now if the socket takes it; what it does not goes first next time.
                    if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Ok(placed))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => full(cx, drained),
                Err(e) => Poll::Ready(Err(e)),
            }
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            ready!(this.poll_drain(cx))?;
            Pin::new(&mut this.tcp).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            ready!(this.poll_drain(cx))?;
            Pin::new(&mut this.tcp).poll_shutdown(cx)
        }
    }
}
