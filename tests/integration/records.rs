//! Records cannot hurt: hostile records planted in A's catalog are each the
//! failure of their own asset (or, owning none, of the catalog), named in the
//! report with exit 1; every other asset replicates, verifies and lists, and
//! B's catalog is not touched by the attack.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, Utc};
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::catalog::{Catalog, CATALOG_CONTAINER, JOURNAL_CONTAINER};
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::model::{AccessPolicy, Asset, AssetOptions, Locator, LocatorType, Permissions};
use mirrorcast_core::store::{BlobStore, PutOptions};
use serde_json::{json, Value};

use crate::replicate::Failover;
use crate::requests::{etags, publish_small};

/// Writes a record blob the way an older version (or an attacker) would: JSON, no metadata.
async fn plant(store: &dyn BlobStore, path: &str, body: impl Into<Bytes>) {
    store.put_blob(CATALOG_CONTAINER, path, body.into(), &PutOptions::default()).await.unwrap();
}

/// An asset whose container holds one blob, so that acting on its record would copy something.
async fn container_with_a_blob(store: &dyn BlobStore, id: &AssetId) {
    store.create_container(&id.container_name()).await.unwrap();
    store
        .put_blob(&id.container_name(), "x.mp4", Bytes::from_static(b"payload"), &PutOptions::default())
        .await
        .unwrap();
}

fn asset_json(id: &AssetId, container: &str, created: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id.to_string(), "name": "hostile", "options": "None", "container": container, "created": created,
    }))
    .unwrap()
}

