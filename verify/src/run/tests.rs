//! The run's report kept in its spool: the same report as one held in memory, whatever
//! the format, and a spool that cannot be made stops the run before it reads anything.

use std::path::PathBuf;
use std::sync::Arc;

use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::LocatorId;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::replicate::{ReplicateOptions, Replicator, Selection, Side as DataCenter};
use mirrorcast_core::spool::Spool;
use mirrorcast_core::store::{BlobStore, Condition, InMemoryStore, Limits, PutOptions, Throttled};
use mirrorcast_core::ErrorKind;

use super::{verify, verify_spooled, VerifyOptions};
use crate::report::{Marker, Report};

const ORIGIN_A: &str = "http://a.example";
const ORIGIN_B: &str = "http://b.example";

/// A library of `assets` assets (named out of order) replicated to B, then damaged in B: the
/// first asset's rendition deleted, the second's manifest replaced.
async fn replicated_then_damaged(assets: usize) -> (Arc<dyn BlobStore>, Arc<dyn BlobStore>) {
    let (a, b): (Arc<dyn BlobStore>, Arc<dyn BlobStore>) =
        (Arc::new(InMemoryStore::new()), Arc::new(InMemoryStore::new()));
    let (a_catalog, b_catalog) = (Catalog::new(a.clone()), Catalog::new(b.clone()));
    let now = chrono::Utc::now();
    let mut containers = Vec::new();
    for i in 0..assets {
        let asset = Asset::new(format!("movie {}", (i * 7) % assets), AssetOptions::None);
        a_catalog.create_asset(&asset).await.unwrap();
        let ism = mirrorcast_core::sample::server_manifest("Movie", &[("Movie_1.mp4".into(), 1000)]);
        a.put_blob(&asset.container, "Movie.ism", ism.into(), &PutOptions::default()).await.unwrap();
        a.put_blob(&asset.container, "Movie_1.mp4", vec![7u8; 1000].into(), &PutOptions::default()).await.unwrap();
        a_catalog.regenerate_files(&asset.id).await.unwrap();
        let hour = chrono::Duration::hours(1);
        a_catalog.create_origin_locator(&asset.id, LocatorId::new(), now - hour, now + hour, ORIGIN_A).await.unwrap();
        containers.push(asset.container);
    }
    let replicator = Replicator::new(
        DataCenter { name: "a", catalog: &a_catalog, origin: ORIGIN_A },
        DataCenter { name: "b", catalog: &b_catalog, origin: ORIGIN_B },
        ReplicateOptions::default(),
    );
    replicator.run(&Selection::All).await.unwrap();
    b.delete_blob(&containers[0], "Movie_1.mp4", &Condition::None).await.unwrap();
    b.put_blob(&containers[1], "Movie.ism", "<smil & not a manifest".into(), &PutOptions::default()).await.unwrap();
    (a, b)
}

async fn run(a: &Arc<dyn BlobStore>, b: &Arc<dyn BlobStore>, same_entries: bool) -> Report {
    let options = VerifyOptions { same_entries, ..Default::default() };
    verify(("a", a.clone(), ORIGIN_A), ("b", b.clone(), ORIGIN_B), None, &options).await.unwrap()
}

#[tokio::test]
async fn a_spooled_report_prints_as_the_same_report_held_in_memory() {
    let (a, b) = replicated_then_damaged(12).await;
    let spooled = run(&a, &b, true).await;
    assert_eq!(spooled.exit_code(), 1, "the damage is found");
    let verdicts = spooled.assets.to_vec().unwrap();
    let names: Vec<&str> = verdicts.iter().map(|v| v.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "read back in name order, whatever finished first");
    assert!(verdicts.iter().all(|v| v.entries.iter().any(|e| e.marker == Marker::Same)), "= entries kept");

    let mut held = Report::new("a", "b", false, verdicts);
    held.requests = spooled.requests;
    let json = |r: &Report| serde_json::to_string_pretty(r).unwrap();
    assert_eq!(json(&spooled), json(&held));
    assert_eq!(spooled.to_text().unwrap(), held.to_text().unwrap());
    assert_eq!(spooled.to_junit().unwrap(), held.to_junit().unwrap());
    assert_eq!(spooled.difference_lines().unwrap(), held.difference_lines().unwrap());
    // Round trip: what --json prints reads back as the report it printed.
    let read: Report = serde_json::from_str(&json(&spooled)).unwrap();
    assert_eq!(json(&read), json(&spooled));
    assert_eq!(read.to_text().unwrap(), spooled.to_text().unwrap());

    // Without its `=` entries (text, JUnit): the same counts and the same text and JUnit.
    let lean = run(&a, &b, false).await;
    assert_eq!(lean.counts, spooled.counts);
    assert_eq!(lean.to_text().unwrap(), held.to_text().unwrap());
    assert_eq!(lean.to_junit().unwrap(), held.to_junit().unwrap());
    let lean_verdicts = lean.assets.to_vec().unwrap();
    assert!(lean_verdicts.iter().flat_map(|v| &v.entries).all(|e| e.marker != Marker::Same));
    assert!(lean_verdicts.iter().any(|v| !v.entries.is_empty()), "the differences are kept");
}

#[tokio::test]
async fn a_temporary_directory_it_cannot_write_stops_verify_before_it_reads_anything() {
    let (a, b) = replicated_then_damaged(2).await;
    // Every request each side is sent takes a token from its own bucket: none may be taken.
    let limits = || Arc::new(Limits::new(Some(1e9), None));
    let (a_limits, b_limits) = (limits(), limits());
    let a: Arc<dyn BlobStore> = Arc::new(Throttled::new(a, a_limits.clone()));
    let b: Arc<dyn BlobStore> = Arc::new(Throttled::new(b, b_limits.clone()));
    let nowhere = PathBuf::from("/nonexistent/mirrorcast-verify-tmp");
    let e = verify_spooled(
        Spool::new_in(nowhere),
        ("a", a.clone(), ORIGIN_A),
        ("b", b.clone(), ORIGIN_B),
        None,
        &VerifyOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let m = e.to_string();
    assert!(m.contains("/nonexistent/mirrorcast-verify-tmp") && m.contains("TMPDIR"), "{m}");
    let granted = |l: &Arc<Limits>| l.requests().unwrap().granted();
    assert_eq!((granted(&a_limits), granted(&b_limits)), (0, 0), "nothing read in A or B");
    // The same stores with a spool: the run reads them (the count above would have seen it).
    verify(("a", a, ORIGIN_A), ("b", b, ORIGIN_B), None, &VerifyOptions::default()).await.unwrap();
    assert!(granted(&a_limits) > 0 && granted(&b_limits) > 0);
}
