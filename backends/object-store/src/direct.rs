//! A local directory's blobs read directly. Through object_store, a ranged read
//! of a `file://` blob was a stat of the container marker, an open and a read of
//! the sidecar, an open of the file, a seek and one blocking task per 8 KiB
//! chunk: over a dozen thread hand-offs for one video segment, which is what the
//! origin serves most, and most of its time under load went to them.
//!
//! A ranged read (a segment, a moov: the origin's reads, of the same few
//! renditions again and again) is served from the blob's file mapped into
//! memory once ([`Local`] keeps the mapping and the sidecar's metadata while
//! the sidecar is unchanged): one `stat` per read, and the bytes are slices of
//! the page cache, with no `read` copying them into the process (in the serve
//! bench it took segment throughput from 0.30x to 0.44x nginx's, which sends
//! files with sendfile).
//! Blobs here are replaced by rename, never rewritten in place (object_store
//! writes a staging file and renames it), so a mapped file keeps its bytes
//! while a reader holds them. A whole-blob read (a copy reads each blob once)
//! and the metadata are read on the calling thread, as nginx reads its files by
//! default: a few system calls of microseconds on a local disk and its page
//! cache (a data center on a slow network mount would stall the runtime: copy
//! it, or serve it from its cloud store). Larger whole-blob reads go to the
//! blocking pool in one call, the largest are streamed (memory stays bounded).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use mirrorcast_store::BlobMeta;
use mirrorcast_store::{Error, ErrorKind, Result};
use object_store::local::LocalFileSystem;

use crate::layout::{self, blob_path, block_path, marker_path, sidecar_path};
use crate::{map, ObjectStoreBackend, Sidecar};

/// A range up to this many bytes is read on the calling thread.
const INLINE_READ_MAX_BYTES: u64 = 1024 * 1024;
/// A range up to this many bytes is read into memory in one blocking call; a larger one is streamed.
const DIRECT_READ_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Sidecars one blocking task of a listing reads in a row: an asset's blobs in one hand-off,
/// a long listing's page still read 16 tasks at once (a cold page cache waits on the disk).
const SIDECARS_PER_TASK: usize = 16;
const SIDECAR_TASKS_AT_ONCE: usize = 16;
/// How many blobs stay mapped. A mapping costs address space, not memory: its
/// pages are the page cache's, shared and reclaimable.
const MAPPED_BLOBS: usize = 1024;

/// A local directory, with the blobs it has served by range kept mapped.
pub(crate) struct Local {
    fs: Arc<LocalFileSystem>,
    mapped: quick_cache::sync::Cache<String, Arc<Mapped>>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("mapped_blobs", &self.mapped.len()).finish_non_exhaustive()
    }
}

/// A blob's file mapped, with the metadata of the sidecar it was mapped under.
struct Mapped {
    meta: BlobMeta,
    sidecar_path: PathBuf,
    /// The sidecar's identity when the file was mapped: a new sidecar (a blob
    /// replaced, or its properties set) is a new file, so the mapping is redone.
    sidecar: FileIdentity,
    bytes: Bytes,
}

/// What tells one version of a file from the next: a rename gives a new inode.
#[derive(Debug, PartialEq, Eq)]
struct FileIdentity {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileIdentity {
    fn of(m: &std::fs::Metadata) -> FileIdentity {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        FileIdentity {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            inode: (m.dev(), m.ino()),
        }
    }
}

/// What a direct read found.
pub(crate) enum Read {
    /// The metadata, the range read (clamped to the blob) and its bytes.
    Bytes(BlobMeta, Range<u64>, Bytes),
    /// The range is too large to hold: the caller streams it.
    TooLarge(BlobMeta, Range<u64>),
}

impl Local {
    pub(crate) fn new(fs: Arc<LocalFileSystem>) -> Local {
        Local { fs, mapped: quick_cache::sync::Cache::new(MAPPED_BLOBS) }
    }

    /// The blob's metadata, from its sidecar.
    pub(crate) fn meta(&self, label: &str, container: &str, name: &str) -> Result<BlobMeta> {
        meta_now(&self.fs, label, container, name)
    }

