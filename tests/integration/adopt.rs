//! Bringing an existing Media Services library in with its ids: `asset adopt`
//! of bare asset-<guid> containers, `import` of v2 and v3 exports, and
//! `--output ams` back out; then the usual replicate and verify.

use bytes::Bytes;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::store::{BlobProperties, BlobStore, PutOptions};

use crate::replicate::Failover;

const GUID_1: &str = "0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e";
const GUID_2: &str = "5d2c8a41-93b7-4f6e-a0c2-7e1b9f3d4a86";
const LOCATOR_1: &str = "7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d";

/// An encoded asset in `container` as Media Services left it: blobs, no records.
async fn ams_container(store: &dyn BlobStore, container: &str, base: &str, seed: u64) {
    store.create_container(container).await.unwrap();
    for (name, bytes) in mirrorcast_core::sample::encoded_asset(base, 8 * 1024, seed).files {
        let mut options = PutOptions::default();
        options.properties = BlobProperties { content_type: Some(mime_type_for(&name)), ..Default::default() };
        store.put_blob(container, &name, bytes, &options).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ams_library_is_adopted_with_its_ids_then_replicated_and_verified() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = f.dcs.a.store();
    let (c1, c2) = (format!("asset-{GUID_1}"), format!("asset-{GUID_2}"));
    ams_container(&a, &c1, "Big Buck Bunny", 1).await;
    ams_container(&a, &c2, "Sintel", 2).await;
    a.create_container("videos").await.unwrap();
    a.put_blob("videos", "raw.mov", Bytes::from_static(b"raw"), &PutOptions::default()).await.unwrap();

    // Named containers that are not assets are refused before anything is written.
    for bad in ["mirrorcast-catalog", "videos", "asset-not-a-guid"] {
        f.run(&["asset", "adopt", "--dc", "a", bad]).await.usage_error(bad);
    }
    assert!(a.list_containers("mirrorcast-catalog").await.unwrap().is_empty(), "a refused adopt writes nothing");

    let out = f.run(&["asset", "adopt", "--dc", "a", "--all", "--json"]).await.ok().json();
    assert_eq!(out["totals"]["adopted"], 2, "{out}");
    assert_eq!(out["totals"]["skipped"], 1, "'videos' is reported and left alone: {out}");
    let rows = out["containers"].as_array().unwrap();
    let bunny = rows.iter().find(|r| r["container"] == c1.as_str()).unwrap();
    assert_eq!(bunny["id"], format!("nb:cid:UUID:{GUID_1}"));
    assert_eq!(bunny["primary"], "Big Buck Bunny.ism");
    assert_eq!(bunny["files"], 10);

    let listed = f.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    let mut ids: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [format!("nb:cid:UUID:{GUID_1}"), format!("nb:cid:UUID:{GUID_2}")]);

    // Idempotent: a second run adopts nothing and rewrites nothing.
    let record_etag = a.head_blob("mirrorcast-catalog", &format!("assets/{GUID_1}.json")).await.unwrap().etag;
    let again = f.run(&["asset", "adopt", "--dc", "a", "--all", "--json"]).await.ok().json();
    assert_eq!(again["totals"]["adopted"], 0, "{again}");
    assert_eq!(again["totals"]["already_registered"], 2, "{again}");
    assert_eq!(again["totals"]["skipped"], 2, "'videos' and the catalog are left alone: {again}");
    let etag_after = a.head_blob("mirrorcast-catalog", &format!("assets/{GUID_1}.json")).await.unwrap().etag;
    assert_eq!(etag_after, record_etag, "an adopted asset is never rewritten");

    // The locator id the old URLs carry, kept by hand; then the failover.
    let lid = format!("nb:lid:UUID:{LOCATOR_1}");
    f.run(&["locator", "create", "--dc", "a", &c1, "--type", "origin", "--id", &lid]).await.ok();
    let report = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
    assert_eq!(report["totals"]["copied"], 20, "{report}");
    let urls_b = f.run(&["locator", "urls", "--dc", "b", &c1, "--json"]).await.ok().json();
    assert!(
        urls_b[0]["urls"]["smooth"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{LOCATOR_1}/Big%20Buck%20Bunny.ism/manifest")),
        "{urls_b}"
    );
    f.run(&["verify", "--from", "a", "--to", "b", "--all", "--deep"]).await.ok();
}
