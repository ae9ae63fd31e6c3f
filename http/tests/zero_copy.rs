//! The zero-copy path of `mirrorcast_http::zero_copy` over real loopback sockets: what
//! arrives is byte for byte what was written, in order, through writes the kernel splits,
//! after the source mapping is gone, and nothing is left open by a client that leaves.
#![cfg(target_os = "linux")]

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use mirrorcast_http::zero_copy::{self, SpliceStream};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// One test at a time: the descriptor count is the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `test` alone (the descriptor count is the process's), on a runtime made once the
/// others are done with theirs.
fn one_at_a_time(test: impl std::future::Future<Output = ()>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test);
}

/// `len` bytes that differ from any shift of themselves (a misplaced or repeated page shows).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A listener whose accepted sockets have a small receive buffer.
fn small_listener() -> (TcpListener, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The sending side: a connection with a tiny send buffer, so the kernel splits every write.
async fn splicing_sender(addr: SocketAddr) -> SpliceStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    SpliceStream::new(socket.connect(addr).await.unwrap(), true)
}

/// Writes all of `parts` through `poll_write_vectored` as hyper does (advancing by what each
/// call took, however partial).
async fn write_all_vectored(stream: &mut (impl tokio::io::AsyncWrite + Unpin), parts: &[&[u8]]) {
    let mut at = 0usize;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    while at < total {
        let mut skip = at;
        let mut slices = Vec::new();
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
            } else {
                slices.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
        }
        let n = stream.write_vectored(&slices).await.unwrap();
        assert!(n > 0, "a write took nothing");
        at += n;
    }
}

/// Reads `len` bytes, slowly (small reads with pauses) so the sender's writes block.
async fn read_slowly(mut stream: TcpStream, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    let mut buf = [0u8; 3000];
    while got.len() < len {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        if got.len() % 7 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    got
}

#[test]
fn spliced_bytes_arrive_intact_through_split_writes_and_a_slow_reader() {
    one_at_a_time(async {
        let (listener, addr) = small_listener();
        let source = pattern(700 * 1024 + 123, 1);
        let pinned = zero_copy::pin(&source).expect("pinned");
        assert!(zero_copy::is_pinned(&pinned[5..900]), "a slice of the mapping is pinned");
        assert!(!zero_copy::is_pinned(&source), "the heap copy is not");
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 716923\r\n\r\n".to_vec();
        let tail = b"\r\n0\r\n\r\n".to_vec();
        let expected = [&head[..], &pinned[..], &tail[..]].concat();
        let reader = tokio::spawn({
            let len = expected.len();
            async move { read_slowly(listener.accept().await.unwrap().0, len).await }
        });
        let mut sender = splicing_sender(addr).await;
        // Misaligned slices of the mapping too (a ranged response), a short one among them
        // (copied), between heap writes.
        write_all_vectored(&mut sender, &[&head, &pinned[..5000], &pinned[5000..5100], &pinned[5100..], &tail]).await;
        sender.flush().await.unwrap();
        let got = reader.await.unwrap();
        assert!(got == expected, "the bytes received differ from those written ({} vs {})", got.len(), expected.len());
        assert!(sender.spliced() >= pinned.len() as u64, "the pinned bytes were spliced: {}", sender.spliced());
    })
}

#[test]
fn an_entry_dropped_while_in_flight_still_arrives_intact() {
    one_at_a_time(async {
        let (listener, addr) = small_listener();
        let source = pattern(96 * 1024, 2);
        let mut sender = splicing_sender(addr).await;
        let accepted = listener.accept().await.unwrap().0;
        let pinned = zero_copy::pin(&source).unwrap();
        // Taken (in the pipe or the socket) while nobody reads: the write is accounted for, the
        // bytes are not yet sent.
        write_all_vectored(&mut sender, &[&pinned]).await;
        let start = pinned.as_ptr() as usize;
        drop(pinned);
        // Evicted and unmapped; new entries (likely at the same address) with other bytes.
        let others: Vec<Bytes> = (0..8).map(|i| zero_copy::pin(&vec![0xA5 ^ i; 96 * 1024]).unwrap()).collect();
        let reused = others.iter().any(|o| o.as_ptr() as usize == start);
        eprintln!("the dropped entry's address was reused by a new one: {reused}");
        let reader = tokio::spawn(read_slowly(accepted, source.len()));
        sender.flush().await.unwrap();
        assert!(reader.await.unwrap() == source, "the bytes received differ from the entry as it was");
        drop(others);
    })
}

#[test]
fn a_client_that_leaves_mid_segment_leaves_no_descriptor_open() {
    one_at_a_time(async {
        let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let before = open();
        {
            let (listener, addr) = small_listener();
            let source = zero_copy::pin(&pattern(4 * 1024 * 1024, 3)).unwrap();
            let mut sender = splicing_sender(addr).await;
            let (mut client, _) = listener.accept().await.unwrap();
            let mut at = sender.write_vectored(&[IoSlice::new(&source)]).await.unwrap();
            let mut buf = [0u8; 1000];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf[..], source[..1000]);
            drop(client);
            drop(listener);
            // The sender is mid-segment (4 MiB do not fit the buffers); the client is gone.
            let failed = loop {
                match sender.write_vectored(&[IoSlice::new(&source[at..])]).await {
                    Ok(n) => at += n,
                    Err(e) => break e,
                }
                if at == source.len() {
                    break sender.flush().await.unwrap_err();
                }
            };
            assert!(
                matches!(failed.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset),
                "{failed}"
            );
            assert!(sender.spliced() > 0, "some of it was spliced before the client left");
        }
        assert_eq!(open(), before, "descriptors left open after the connection was dropped");
    })
}