    /// The names of `container`'s blobs that start with `prefix` and sort after `marker`, sorted
    /// ([`walk_names`]), in one blocking task.
    pub(crate) async fn blob_names(
        &self,
        label: &str,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<Vec<String>> {
        let fs = self.fs.clone();
        let (label, container, prefix, marker) =
            (label.to_owned(), container.to_owned(), prefix.to_owned(), marker.map(str::to_owned));
        let walked =
            tokio::task::spawn_blocking(move || walk_names(&fs, &label, &container, &prefix, marker.as_deref())).await;
        let mut names =
            walked.map_err(|e| Error::new(ErrorKind::Other, format!("a local listing did not finish: {e}")))??;
        names.sort_unstable();
        Ok(names)
    }

    /// Whether `container` exists: an error naming it if not.
    pub(crate) fn container_exists(&self, label: &str, container: &str) -> Result<()> {
        container_exists(&self.fs, label, container)
    }

    /// The metadata of blobs `names`, in order, from their sidecars, read [`SIDECARS_PER_TASK`]
    /// to a blocking task (through object_store a sidecar was two or more): a blob gone since it
    /// was listed is left out.
    pub(crate) async fn metas(&self, label: &str, container: &str, names: Vec<String>) -> Result<Vec<BlobMeta>> {
        let mut names = names.into_iter();
        let mut chunks = Vec::new();
        loop {
            let chunk: Vec<String> = names.by_ref().take(SIDECARS_PER_TASK).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        let mut read = futures::stream::iter(chunks)
            .map(|chunk| {
                let fs = self.fs.clone();
                let (label, container) = (label.to_owned(), container.to_owned());
                async move {
                    // Only the files are read on the blocking thread: what the listing keeps is
                    // made on the caller's, as before (made on the blocking threads, the kept
                    // metadata was spread over their allocator arenas: 18 MB more peak memory
                    // at 100k assets).
                    let read = tokio::task::spawn_blocking(move || {
                        chunk
                            .into_iter()
                            .map(|name| Ok((sidecar_json(&fs, &label, &container, &name)?, name)))
                            .collect::<Result<Vec<_>>>()
                    })
                    .await;
                    read.map_err(|e| Error::new(ErrorKind::Other, format!("a local listing did not finish: {e}")))?
                }
            })
            .buffered(SIDECAR_TASKS_AT_ONCE);
        let mut metas = Vec::new();
        while let Some(chunk) = read.try_next().await? {
            for (json, name) in chunk {
                if let Some(json) = json {
                    let sidecar: Sidecar = serde_json::from_slice(&json).map_err(crate::malformed_sidecar)?;
                    metas.push(ObjectStoreBackend::meta(&name, sidecar));
                }
            }
        }
        Ok(metas)
    }

    /// The blob's metadata and, for a range (from its mapping) or a whole blob of at
    /// most [`DIRECT_READ_MAX_BYTES`], its bytes. `clamp` turns the asked range into the one served.
    pub(crate) async fn read(
        &self,
        label: &str,
        container: &str,
        name: &str,
        range: Option<Range<u64>>,
    ) -> Result<Read> {
        if let Some(range) = range {
            let mapped = self.mapped(label, container, name)?;
            let range = crate::clamp(Some(range), mapped.meta.size, name)?;
            let bytes = mapped.bytes.slice(range.start as usize..range.end as usize);
            return Ok(Read::Bytes(mapped.meta.clone(), range, bytes));
        }
        let meta = meta_now(&self.fs, label, container, name)?;
        let range = 0..meta.size;
        let len = meta.size;
        if len > DIRECT_READ_MAX_BYTES {
            return Ok(Read::TooLarge(meta, range));
        }
        if len == 0 {
            return Ok(Read::Bytes(meta, range, Bytes::new()));
        }
        let path = self.fs.path_to_filesystem(&blob_path(container, name)).map_err(|e| map(e, name, label))?;
        let read = if len <= INLINE_READ_MAX_BYTES {
            read_range(&path, range.clone())
        } else {
            let (path, at) = (path.clone(), range.clone());
            match tokio::task::spawn_blocking(move || read_range(&path, at)).await {
                Ok(read) => read,
                Err(e) => return Err(Error::new(ErrorKind::Other, format!("a local read did not finish: {e}"))),
            }
        };
        let bytes = read.map_err(|e| read_error(&e, label, container, name))?;
        Ok(Read::Bytes(meta, range, bytes))
    }

    /// The staged blocks of `name`, in order, concatenated into a new file
    /// beside them by the kernel (`std::io::copy` between files is
    /// `copy_file_range` on Linux): no byte of the blob passes through this
    /// process, so a commit holds no memory whatever the blob's size (it
    /// streamed every byte through 8 KiB reads, each a blocking task, and
    /// 5 MiB parts). Returns the file, for [`Local::publish`], and its size.
    pub(crate) async fn concatenate_blocks(
        &self,
        label: &str,
        container: &str,
        name: &str,
        block_ids: &[String],
    ) -> Result<(PathBuf, u64)> {
        let mut blocks = Vec::with_capacity(block_ids.len());
        for id in block_ids {
            let path = self.fs.path_to_filesystem(&block_path(container, name, id)).map_err(|e| map(e, name, label))?;
            blocks.push((id.clone(), path));
        }
        let folder = self
            .fs
            .path_to_filesystem(&block_path(container, name, "-"))
            .map_err(|e| map(e, name, label))?
            .parent()
            .map(FsPath::to_path_buf)
            .ok_or_else(|| Error::new(ErrorKind::Other, format!("'{name}' in {label}: no folder for its blocks")))?;
        let (what, store) = (name.to_owned(), label.to_owned());
        let joined = tokio::task::spawn_blocking(move || concatenate(&blocks, &folder, &what, &store)).await;
        joined.map_err(|e| Error::new(ErrorKind::Other, format!("a local commit did not finish: {e}")))?
    }

    /// Puts a file made by [`Local::concatenate_blocks`] in place as blob
    /// `name`, by rename: a reader of the old blob keeps its bytes.
    pub(crate) fn publish(&self, label: &str, container: &str, name: &str, staged: &FsPath) -> Result<()> {
        let dest = self.fs.path_to_filesystem(&blob_path(container, name)).map_err(|e| map(e, name, label))?;
        let placed =
            dest.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::rename(staged, &dest));
        placed.map_err(|e| {
            let _ = std::fs::remove_file(staged);
            io_error(&e, name, label)
        })
    }

    /// The blob mapped: the kept mapping while its sidecar is the same file (one
    /// `stat`), else a new one.
    fn mapped(&self, label: &str, container: &str, name: &str) -> Result<Arc<Mapped>> {
        let key = format!("{container}/{name}");
        if let Some(kept) = self.mapped.get(&key) {
            match std::fs::metadata(&kept.sidecar_path) {
                Ok(now) if FileIdentity::of(&now) == kept.sidecar => return Ok(kept),
                _ => {
                    self.mapped.remove(&key);
                }
            }
        }
        let mapped = Arc::new(self.map_blob(label, container, name)?);
        self.mapped.insert(key, mapped.clone());
        Ok(mapped)
    }

    fn map_blob(&self, label: &str, container: &str, name: &str) -> Result<Mapped> {
        let sidecar_path =
            self.fs.path_to_filesystem(&sidecar_path(container, name)).map_err(|e| map(e, name, label))?;
        let path = self.fs.path_to_filesystem(&blob_path(container, name)).map_err(|e| map(e, name, label))?;
        let identity = |label: &str| match std::fs::metadata(&sidecar_path) {
            Ok(m) => Ok(FileIdentity::of(&m)),
            Err(e) => Err(read_error(&e, label, container, name)),
        };
        let before = match identity(label) {
            Ok(before) => before,
            // The container or the blob is missing: say which, as an unmapped read does.
            Err(e) => return Err(meta_now(&self.fs, label, container, name).err().unwrap_or(e)),
        };
        let meta = meta_now(&self.fs, label, container, name)?;
        let bytes = map_file(&path, meta.size).map_err(|e| read_error(&e, label, container, name))?;
        // The sidecar read must be the one the file was mapped under.
        if identity(label)? != before {
            return Err(changed(label, name));
        }
        Ok(Mapped { meta, sidecar_path, sidecar: before, bytes })
    }
}

/// The file's bytes, mapped; `size` is the length its sidecar gives.
#[allow(unsafe_code)]
fn map_file(path: &FsPath, size: u64) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    // Shorter or longer than its sidecar says: it is being replaced.
    if file.metadata()?.len() != size {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if size == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a read-only shared mapping, whose bytes stay valid as long as the
    // file is not written or truncated in place. Blobs of a local data center are
    // replaced by rename (object_store writes a staging file and renames it; the
    // mapped inode keeps its bytes until unmapped), never rewritten in place
    // (ARCHITECTURE.md, "Invariants"). A file truncated in place by another tool
    // would fault a reader of the missing pages, as it would any mmap reader
    // (ripgrep, git's packs).
    let mapping = unsafe { memmap2::Mmap::map(&file) }?;
    Ok(Bytes::from_owner(mapping))
}

fn read_error(e: &std::io::Error, label: &str, container: &str, name: &str) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => gone(container, name),
        std::io::ErrorKind::UnexpectedEof => changed(label, name),
        _ => io_error(e, name, label),
    }
}

