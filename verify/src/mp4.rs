//! Cheap MP4 sanity: walk the top-level box headers with small ranged reads
//! and check that the boxes end exactly where the blob ends. Catches a
//! truncated file without downloading it.

use futures::TryStreamExt;
use mirrorcast_core::store::BlobStore;

/// Files whose top-level structure is ISO BMFF boxes.
pub fn is_mp4(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".mp4", ".ismv", ".isma", ".m4a", ".m4v"].iter().any(|e| lower.ends_with(e))
}

/// `Ok(None)` if the boxes add up to `size`, `Ok(Some(why))` if not.
pub async fn check(
    store: &dyn BlobStore,
    container: &str,
    name: &str,
    size: u64,
) -> mirrorcast_core::Result<Option<String>> {
    let mut offset = 0u64;
    let mut boxes = 0;
    while offset < size {
        if size - offset < 8 {
            return Ok(Some(format!("{} stray bytes after the last box at offset {offset}", size - offset)));
        }
        let want = (size - offset).min(16);
        let got = store.get_blob(container, name, Some(offset..offset + want)).await?;
        let chunks: Vec<bytes::Bytes> = got.stream.try_collect().await?;
        let head: Vec<u8> = chunks.concat();
        if head.len() < 8 {
            return Ok(Some(format!("short read at offset {offset}")));
        }
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = String::from_utf8_lossy(&head[4..8]).into_owned();
        let box_size = match size32 {
            0 => size - offset,
            1 if head.len() >= 16 => u64::from_be_bytes(head[8..16].try_into().expect("8 bytes")),
            1 => return Ok(Some(format!("box '{kind}' at {offset} has a truncated 64-bit size"))),
            n => n,
        };
        if box_size < 8 {
            return Ok(Some(format!("box '{kind}' at {offset} claims {box_size} bytes")));
        }
        offset += box_size;
        boxes += 1;
        if boxes > 10_000 {
            return Ok(Some("more than 10000 top-level boxes".into()));
        }
    }
    if offset != size {
        return Ok(Some(format!("top-level boxes end at byte {offset}, but the blob has {size} bytes (truncated?)")));
    }
    Ok(None)
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
}
