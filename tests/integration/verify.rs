//! Data-driven verify tests: one replicated asset per case, one kind of damage
//! planted in B; the report must name exactly that damage. Expected reports
//! live in tests/data/verify/<case>.expected (MIRRORCAST_BLESS=1 rewrites them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, Utc};
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::replicate::{ReplicateOptions, Replicator, Selection, Side};
use mirrorcast_core::store::{BlobStore, BlobStoreExt, Condition, PutOptions};

use crate::helpers::run_in;
use crate::replicate::{ORIGIN_A, ORIGIN_B};

/// The damages, each planted in B in the asset of its own case.
const CASES: [&str; 16] = [
    "untouched",
    "missing_rendition",
    "truncated_mp4",
    "zero_byte_blob",
    "wrong_content_type",
    "stale_md5",
    "missing_ismc",
    "manifest_references_missing_file",
    "missing_hls_segment",
    "missing_dash_segment",
    "extra_file",
    "locator_with_another_id",
    "missing_file_info",
    "unparseable_manifest",
    "missing_text_sidecar",
    "changed_language_rendition",
];

/// The cases whose asset also holds a Spanish audio rendition and an English WebVTT sidecar,
/// listed in the `.ism` with their languages: a library's tracks are files like the others.
const WITH_TRACKS: [&str; 2] = ["missing_text_sidecar", "changed_language_rendition"];

