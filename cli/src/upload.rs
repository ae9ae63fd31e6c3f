//! Uploading a file or a folder into an asset's container, streamed from disk.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::store::{upload_file, BlobStore, BlockPool, PutOptions, UploadOptions};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct UploadedFile {
    pub name: String,
    pub bytes: u64,
    pub content_md5: String,
}

/// The files under `path` and the blob names they get: a file keeps its
/// name; a folder's files keep their paths relative to it, with `/`.
pub(crate) fn plan(path: &Path) -> anyhow::Result<Vec<(PathBuf, String, u64)>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    if meta.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).context("the file name is not UTF-8")?;
        return Ok(vec![(path.to_path_buf(), name.to_owned(), meta.len())]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot walk '{}'", path.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(path).expect("walkdir yields paths under its root");
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .with_context(|| format!("'{}' is not a UTF-8 name", rel.display()))?
            .join("/");
        out.push((entry.path().to_path_buf(), name, entry.metadata()?.len()));
    }
    if out.is_empty() {
        anyhow::bail!("'{}' holds no files to upload", path.display());
    }
    Ok(out)
}

/// Memory for blob data in flight, whatever the files' sizes (issue 2: the
/// whole command stays under 64 MiB resident).
const UPLOAD_MEMORY_BUDGET: u64 = 40 * 1024 * 1024;

/// Uploads the planned files. Small files go `concurrency` at a time; large
/// ones one after another, each read in parallel ranges and sent as blocks
/// (`concurrency` reads and `concurrency` writes in flight). Every buffer
/// comes from one pool, so memory stays within its budget whatever the sizes.
pub(crate) async fn upload(
    store: &dyn BlobStore,
    container: &str,
    files: Vec<(PathBuf, String, u64)>,
    concurrency: usize,
    block_size: usize,
    progress: &crate::progress::Work,
) -> anyhow::Result<Vec<UploadedFile>> {
    let pool = BlockPool::new(block_size, UPLOAD_MEMORY_BUDGET);
    let (small, large): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, _, size)| (*size as usize) < block_size);
    let one = |(path, name, _): (PathBuf, String, u64)| {
        let pool = pool.clone();
        async move {
            let options = UploadOptions {
                block_size,
                concurrency: concurrency.min(pool.blocks()),
                put: PutOptions {
                    properties: mirrorcast_core::store::BlobProperties {
                        content_type: Some(mime_type_for(&name)),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                pool: Some(pool),
            };
            let up = upload_file(store, container, &name, &path, &options)
                .await
                .with_context(|| format!("uploading '{}'", path.display()))?;
            tracing::info!(blob = %name, bytes = up.bytes, "uploaded");
            progress.advance(up.bytes);
            anyhow::Ok(UploadedFile { name, bytes: up.bytes, content_md5: up.content_md5 })
        }
    };
    let mut done: Vec<UploadedFile> =
        stream::iter(small).map(&one).buffer_unordered(concurrency.max(1)).try_collect().await?;
    for f in large {
        done.push(one(f).await?);
    }
    progress.finish();
    done.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(done)
}