fn by_id<'a>(report: &'a Value, id: &AssetId) -> &'a Value {
    report["assets"].as_array().unwrap().iter().find(|a| a["id"] == id.to_string().as_str()).unwrap_or_else(|| {
        panic!("asset {id} is not named in the report: {report}");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_fail_only_their_own_asset_and_never_touch_b_s_catalog() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a_store: Arc<dyn BlobStore> = Arc::new(f.dcs.a.store());
    let a = Catalog::new(a_store.clone());
    let good = [publish_small(&a, "good one", 1).await, publish_small(&a, "good two", 2).await];
    let victim = publish_small(&a, "victim", 3).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--all"]).await.ok();
    let b = f.dcs.b.store();
    let before = etags(&b).await;

    // An asset record steering the copy onto B's catalog.
    let onto_catalog = AssetId::new();
    container_with_a_blob(a_store.as_ref(), &onto_catalog).await;
    plant(
        a_store.as_ref(),
        &format!("assets/{}.json", onto_catalog.guid()),
        asset_json(&onto_catalog, CATALOG_CONTAINER, "2024-01-01T00:00:00Z"),
    )
    .await;
    // One steering the copy onto another asset's container.
    let onto_other = AssetId::new();
    plant(
        a_store.as_ref(),
        &format!("assets/{}.json", onto_other.guid()),
        asset_json(&onto_other, &good[0].container, "2024-01-01T00:00:00Z"),
    )
    .await;
    // Malformed JSON.
    let malformed = AssetId::new();
    plant(a_store.as_ref(), &format!("assets/{}.json", malformed.guid()), &b"{\"id\": \"nb:cid:UUID:"[..]).await;
    // A record whose id is not the one its blob is named after.
    let misnamed = AssetId::new();
    let claimed = Asset::new("claims another id", AssetOptions::None);
    plant(a_store.as_ref(), &format!("assets/{}.json", misnamed.guid()), serde_json::to_vec(&claimed).unwrap()).await;
    // An absurd date.
    let absurd = AssetId::new();
    container_with_a_blob(a_store.as_ref(), &absurd).await;
    plant(
        a_store.as_ref(),
        &format!("assets/{}.json", absurd.guid()),
        asset_json(&absurd, &absurd.container_name(), "9999-12-31T00:00:00Z"),
    )
    .await;
    // An origin locator on a write policy, for an otherwise good asset.
    let write = a.policy_for("write", 60, Permissions::WRITE | Permissions::CREATE).await.unwrap();
    let on_write = Locator {
        id: LocatorId::new(),
        locator_type: LocatorType::OnDemandOrigin,
        asset_id: victim.id,
        policy_id: write.id,
        start_time: Some(Utc::now()),
        expiration: Utc::now() + Duration::days(1),
        path: "https://evil.example/x/".into(),
        delivery: Default::default(),
    };
    plant(a_store.as_ref(), &format!("locators/{}.json", on_write.id.guid()), serde_json::to_vec(&on_write).unwrap())
        .await;
    // A locator of an asset that does not exist.
    let read = AccessPolicy::for_terms("r", 60, Permissions::READ);
    let orphan = Locator { id: LocatorId::new(), asset_id: AssetId::new(), policy_id: read.id, ..on_write.clone() };
    plant(a_store.as_ref(), &format!("locators/{}.json", orphan.id.guid()), serde_json::to_vec(&orphan).unwrap()).await;

    let run = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_eq!(run.code, 1, "bad records make the run exit 1: {}", run.stderr);
    let report = run.json();
    for g in &good {
        let r = by_id(&report, &g.id);
        assert_eq!(r["status"], "replicated", "{r}");
    }
    let expectations = [
        (onto_catalog, "its container can only be"),
        (onto_other, "its container can only be"),
        (malformed, "not a valid record"),
        (misnamed, "names asset"),
        (absurd, "outside"),
        (victim.id, "read-only policy"),
    ];
    for (id, why) in expectations {
        let r = by_id(&report, &id);
        assert_eq!(r["status"], "failed", "{r}");
        let errors = r["errors"].to_string();
        assert!(errors.contains(why), "asset {id}: expected '{why}' in {errors}");
        assert_eq!(r["copied"], 0, "nothing of a bad asset is copied: {r}");
    }
    let problems = report["record_problems"].to_string();
    assert!(problems.contains(&orphan.id.guid()), "the orphan locator is named: {problems}");

    // B: nothing but the run's journal changed, nothing was added to the catalog, no container made.
    let after = etags(&b).await;
    for (key, etag) in &before {
        assert_eq!(after.get(key), Some(etag), "{key:?} changed in B");
    }
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k) && k.0 != JOURNAL_CONTAINER).collect();
    assert!(added.is_empty(), "the attack wrote to B: {added:?}");

    // verify --all: the good assets verify, the bad ones are named, exit 1.
    let verify = f.run(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json"]).await;
    assert_eq!(verify.code, 1, "{} {}", verify.stderr, verify.stdout);
    let text = verify.stdout.clone();
    for id in [onto_catalog, onto_other, malformed, misnamed, absurd, victim.id] {
        assert!(text.contains(&id.guid()), "verify names {id}: {text}");
    }
    assert!(text.contains(&orphan.id.guid()), "verify names the orphan locator");

    // asset list: the good ones listed, the bad ones named on stderr, exit 1.
    let list = f.run(&["asset", "list", "--dc", "a", "--json"]).await;
    assert_eq!(list.code, 1, "{}", list.stderr);
    let listed: Vec<String> =
        list.json().as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    for g in &good {
        assert!(listed.contains(&g.id.to_string()), "{listed:?}");
    }
    for id in [onto_catalog, onto_other, malformed, absurd] {
        assert!(list.stderr.contains(&id.guid()), "asset list names {id}: {}", list.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_without_metadata_by_the_previous_version_are_still_read() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a_store: Arc<dyn BlobStore> = Arc::new(f.dcs.a.store());
    let a = Catalog::new(a_store.clone());
    let asset = publish_small(&a, "old", 4).await;
    // Rewrite every record as the previous version did: the same JSON, no metadata.
    for (key, _) in etags(a_store.as_ref()).await.into_iter().filter(|(k, _)| k.0 == CATALOG_CONTAINER) {
        let got = a_store.get_blob(&key.0, &key.1, None).await.unwrap();
        let bytes: Vec<Bytes> = futures::TryStreamExt::try_collect(got.stream).await.unwrap();
        plant(a_store.as_ref(), &key.1, bytes.concat()).await;
    }
    let report = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
    let r = by_id(&report, &asset.id);
    assert_eq!(r["status"], "replicated", "{r}");
    assert_eq!(r["locators"][0]["action"], "created", "A's origin locator is read from its body: {r}");
    f.run(&["verify", "--from", "a", "--to", "b", "--all"]).await.ok();
}
