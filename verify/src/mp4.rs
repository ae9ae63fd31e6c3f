//! Cheap MP4 sanity: walk the top-level box headers with small ranged reads
//! and check that the boxes end exactly where the blob ends. Catches a
//! truncated file without downloading it. The first read takes the head of
//! the file (a small file whole: one request); each box header beyond what
//! was read costs one more small read.

use futures::TryStreamExt;
use mirrorcast_core::store::BlobStore;
use mirrorcast_media::bmff::{TopLevelWalk, WalkError, WalkStep};

/// Bytes taken by the first read: ftyp, a moov of a short clip, or a whole small file.
const HEAD_READ: u64 = 64 * 1024;

/// A blob with more top-level boxes is reported rather than walked on.
const MAX_BOXES: usize = 10_000;

/// Files whose top-level structure is ISO BMFF boxes.
pub fn is_mp4(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".mp4", ".ismv", ".isma", ".m4a", ".m4v"].iter().any(|e| lower.ends_with(e))
}

/// `Ok(None)` if the boxes add up to `size`, `Ok(Some(why))` if not. The walk (and its checks)
/// is media's; this reads what it asks for, the head of the blob first.
pub async fn check(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    size: u64,
) -> mirrorcast_core::Result<Option<String>> {
    let mut walk = TopLevelWalk::whole(size).max_boxes(MAX_BOXES);
    let Some(first) = walk.first_read() else { return Ok(None) };
    let mut read = 0..first.end.max(HEAD_READ.min(size));
    loop {
        let got = store.get_blob(container, name, Some(read.clone())).await?;
        let chunks: Vec<bytes::Bytes> = got.stream.try_collect().await?;
        match walk.feed(read.start, &chunks.concat()) {
            Ok(WalkStep::Need(next)) => read = next,
            Ok(WalkStep::Done(_)) => return Ok(None),
            // The report's wording for a cut blob (tests/data/verify keeps it).
            Err(WalkError::PastEnd { end, .. }) => {
                return Ok(Some(format!(
                    "top-level boxes end at byte {end}, but the blob has {size} bytes (truncated?)"
                )))
            }
            Err(why) => return Ok(Some(why.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mirrorcast_core::store::{InMemoryStore, PutOptions};

    #[tokio::test]
    async fn whole_files_pass_and_truncated_ones_do_not() {
        let s = InMemoryStore::new();
        s.create_container("c").await.unwrap();
        let whole = mirrorcast_core::sample::mp4(5000, 1);
        s.put_blob("c", "ok.mp4", Bytes::from(whole.clone()), &PutOptions::default()).await.unwrap();
        s.put_blob("c", "cut.mp4", Bytes::from(whole[..4000].to_vec()), &PutOptions::default()).await.unwrap();
        assert_eq!(check(&s, "c", "ok.mp4", 5000).await.unwrap(), None);
        let why = check(&s, "c", "cut.mp4", 4000).await.unwrap().unwrap();
        assert!(why.contains("end at byte 5000"), "{why}");
        assert!(is_mp4("A_1280x720_3400.MP4") && !is_mp4("a.ism"));
    }

    #[tokio::test]
    async fn box_headers_past_the_first_read_are_read_too() {
        let s = InMemoryStore::new();
        s.create_container("c").await.unwrap();
        let mut file = mirrorcast_core::sample::mp4(64, 1)[..24].to_vec();
        let free = 3 * HEAD_READ as u32;
        file.extend_from_slice(&free.to_be_bytes());
        file.extend_from_slice(b"free");
        file.resize(24 + free as usize, 0);
        file.extend_from_slice(&1000u32.to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.resize(file.len() + 992, 7);
        let len = file.len() as u64;
        s.put_blob("c", "big.mp4", Bytes::from(file.clone()), &PutOptions::default()).await.unwrap();
        assert_eq!(check(&s, "c", "big.mp4", len).await.unwrap(), None);
        let cut = len - 500;
        s.put_blob("c", "cut.mp4", Bytes::from(file[..cut as usize].to_vec()), &PutOptions::default()).await.unwrap();
        let why = check(&s, "c", "cut.mp4", cut).await.unwrap().unwrap();
        assert!(why.contains(&format!("end at byte {len}")), "{why}");
        // The mdat header itself cut off: a short read, not a panic.
        let at_header = 24 + free as u64 + 4;
        s.put_blob("c", "hdr.mp4", Bytes::from(file[..at_header as usize].to_vec()), &PutOptions::default())
            .await
            .unwrap();
        let why = check(&s, "c", "hdr.mp4", at_header).await.unwrap().unwrap();
        assert!(why.contains("stray bytes"), "{why}");
    }
}