/// The file is shorter or longer than its sidecar says, or its sidecar changed: it is being replaced.
fn changed(label: &str, name: &str) -> Error {
    Error::new(ErrorKind::Transient, format!("'{name}' in {label}: changed while being read"))
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

/// Writes `blocks` one after another into a new file in `folder`, named as
/// object_store names its staging files (`#` and digits: never listed as a
/// blob); removed again if any block is missing or a copy fails.
fn concatenate(blocks: &[(String, PathBuf)], folder: &FsPath, name: &str, label: &str) -> Result<(PathBuf, u64)> {
    std::fs::create_dir_all(folder).map_err(|e| io_error(&e, name, label))?;
    let (staged, mut file) = loop {
        let path = folder.join(format!("commit#{}", uuid::Uuid::new_v4().as_u128()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&e, name, label)),
        }
    };
    let mut size = 0u64;
    for (id, path) in blocks {
        let copied = std::fs::File::open(path).and_then(|mut block| std::io::copy(&mut block, &mut file));
        match copied {
            Ok(n) => size += n,
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        Error::invalid_input(format!("block '{id}' of blob '{name}' was never staged"))
                    }
                    _ => io_error(&e, name, label),
                });
            }
        }
    }
    Ok((staged, size))
}

fn meta_now(fs: &LocalFileSystem, label: &str, container: &str, name: &str) -> Result<BlobMeta> {
    container_exists(fs, label, container)?;
    match read_sidecar(fs, label, container, name)? {
        Some(sidecar) => Ok(ObjectStoreBackend::meta(name, sidecar)),
        None => Err(gone(container, name)),
    }
}

