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
pub(crate) async fn ams_container(store: &dyn BlobStore, container: &str, base: &str, seed: u64) {
    store.create_container(container).await.unwrap();
    for (name, bytes) in mirrorcast_core::sample::encoded_asset(base, 8 * 1024, seed).files {
        let options = PutOptions {
            properties: BlobProperties { content_type: Some(mime_type_for(&name)), ..Default::default() },
            ..Default::default()
        };
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

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ams");

/// The catalog's records and their ETags: what "nothing was overwritten" means.
async fn record_etags(store: &dyn BlobStore) -> Vec<(String, String)> {
    use mirrorcast_core::store::BlobStoreExt;
    match store.list_all("mirrorcast-catalog", "").await {
        Ok(list) => list.into_iter().map(|b| (b.name, b.etag)).collect(),
        Err(_) => Vec::new(),
    }
}

/// The URL path an export implies for each origin locator: v2 `Path` (host
/// dropped) or v3 `/<streamingLocatorId>/`, then the primary file.
fn implied_paths(locators: &serde_json::Value, primary_of: &dyn Fn(&str) -> String) -> Vec<(String, String)> {
    let list = locators.get("value").unwrap_or(locators).as_array().unwrap().clone();
    list.iter()
        .filter(|l| l.get("Type").is_none_or(|t| t == 2))
        .map(|l| {
            let (id, path, asset) = match l.get("Path") {
                Some(p) => {
                    let p = p.as_str().unwrap();
                    let after_host = &p[p.find("://").unwrap() + 3..];
                    let path = &after_host[after_host.find('/').unwrap()..];
                    (l["Id"].as_str().unwrap().to_owned(), path.to_owned(), l["AssetId"].as_str().unwrap().to_owned())
                }
                None => {
                    let guid = l["streamingLocatorId"].as_str().unwrap();
                    (format!("nb:lid:UUID:{guid}"), format!("/{guid}/"), l["assetName"].as_str().unwrap().to_owned())
                }
            };
            (id, format!("{path}{}/manifest", primary_of(&asset).replace(' ', "%20")))
        })
        .collect()
}

/// `locator urls` of an asset in A: (locator id, Smooth URL without the origin).
async fn urls_of(f: &Failover, asset: &str) -> Vec<(String, String)> {
    let urls = f.run(&["locator", "urls", "--dc", "a", asset, "--json"]).await.ok().json();
    urls.as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let smooth = u["urls"]["smooth"].as_str().unwrap();
            (
                u["locator"].as_str().unwrap().to_owned(),
                smooth.strip_prefix(crate::replicate::ORIGIN_A).unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_and_v3_exports_are_imported_with_the_urls_they_imply() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = f.dcs.a.store();
    let library = [
        (GUID_1, "Big Buck Bunny", "nb:cid:UUID:0e5c7f9a-8b5b-4a0e-9d4b-6c1f2b3a4d5e"),
        (GUID_2, "Sintel", "nb:cid:UUID:5d2c8a41-93b7-4f6e-a0c2-7e1b9f3d4a86"),
        ("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "Tears of Steel", "tears-of-steel-encoded"),
        ("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "Elephants Dream", "elephants-dream-encoded"),
    ];
    for (i, (guid, base, _)) in library.iter().enumerate() {
        ams_container(&a, &format!("asset-{guid}"), base, i as u64 + 1).await;
    }
    let primary_of = |asset: &str| {
        let (_, base, _) = library.iter().find(|(g, _, key)| *key == asset || asset.ends_with(g)).unwrap();
        format!("{base}.ism")
    };
    let (v2, v3) = (format!("{DATA}/v2"), format!("{DATA}/v3"));

    // A dry run shows what would be created and writes nothing.
    let plan = f.run(&["import", "--dc", "a", &v2, "--dry-run", "--json"]).await.ok().json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["totals"]["create"], 6, "2 assets, 2 origin locators and 2 filters: {plan}");
    assert_eq!(plan["totals"]["skipped"], 1, "the SAS locator: {plan}");
    assert!(!plan.to_string().contains("sig="), "the export's SAS signature never reaches a report");
    assert!(record_etags(&a).await.is_empty(), "a dry run writes nothing");

    let done = f.run(&["import", "--dc", "a", &v2, "--json"]).await.ok().json();
    assert_eq!(done["totals"]["created"], 6, "{done}");
    let v3_done = f.run(&["import", "--dc", "a", &v3, "--json"]).await.ok().json();
    assert_eq!(v3_done["totals"]["created"], 10, "2 assets, 3 locators, 5 filters: {v3_done}");

    // The URLs the exports imply, locator by locator.
    let mut want = implied_paths(
        &serde_json::from_str(&std::fs::read_to_string(format!("{v2}/Locators.json")).unwrap()).unwrap(),
        &primary_of,
    );
    want.extend(implied_paths(
        &serde_json::from_str(&std::fs::read_to_string(format!("{v3}/streaming-locators.json")).unwrap()).unwrap(),
        &primary_of,
    ));
    let mut got = Vec::new();
    for (guid, _, _) in &library {
        got.extend(urls_of(&f, &format!("asset-{guid}")).await);
    }
    want.sort();
    got.sort();
    assert_eq!(got, want, "every old URL path works again");

    let shown = f.run(&["asset", "show", "--dc", "a", GUID_2, "--json"]).await.ok().json();
    assert_eq!(shown["name"], "Sintel");
    assert_eq!(shown["options"], "EnvelopeEncryptionProtected", "Options 4");
    assert_eq!(shown["files"].as_array().unwrap().len(), 10, "file infos from the container's blobs");

    // Importing again changes nothing.
    let before = record_etags(&a).await;
    let again = f.run(&["import", "--dc", "a", &v2, "--json"]).await.ok().json();
    assert_eq!(again["totals"]["exists"], 6, "{again}");
    assert_eq!(record_etags(&a).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_import_is_reported_and_overwrites_nothing() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = f.dcs.a.store();
    ams_container(&a, &format!("asset-{GUID_1}"), "Big Buck Bunny", 1).await;
    ams_container(&a, &format!("asset-{GUID_2}"), "Sintel", 2).await;
    f.run(&["import", "--dc", "a", &format!("{DATA}/v2")]).await.ok();
    let before = record_etags(&a).await;

    // The same ids with other terms: a renamed asset, a locator that expires sooner.
    let edited = f.dir.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    for name in ["Assets.json", "AccessPolicies.json", "Locators.json"] {
        let text = std::fs::read_to_string(format!("{DATA}/v2/{name}")).unwrap();
        let text = text
            .replace("\"Name\": \"Sintel\"", "\"Name\": \"Sintel (recut)\"")
            .replace("2116-03-14T09:25:00", "2030-01-01T00:00:00");
        std::fs::write(edited.join(name), text).unwrap();
    }
    let run = f.run(&["import", "--dc", "a", edited.to_str().unwrap(), "--json"]).await;
    assert_eq!(run.code, 1, "conflicts make the import exit 1: {}", run.stderr);
    let out = run.json();
    let conflicts: Vec<String> = out["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "conflict")
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(out["totals"]["conflict"], 3, "the renamed asset, its locator, and the shortened locator: {out}");
    assert!(conflicts.contains(&format!("nb:cid:UUID:{GUID_2}")), "{conflicts:?}");
    assert!(conflicts.contains(&"nb:lid:UUID:7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d".to_owned()), "{conflicts:?}");
    assert_eq!(record_etags(&a).await, before, "a conflict overwrites nothing");
    let shown = f.run(&["asset", "show", "--dc", "a", GUID_2, "--json"]).await.ok().json();
    assert_eq!(shown["name"], "Sintel");

    // Hostile records are reported one by one; bad files are refused whole.
    let hostile = f.run(&["import", "--dc", "a", &format!("{DATA}/hostile/export.json"), "--json"]).await;
    assert_eq!(hostile.code, 1, "{}", hostile.stderr);
    assert_eq!(hostile.json()["totals"]["invalid"], 20, "{}", hostile.stdout);
    let junk = f.dir.path().join("junk.json");
    std::fs::write(&junk, "{ not json").unwrap();
    f.run(&["import", "--dc", "a", junk.to_str().unwrap()]).await.usage_error("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    f.run(&["import", "--dc", "a", junk.to_str().unwrap()]).await.usage_error("holds no Media Services");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ams_output_imported_into_another_account_reproduces_the_ids() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = f.dcs.a.store();
    ams_container(&a, &format!("asset-{GUID_1}"), "Big Buck Bunny", 1).await;
    ams_container(&a, &format!("asset-{GUID_2}"), "Sintel", 2).await;
    f.run(&["import", "--dc", "a", &format!("{DATA}/v2")]).await.ok();
    f.run(&[
        "locator",
        "create",
        "--dc",
        "a",
        GUID_2,
        "--type",
        "2",
        "--id",
        "nb:lid:UUID:aaaaaaaa-1d2a-4c55-9a0e-3f7f6a1b2c3d",
    ])
    .await
    .ok();

    let assets = f.run(&["asset", "list", "--dc", "a", "--output", "ams"]).await.ok();
    let feed: serde_json::Value = assets.json();
    assert!(feed["odata.metadata"].as_str().unwrap().ends_with("#Assets"));
    let sintel = feed["value"].as_array().unwrap().iter().find(|v| v["Name"] == "Sintel").unwrap();
    assert_eq!(sintel["Options"], 4, "numeric enums, as Media Services wrote them");
    let locators = f.run(&["locator", "list", "--dc", "a", "--output", "ams"]).await.ok();
    assert!(locators.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["Type"] == 2 && l["AccessPolicy"]["Permissions"].is_number()));
    let export = f.dir.path().join("from-a");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("Assets.json"), &assets.stdout).unwrap();
    std::fs::write(export.join("Locators.json"), &locators.stdout).unwrap();

    let into_b = f.run(&["import", "--dc", "b", export.to_str().unwrap(), "--json"]).await.ok().json();
    assert_eq!(into_b["totals"]["created"], 5, "{into_b}");
    let ids = |dc: &'static str, what: &'static str| {
        let f = &f;
        async move {
            let listed = f.run(&[what, "list", "--dc", dc, "--json"]).await.ok().json();
            let mut ids: Vec<String> =
                listed.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids("b", "asset").await, ids("a", "asset").await);
    assert_eq!(ids("b", "locator").await, ids("a", "locator").await);
    let files_b = f.run(&["asset", "show", "--dc", "b", GUID_1, "--json"]).await.ok().json();
    let files_a = f.run(&["asset", "show", "--dc", "a", GUID_1, "--json"]).await.ok().json();
    assert_eq!(files_b["files"], files_a["files"], "file infos as the export lists them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_origin_urls_are_relative_with_a_note_or_use_the_serve_address() {
    let sb = crate::helpers::Sandbox::start().await;
    let store = sb.azurite.store("devstoreaccount1");
    ams_container(&store, &format!("asset-{GUID_1}"), "Big Buck Bunny", 1).await;
    sb.run(&["asset", "adopt", "--dc", "a", GUID_1]).await.usage_error("not an asset container");
    sb.run(&["asset", "adopt", "--dc", "a", &format!("asset-{GUID_1}")]).await.ok();
    // A command that fails prints its one error line, not the note as well: an
    // asset with an origin locator but no .ism has no URLs to show.
    let plain = format!("asset-{GUID_2}");
    store.create_container(&plain).await.unwrap();
    for name in ["a.mp4", "b.mp4"] {
        store.put_blob(&plain, name, Bytes::from_static(b"mp4"), &PutOptions::default()).await.unwrap();
    }
    sb.run(&["asset", "adopt", "--dc", "a", &plain]).await.ok();
    sb.run(&["locator", "create", "--dc", "a", GUID_2]).await.ok();
    // Without a .ism there is no stream: the files' download URLs and why, never manifest URLs.
    let files = sb.run(&["locator", "urls", "--dc", "a", GUID_2]).await.ok();
    assert!(files.stdout.contains("no streaming:"), "{}", files.stdout);
    for name in ["a.mp4", "b.mp4"] {
        assert!(
            files.stdout.lines().any(|l| l.trim_start().starts_with("file") && l.ends_with(name)),
            "{}",
            files.stdout
        );
    }
    assert!(!files.stdout.contains("/manifest"), "no manifest URL: {}", files.stdout);
    // A command that fails (an asset with a locator and no file at all) prints its one error line only.
    let empty = sb.run(&["asset", "create", "--dc", "a", "--name", "Empty", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.run(&["locator", "create", "--dc", "a", &empty]).await.ok();
    let none = sb.run(&["locator", "urls", "--dc", "a", &empty]).await;
    assert_eq!((none.code, none.stderr.lines().count()), (1, 1), "{}", none.stderr);
    assert!(none.stderr.contains("has no files"), "{}", none.stderr);
    let lid = format!("nb:lid:UUID:{LOCATOR_1}");
    let made =
        sb.run(&["locator", "create", "--dc", "a", GUID_1, "--type", "origin", "--id", &lid, "--json"]).await.ok();
    assert_eq!(made.json()["locator"]["id"], lid.as_str(), "an nb:lid:UUID: id is kept as given");
    assert_eq!(made.json()["locator"]["path"], format!("/{LOCATOR_1}/"), "no invented host");

    let urls = sb.run(&["locator", "urls", "--dc", "a", GUID_1, "--json"]).await.ok();
    let relative = format!("/{LOCATOR_1}/Big%20Buck%20Bunny.ism/manifest");
    assert_eq!(urls.json()[0]["urls"]["smooth"], relative.as_str(), "relative without an origin");
    let notes: Vec<&str> = urls.stderr.lines().collect();
    assert_eq!(notes.len(), 1, "one note: {}", urls.stderr);
    assert!(notes[0].contains("MIRRORCAST_ORIGIN_A") && notes[0].contains("relative"), "{}", notes[0]);
    assert!(!urls.stdout.contains("note"), "the note stays off stdout");

    // A data center with a serve address: URLs point at it.
    std::fs::write(
        sb.dir.path().join("mirrorcast.toml"),
        "[dc.s]\nconnection_string_env = \"CONN\"\nserve = \"127.0.0.1:8080\"\n",
    )
    .unwrap();
    let conn = sb.connection_string();
    let served =
        sb.run_with(&[("CONN", conn.as_str())], &["locator", "urls", "--dc", "s", GUID_1, "--json"]).await.ok();
    assert_eq!(served.json()[0]["urls"]["smooth"], format!("http://127.0.0.1:8080{relative}"));
    assert!(served.stderr.is_empty(), "{}", served.stderr);

    // A bad origin is a configuration error.
    let env = [("MIRRORCAST_DC_A", conn.as_str()), ("MIRRORCAST_ORIGIN_A", "media.example")];
    sb.run_with(&env, &["locator", "urls", "--dc", "a", GUID_1]).await.usage_error("must be an http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_in_use_is_kept_and_delete_all_needs_yes_without_a_terminal() {
    let sb = crate::helpers::Sandbox::start().await;
    let store = sb.azurite.store("devstoreaccount1");
    ams_container(&store, &format!("asset-{GUID_1}"), "Big Buck Bunny", 1).await;
    ams_container(&store, &format!("asset-{GUID_2}"), "Sintel", 2).await;
    sb.run(&["asset", "adopt", "--dc", "a", "--all"]).await.ok();
    sb.run(&["locator", "create", "--dc", "a", GUID_1, "--id", LOCATOR_1]).await.ok();
    let policies = sb.run(&["policy", "list", "--dc", "a", "--json"]).await.ok().json();
    let policy = policies[0]["id"].as_str().unwrap().to_owned();

    let refused = sb.run(&["policy", "delete", "--dc", "a", &policy]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("nb:lid:UUID:{LOCATOR_1}")), "names the locator: {}", refused.stderr);
    assert_eq!(sb.run(&["policy", "list", "--dc", "a", "--json"]).await.ok().json(), policies, "kept");
    sb.run(&["locator", "delete", "--dc", "a", LOCATOR_1]).await.ok();
    sb.run(&["policy", "delete", "--dc", "a", &policy]).await.ok();
    assert_eq!(sb.run(&["policy", "list", "--dc", "a", "--json"]).await.ok().json(), serde_json::json!([]));
    sb.run(&["policy", "delete", "--dc", "a", "nb:pid:UUID:not-a-guid"])
        .await
        .usage_error("not a valid access policy id");

    sb.run(&["asset", "delete", "--dc", "a", "--all"]).await.usage_error("--yes");
    assert_eq!(sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json().as_array().unwrap().len(), 2);
    let gone = sb.run(&["asset", "delete", "--dc", "a", "--all", "--yes", "--json"]).await.ok().json();
    assert_eq!(gone["deleted"].as_array().unwrap().len(), 2, "{gone}");
    assert!(store.list_containers("asset-").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locators_imported_onto_adopted_containers_keep_their_urls() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let a = f.dcs.a.store();
    ams_container(&a, &format!("asset-{GUID_1}"), "Big Buck Bunny", 1).await;
    ams_container(&a, &format!("asset-{GUID_2}"), "Sintel", 2).await;
    f.run(&["asset", "adopt", "--dc", "a", "--all"]).await.ok();

    // Only the policies and locators of the export: their assets are the adopted containers.
    let export = f.dir.path().join("locators-only");
    std::fs::create_dir_all(&export).unwrap();
    for name in ["AccessPolicies.json", "Locators.json"] {
        std::fs::copy(format!("{DATA}/v2/{name}"), export.join(name)).unwrap();
    }
    let out = f.run(&["import", "--dc", "a", export.to_str().unwrap(), "--json"]).await.ok().json();
    assert_eq!((out["totals"]["created"].as_u64(), out["totals"]["skipped"].as_u64()), (Some(2), Some(1)), "{out}");
    assert_eq!(
        urls_of(&f, GUID_1).await,
        [(format!("nb:lid:UUID:{LOCATOR_1}"), format!("/{LOCATOR_1}/Big%20Buck%20Bunny.ism/manifest"))]
    );
    // A locator whose asset is nowhere is reported, not written (deleting the asset took its locator).
    f.run(&["asset", "delete", "--dc", "a", GUID_2]).await.ok();
    let orphan = f.run(&["import", "--dc", "a", export.to_str().unwrap(), "--json"]).await;
    assert_eq!(orphan.code, 1, "{}", orphan.stderr);
    let line = orphan.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "nb:lid:UUID:9d3b2e40-3f4c-4e77-bc20-5b9b8c3d4e5f")
        .cloned()
        .unwrap();
    assert_eq!(line["action"], "invalid", "{line}");
    assert!(line["message"].as_str().unwrap().contains("neither in the export nor in this data center"), "{line}");
}
