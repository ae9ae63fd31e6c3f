//! A local directory's blobs read directly. Through object_store, a ranged read
//! of a `file://` blob was a stat of the container marker, an open and a read of
//! the sidecar, an open of the file, a seek and one blocking task per 8 KiB
//! chunk: over a dozen thread hand-offs for one video segment, which is what the
//! origin serves most, and most of its time under load went to them. Here a
//! blob's metadata and a small range of its bytes (a segment, a sidecar) are
//! read on the calling thread, as nginx reads its files by default: a few
//! system calls of microseconds on a local disk and its page cache (a data
//! center on a slow network mount would stall the runtime: copy it, or serve
//! it from its cloud store). Larger ranges go to the blocking pool in one call,
//! the largest are streamed (memory stays bounded).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use mirrorcast_core::store::BlobMeta;
use mirrorcast_core::{Error, ErrorKind, Result};
use object_store::local::LocalFileSystem;

use crate::layout::{blob_path, marker_path, sidecar_path};
use crate::{map, ObjectStoreBackend, Sidecar};

/// A range up to this many bytes is read on the calling thread.
const INLINE_READ_MAX_BYTES: u64 = 1024 * 1024;
/// A range up to this many bytes is read into memory in one blocking call; a larger one is streamed.
const DIRECT_READ_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// What a direct read found.
pub enum Read {
    /// The metadata, the range read (clamped to the blob) and its bytes.
    Bytes(BlobMeta, Range<u64>, Bytes),
    /// The range is too large to hold: the caller streams it.
    TooLarge(BlobMeta, Range<u64>),
}

/// The blob's metadata, from its sidecar.
pub fn meta(fs: &LocalFileSystem, label: &str, container: &str, name: &str) -> Result<BlobMeta> {
    meta_now(fs, label, container, name)
}

/// The blob's metadata and, when `range` (or the whole blob) is at most
/// [`DIRECT_READ_MAX_BYTES`], its bytes. `clamp` turns the asked range into the one served.
pub async fn read(
    fs: &Arc<LocalFileSystem>,
    label: &str,
    container: &str,
    name: &str,
    range: Option<Range<u64>>,
) -> Result<Read> {
    let meta = meta_now(fs, label, container, name)?;
    let range = crate::clamp(range, meta.size, name)?;
    let len = range.end - range.start;
    if len > DIRECT_READ_MAX_BYTES {
        return Ok(Read::TooLarge(meta, range));
    }
    if len == 0 {
        return Ok(Read::Bytes(meta, range, Bytes::new()));
    }
    let path = fs.path_to_filesystem(&blob_path(container, name)).map_err(|e| map(e, name, label))?;
    let read = if len <= INLINE_READ_MAX_BYTES {
        read_range(&path, range.clone())
    } else {
        let (path, at) = (path.clone(), range.clone());
        match tokio::task::spawn_blocking(move || read_range(&path, at)).await {
            Ok(read) => read,
            Err(e) => return Err(Error::new(ErrorKind::Other, format!("a local read did not finish: {e}"))),
        }
    };
    let bytes = read.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => gone(container, name),
        // The file is shorter than its sidecar says: it is being replaced.
        std::io::ErrorKind::UnexpectedEof => {
            Error::new(ErrorKind::Transient, format!("'{name}' in {label}: changed while being read"))
        }
        _ => io_error(&e, name, label),
    })?;
    Ok(Read::Bytes(meta, range, bytes))
}

fn read_range(path: &FsPath, range: Range<u64>) -> std::io::Result<Bytes> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(range.start))?;
    let len = (range.end - range.start) as usize;
    // Filled by read_to_end, not zeroed first.
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Bytes::from(buf))
}

fn meta_now(fs: &LocalFileSystem, label: &str, container: &str, name: &str) -> Result<BlobMeta> {
    let marker = fs.path_to_filesystem(&marker_path(container)).map_err(|e| map(e, container, label))?;
    if let Err(e) = std::fs::metadata(&marker) {
        return Err(if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(format!("container '{container}' does not exist"))
        } else {
            io_error(&e, container, label)
        });
    }
    let sidecar = fs.path_to_filesystem(&sidecar_path(container, name)).map_err(|e| map(e, name, label))?;
    let json = match std::fs::read(&sidecar) {
        Ok(json) => json,
        // A directory where the sidecar would be (a longer name's prefix) is no blob either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || sidecar.is_dir() => return Err(gone(container, name)),
        Err(e) => return Err(io_error(&e, name, label)),
    };
    let sidecar: Sidecar = serde_json::from_slice(&json)?;
    Ok(ObjectStoreBackend::meta(name, sidecar))
}

fn gone(container: &str, name: &str) -> Error {
    Error::not_found(format!("blob '{name}' does not exist in container '{container}'"))
}

fn io_error(e: &std::io::Error, what: &str, label: &str) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    };
    Error::new(kind, format!("'{what}' in {label}: {e}"))
}
