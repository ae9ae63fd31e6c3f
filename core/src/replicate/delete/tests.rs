//! The deletion plan, pure over indexes and listings; and whole runs on the in-memory store.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::*;
use crate::catalog::{AssetEntry, Catalog, RecordProblem};
use crate::error::ErrorKind;
use crate::id::PolicyId;
use crate::model::{Asset, AssetOptions, Locator, LocatorType};
use crate::replicate::{ReplicateOptions, Replicator, Selection, Side};
use crate::store::{BlobStore, BlobStoreExt, Condition, InMemoryStore, PutOptions};

const NAMES: Names<'static> = Names { source: "a", target: "b" };

fn blob(name: &str, kind: BlobKind) -> BlobMeta {
    BlobMeta {
        name: name.into(),
        size: 10,
        etag: format!("\"{name}\""),
        last_modified: None,
        kind,
        properties: Default::default(),
        metadata: Default::default(),
    }
}

fn blobs(names: &[&str]) -> Listing {
    Ok(names.iter().map(|n| blob(n, BlobKind::Block)).collect())
}

fn entry(asset: &Asset, replica: bool) -> AssetEntry {
    AssetEntry {
        asset: asset.clone(),
        etag: "\"r\"".into(),
        files: None,
        file_count: 0,
        files_digest: None,
        from: replica.then(|| "v1-x".to_owned()),
        modified: None,
    }
}

fn locator(asset: &Asset) -> Locator {
    Locator {
        id: LocatorId::new(),
        locator_type: LocatorType::OnDemandOrigin,
        asset_id: asset.id,
        policy_id: PolicyId::for_terms(60, "r"),
        start_time: None,
        expiration: Utc::now() + Duration::days(1),
        path: String::new(),
        delivery: Default::default(),
    }
}

/// A and B after A lost a blob of `kept`, a locator of it, and all of `gone`;
/// B also holds an asset of its own and a locator made by hand.
struct World {
    a: Index,
    b: Index,
    kept: Asset,
    gone: Asset,
    own: Asset,
    lost_locator: LocatorId,
    hand_made: LocatorId,
    listings: Listings,
}

fn world() -> World {
    let (kept, gone, own) = (
        Asset::new("kept", AssetOptions::None),
        Asset::new("gone", AssetOptions::None),
        Asset::new("own", AssetOptions::None),
    );
    let (still, lost, hand) = (locator(&kept), locator(&kept), locator(&kept));
    let gone_locator = locator(&gone);
    let mut a = Index { exists: true, ..Default::default() };
    a.assets.insert(kept.id, entry(&kept, false));
    a.locators.insert(still.id, still.clone());
    let mut b = Index { exists: true, ..Default::default() };
    b.assets.insert(kept.id, entry(&kept, true));
    b.assets.insert(gone.id, entry(&gone, true));
    b.assets.insert(own.id, entry(&own, false));
    for l in [&still, &lost, &hand, &gone_locator] {
        b.locators.insert(l.id, l.clone());
    }
    b.replica_locators.extend([still.id, lost.id, gone_locator.id]);
    let mut listings = Listings::default();
    listings.source.insert(kept.id, blobs(&["x.ism", "x_1.mp4"]));
    let mut in_b = blobs(&["x.ism", "x_1.mp4", "x_2.mp4"]).unwrap();
    in_b.push(blob("disk.vhd", BlobKind::Page));
    listings.target.insert(kept.id, Ok(in_b));
    listings.target.insert(gone.id, blobs(&["g.ism", "g_1.mp4"]));
    World { a, b, kept, gone, own, lost_locator: lost.id, hand_made: hand.id, listings }
}

fn all_of(w: &World) -> Scope {
    let selected: Vec<AssetId> = w.a.assets.keys().copied().collect();
    scope(&w.a, &w.b, &selected, true, None)
}

#[test]
fn a_plan_removes_exactly_what_the_source_lost_and_nothing_made_in_the_target() {
    let w = world();
    let s = all_of(&w);
    assert_eq!(s.trim, vec![w.kept.id]);
    assert_eq!(s.whole, vec![w.gone.id], "B's own asset is never in scope");
    let p = plan(NAMES, &w.a, &w.b, &s, &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused, None);
    let names: Vec<&str> = p.blobs.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["x_2.mp4"], "only the block blob A lost; the page blob is not replicate's");
    let locators: Vec<LocatorId> = p.locators.iter().map(|l| l.id).collect();
    assert_eq!(locators, vec![w.lost_locator], "the hand-made locator {} stays", w.hand_made);
    assert_eq!(p.assets.len(), 1);
    assert_eq!((p.assets[0].id, p.assets[0].blobs, p.assets[0].locators.len()), (w.gone.id, 2, 1));
    assert!(p.assets.iter().all(|a| a.id != w.own.id));
    // 1 blob + 1 locator + (2 blobs + 1 locator + 1 record).
    assert_eq!(p.totals.planned, 6);
    assert!(p.blobs.iter().chain([]).all(|b| b.status == DeletionStatus::Planned));
}

