//! The copy engines between two data centers on Azurite, in both topologies:
//! core's engines over a real backend (backends do not depend on core).

use bytes::Bytes;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::copy::{
    AutoCopy, CopyEngine, CopyRequest, CopyStrategy, ServerSideCopy, StrategyChoice, StreamedCopy, SOURCE_ETAG_METADATA,
};
use mirrorcast_core::model::Permissions;
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions};

async fn seed(a: &dyn BlobStore) -> Vec<(String, Bytes)> {
    a.create_container("asset-src").await.unwrap();
    let blobs = vec![
        ("Big Buck Bunny.ism".to_owned(), Bytes::from_static(b"<smil/>")),
        ("empty.txt".to_owned(), Bytes::new()),
        ("video_1280x720_3400.mp4".to_owned(), Bytes::from(mirrorcast_core::sample::mp4(5 * 1024 * 1024 + 17, 9))),
    ];
    for (name, data) in &blobs {
        let mut put = PutOptions::default();
        put.properties.content_type = Some(mirrorcast_core::mime::mime_type_for(name));
        put.properties.cache_control = Some("public, max-age=3600".into());
        put.metadata.insert("origin".into(), "dca".into());
        a.put_blob("asset-src", name, data.clone(), &put).await.unwrap();
    }
    blobs
}

async fn copy_all(engine: &dyn CopyEngine, a: &dyn BlobStore, b: &dyn BlobStore, sas: bool) -> Vec<CopyStrategy> {
    b.create_container("asset-src").await.unwrap();
    let url = if sas {
        Some(
            a.signed_url(
                "asset-src",
                None,
                Permissions::READ | Permissions::LIST,
                chrono::Utc::now() + chrono::Duration::hours(1),
            )
            .await
            .unwrap(),
        )
    } else {
        None
    };
    let mut used = Vec::new();
    for meta in a.list_all("asset-src", "").await.unwrap() {
        let r = CopyRequest {
            source: a,
            source_container: "asset-src",
            target: b,
            target_container: "asset-src",
            name: &meta.name,
            source_container_url: url.as_ref(),
            source_meta: Some(&meta),
        };
        let out = engine.copy_blob(r).await.unwrap_or_else(|e| panic!("copy '{}': {e}", meta.name));
        assert_eq!(out.source_etag, meta.etag);
        used.push(out.strategy);
    }
    used
}

async fn assert_replica(a: &dyn BlobStore, b: &dyn BlobStore, blobs: &[(String, Bytes)]) {
    for (name, data) in blobs {
        let (src, _) = a.get_bytes("asset-src", name).await.unwrap();
        let (dst, got) = b.get_bytes("asset-src", name).await.unwrap();
        assert_eq!(&got, data, "bytes of '{name}'");
        assert_eq!(dst.properties.content_type, src.properties.content_type, "content type of '{name}'");
        assert_eq!(dst.properties.cache_control, src.properties.cache_control, "cache control of '{name}'");
        assert_eq!(dst.properties.content_md5, src.properties.content_md5, "Content-MD5 of '{name}'");
        assert_eq!(dst.metadata.get("origin").map(String::as_str), Some("dca"), "metadata of '{name}'");
        assert_eq!(dst.metadata.get(SOURCE_ETAG_METADATA), Some(&src.etag), "recorded source ETag of '{name}'");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_copy_between_accounts_of_one_instance() {
    let dcs = TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap();
    let (a, b) = (dcs.a.store(), dcs.b.store());
    let blobs = seed(&a).await;
    let engine = ServerSideCopy { block_size: 2 * 1024 * 1024, concurrency: 3, ..Default::default() };
    let used = copy_all(&engine, &a, &b, true).await;
    assert!(used.contains(&CopyStrategy::ServerSingle) && used.contains(&CopyStrategy::ServerBlocks), "{used:?}");
    assert_replica(&a, &b, &blobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_copy_streams_between_instances_that_cannot_see_each_other() {
    let dcs = TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap();
    let (a, b) = (dcs.a.store(), dcs.b.store());
    let blobs = seed(&a).await;
    let engine = AutoCopy::new(
        StrategyChoice::Auto,
        ServerSideCopy::default(),
        StreamedCopy { block_size: 2 * 1024 * 1024, concurrency: 3, pool: None, ranged_reads: true },
    );
    let used = copy_all(&engine, &a, &b, true).await;
    assert!(used.iter().all(|s| *s == CopyStrategy::Streamed), "{used:?}");
    assert_replica(&a, &b, &blobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_server_side_copy_across_instances_fails_and_auto_falls_back() {
    let dcs = TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap();
    let (a, b) = (dcs.a.store(), dcs.b.store());
    seed(&a).await;
    b.create_container("asset-src").await.unwrap();
    let url = a
        .signed_url("asset-src", None, Permissions::READ, chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    let r = CopyRequest {
        source: &a,
        source_container: "asset-src",
        target: &b,
        target_container: "asset-src",
        name: "Big Buck Bunny.ism",
        source_container_url: Some(&url),
        source_meta: None,
    };
    let err = ServerSideCopy::default().copy_blob(r).await.unwrap_err();
    assert!(!err.to_string().contains("sig="), "errors must not carry the SAS: {err}");
    // Even when capabilities are overruled, auto mode latches to streamed after the failure.
    let engine = AutoCopy::new(StrategyChoice::Server, ServerSideCopy::default(), StreamedCopy::default());
    assert!(engine.copy_blob(r).await.is_err());
}
