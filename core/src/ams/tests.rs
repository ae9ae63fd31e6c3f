use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::model::{AssetOptions, AssetRecord};

fn doc(name: &str, text: &str) -> (String, Value) {
    (name.to_owned(), serde_json::from_str(text).unwrap())
}

fn v2() -> Vec<(String, Value)> {
    vec![
        doc("Assets.json", include_str!("../../../tests/data/ams/v2/Assets.json")),
        doc("AccessPolicies.json", include_str!("../../../tests/data/ams/v2/AccessPolicies.json")),
        doc("Locators.json", include_str!("../../../tests/data/ams/v2/Locators.json")),
    ]
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

#[test]
fn a_v2_export_keeps_asset_and_locator_ids_and_skips_sas_locators() {
    let export = read_export(&v2()).unwrap();
    assert!(export.rejected.is_empty(), "{:?}", export.rejected);
    let ids: Vec<String> = export.assets.iter().map(|a| a.asset.id.to_string()).collect();
    assert_eq!(
        ids,
        ["nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e", "nb:cid:UUID:5d2c8a41-93b7-4f6e-a0c2-7e1b9f3d4a86"]
    );
    let sintel = &export.assets[1].asset;
    assert_eq!(sintel.options, AssetOptions::EnvelopeEncryptionProtected);
    assert_eq!(sintel.alternate_id.as_deref(), Some("catalogue-4411"));
    assert_eq!(sintel.created, Utc.timestamp_millis_opt(1_458_002_467_303).unwrap(), "/Date(ms)/ is read");
    assert_eq!(export.assets[0].asset.created, at("2016-03-14T09:21:07.303Z"), "a zone-less time is UTC");

    assert_eq!(export.locators.len(), 2);
    let bunny = export.locators.iter().find(|l| l.id.guid() == "7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d").unwrap();
    assert_eq!(bunny.locator_type, LocatorType::OnDemandOrigin);
    assert_eq!(bunny.start_time, Some(at("2016-03-14T09:25:00Z")));
    assert_eq!(bunny.expiration, at("2116-03-14T09:25:00Z"));
    assert_eq!((bunny.duration_minutes, bunny.permissions), (52_560_000, Permissions::READ));
    let sintel_locator = export.locators.iter().find(|l| l.id.guid().starts_with("9d3b2e40")).unwrap();
    assert_eq!(sintel_locator.start_time, None);
    assert_eq!(sintel_locator.permissions, Permissions::READ | Permissions::LIST, "bits 9 = Read + List");

    assert_eq!(export.skipped.len(), 1, "the SAS locator is not carried over");
    let printed = serde_json::to_string(&export).unwrap();
    assert!(!printed.contains("sig="), "a SAS signature of the export never reaches a report: {printed}");
}

#[test]
fn a_v3_export_maps_asset_names_to_ids_and_keeps_locator_ids() {
    let export = read_export(&[
        doc("assets.json", include_str!("../../../tests/data/ams/v3/assets.json")),
        doc("streaming-locators.json", include_str!("../../../tests/data/ams/v3/streaming-locators.json")),
    ])
    .unwrap();
    assert!(export.rejected.is_empty(), "{:?}", export.rejected);
    assert_eq!(export.assets.len(), 2);
    let tears = export.assets.iter().find(|a| a.asset.name == "tears-of-steel-encoded").unwrap();
    assert_eq!(tears.asset.container, "asset-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
    let l = export.locators.iter().find(|l| l.asset_id == tears.asset.id).unwrap();
    assert_eq!(l.id.guid(), "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f");
    assert_eq!(l.start_time, Some(at("2021-06-02T08:20:11.316Z")), "no startTime: from its creation");
    assert_eq!(l.expiration.format("%Y").to_string(), "9999");
    assert_eq!(l.policy_name, "Predefined_ClearStreamingOnly");
    assert!(l.permissions.is_read_only());
}

#[test]
fn hostile_records_are_rejected_one_by_one_and_the_good_ones_kept() {
    let export = read_export(&[doc("x.json", include_str!("../../../tests/data/ams/hostile/export.json"))]).unwrap();
    let mut rejected: Vec<usize> =
        export.rejected.iter().map(|r| r.source.trim_start_matches("x.json#").parse::<usize>().unwrap()).collect();
    rejected.sort();
    assert_eq!(rejected, [0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24]);
    let reason = |i: usize| {
        export.rejected.iter().find(|r| r.source == format!("x.json#{i}")).map(|r| r.reason.clone()).unwrap()
    };
    for (i, needle) in [
        (0, "not a valid asset id"),
        (1, "container 'mirrorcast-catalog' is not asset-6e7f8a9b"),
        (2, "unknown asset Options 3"),
        (3, "duplicate id"),
        (7, "negative"),
        (8, "whole number"),
        (9, "out of range"),
        (10, "out of range"),
        (11, "unknown Permissions 16"),
        (14, "read-only access policy"),
        (15, "unknown locator Type 3"),
        (16, "not in this export"),
        (17, "invalid in this export"),
        (18, "not after start"),
        (19, "not a time"),
        (21, "not an asset"),
        (22, "is not asset-6c2de3f4"),
        (23, "invalid in this export"),
        (24, "'nobody' is not in this export"),
    ] {
        assert!(reason(i).contains(needle), "record {i}: '{}' lacks '{needle}'", reason(i));
    }
    assert_eq!(export.assets.len(), 1, "exact duplicates collapse into one");
    assert_eq!(export.assets[0].asset.name, "same twice");
    let locators: Vec<String> = export.locators.iter().map(|l| l.id.guid()).collect();
    assert_eq!(locators, ["5b1cd2e3-f4a5-4b67-9273-fab0c1d2e3f4"]);
}

#[test]
fn v3_names_resolve_within_the_locators_account_and_ambiguity_is_refused() {
    let arm = |account: &str, kind: &str, name: &str| {
        format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Media/mediaservices/{account}/{kind}/{name}")
    };
    let asset = |guid: &str, account: Option<&str>| {
        let mut a = json!({ "assetId": guid, "name": "movie" });
        if let Some(account) = account {
            a["id"] = json!(arm(account, "assets", "movie"));
        }
        a
    };
    let locator = |guid: &str, account: Option<&str>| {
        let mut l = json!({ "streamingLocatorId": guid, "assetName": "movie", "name": "l",
                            "created": "2021-01-01T00:00:00Z", "endTime": "2031-01-01T00:00:00Z" });
        if let Some(account) = account {
            l["id"] = json!(arm(account, "streamingLocators", "l"));
        }
        l
    };
    let (one, two) = ("8a9b0c1d-1111-4a7b-8c9d-0e1f2a3b4c5d", "8a9b0c1d-2222-4a7b-8c9d-0e1f2a3b4c5d");
    let read = |records: Value| read_export(&[("x".to_owned(), records)]).unwrap();

    // Each account's locator gets its own account's asset, whatever the order.
    let export = read(json!([
        asset(one, Some("ams1")),
        asset(two, Some("AMS2")),
        locator("9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2")),
        locator("9b0c1d2e-2222-4c9d-8e0f-2a3b4c5d6e7f", Some("ams1")),
    ]));
    assert!(export.rejected.is_empty(), "{:?}", export.rejected);
    let on = |guid: &str| export.locators.iter().find(|l| l.id.guid() == guid).unwrap().asset_id.guid();
    assert_eq!(
        (on("9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f"), on("9b0c1d2e-2222-4c9d-8e0f-2a3b4c5d6e7f")),
        (two.into(), one.into())
    );

    // No ARM id on the locator: two candidates are refused, one is taken.
    let export = read(json!([
        asset(one, Some("ams1")),
        asset(two, Some("ams2")),
        locator("9b0c1d2e-3333-4c9d-8e0f-2a3b4c5d6e7f", None)
    ]));
    assert!(export.locators.is_empty() && export.rejected[0].reason.contains("ambiguous"), "{:?}", export.rejected);
    let export = read(json!([asset(one, Some("ams1")), locator("9b0c1d2e-3333-4c9d-8e0f-2a3b4c5d6e7f", None)]));
    assert_eq!(export.locators.len(), 1, "{:?}", export.rejected);

    // An asset without an ARM id may be in any account: beside one of the locator's own, ambiguous.
    let export = read(json!([
        asset(one, None),
        asset(two, Some("ams2")),
        locator("9b0c1d2e-4444-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2"))
    ]));
    assert!(export.rejected.iter().any(|r| r.reason.contains("ambiguous")), "{:?}", export.rejected);

    // The name only in another account: refused, saying where it is.
    let export = read(json!([asset(one, Some("ams1")), locator("9b0c1d2e-5555-4c9d-8e0f-2a3b4c5d6e7f", Some("ams2"))]));
    assert!(export.rejected[0].reason.contains("not in its account 'ams2'"), "{:?}", export.rejected);
}

