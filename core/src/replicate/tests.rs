//! Whole runs on the in-memory store: batches, renewal over a run, selection.

use std::sync::Arc;

use chrono::Duration;

use super::grants::GRANT_BATCH;
use super::*;
use crate::model::{Asset, LocatorType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_over_one_batch_leave_no_grant_and_one_journal_entry_per_batch() {
    use crate::catalog::{Catalog, JOURNAL_CONTAINER};
    use crate::model::AssetOptions;
    use crate::store::{BlobStoreExt, InMemoryStore, PutOptions};
    let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
    let assets = GRANT_BATCH + 3;
    for i in 0..assets {
        let asset = Asset::new(format!("Clip {i}"), AssetOptions::None);
        a.create_asset(&asset).await.unwrap();
        let data = bytes::Bytes::from(vec![i as u8; 100]);
        a.store().put_blob(&asset.container, "v.mp4", data, &PutOptions::default()).await.unwrap();
    }
    let options = super::ReplicateOptions { concurrency: 4, ..Default::default() };
    let run_id = options.run_id.clone();
    let replicator = Replicator::new(
        super::Side { name: "a", catalog: &a, origin: "https://a" },
        super::Side { name: "b", catalog: &b, origin: "https://b" },
        options,
    );
    let report = replicator.run(&super::Selection::All).await.unwrap();
    assert_eq!(report.totals.counts.copied, assets as u64, "{report:?}");
    let left: Vec<Locator> = b.list_locators(None).await.unwrap();
    assert!(left.iter().all(|l| l.locator_type != LocatorType::Sas), "grant records left: {left:?}");
    for (side, store) in [("A", a.store()), ("B", b.store())] {
        for c in store.list_containers("asset-").await.unwrap() {
            let policies = store.get_container_policies(&c).await.unwrap().policies;
            assert!(policies.iter().all(|p| !p.id.starts_with("mc-")), "{side}: {c} keeps {policies:?}");
        }
    }
    let journal: Vec<String> = b
        .store()
        .list_all(JOURNAL_CONTAINER, &format!("{run_id}/"))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    let batches = journal.iter().filter(|n| n.contains("/assets-")).count();
    assert_eq!(batches, 2, "one entry per batch of {GRANT_BATCH}: {journal:?}");
    assert!(journal.iter().any(|n| n.ends_with("/summary.json")), "{journal:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_named_twice_is_replicated_once() {
    use crate::catalog::Catalog;
    use crate::model::AssetOptions;
    use crate::store::{InMemoryStore, PutOptions};
    let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
    let asset = Asset::new("Twice", AssetOptions::None);
    a.create_asset(&asset).await.unwrap();
    let data = bytes::Bytes::from_static(b"abc");
    a.store().put_blob(&asset.container, "v.mp4", data, &PutOptions::default()).await.unwrap();
    let replicator = Replicator::new(
        super::Side { name: "a", catalog: &a, origin: "https://a" },
        super::Side { name: "b", catalog: &b, origin: "https://b" },
        Default::default(),
    );
    let report = replicator.run(&super::Selection::Assets(vec![asset.id, asset.id])).await.unwrap();
    assert_eq!(report.assets.len(), 1, "{report:?}");
    assert_eq!(report.totals.counts.copied, 1, "{report:?}");
}

/// Slows every finished copy, so a run outlives its short grants.
struct Slow;
impl super::Progress for Slow {
    fn blob_done(&self, _: &crate::id::AssetId, _: &super::BlobOutcome) {
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_its_grants_renews_them_and_revokes_every_one() {
    use crate::catalog::Catalog;
    use crate::model::AssetOptions;
    use crate::store::{InMemoryStore, PutOptions};
    let (a, b) = (Catalog::new(Arc::new(InMemoryStore::new())), Catalog::new(Arc::new(InMemoryStore::new())));
    let asset = Asset::new("Long", AssetOptions::None);
    a.create_asset(&asset).await.unwrap();
    for i in 0..6 {
        let data = bytes::Bytes::from(vec![i as u8; 1000]);
        a.store().put_blob(&asset.container, &format!("v{i}.mp4"), data, &PutOptions::default()).await.unwrap();
    }
    let options = super::ReplicateOptions {
        concurrency: 1,
        sas_lifetime: Duration::milliseconds(300),
        progress: Arc::new(Slow),
        ..Default::default()
    };
    let replicator = Replicator::new(
        super::Side { name: "a", catalog: &a, origin: "https://a" },
        super::Side { name: "b", catalog: &b, origin: "https://b" },
        options,
    );
    let report = replicator.run(&super::Selection::All).await.unwrap();
    assert_eq!(report.totals.counts.copied, 6, "{report:?}");
    let issued = report.assets.to_vec().unwrap()[0].grants_issued;
    assert!(issued >= 2, "a 900 ms copy outlives 300 ms grants: {issued}");
    let left: Vec<Locator> = b.list_locators(None).await.unwrap();
    assert!(left.iter().all(|l| l.locator_type != LocatorType::Sas), "grant records left: {left:?}");
    assert!(a.list_locators(None).await.unwrap().is_empty(), "nothing is recorded in the source");
}
