//! Each bad input: exit 2, one clear line, nothing written.

use mirrorcast_core::catalog::CATALOG_CONTAINER;
use mirrorcast_core::store::{BlobStore, BlobStoreExt};

use crate::helpers::Sandbox;

async fn nothing_written(sb: &Sandbox) {
    let store = sb.azurite.store("devstoreaccount1");
    assert!(store.list_containers("").await.unwrap().is_empty(), "a refused command must write nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_connection_string_is_a_usage_error() {
    let sb = Sandbox::start().await;
    let run = sb
        .run_with(
            &[("MIRRORCAST_DC_A", "AccountName=devstoreaccount1;AccountKey")],
            &["asset", "create", "--dc", "a", "--name", "x"],
        )
        .await;
    run.usage_error("malformed connection string");
    assert!(run.stderr.contains("MIRRORCAST_DC_A"), "the error must name where the string came from: {}", run.stderr);
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_data_center_is_a_usage_error() {
    let sb = Sandbox::start().await;
    let run = sb.run(&["asset", "list", "--dc", "nowhere"]).await;
    run.usage_error("unknown data center 'nowhere'");
    assert!(run.stderr.contains("MIRRORCAST_DC_NOWHERE"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locator_id_that_is_not_a_guid_writes_nothing() {
    let sb = Sandbox::start().await;
    let id = sb.run(&["asset", "create", "--dc", "a", "--name", "x", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = sb.azurite.store("devstoreaccount1");
    let before = store.list_all(CATALOG_CONTAINER, "").await.unwrap().len();
    let run = sb.run(&["locator", "create", "--dc", "a", &id, "--id", "not-a-guid"]).await;
    run.usage_error("'not-a-guid' is not a valid locator id");
    let after = store.list_all(CATALOG_CONTAINER, "").await.unwrap().len();
    assert_eq!(before, after, "no policy or locator may be written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let sb = Sandbox::start().await;
    let cs =
        "DefaultEndpointsProtocol=http;AccountName=media;AccountKey=c2VjcmV0;BlobEndpoint=http://media.example.com/";
    let run = sb.run_with(&[("MIRRORCAST_DC_A", cs)], &["asset", "create", "--dc", "a", "--name", "x"]).await;
    run.usage_error("HTTPS is required");
    assert!(!run.stderr.contains("c2VjcmV0"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_account_key_is_an_authentication_failure_for_that_account() {
    let sb = Sandbox::start().await;
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={wrong};BlobEndpoint={}",
        sb.azurite.blob_endpoint("devstoreaccount1")
    );
    let run = sb.run_with(&[("MIRRORCAST_DC_A", &cs)], &["asset", "create", "--dc", "a", "--name", "x"]).await;
    run.usage_error("authentication failed for account 'devstoreaccount1'");
    assert!(!run.stderr.contains(wrong));
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_caps_are_usage_errors_that_write_nothing() {
    let sb = Sandbox::start().await;
    let id = "nb:cid:UUID:6f1c2a8e-0d4b-4c7a-9a51-2f7d3c9e8b10";
    let file = std::env::temp_dir().join(format!("mirrorcast-caps-{}.mp4", std::process::id()));
    std::fs::write(&file, b"tiny").unwrap();
    let upload = |flag: &'static str, value: &'static str| {
        vec!["asset", "upload", "--dc", "a", id, file.to_str().unwrap(), flag, value]
    };
    let run = sb.run(&upload("--max-bandwidth", "fast")).await;
    run.usage_error("--max-bandwidth");
    let run = sb.run(&upload("--max-requests-per-second", "0")).await;
    run.usage_error("--max-requests-per-second");
    let run = sb.run(&upload("--max-requests-per-second", "NaN")).await;
    run.usage_error("--max-requests-per-second");
    let run = sb.run(&["replicate", "--from", "a", "--to", "b", "--all", "--max-bandwidth=-5MiB/s"]).await;
    run.usage_error("--max-bandwidth");
    std::fs::remove_file(&file).unwrap();
    nothing_written(&sb).await;
}