/// Whether `container`'s marker is there: an error naming it if not.
fn container_exists(fs: &LocalFileSystem, label: &str, container: &str) -> Result<()> {
    let marker = fs.path_to_filesystem(&marker_path(container)).map_err(|e| map(e, container, label))?;
    match std::fs::metadata(&marker) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::not_found(format!("container '{container}' does not exist")))
        }
        Err(e) => Err(io_error(&e, container, label)),
    }
}

/// Blob `name`'s sidecar, none if the blob is not there.
fn read_sidecar(fs: &LocalFileSystem, label: &str, container: &str, name: &str) -> Result<Option<Sidecar>> {
    match sidecar_json(fs, label, container, name)? {
        Some(json) => serde_json::from_slice(&json).map(Some).map_err(crate::malformed_sidecar),
        None => Ok(None),
    }
}

/// The bytes of blob `name`'s sidecar, none if the blob is not there.
fn sidecar_json(fs: &LocalFileSystem, label: &str, container: &str, name: &str) -> Result<Option<Vec<u8>>> {
    let sidecar = fs.path_to_filesystem(&sidecar_path(container, name)).map_err(|e| map(e, name, label))?;
    match std::fs::read(&sidecar) {
        Ok(json) => Ok(Some(json)),
        // A directory where the sidecar would be (a longer name's prefix) is no blob either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || sidecar.is_dir() => Ok(None),
        Err(e) => Err(io_error(&e, name, label)),
    }
}

/// The names of `container`'s blobs that start with `prefix` and sort after `marker`, unsorted:
/// a walk of the container's folder, from `prefix`'s folder down, that reads directory entries
/// and nothing else. Like object_store's walk it follows symbolic links and skips broken ones;
/// unlike it, it stats no file (it stated every file three times, blob bytes and sidecars alike,
/// whole folders of sidecars it then threw away) and skips the reserved folder.
fn walk_names(
    fs: &LocalFileSystem,
    label: &str,
    container: &str,
    prefix: &str,
    marker: Option<&str>,
) -> Result<Vec<String>> {
    container_exists(fs, label, container)?;
    let folders = layout::prefix_folders(prefix);
    let root =
        fs.path_to_filesystem(&object_store::path::Path::from(container)).map_err(|e| map(e, container, label))?;
    let start = folders.iter().fold(root, |dir, folder| dir.join(folder));
    let relative = folders.iter().map(|f| format!("{f}/")).collect::<String>();
    let mut names = Vec::new();
    let mut folders_left = vec![(start, relative)];
    while let Some((dir, relative)) = folders_left.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Gone since it was listed, or the prefix's folder does not exist: nothing in it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&e, container, label)),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&e, container, label)),
            };
            // No segment of a blob starts with '.' (layout), and a name that is not UTF-8 is not ours.
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if file_name.starts_with('.') {
                continue;
            }
            let Ok(mut kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                match std::fs::metadata(entry.path()) {
                    Ok(target) => kind = target.file_type(),
                    Err(_) => continue,
                }
                if kind.is_dir() && loops(&dir, &entry.path()) {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("'{}' in {label} links back to a folder it is in", entry.path().display()),
                    ));
                }
            }
            if kind.is_dir() {
                folders_left.push((entry.path(), format!("{relative}{file_name}/")));
            } else if kind.is_file() {
                let Ok(location) = object_store::path::Path::parse(format!("{container}/{relative}{file_name}")) else {
                    continue;
                };
                let Some(name) = layout::name_of(container, &location) else { continue };
                if name.starts_with(prefix) && marker.is_none_or(|m| name.as_str() > m) {
                    names.push(name);
                }
            }
        }
    }
    Ok(names)
}

/// Whether the folder `link` (a symbolic link in `dir`) leads to `dir` or a folder it is in.
fn loops(dir: &FsPath, link: &FsPath) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(link)) {
        (Ok(dir), Ok(target)) => dir.starts_with(target),
        _ => false,
    }
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