/// The sample's `.ism` with the Spanish audio and the English sidecar added, and their files.
fn with_language_and_sidecar(files: &mut Vec<(String, Bytes)>) {
    use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
    let ism = files.iter_mut().find(|(n, _)| n.ends_with(".ism")).unwrap();
    let mut manifest = ServerManifest::parse(std::str::from_utf8(&ism.1).unwrap()).unwrap();
    let track = |kind, src: &str, bitrate, name: &str, language: &str| IsmTrack {
        track_name: Some(name.into()),
        language: Some(language.into()),
        ..IsmTrack::new(kind, src, bitrate)
    };
    manifest.tracks.push(track(TrackKind::Audio, "Big Buck Bunny_AAC_es.mp4", 128_001, "aac_es", "es"));
    manifest.tracks.push(track(TrackKind::Text, "Big Buck Bunny_en.vtt", 1000, "English", "en"));
    ism.1 = Bytes::from(manifest.to_xml());
    files.push(("Big Buck Bunny_AAC_es.mp4".into(), Bytes::from(mirrorcast_core::sample::mp4(4096, 77))));
    files
        .push(("Big Buck Bunny_en.vtt".into(), Bytes::from_static(b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHola\n")));
}

async fn publish(catalog: &Catalog, case: &str) -> (AssetId, LocatorId) {
    let store = catalog.store();
    let asset = Asset::new(case, AssetOptions::None);
    catalog.create_asset(&asset).await.unwrap();
    let mut files = mirrorcast_core::sample::encoded_asset("Big Buck Bunny", 8 * 1024, 11).files;
    files.extend(mirrorcast_core::sample::packaged(11));
    if WITH_TRACKS.contains(&case) {
        with_language_and_sidecar(&mut files);
    }
    for (name, bytes) in files {
        let mut put = PutOptions::default();
        put.properties.content_type = Some(mime_type_for(&name));
        store.put_blob(&asset.container, &name, bytes, &put).await.unwrap();
    }
    catalog.regenerate_files(&asset.id).await.unwrap();
    let start = Utc::now() - Duration::minutes(5);
    let l = catalog
        .create_origin_locator(&asset.id, LocatorId::new(), start, start + Duration::days(30), ORIGIN_A)
        .await
        .unwrap();
    (asset.id, l.id)
}

/// Rewrites a blob of B keeping its properties and metadata except what `change` alters.
async fn rewrite(b: &dyn BlobStore, container: &str, name: &str, change: impl FnOnce(&mut PutOptions, &mut Vec<u8>)) {
    let (meta, bytes) = b.get_bytes(container, name).await.unwrap();
    let mut data = bytes.to_vec();
    let mut put =
        PutOptions { properties: meta.properties.clone(), metadata: meta.metadata.clone(), condition: Condition::None };
    put.properties.content_md5 = None;
    change(&mut put, &mut data);
    b.put_blob(container, name, Bytes::from(data), &put).await.unwrap();
}

async fn damage(case: &str, b_catalog: &Catalog, id: &AssetId) {
    let b = b_catalog.store().as_ref();
    let c = id.container_name();
    let container = c.clone();
    let delete = |name: &'static str| {
        let container = container.clone();
        async move { assert!(b.delete_blob(&container, name, &Condition::None).await.unwrap(), "{name} was not there") }
    };
    match case {
        "untouched" => {}
        "missing_rendition" => delete("Big Buck Bunny_640x360_1000.mp4").await,
        "truncated_mp4" => rewrite(b, &c, "Big Buck Bunny_1280x720_3400.mp4", |_, d| d.truncate(d.len() / 2)).await,
        "zero_byte_blob" => rewrite(b, &c, "Big Buck Bunny_320x180_400.mp4", |_, d| d.clear()).await,
        "wrong_content_type" => {
            rewrite(b, &c, "Big Buck Bunny_960x540_1500.mp4", |p, _| {
                p.properties.content_type = Some("application/octet-stream".into())
            })
            .await
        }
        "stale_md5" => {
            // Committed from blocks with a Content-MD5 that is not the bytes' (the service does not check it).
            let name = "Big Buck Bunny_960x540_2250.mp4";
            let (meta, bytes) = b.get_bytes(&c, name).await.unwrap();
            b.put_block(&c, name, "b0", bytes).await.unwrap();
            let mut put = PutOptions {
                properties: meta.properties.clone(),
                metadata: meta.metadata.clone(),
                condition: Condition::None,
            };
            put.properties.content_md5 = Some("AAAAAAAAAAAAAAAAAAAAAA==".into());
            b.put_block_list(&c, name, &["b0".into()], &put).await.unwrap();
        }
        "missing_ismc" => delete("Big Buck Bunny.ismc").await,
        "manifest_references_missing_file" => {
            rewrite(b, &c, "Big Buck Bunny.ism", |_, d| {
                let text = String::from_utf8(d.clone()).unwrap().replace(
                    "<switch>",
                    "<switch>\n      <video src=\"Big Buck Bunny_2560x1440_9000.mp4\" systemBitrate=\"9000000\" />",
                );
                *d = text.into_bytes();
            })
            .await
        }
        "missing_hls_segment" => delete("hls/seg_800_00003.m4s").await,
        "missing_dash_segment" => delete("dash/v1500/seg_00002.m4s").await,
        "extra_file" => {
            b.put_blob(&c, "notes.txt", Bytes::from_static(b"left here by hand"), &PutOptions::default())
                .await
                .unwrap();
        }
        "locator_with_another_id" => {
            let old = b_catalog.list_locators(Some(id)).await.unwrap().remove(0);
            b_catalog.delete_locator(&old.id).await.unwrap();
            let other = LocatorId::parse("0badc0de-0000-4000-8000-000000000001").unwrap();
            b_catalog
                .create_origin_locator(id, other, old.start_time.unwrap(), old.expiration, ORIGIN_B)
                .await
                .unwrap();
        }
        "missing_file_info" => {
            // Drop one file info by hand-editing the record in B's catalog.
            let path = format!("assets/{}.json", id.guid());
            let (meta, bytes) = b.get_bytes(mirrorcast_core::catalog::CATALOG_CONTAINER, &path).await.unwrap();
            let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            record["files"].as_array_mut().unwrap().retain(|f| f["name"] != "Big Buck Bunny_manifest.xml");
            let put = PutOptions { condition: Condition::IfMatch(meta.etag), ..Default::default() };
            b.put_blob(
                mirrorcast_core::catalog::CATALOG_CONTAINER,
                &path,
                Bytes::from(serde_json::to_vec(&record).unwrap()),
                &put,
            )
            .await
            .unwrap();
        }
        "unparseable_manifest" => rewrite(b, &c, "dash/manifest.mpd", |_, d| d.truncate(200)).await,
        "missing_text_sidecar" => delete("Big Buck Bunny_en.vtt").await,
        "changed_language_rendition" => {
            rewrite(b, &c, "Big Buck Bunny_AAC_es.mp4", |_, d| {
                let at = d.len() - 1;
                d[at] ^= 0xff;
            })
            .await
        }
        other => panic!("unknown case {other}"),
    }
}

fn expected_path(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/verify").join(format!("{case}.expected"))
}

/// The report's difference lines with run-specific ids replaced by placeholders.
fn normalise(lines: &[String], asset: &AssetId, locator: &LocatorId) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l.replace(&asset.to_string(), "<asset>").replace(&locator.to_string(), "<locator>"));
        out.push('\n');
    }
    out
}

