//! `Grants` on its own, against the in-memory store, without a run.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::batch::{Generation, GrantSide, Issued};
use super::*;
use crate::catalog::Catalog;
use crate::id::AssetId;
use crate::model::AssetOptions;
use crate::replicate::target_policies::TargetPolicies;
use crate::store::{InMemoryStore, StoredPolicy};

fn catalogs() -> (Catalog, Catalog) {
    (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())))
}

fn grants<'a>(a: &'a Catalog, b: &'a Catalog, lifetime: Duration) -> Grants<'a> {
    Grants::new(a, b, lifetime, StrategyChoice::Auto, Arc::new(TargetPolicies::new(b)))
}

/// The grant records in B's catalog: (side, containers named) of each.
async fn records(b: &Catalog) -> Vec<(LocatorId, String, Vec<String>)> {
    let mut out = Vec::new();
    for l in b.list_locators(None).await.unwrap() {
        if let Some((side, containers)) = grant_record_target(&l) {
            out.push((l.id, side.to_owned(), containers.into_iter().map(str::to_owned).collect()));
        }
    }
    out
}

fn policy(id: &str, expiry: chrono::DateTime<Utc>) -> StoredPolicy {
    StoredPolicy { id: id.to_owned(), start: None, expiry: Some(expiry), permissions: Permissions::READ }
}

async fn policy_ids(b: &Catalog, container: &str) -> Vec<String> {
    b.store().get_container_policies(container).await.unwrap().policies.into_iter().map(|p| p.id).collect()
}

#[tokio::test]
async fn a_grant_is_recorded_in_the_target_only_naming_its_batch_and_the_records_go_when_the_batch_closes() {
    let (a, b) = catalogs();
    let grants = grants(&a, &b, Duration::hours(1));
    let assets = [Asset::new("one", AssetOptions::None), Asset::new("two", AssetOptions::None)];
    let batch = Arc::new(GrantBatch::new(&[assets[0].id, assets[1].id]));
    let cells = [GrantCell::new(batch.clone(), true), GrantCell::new(batch.clone(), true)];
    for (asset, cell) in assets.iter().zip(&cells) {
        grants.current(asset, cell).await.unwrap();
    }
    let written = records(&b).await;
    let both: Vec<String> = assets.iter().map(|a| a.container.clone()).collect();
    let mut sides: Vec<&str> = written.iter().map(|(_, side, _)| side.as_str()).collect();
    sides.sort();
    assert_eq!(sides, ["source", "target"], "one record per side for the whole batch: {written:?}");
    assert!(written.iter().all(|(_, _, containers)| *containers == both), "{written:?}");
    assert!(a.list_locators(None).await.unwrap().is_empty(), "nothing is recorded in the source");
    assert!(a.store().list_containers("").await.unwrap().is_empty(), "nothing is written to the source");

    for cell in &cells {
        grants.revoke_all(cell).await;
        assert_eq!(cell.summary().await, (1, Vec::new()));
    }
    grants.close(&batch).await;
    assert!(records(&b).await.is_empty(), "the batch's records go once it is closed");
}

#[tokio::test]
async fn a_grant_near_its_expiry_is_renewed_with_new_records_and_the_old_one_is_revoked_once_no_copy_holds_it() {
    let (a, b) = catalogs();
    // Renewed after a second (within a third of 1.5 s of expiring): wide margins on a loaded machine.
    let grants = grants(&a, &b, Duration::milliseconds(1500));
    let asset = Asset::new("long", AssetOptions::None);
    let batch = Arc::new(GrantBatch::new(&[asset.id]));
    let cell = GrantCell::new(batch.clone(), true);
    let first = grants.current(&asset, &cell).await.unwrap();
    let again = grants.current(&asset, &cell).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "a fresh grant is reused");
    drop(again);
    // Within a third of its lifetime of expiring: the next copy gets a new one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = grants.current(&asset, &cell).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second), "renewed");
    assert_eq!(records(&b).await.len(), 4, "a renewal writes a new record per side");
    assert_eq!(cell.state.lock().await.retired.len(), 1, "the old grant is held by a copy: not revoked yet");
    drop(first);
    drop(second);
    let third = grants.current(&asset, &cell).await.unwrap();
    assert!(cell.state.lock().await.retired.is_empty(), "once no copy holds it, the old grant is revoked");
    drop(third);
    grants.revoke_all(&cell).await;
    assert_eq!(cell.summary().await.0, 2);
    grants.close(&batch).await;
    assert!(records(&b).await.is_empty(), "every record of every renewal goes");
}

