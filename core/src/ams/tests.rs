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

fn v3_with_filters() -> Vec<(String, Value)> {
    vec![
        doc("assets.json", include_str!("../../../tests/data/ams/v3/assets.json")),
        doc("asset-filters.json", include_str!("../../../tests/data/ams/v3/asset-filters.json")),
        doc("account-filters.json", include_str!("../../../tests/data/ams/v3/account-filters.json")),
        doc("streaming-locators.json", include_str!("../../../tests/data/ams/v3/streaming-locators.json")),
    ]
}

#[test]
fn v3_filters_attach_to_the_asset_their_arm_id_names_or_to_the_account() {
    let export = read_export(&v3_with_filters()).unwrap();
    assert!(export.rejected.is_empty(), "{:?}", export.rejected);
    let tears = export.assets.iter().find(|a| a.asset.name == "tears-of-steel-encoded").unwrap().asset.id;
    let elephants = export.assets.iter().find(|a| a.asset.name == "elephants-dream-encoded").unwrap().asset.id;
    let owners: Vec<(Option<AssetId>, &str)> =
        export.filters.iter().map(|f| (f.asset, f.filter.name.as_str())).collect();
    assert_eq!(
        owners,
        [(None, "first300"), (None, "mobile"), (Some(tears), "mid"), (Some(tears), "low"), (Some(elephants), "mobile")]
    );
    let mid = &export.filters[2].filter;
    let range = mid.presentation_time_range.as_ref().unwrap();
    assert_eq!((range.start_timestamp, range.end_timestamp), (Some(20_000_000), Some(40_000_000)));
    let bound = export.locators.iter().find(|l| l.id.guid().starts_with("5e6f7a8b")).unwrap();
    assert_eq!((bound.asset_id, bound.delivery.filters.as_slice()), (tears, ["low".to_owned()].as_slice()));
}

#[test]
fn v2_filters_and_asset_filters_are_read_into_the_v3_shape() {
    let mut docs = v2();
    docs.push(doc("Filters.json", include_str!("../../../tests/data/ams/v2/Filters.json")));
    docs.push(doc("AssetFilters.json", include_str!("../../../tests/data/ams/v2/AssetFilters.json")));
    let export = read_export(&docs).unwrap();
    assert!(export.rejected.is_empty(), "{:?}", export.rejected);
    assert_eq!(export.filters.len(), 2);
    let trailer = export.filters.iter().find(|f| f.filter.name == "Trailer").unwrap();
    assert_eq!(
        trailer.asset.map(|a| a.to_string()).as_deref(),
        Some("nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e")
    );
    let range = trailer.filter.presentation_time_range.as_ref().unwrap();
    assert_eq!((range.end_timestamp, range.timescale), (Some(300_000_000), Some(10_000_000)), "Int64 as text");
    assert_eq!(trailer.filter.first_quality.unwrap().bitrate, 500_000);
    assert_eq!(trailer.filter.tracks.len(), 2, "OData's results lists unwrapped");
    assert_eq!(trailer.filter.tracks[0].track_selections[1].value, "en");
    let mobile = export.filters.iter().find(|f| f.filter.name == "Broadband").unwrap();
    assert_eq!(mobile.asset, None, "a v2 Filter is the account's");
    assert_eq!(mobile.filter.tracks[0].track_selections[1].value, "550000-1350000");
}

#[test]
fn each_bad_filter_of_an_export_is_rejected_alone_naming_what_is_wrong() {
    let export = read_export(&[doc("f.json", include_str!("../../../tests/data/ams/hostile/filters.json"))]).unwrap();
    let kept: Vec<&str> = export.filters.iter().map(|f| f.filter.name.as_str()).collect();
    assert_eq!(kept, ["kept-before", "kept-after"]);
    let reason = |i: usize| {
        let r = export.rejected.iter().find(|r| r.source == format!("f.json#{i}")).unwrap();
        assert_eq!(r.kind, RecordKind::Filter);
        r.reason.clone()
    };
    for (i, needle) in [
        (1, "endTimestamp 20000000 is not after startTimestamp"),
        (2, "endTimestamp is past 2^63-1"),
        (3, "timescale is 0"),
        (4, "11 conditions"),
        (5, "1001 conditions"),
        (6, "property 'Colour'"),
        (7, "operation 'GreaterThan'"),
        (8, "unknown property 'startTimeStamp'"),
        (9, "filter name 'a;b'"),
        (10, "filter name"),
        (12, "filter name 'v2 bad'"),
        (13, "operation 'GreaterThan'"),
    ] {
        assert!(reason(i).contains(needle), "record {i}: '{}' lacks '{needle}'", reason(i));
    }
    assert_eq!(export.rejected.len(), 12);
}

#[test]
fn a_filter_s_owner_is_never_guessed() {
    let arm = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Media/mediaservices/ams";
    let export = read_export(&[doc(
        "f.json",
        &json!([
            { "name": "f", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/assets/movie/assetFilters/other"), "name": "f", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/assets/movie/assetFilters/f"), "name": "f", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/streamingLocators/f"), "name": "f", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/accountFilters/g"), "name": "g", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/accountFilters/g"), "name": "G", "firstQuality": { "bitrate": 2 } },
            { "id": format!("{arm}/accountFilters/h"), "name": "h", "firstQuality": { "bitrate": 1 } },
            { "id": format!("{arm}/accountFilters/h"), "name": "h", "firstQuality": { "bitrate": 1 } }
        ])
        .to_string(),
    )])
    .unwrap();
    let reasons: Vec<&str> = export.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[0].contains("needs its ARM id"), "{}", reasons[0]);
    assert!(reasons[1].contains("names filter 'other'"), "{}", reasons[1]);
    assert!(reasons[2].contains("'movie' is not in this export"), "{}", reasons[2]);
    assert!(reasons[3].contains("is not the ARM id of an asset filter"), "{}", reasons[3]);
    assert!(reasons[4].contains("duplicate") && reasons[5].contains("duplicate"), "{reasons:?}");
    let kept: Vec<&str> = export.filters.iter().map(|f| f.filter.name.as_str()).collect();
    assert_eq!(kept, ["h"], "exact duplicates collapse into one");
}