async fn snapshot(store: &dyn BlobStore) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in store.list_containers("").await.unwrap() {
        for b in store.list_all(&c, "").await.unwrap() {
            out.insert(format!("{c}/{}", b.name), b.etag);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_planted_damage_is_reported_exactly() {
    let dcs = TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap();
    let (a_store, b_store): (Arc<dyn BlobStore>, Arc<dyn BlobStore>) =
        (Arc::new(dcs.a.store()), Arc::new(dcs.b.store()));
    let (a, b) = (Catalog::new(a_store.clone()), Catalog::new(b_store.clone()));
    let mut ids = BTreeMap::new();
    for case in CASES {
        ids.insert(case, publish(&a, case).await);
    }
    let replicator = Replicator::new(
        Side { name: "a", catalog: &a, origin: ORIGIN_A },
        Side { name: "b", catalog: &b, origin: ORIGIN_B },
        ReplicateOptions::default(),
    );
    let run = replicator.run(&Selection::All).await.unwrap();
    assert!(!run.has_failures(), "replication must succeed before damage is planted");
    for case in CASES {
        damage(case, &b, &ids[case].0).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MIRRORCAST_DC_A", dcs.a.connection_string.as_str()),
        ("MIRRORCAST_DC_B", dcs.b.connection_string.as_str()),
        ("MIRRORCAST_ORIGIN_A", ORIGIN_A),
        ("MIRRORCAST_ORIGIN_B", ORIGIN_B),
    ];
    let (before_a, before_b) = (snapshot(a_store.as_ref()).await, snapshot(b_store.as_ref()).await);
    let bless = std::env::var_os("MIRRORCAST_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in CASES {
        let (id, locator) = ids[case];
        let deep = case == "stale_md5";
        let mut args = vec!["verify", "--from", "a", "--to", "b", "--format", "json"];
        let id_text = id.to_string();
        args.extend(["--asset", id_text.as_str()]);
        if deep {
            args.push("--deep");
        }
        let out = run_in(dir.path(), &env, &args).await;
        let report: mirrorcast_verify::Report = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{case}: not a report ({e}): {} {}", out.stdout, out.stderr));
        let got = normalise(&report.difference_lines().unwrap(), &id, &locator);
        let want_code = if case == "untouched" { 0 } else { 1 };
        assert_eq!(out.code, want_code, "{case}: exit code; report:\n{got}");
        let path = expected_path(case);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}: run with MIRRORCAST_BLESS=1", path.display()));
        if got != want {
            mismatches.push(format!("--- {case}: expected\n{want}+++ got\n{got}"));
        }
    }
    assert!(mismatches.is_empty(), "reports differ from tests/data/verify:\n{}", mismatches.join("\n"));

    // A whole deep audit in every format, and nothing written to either side.
    for format in ["text", "junit"] {
        let out =
            run_in(dir.path(), &env, &["verify", "--from", "a", "--to", "b", "--all", "--deep", "--format", format])
                .await;
        assert_eq!(out.code, 1, "{format}: {}", out.stderr);
        assert!(out.stdout.contains("NOT identical") || out.stdout.contains("<testsuites"), "{format}: {}", out.stdout);
    }
    assert_eq!(snapshot(a_store.as_ref()).await, before_a, "verify must not write to A");
    assert_eq!(snapshot(b_store.as_ref()).await, before_b, "verify must not write to B");
}

/// A truncated MP4 in A that the copy holds byte for byte: the default verify
/// proves B is A's copy from the listings alone (two listings per asset, no
/// reads), and `--audit-source` and `--deep` still read A and name the damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_verify_of_a_faithful_copy_costs_two_listings_and_audit_source_still_reads_a() {
    let f = crate::replicate::Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = Catalog::new(Arc::new(f.dcs.a.store()));
    const ASSETS: u64 = 6;
    let mut ids = Vec::new();
    for i in 0..ASSETS {
        ids.push(crate::requests::publish_small(&a, &format!("asset {i}"), i).await.id);
    }
    // A's own damage: a rendition cut short, with a Content-MD5 of the cut bytes.
    let truncated = "Clip_640x360_1000.mp4";
    let container = ids[0].container_name();
    let (meta, bytes) = a.store().get_bytes(&container, truncated).await.unwrap();
    let cut = bytes.slice(..bytes.len() / 2);
    let mut put =
        PutOptions { properties: meta.properties.clone(), metadata: meta.metadata.clone(), ..Default::default() };
    put.properties.content_md5 = Some({
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&cut))
    });
    a.store().put_blob(&container, truncated, cut, &put).await.unwrap();
    a.regenerate_files(&ids[0]).await.unwrap();
    f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok();

    let before = (snapshot(&f.dcs.a.store()).await, snapshot(&f.dcs.b.store()).await);
    let default = f.run(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json"]).await;
    assert_eq!(default.code, 0, "B is A's copy: {}", default.stdout);
    let report = default.json();
    let sent = report["requests"]["source"].as_u64().unwrap() + report["requests"]["target"].as_u64().unwrap();
    // Per asset its two container listings; per side a few catalog listings and the container listing.
    assert!(sent <= 2 * ASSETS + 8, "{sent} requests for {ASSETS} identical assets: {}", report["requests"]);

    for extra in ["--audit-source", "--deep"] {
        let audit = f.run(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json", extra]).await;
        assert_eq!(audit.code, 1, "{extra}: {}", audit.stdout);
        let report: mirrorcast_verify::Report = serde_json::from_str(&audit.stdout).unwrap();
        let lines = report.difference_lines().unwrap();
        assert!(
            lines.iter().any(|l| l.starts_with("* mp4") && l.contains(truncated) && l.contains("(in A)")),
            "{extra} names A's truncated MP4: {lines:?}"
        );
    }
    let after = (snapshot(&f.dcs.a.store()).await, snapshot(&f.dcs.b.store()).await);
    assert_eq!(before, after, "verify must not write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_directory_it_cannot_write_to_stops_verify_with_a_clear_error() {
    // Each asset's entries go to a temporary file: without one, verify could not print its report.
    let f = crate::replicate::Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    f.publish("Nowhere to report", "none", 2048).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok();
    let missing = f.dir.path().join("no-such-directory");
    let mut env = f.env();
    env.push(("TMPDIR", missing.to_str().unwrap().to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for format in ["json", "text", "junit"] {
        let run =
            run_in(f.dir.path(), &env, &["verify", "--from", "a", "--to", "b", "--all", "--format", format]).await;
        assert_ne!(run.code, 0, "{format}: {run:?}");
        assert!(run.stderr.contains("no-such-directory") && run.stderr.contains("TMPDIR"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "no half report: {}", run.stdout);
    }
}