#[test]
fn a_record_of_the_source_that_failed_its_checks_refuses_every_deletion() {
    let mut w = world();
    w.a.problems.push(RecordProblem::new("locators/x.json", None, "not JSON"));
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused.as_ref().map(|r| r.reason), Some(RefusalReason::SourceRecordsFailedChecks));
    assert!(p.blobs.is_empty() && p.locators.is_empty() && p.assets.is_empty() && p.totals.planned == 0);
    assert!(p.refused.unwrap().message.contains("locators/x.json"));
}

#[test]
fn a_listing_that_failed_on_either_side_refuses_every_deletion() {
    let mut w = world();
    w.listings.source.insert(w.kept.id, Err("page 2: 500 Internal Server Error".into()));
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused.as_ref().map(|r| r.reason), Some(RefusalReason::SourceListingFailed));
    assert!(p.blobs.is_empty() && p.assets.is_empty(), "not even the asset A lost whole: {p:?}");

    let mut w = world();
    w.listings.target.insert(w.gone.id, Err("timeout".into()));
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused.as_ref().map(|r| r.reason), Some(RefusalReason::TargetListingFailed));

    let mut w = world();
    w.listings.source.remove(&w.kept.id);
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused.map(|r| r.reason), Some(RefusalReason::SourceListingFailed), "a listing never made");
}

#[test]
fn a_source_that_looks_empty_deletes_nothing_unless_allowed() {
    let w = world();
    for exists in [false, true] {
        let a = Index { exists, ..Default::default() };
        let s = scope(&a, &w.b, &[], true, None);
        assert_eq!(s.whole.len(), 2, "both replicas would go");
        let p = plan(NAMES, &a, &w.b, &s, &w.listings, &DeleteOptions::default());
        assert_eq!(p.refused.as_ref().map(|r| r.reason), Some(RefusalReason::SourceLooksEmpty));
        assert!(p.refused.unwrap().message.contains("--allow-empty-source"));
        let mut listings = w.listings.clone();
        listings.target.insert(w.kept.id, blobs(&["x.ism"]));
        let allowed = DeleteOptions { allow_empty_source: true, ..Default::default() };
        let p = plan(NAMES, &a, &w.b, &s, &listings, &allowed);
        assert_eq!((p.refused, p.assets.len()), (None, 2));
    }
    // One asset's container empty in A while B holds its blobs.
    let mut w = world();
    w.listings.source.insert(w.kept.id, Ok(Vec::new()));
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions::default());
    assert_eq!(p.refused.as_ref().map(|r| r.reason), Some(RefusalReason::SourceLooksEmpty));
    let allowed = DeleteOptions { allow_empty_source: true, ..Default::default() };
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &allowed);
    assert_eq!((p.refused, p.blobs.len()), (None, 3));
}

#[test]
fn a_plan_over_max_delete_lists_what_it_would_delete_and_refuses() {
    let w = world();
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions { max: 5, ..Default::default() });
    let refused = p.refused.clone().expect("6 > 5");
    assert_eq!(refused.reason, RefusalReason::OverMaxDelete);
    assert!(refused.message.contains("would delete 6") && refused.message.contains("--max-delete 5"));
    assert_eq!((p.totals.planned, p.totals.deleted, p.blobs.len()), (6, 0, 1));
    let p = plan(NAMES, &w.a, &w.b, &all_of(&w), &w.listings, &DeleteOptions { max: 6, ..Default::default() });
    assert_eq!(p.refused, None, "exactly the cap is allowed");
}

#[test]
fn only_a_whole_library_run_removes_assets_and_a_shard_only_its_own() {
    let w = world();
    let some = scope(&w.a, &w.b, &[w.kept.id], false, None);
    assert_eq!((some.trim, some.whole), (vec![w.kept.id], vec![]));
    let shards: Vec<Shard> = (1..=2).map(|k| format!("{k}/2").parse().unwrap()).collect();
    let wholes: Vec<Vec<AssetId>> = shards.iter().map(|s| scope(&w.a, &w.b, &[], true, Some(*s)).whole).collect();
    assert_eq!(wholes.concat(), vec![w.gone.id], "exactly one shard owns the asset A lost");
}

// Whole runs on the in-memory store.

async fn put(store: &dyn BlobStore, container: &str, name: &str) {
    store
        .put_blob(container, name, bytes::Bytes::from(name.as_bytes().to_vec()), &PutOptions::default())
        .await
        .unwrap();
}

async fn replicate(a: &Catalog, b: &Catalog, delete: Option<DeleteOptions>, dry_run: bool) -> super::super::RunReport {
    let options = ReplicateOptions { delete, dry_run, concurrency: 4, ..Default::default() };
    let r = Replicator::new(
        Side { name: "a", catalog: a, origin: "https://a" },
        Side { name: "b", catalog: b, origin: "https://b" },
        options,
    );
    r.run(&Selection::All).await.unwrap()
}

