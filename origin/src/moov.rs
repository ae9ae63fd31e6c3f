//! Finding a rendition's `moov` with ranged reads: media's sans-I/O walk over the
//! top-level boxes says which bytes it needs, this reads them from storage.

use std::ops::Range;

use bytes::Bytes;
use mirrorcast_media::bmff::{TopLevelWalk, WalkStep};

use crate::fail::Fail;
use crate::upstream::{Upstream, Version};

/// A larger `moov` is refused rather than held (hours of 60 fps need a few MiB).
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
/// The first read of a rendition: with `moov` first (as `mirrorcast encode` writes), the whole index in one GET.
const FIRST_READ_BYTES: u64 = 256 * 1024;
/// Top-level boxes walked before giving up on finding a `moov` (a real file has a handful).
const MAX_TOP_LEVEL_BOXES: usize = 64;

/// A rendition's `moov`, where it is, and what else was read to find it.
pub(crate) struct FoundMoov {
    /// The blob version every read was made of.
    pub(crate) version: Version,
    /// The whole `moov` box.
    pub(crate) moov: Bytes,
    /// Where it is in the file.
    pub(crate) range: Range<u64>,
    /// The file's length.
    pub(crate) file_len: u64,
    /// The file's first bytes, read at 0 (a fragmented file's first `moof`s are often in them).
    pub(crate) head: Bytes,
}

/// The `moov` box of `container`/`name` and the blob version it was read from.
pub(crate) async fn read_moov(upstream: &Upstream, container: &str, name: &str) -> Result<FoundMoov, Fail> {
    let size = upstream.head(container, name).await?.size;
    let (version, first) = upstream.get_range(container, name, Some(0..size.min(FIRST_READ_BYTES))).await?;
    let mut walk = TopLevelWalk::until_moov(size).max_boxes(MAX_TOP_LEVEL_BOXES).max_moov(MAX_MOOV_BYTES);
    let (mut at, mut bytes) = (0, first.clone());
    let layout = loop {
        match walk.feed(at, &bytes).map_err(|_| Fail::Media)? {
            WalkStep::Need(range) => {
                at = range.start;
                bytes = upstream.get_range(container, name, Some(range)).await?.1;
            }
            WalkStep::Done(layout) => break layout,
        }
    };
    let range = layout.moov().ok_or(Fail::Media)?.range();
    let moov = if range.end <= first.len() as u64 {
        first.slice(range.start as usize..range.end as usize)
    } else {
        upstream.get_range(container, name, Some(range.clone())).await?.1
    };
    Ok(FoundMoov { version, moov, range, file_len: size, head: first })
}
