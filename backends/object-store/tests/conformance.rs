//! The core conformance suite against object_store: a local directory and memory.

use mirrorcast_core::store::{conformance, BlobStore};
use mirrorcast_object_store::ObjectStoreBackend;

#[tokio::test]
async fn local_directory_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(&ObjectStoreBackend::local(&dir.path().join("dc")).unwrap()).await;
}

#[tokio::test]
async fn memory_passes_the_conformance_suite() {
    conformance::run_all(&ObjectStoreBackend::memory()).await;
}

#[tokio::test]
async fn urls_choose_the_store_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("x").display());
    assert!(ObjectStoreBackend::from_url(&url).unwrap().describe().contains("local directory"));
    assert!(ObjectStoreBackend::from_url("memory://").is_ok());
    let e = ObjectStoreBackend::from_url("ftp://host/x").unwrap_err();
    assert!(e.to_string().contains("'ftp://'"), "{e}");
}
