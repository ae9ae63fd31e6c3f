//! Finding a progressive MP4's `moov` with ranged reads: a walk over its
//! top-level boxes. Kept apart (one function) so a sans-I/O box walker can
//! take its place without touching the rest of the origin.

use bytes::Bytes;
use mirrorcast_media::fragment::box_header;

use crate::fail::Fail;
use crate::upstream::{Upstream, Version};

/// A larger `moov` is refused rather than held (hours of 60 fps need a few MiB).
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
/// The first read of a rendition: with `moov` first (as `mirrorcast encode` writes), the whole index in one GET.
const FIRST_READ_BYTES: u64 = 256 * 1024;

/// The `moov` box of `container`/`name` and the blob version it was read from.
pub(crate) async fn read_moov(upstream: &Upstream, container: &str, name: &str) -> Result<(Version, Bytes), Fail> {
    let meta = upstream.head(container, name).await?;
    let size = meta.size;
    let (version, first) = upstream.get_range(container, name, Some(0..size.min(FIRST_READ_BYTES))).await?;
    let mut pos = 0u64;
    let mut moov = None;
    for _ in 0..64 {
        if pos >= size {
            break;
        }
        let head = if pos + 16 <= first.len() as u64 {
            first.slice(pos as usize..pos as usize + 16)
        } else {
            upstream.get_range(container, name, Some(pos..(pos + 16).min(size))).await?.1
        };
        let h = box_header(&head).ok_or(Fail::Media)?;
        let box_size = h.size.unwrap_or(size - pos);
        // A 64-bit size near 2^64 must not overflow: checked, not added.
        if box_size < h.header_len || pos.checked_add(box_size).is_none_or(|end| end > size) {
            return Err(Fail::Media);
        }
        if &h.kind == b"moov" {
            if box_size > MAX_MOOV_BYTES {
                return Err(Fail::Media);
            }
            moov = Some(if pos + box_size <= first.len() as u64 {
                first.slice(pos as usize..(pos + box_size) as usize)
            } else {
                upstream.get_range(container, name, Some(pos..pos + box_size)).await?.1
            });
            break;
        }
        pos += box_size;
    }
    let moov = moov.ok_or(Fail::Media)?;
    Ok((version, moov))
}