#[tokio::test]
async fn binding_keeps_foreign_policies_gives_back_our_stale_slots_and_says_when_the_container_is_full() {
    let (a, b) = catalogs();
    let grants = grants(&a, &b, Duration::hours(1));
    let container = AssetId::new().container_name();
    b.store().create_container(&container).await.unwrap();
    let now = Utc::now();
    let expired = policy(&policy_id_for(&LocatorId::new()), now - Duration::minutes(1));
    let record_gone = policy(&policy_id_for(&LocatorId::new()), now + Duration::hours(1));
    let theirs = policy("theirs", now + Duration::hours(1));
    let listed = [expired, record_gone, theirs.clone()];
    b.store().set_container_policies(&container, &listed, None).await.unwrap();

    let record = LocatorId::new();
    let issued = Issued { side: GrantSide::Target, container: container.clone(), record };
    let g = Generation { record, start: now, expiry: now + Duration::hours(1) };
    let mut warnings = Vec::new();
    let store = b.store().as_ref();
    let bound = grants.bind(store, &issued, Permissions::WRITE, &g, false, &mut warnings).await.unwrap();
    assert_eq!(bound, Some(policy_id_for(&record)));
    assert_eq!(policy_ids(&b, &container).await, ["theirs".to_owned(), policy_id_for(&record)]);
    grants.unbind(&issued).await.unwrap();
    assert_eq!(policy_ids(&b, &container).await, ["theirs"], "revoked, theirs kept");
    assert!(warnings.is_empty(), "{warnings:?}");

    let full: Vec<StoredPolicy> = (0..5).map(|i| policy(&format!("theirs-{i}"), now + Duration::hours(1))).collect();
    b.store().set_container_policies(&container, &full, None).await.unwrap();
    let bound = grants.bind(store, &issued, Permissions::WRITE, &g, false, &mut warnings).await.unwrap();
    assert_eq!(bound, None, "no free slot: the caller signs an ad-hoc token");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains(&container) && warnings[0].contains("not revocable"), "{warnings:?}");
    assert_eq!(policy_ids(&b, &container).await.len(), 5, "theirs untouched");
}

#[tokio::test]
async fn a_revocation_after_someone_else_changed_the_list_reads_it_again_and_keeps_their_policy() {
    let (a, b) = catalogs();
    let grants = grants(&a, &b, Duration::hours(1));
    let container = AssetId::new().container_name();
    b.store().create_container(&container).await.unwrap();
    let now = Utc::now();
    let record = LocatorId::new();
    let issued = Issued { side: GrantSide::Target, container: container.clone(), record };
    let g = Generation { record, start: now, expiry: now + Duration::hours(1) };
    let store = b.store().as_ref();
    // A container this run made: bound without reading its (empty) list.
    grants.bind(store, &issued, Permissions::WRITE, &g, true, &mut Vec::new()).await.unwrap();
    let mut now_listed = b.store().get_container_policies(&container).await.unwrap().policies;
    now_listed.push(policy("theirs", now + Duration::hours(1)));
    b.store().set_container_policies(&container, &now_listed, None).await.unwrap();

    grants.unbind(&issued).await.unwrap();
    assert_eq!(policy_ids(&b, &container).await, ["theirs"], "the list written meanwhile is kept");
}

#[tokio::test]
async fn a_sweep_revokes_what_a_killed_run_left_for_the_selected_assets_and_nothing_else() {
    let (a, b) = catalogs();
    let (left, other) = (Asset::new("left", AssetOptions::None), Asset::new("other", AssetOptions::None));
    {
        // A run killed mid-copy: records written, a policy on the container, nothing closed.
        let killed = grants(&a, &b, Duration::hours(1));
        for asset in [&left, &other] {
            let batch = Arc::new(GrantBatch::new(&[asset.id]));
            killed.current(asset, &GrantCell::new(batch, true)).await.unwrap();
        }
    }
    let written = records(&b).await;
    assert_eq!(written.len(), 4, "{written:?}");
    b.store().create_container(&left.container).await.unwrap();
    let on_left: Vec<StoredPolicy> = written
        .iter()
        .filter(|(_, side, cs)| side == "target" && cs.contains(&left.container))
        .map(|(id, _, _)| policy(&policy_id_for(id), Utc::now() + Duration::hours(1)))
        .collect();
    assert_eq!(on_left.len(), 1);
    let foreign = policy("theirs", Utc::now() + Duration::hours(1));
    let listed: Vec<StoredPolicy> = on_left.into_iter().chain([foreign]).collect();
    b.store().set_container_policies(&left.container, &listed, None).await.unwrap();

    let next = grants(&a, &b, Duration::hours(1));
    let locators = b.list_locators(None).await.unwrap();
    let locators: Vec<&Locator> = locators.iter().collect();
    next.sweep(&[left.id].into_iter().collect(), &locators).await.unwrap();
    let kept = records(&b).await;
    assert_eq!(kept.len(), 2, "the other asset's records stay: {kept:?}");
    assert!(kept.iter().all(|(_, _, cs)| *cs == [other.container.clone()]), "{kept:?}");
    assert_eq!(policy_ids(&b, &left.container).await, ["theirs"], "the left grant's policy is revoked");
}

#[test]
fn a_grant_record_names_only_asset_containers_of_one_side() {
    let (a, b) = (AssetId::new(), AssetId::new());
    let record = |path: String| Locator {
        id: LocatorId::new(),
        locator_type: LocatorType::Sas,
        asset_id: a,
        policy_id: crate::id::PolicyId::for_terms(15, "rl"),
        start_time: None,
        expiration: Utc::now(),
        path,
        delivery: Default::default(),
    };
    let (ca, cb) = (a.container_name(), b.container_name());
    let batch = record(format!("{COPY_SAS_TAG}source:{ca},{cb} on azure account 'a'"));
    assert_eq!(grant_record_target(&batch), Some(("source", vec![ca.as_str(), cb.as_str()])));
    let one = record(format!("{COPY_SAS_TAG}target:{ca} on azure account 'b'"));
    assert_eq!(grant_record_target(&one), Some(("target", vec![ca.as_str()])));
    let hostile = record(format!("{COPY_SAS_TAG}target:mirrorcast-catalog,../x,{ca},ASSET-nope, on azure account 'b'"));
    assert_eq!(grant_record_target(&hostile), Some(("target", vec![ca.as_str()])));
    assert_eq!(grant_record_target(&record(format!("{COPY_SAS_TAG}elsewhere:{ca}"))), None);
    assert_eq!(grant_record_target(&record("https://o/x/".into())), None);
}
