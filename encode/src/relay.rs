//! The source as ffmpeg and ffprobe read it: a loopback HTTP relay serving
//! one blob (GET and HEAD, with ranges, so ffmpeg can seek to a `moov` at the
//! end) through the store's own credentials, at a URL holding a random token.
//!
//! Why not hand ffmpeg a signed URL: its argv is readable by every local user
//! (`ps`, /proc/<pid>/cmdline), so a SAS there would be a storage credential
//! on show for the whole encode. The relay's token opens only this one blob,
//! only from this machine, and only while the job runs; no `sig=` ever
//! reaches ffmpeg. Reads are pinned to the blob's ETag at start: a source
//! replaced mid-encode fails the job instead of mixing two versions.

use std::convert::Infallible;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mirrorcast_core::store::BlobStore;
use mirrorcast_core::{ErrorKind, Result};
use tokio::net::TcpListener;
use uuid::Uuid;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A running relay; it stops when dropped.
#[derive(Debug)]
pub struct SourceRelay {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

struct Blob {
    store: Arc<dyn BlobStore>,
    container: String,
    name: String,
    size: u64,
    etag: String,
    path: String,
}

impl SourceRelay {
    /// Serves `container`/`name` of `store` on a free loopback port.
    pub async fn start(store: Arc<dyn BlobStore>, container: &str, name: &str) -> Result<SourceRelay> {
        let meta = store.head_blob(container, name).await?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        // The extension helps ffmpeg's probing; the name itself stays out of the URL.
        let extension = name.rsplit_once('.').map(|(_, e)| e).filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()));
        let path = format!("/{token}/source{}", extension.map(|e| format!(".{e}")).unwrap_or_default());
        let url = format!("http://127.0.0.1:{port}{path}");
        let blob = Arc::new(Blob {
            store,
            container: container.to_owned(),
            name: name.to_owned(),
            size: meta.size,
            etag: meta.etag,
            path,
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let blob = blob.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let blob = blob.clone();
                        async move { Ok::<_, Infallible>(blob.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(SourceRelay { url, task })
    }

    /// The URL ffmpeg reads (loopback, with the token; no storage credential).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for SourceRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Blob {
    async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path() != self.path {
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD"),
        };
        let asked = req.headers().get(RANGE).and_then(|v| v.to_str().ok()).map(|v| parse_range(v, self.size));
        let (status, range) = match asked {
            None => (StatusCode::OK, 0..self.size),
            Some(Some(r)) => (StatusCode::PARTIAL_CONTENT, r),
            Some(None) => {
                let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
                r.headers_mut().insert(CONTENT_RANGE, header(format!("bytes */{}", self.size)));
                return r;
            }
        };
        let body = if head || range.is_empty() {
            Empty::new().map_err(|never| match never {}).boxed_unsync()
        } else {
            match self.store.get_blob(&self.container, &self.name, Some(range.clone())).await {
                Ok(got) if got.meta.etag != self.etag => {
                    tracing::warn!(target: "mirrorcast_encode", "the source '{}' changed during the encode", self.name);
                    return plain(StatusCode::PRECONDITION_FAILED, "the source changed during the encode");
                }
                Ok(got) => {
                    StreamBody::new(got.stream.map_ok(Frame::data).map_err(std::io::Error::other)).boxed_unsync()
                }
                Err(e) => {
                    tracing::warn!(target: "mirrorcast_encode", "reading the source '{}': {e}", self.name);
                    let status = match e.kind() {
                        ErrorKind::NotFound => StatusCode::NOT_FOUND,
                        _ => StatusCode::BAD_GATEWAY,
                    };
                    return plain(status, "the source could not be read");
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let h = response.headers_mut();
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        h.insert(CONTENT_LENGTH, header((range.end - range.start).to_string()));
        if status == StatusCode::PARTIAL_CONTENT {
            h.insert(CONTENT_RANGE, header(format!("bytes {}-{}/{}", range.start, range.end - 1, self.size)));
        }
        response
    }
}

fn header(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).expect("digits, dashes and slashes are a valid header")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r =
        Response::new(Full::new(Bytes::from_static(text.as_bytes())).map_err(|never| match never {}).boxed_unsync());
    *r.status_mut() = status;
    r
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size`; `None` if
/// it cannot be satisfied. Several ranges are not asked for by ffmpeg and are
/// answered as unsatisfiable.
fn parse_range(value: &str, size: u64) -> Option<Range<u64>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse().ok()?..size,
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if b < a {
                return None;
            }
            a..(b.saturating_add(1)).min(size)
        }
    };
    // ffmpeg asks `bytes=<size>-` when it seeks to the end: an empty answer, not an error.
    (range.start < size || (range.start == size && end.trim().is_empty())).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::store::{BlobStoreExt, InMemoryStore, PutOptions};

    #[test]
    fn ranges_as_ffmpeg_asks_for_them() {
        assert_eq!(parse_range("bytes=0-", 100), Some(0..100));
        assert_eq!(parse_range("bytes=10-19", 100), Some(10..20));
        assert_eq!(parse_range("bytes=90-200", 100), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Some(90..100));
        assert_eq!(parse_range("bytes=100-", 100), Some(100..100), "a seek to the end");
        assert_eq!(parse_range("bytes=101-", 100), None);
        assert_eq!(parse_range("bytes=20-10", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=99999999999999999999-", 100), None);
    }

    #[tokio::test]
    async fn the_relay_serves_one_blob_at_its_token_only() {
        let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
        store.create_container("asset-x").await.unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        store.put_blob("asset-x", "in put.mp4", Bytes::from(data.clone()), &PutOptions::default()).await.unwrap();
        let relay = SourceRelay::start(store.clone(), "asset-x", "in put.mp4").await.unwrap();
        assert!(relay.url().starts_with("http://127.0.0.1:") && relay.url().ends_with("/source.mp4"));
        let get = |url: String, range: Option<&'static str>| async move {
            let mut stream = tokio::net::TcpStream::connect(url.split('/').nth(2).unwrap()).await.unwrap();
            let path = format!("/{}", url.splitn(4, '/').nth(3).unwrap());
            let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{range}Connection: close\r\n\r\n");
            tokio::io::AsyncWriteExt::write_all(&mut stream, req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut out).await.unwrap();
            let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            (String::from_utf8_lossy(&out[..split]).into_owned(), out[split + 4..].to_vec())
        };
        let (head, body) = get(relay.url().to_owned(), None).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, data);
        let (head, body) = get(relay.url().to_owned(), Some("bytes=1000-1999")).await;
        assert!(head.starts_with("HTTP/1.1 206") && head.contains("content-range: bytes 1000-1999/100000"), "{head}");
        assert_eq!(body, &data[1000..2000]);
        let wrong = relay.url().replace("/source", "x/source");
        assert!(get(wrong, None).await.0.starts_with("HTTP/1.1 404"));
        // Replaced mid-encode: refused, not mixed.
        store.put_blob("asset-x", "in put.mp4", Bytes::from_static(b"other"), &PutOptions::default()).await.unwrap();
        assert!(get(relay.url().to_owned(), None).await.0.starts_with("HTTP/1.1 412"));
        let _ = store.get_bytes("asset-x", "in put.mp4").await.unwrap();
    }
}
