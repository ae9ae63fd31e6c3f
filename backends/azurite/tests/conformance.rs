//! The core conformance suite against Azure Blob on a real Azurite process.

use mirrorcast_azurite::{Account, Azurite, Persistence, TwoDataCenters};
use mirrorcast_store::{conformance, BlobStore, BlobStoreExt, PutOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_on_azurite_passes_the_conformance_suite() {
    let azurite = Azurite::start_default().await.expect("start Azurite");
    conformance::run_all(&azurite.store("devstoreaccount1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_accounts_are_served_and_the_dev_account_is_not() {
    let azurite = Azurite::builder().account(Account::generate("media1")).start().await.unwrap();
    let store = azurite.store("media1");
    assert!(store.create_container("asset-x").await.unwrap());
    assert_eq!(store.list_containers("").await.unwrap(), vec!["asset-x".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_location_survives_a_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut azurite =
        Azurite::builder().persistence(Persistence::Location(dir.path().join("data"))).start().await.unwrap();
    let mut config = azurite.config("devstoreaccount1");
    config.retry.max_retries = 1;
    let store = mirrorcast_azure_blob::AzureBlobStore::new(config).unwrap();
    store.create_container("keep").await.unwrap();
    store.put_blob("keep", "a.txt", bytes::Bytes::from_static(b"kept"), &PutOptions::default()).await.unwrap();
    let port = azurite.port();
    // Azurite saves its metadata every 5 s; a kill before that loses it, as a
    // crash would. Wait past one save.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    azurite.kill().await;
    assert!(store.head_blob("keep", "a.txt").await.is_err(), "a killed Azurite must not answer");
    azurite.restart().await.unwrap();
    assert_eq!(azurite.port(), port, "restart keeps the port");
    let (_, got) = store.get_bytes("keep", "a.txt").await.unwrap();
    assert_eq!(got.as_ref(), b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_topologies_give_two_separate_accounts() {
    for dcs in [
        TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap(),
        TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap(),
    ] {
        let (a, b) = (dcs.a.store(), dcs.b.store());
        a.create_container("only-in-a").await.unwrap();
        assert!(b.list_containers("").await.unwrap().is_empty(), "B must not see A's containers");
        assert!(a.capability().copy_from_url_same_endpoint);
    }
}