#[test]
fn times_that_overflow_or_leave_the_catalogs_range_are_refused_not_panicked_on() {
    let export = read_export(&[doc("o.json", include_str!("../../../tests/data/ams/hostile/overflow.json"))]).unwrap();
    assert_eq!(export.rejected.len(), 1, "{:?}", export.rejected);
    assert!(export.rejected[0].reason.contains("past any date"), "{:?}", export.rejected);
    assert_eq!(export.locators.len(), 1);
    let export =
        read_export(&[doc("b.json", include_str!("../../../tests/data/ams/hostile/bad-last-record.json"))]).unwrap();
    assert_eq!(export.assets.len(), 2);
    assert!(export.rejected[0].reason.contains("1990"), "{:?}", export.rejected);
}

#[test]
fn records_written_in_the_v2_shape_read_back_the_same() {
    let export = read_export(&v2()).unwrap();
    let record = AssetRecord { asset: export.assets[1].asset.clone(), files: Vec::new() };
    let l = &export.locators[0];
    let policy = AccessPolicy::for_terms(&l.policy_name, l.duration_minutes, l.permissions);
    let locator = Locator {
        id: l.id,
        locator_type: l.locator_type,
        asset_id: l.asset_id,
        policy_id: policy.id,
        start_time: l.start_time,
        expiration: l.expiration,
        path: format!("/{}/", l.id.guid()),
        delivery: Default::default(),
    };
    let written = [
        ("a".to_owned(), v2_feed("Assets", vec![v2_asset_json(&record)])),
        ("l".to_owned(), v2_feed("Locators", vec![v2_locator_json(&locator, Some(&policy))])),
    ];
    let again = read_export(&written).unwrap();
    assert!(again.rejected.is_empty(), "{:?}", again.rejected);
    assert_eq!(again.assets[0].asset, record.asset);
    assert!(again.locators[0].matches(&locator));
    assert_eq!(again.locators[0].permissions, l.permissions);
}