/// Several keep-alive requests on one connection through the accept loop and hyper:
/// spliced bodies and plain ones (heap bytes, small entries) keep their order with the
/// heads between them, the requests sent at once (pipelined) and read slowly.
#[test]
fn keep_alive_responses_keep_heads_and_spliced_bodies_in_order() {
    one_at_a_time(async {
        let bodies: Vec<Bytes> = (0..6u32)
            .map(|i| {
                let data = pattern(if i % 3 == 2 { 900 } else { 40_000 + i as usize * 9_000 }, 10 + i);
                if i == 4 {
                    Bytes::from(data) // a heap body as large as the pinned ones
                } else {
                    zero_copy::pin(&data).unwrap_or_else(|| Bytes::from(data))
                }
            })
            .collect();
        assert!(
            zero_copy::is_pinned(&bodies[0]) && !zero_copy::is_pinned(&bodies[2]) && !zero_copy::is_pinned(&bodies[4])
        );
        let served = bodies.clone();
        let app =
            axum::Router::new().route("/{i}", get(move |Path(i): Path<usize>| std::future::ready(served[i].clone())));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(mirrorcast_http::serve(
            listener,
            app,
            Default::default(),
            async move {
                let _ = stopped.await;
            },
            || {},
        ));
        let spliced_before = zero_copy::spliced_bytes();
        let order = [0usize, 1, 2, 3, 4, 5, 1, 0];
        let mut client = TcpStream::connect(addr).await.unwrap();
        let requests: String = order.iter().map(|i| format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n")).collect();
        client.write_all(requests.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let total: usize = order.iter().map(|&i| bodies[i].len()).sum::<usize>() + order.len() * 100;
        let mut buf = [0u8; 2048];
        while received.len() < total {
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("{e}"),
            }
        }
        let mut at = 0;
        for (n, &i) in order.iter().enumerate() {
            let body = &bodies[i];
            let end_of_head = at + received[at..].windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
            let head = String::from_utf8_lossy(&received[at..end_of_head]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "response {n}'s head: {head:?}");
            assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "response {n}'s head: {head:?}");
            assert!(received[end_of_head..].starts_with(body), "response {n}'s body differs");
            at = end_of_head + body.len();
        }
        assert_eq!(at, received.len(), "nothing after the last response");
        let pinned: usize = order.iter().filter(|&&i| zero_copy::is_pinned(&bodies[i])).map(|&i| bodies[i].len()).sum();
        assert!(zero_copy::spliced_bytes() - spliced_before >= pinned as u64, "the pinned bodies were spliced");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    })
}

/// A flush that drains the pipe at a slow reader's pace for longer than the write-stall
/// limit is progress, not a stall: the guard does not cut the client off.
#[test]
fn a_slow_but_steady_reader_of_a_spliced_segment_is_not_cut_off() {
    one_at_a_time(async {
        let (listener, addr) = small_listener();
        let source = zero_copy::pin(&pattern(600 * 1024, 4)).unwrap();
        let limit = Duration::from_millis(800);
        let mut guarded = mirrorcast_http::stall::StallGuard::new(splicing_sender(addr).await, Some(limit));
        let (mut accepted, _) = listener.accept().await.unwrap();
        let len = source.len();
        let reader = tokio::spawn(async move {
            let mut got = Vec::with_capacity(len);
            let mut buf = [0u8; 3000];
            while got.len() < len {
                tokio::time::sleep(Duration::from_millis(15)).await;
                let n = accepted.read(&mut buf).await.unwrap();
                assert!(n > 0, "cut off after {} of {len} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        write_all_vectored(&mut guarded, &[&source]).await;
        let flushing = std::time::Instant::now();
        guarded.flush().await.expect("a reader taking bytes steadily is not cut off");
        let flushed_in = flushing.elapsed();
        assert!(reader.await.unwrap() == source[..], "the bytes received differ");
        // Else the pipe was small and this proved nothing of the guard.
        assert!(flushed_in > limit, "the flush took {flushed_in:?}, not past the {limit:?} limit");
    })
}
