//! A local directory's commit holds no blob bytes in memory. Its own test
//! binary: the peak resident memory it reads is the process's, so no other
//! test may run beside it.

use mirrorcast_object_store::ObjectStoreBackend;
use mirrorcast_store::BlobStore;

/// The process's resident memory now and at its peak since the peak was last reset, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find_map(|l| l.strip_prefix(key)).unwrap();
        line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_commit_of_160_mib_of_blocks_holds_no_blob_bytes_in_memory() {
    use bytes::Bytes;
    use mirrorcast_store::PutOptions;
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBackend::local(&dir.path().join("dc")).unwrap();
    store.create_container("c").await.unwrap();
    // One 4 MiB block staged 40 times: the staging holds 4 MiB, whatever the blob's size.
    let block = Bytes::from(vec![7u8; 4 * 1024 * 1024]);
    let ids: Vec<String> = (0..40).map(|i| format!("block-{i:04}")).collect();
    for id in &ids {
        store.put_block("c", "feature.mp4", id, block.clone()).await.unwrap();
    }
    drop(block);
    // Linux: writing 5 to clear_refs resets the peak (VmHWM) to what is resident now.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (before, _) = rss();
    store.put_block_list("c", "feature.mp4", &ids, &PutOptions::default()).await.unwrap();
    let (_, peak) = rss();
    let grew = peak.saturating_sub(before);
    eprintln!("committing 160 MiB of staged blocks raised peak RSS by {:.1} MiB", grew as f64 / 1048576.0);
    assert_eq!(store.head_blob("c", "feature.mp4").await.unwrap().size, 160 * 1024 * 1024);
    assert!(grew < 4 * 1024 * 1024, "a local commit must not hold blob bytes: peak grew by {grew} bytes");
}