async fn names_in(store: &dyn BlobStore, container: &str) -> Vec<String> {
    match store.list_all(container, "").await {
        Ok(l) => l.into_iter().map(|b| b.name).collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => vec!["<no container>".into()],
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_delete_run_brings_the_replicas_in_line_and_keeps_what_the_target_made() {
    let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
    let (kept, gone) = (Asset::new("kept", AssetOptions::None), Asset::new("gone", AssetOptions::None));
    for asset in [&kept, &gone] {
        a.create_asset(asset).await.unwrap();
        for n in ["v.ism", "v_1.mp4", "v_2.mp4"] {
            put(a.store().as_ref(), &asset.container, n).await;
        }
        a.regenerate_files(&asset.id).await.unwrap();
    }
    let now = Utc::now();
    let (stays, goes) = (LocatorId::new(), LocatorId::new());
    for id in [stays, goes] {
        a.create_origin_locator(&kept.id, id, now, now + Duration::days(2), "https://a").await.unwrap();
    }
    assert!(!replicate(&a, &b, None, false).await.has_failures());
    // `asset files` in B keeps a replica a replica (it stays deletable).
    b.regenerate_files(&gone.id).await.unwrap();
    // B's own asset, and a locator made by hand on a replica.
    let own = Asset::new("own", AssetOptions::None);
    b.create_asset(&own).await.unwrap();
    let hand = LocatorId::new();
    b.create_origin_locator(&kept.id, hand, now, now + Duration::days(1), "https://b").await.unwrap();

    // A loses a blob, a locator and an asset.
    a.store().delete_blob(&kept.container, "v_2.mp4", &Condition::None).await.unwrap();
    a.regenerate_files(&kept.id).await.unwrap();
    a.delete_locator(&goes).await.unwrap();
    a.delete_asset(&gone.id).await.unwrap();

    let without = replicate(&a, &b, None, false).await;
    assert!(without.deletions.is_none());
    assert_eq!(names_in(b.store().as_ref(), &kept.container).await, ["v.ism", "v_1.mp4", "v_2.mp4"]);

    let dry = replicate(&a, &b, Some(DeleteOptions::default()), true).await;
    let d = dry.deletions.as_ref().unwrap();
    assert_eq!((d.refused.clone(), d.totals.planned, d.totals.deleted), (None, 6, 0), "{d:?}");
    assert!(b.get_asset(&gone.id).await.is_ok(), "a dry run deletes nothing");

    let run = replicate(&a, &b, Some(DeleteOptions::default()), false).await;
    let d = run.deletions.as_ref().unwrap();
    assert!(!run.has_failures(), "{d:?}");
    assert_eq!((d.totals.planned, d.totals.deleted, d.totals.failed), (6, 6, 0));
    assert_eq!(names_in(b.store().as_ref(), &kept.container).await, ["v.ism", "v_1.mp4"]);
    assert_eq!(names_in(b.store().as_ref(), &gone.container).await, ["<no container>"]);
    assert_eq!(b.get_asset(&gone.id).await.unwrap_err().kind(), ErrorKind::NotFound);
    let mut left: Vec<LocatorId> = b.list_locators(None).await.unwrap().into_iter().map(|l| l.id).collect();
    left.sort();
    let mut want = vec![stays, hand];
    want.sort();
    assert_eq!(left, want, "the locator A lost is gone, the hand-made one stays");
    assert!(b.get_asset(&own.id).await.is_ok(), "an asset made in B is never deleted");
    let files: Vec<String> = b.get_asset(&kept.id).await.unwrap().value.files.into_iter().map(|f| f.name).collect();
    assert_eq!(files, ["v.ism", "v_1.mp4"], "file infos follow the blobs");
    let path = format!("{}/deletions.json", run.run_id);
    let journal = b.store().get_bytes(crate::catalog::JOURNAL_CONTAINER, &path).await.unwrap();
    let logged: DeletionReport = serde_json::from_slice(&journal.1).unwrap();
    assert_eq!(logged.totals.deleted, 6);

    // Nothing left to delete: a second run plans nothing.
    let again = replicate(&a, &b, Some(DeleteOptions::default()), false).await;
    assert_eq!(again.deletions.unwrap().totals.planned, 0);
}

#[tokio::test]
async fn a_delete_run_over_the_cap_deletes_nothing_and_fails() {
    let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
    let asset = Asset::new("many", AssetOptions::None);
    a.create_asset(&asset).await.unwrap();
    for i in 0..5 {
        put(a.store().as_ref(), &asset.container, &format!("s{i}.mp4")).await;
    }
    replicate(&a, &b, None, false).await;
    for i in 0..5 {
        a.store().delete_blob(&asset.container, &format!("s{i}.mp4"), &Condition::None).await.unwrap();
    }
    put(a.store().as_ref(), &asset.container, "new.mp4").await;
    let run = replicate(&a, &b, Some(DeleteOptions { max: 4, ..Default::default() }), false).await;
    assert!(run.has_failures());
    let d = run.deletions.unwrap();
    assert_eq!(d.refused.map(|r| r.reason), Some(RefusalReason::OverMaxDelete));
    assert_eq!(names_in(b.store().as_ref(), &asset.container).await.len(), 6, "nothing deleted, the new blob copied");
}
