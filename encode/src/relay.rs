//! The source as ffmpeg and ffprobe read it: a loopback HTTP relay serving
//! one blob (GET and HEAD, with ranges, so ffmpeg can seek to a `moov` at the
//! end) through the store's own credentials, at a URL holding a random token.
//!
//! Why not hand ffmpeg a signed URL: its argv is readable by every local user
//! (`ps`, `/proc/<pid>/cmdline`), so a SAS there would be a storage credential
//! on show for the whole encode. The relay's token opens only this one blob,
//! only from this machine, and only while the job runs; no `sig=` ever
//! reaches ffmpeg. Reads are pinned to the blob's ETag at start: a source
//! replaced mid-encode fails the job instead of mixing two versions.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use mirrorcast_core::store::BlobStore;
use mirrorcast_core::{ErrorKind, Result};
use mirrorcast_http::range::{self, Ranged};
use mirrorcast_http::ConnectionLimits;
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
        let service = tower::service_fn(move |req| {
            let blob = blob.clone();
            async move { Ok::<_, Infallible>(blob.answer(req).await) }
        });
        // ffmpeg reads the source at the encoder's pace and may leave a response unread for
        // long: no write-stall limit here. The relay runs until it is dropped (aborted).
        let limits = ConnectionLimits { write_stall_limit: None, ..Default::default() };
        let task = tokio::spawn(async move {
            let _ = mirrorcast_http::serve(listener, service, limits, std::future::pending(), || {}).await;
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
        let asked = req.headers().get(RANGE).and_then(|v| v.to_str().ok());
        let (status, range) = match range::resolve(asked, self.size) {
            Ranged::Whole => (StatusCode::OK, 0..self.size),
            Ranged::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
            // ffmpeg asks `bytes=<size>-` when it seeks to the end: an empty answer, not an error.
            Ranged::AtEnd => (StatusCode::PARTIAL_CONTENT, self.size..self.size),
            // Several ranges, or a malformed one: ffmpeg sends neither.
            Ranged::Unsatisfiable | Ranged::Unusable => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::store::{BlobStoreExt, InMemoryStore, PutOptions};

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
        // ffmpeg's seek to the end: an empty 206, not an error.
        let (head, body) = get(relay.url().to_owned(), Some("bytes=100000-")).await;
        assert!(head.starts_with("HTTP/1.1 206") && head.contains("content-length: 0"), "{head}");
        assert!(body.is_empty());
        // What ffmpeg never asks (several ranges, backwards, another unit, past the end): 416.
        for unusable in ["bytes=0-1,5-6", "bytes=20-10", "items=0-1", "bytes=100001-"] {
            let (head, _) = get(relay.url().to_owned(), Some(unusable)).await;
            assert!(
                head.starts_with("HTTP/1.1 416") && head.contains("content-range: bytes */100000"),
                "{unusable}: {head}"
            );
        }
        let wrong = relay.url().replace("/source", "x/source");
        assert!(get(wrong, None).await.0.starts_with("HTTP/1.1 404"));
        // Replaced mid-encode: refused, not mixed.
        store.put_blob("asset-x", "in put.mp4", Bytes::from_static(b"other"), &PutOptions::default()).await.unwrap();
        assert!(get(relay.url().to_owned(), None).await.0.starts_with("HTTP/1.1 412"));
        let _ = store.get_bytes("asset-x", "in put.mp4").await.unwrap();
    }
}
