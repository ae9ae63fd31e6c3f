//! Failover-grade replicate: nothing written to the source (read SAS, key or
//! geo-secondary), every copy grant bound to a stored policy and revoked,
//! orderly cleanup on SIGTERM, no URLs for incomplete assets, `--deep`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use mirrorcast_azure_blob::AzureBlobStore;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::model::Permissions;
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions, StoredPolicy};
use serde_json::Value;

use crate::helpers::{command_in, recording_proxy, refusing_proxy, run_in, Run};
use crate::replicate::Failover;

fn container_of(id: &str) -> String {
    id.replace("nb:cid:UUID:", "asset-")
}

/// Every container of a store: its blobs with their ETags, and its stored policies.
async fn snapshot(store: &AzureBlobStore) -> BTreeMap<String, (BTreeMap<String, String>, Vec<String>)> {
    let mut out = BTreeMap::new();
    for c in store.list_containers("").await.unwrap() {
        let blobs = store.list_all(&c, "").await.unwrap().into_iter().map(|b| (b.name, b.etag)).collect();
        let policies = store.get_container_policies(&c).await.unwrap().policies.into_iter().map(|p| p.id).collect();
        out.insert(c, (blobs, policies));
    }
    out
}

/// No container of `store` holds a stored policy a run issued.
pub(crate) async fn assert_no_grant_policies(store: &dyn BlobStore, side: &str) {
    for c in store.list_containers("").await.unwrap() {
        let left: Vec<String> = store
            .get_container_policies(&c)
            .await
            .unwrap()
            .policies
            .into_iter()
            .map(|p| p.id)
            .filter(|id| id.starts_with("mc-"))
            .collect();
        assert!(left.is_empty(), "{side}: container '{c}' still holds grant policies {left:?}");
    }
}

async fn run_env(f: &Failover, env: &[(&str, String)], args: &[&str]) -> Run {
    let mut all = f.env();
    for (k, v) in env {
        all.retain(|(key, _)| key != k);
        all.push((k, v.clone()));
    }
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_in(f.dir.path(), &all, args).await
}

fn key_of(f: &Failover, instance: usize, account: usize) -> String {
    f.dcs.instances[instance].accounts()[account].key.expose().to_owned()
}

async fn assert_same_bytes(f: &Failover, id: &str) {
    let c = container_of(id);
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let in_a = f.md5s(&a, &c).await;
    assert!(!in_a.is_empty());
    assert_eq!(f.md5s(&b, &c).await, in_a, "B must hold A's blobs ({c})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_writes_nothing_to_a_source_reached_by_key_read_sas_or_secondary() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let by_key = f.publish("By Key", "none", 64 * 1024).await;
    let by_sas = f.publish("By SAS", "none", 64 * 1024).await;
    let by_secondary = f.publish("By Secondary", "none", 64 * 1024).await;
    let by_secondary_sas = f.publish("By Secondary SAS, Streamed", "none", 64 * 1024).await;
    let a = f.dcs.a.store();
    let before = snapshot(&a).await;

    let port = f.dcs.instances[0].port();
    let read_sas =
        a.account_sas(Permissions::READ | Permissions::LIST, chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    let sas_source = format!("BlobEndpoint=http://127.0.0.1:{port}/dca;SharedAccessSignature={}", read_sas.expose());
    let secondary_source = format!(
        "AccountName=dca;AccountKey={};BlobEndpoint=http://127.0.0.1:{port}/dca;BlobSecondaryEndpoint=http://127.0.0.1:{port}/dca-secondary",
        key_of(&f, 0, 0)
    );
    let secondary_sas =
        format!("BlobEndpoint=http://127.0.0.1:{port}/dca-secondary;SharedAccessSignature={}", read_sas.expose());
    // (asset, credential A reports, A's connection string, strategy)
    let runs: [(&str, &str, Option<String>, &str); 4] = [
        (&by_key, "account key", None, "auto"),
        (&by_sas, "sas", Some(sas_source), "auto"),
        (&by_secondary, "account key", Some(secondary_source), "auto"),
        (&by_secondary_sas, "sas", Some(secondary_sas), "streamed"),
    ];
    for (id, credential, source, strategy) in runs {
        let env: Vec<(&str, String)> = source.into_iter().map(|s| ("MIRRORCAST_DC_A", s)).collect();
        let args = ["replicate", "--from", "a", "--to", "b", "--asset", id, "--json", "--strategy", strategy];
        let report = run_env(&f, &env, &args).await.ok().json();
        eprintln!("{credential}: strategies {} access {}", report["totals"]["strategies"], report["access"]);
        let used = report["totals"]["strategies"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let expected = if strategy == "streamed" { "streamed" } else { "server" };
        assert!(used.iter().all(|k| k.starts_with(expected)), "{credential}/{strategy}: {used:?}");
        assert_eq!(report["totals"]["copied"], 10, "{report}");
        let source_access = &report["access"][0];
        assert_eq!(source_access["role"], "source");
        assert_eq!(source_access["credential"], credential);
        assert_eq!(source_access["needed"], "rl");
        assert_eq!(report["assets"][0]["published"], true);
        assert_same_bytes(&f, id).await;
    }
    assert_eq!(report_access_of_sas(&f).await, "rl");
    // A is as it was: every container, every blob, every ETag, no stored policy.
    assert_eq!(snapshot(&a).await, before, "replicate changed the source");
    assert_no_grant_policies(&f.dcs.b.store(), "B").await;
}

/// The permissions a read SAS source reports in the text output's access line.
async fn report_access_of_sas(f: &Failover) -> String {
    let a = f.dcs.a.store();
    let sas =
        a.account_sas(Permissions::READ | Permissions::LIST, chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    let port = f.dcs.instances[0].port();
    let env = [(
        "MIRRORCAST_DC_A",
        format!("BlobEndpoint=http://127.0.0.1:{port}/dca;SharedAccessSignature={}", sas.expose()),
    )];
    let run = run_env(f, &env, &["replicate", "--from", "a", "--to", "b", "--all", "--dry-run"]).await.ok();
    let line =
        run.stdout.lines().find(|l| l.starts_with("access a (source)")).expect("an access line for A").to_owned();
    assert!(!run.stdout.contains("sig="), "no signature in the output");
    line.split("granting '").nth(1).and_then(|r| r.split('\'').next()).unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_cannot_do_the_job_are_refused_before_anything_is_written() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Hostile", "none", 16 * 1024).await;
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let before_a = snapshot(&a).await;
    let port = f.dcs.instances[0].port();
    let sas_dc = |p: Permissions, hours: i64| {
        let token = a.account_sas(p, chrono::Utc::now() + chrono::Duration::hours(hours)).unwrap();
        format!("BlobEndpoint=http://127.0.0.1:{port}/dca;SharedAccessSignature={}", token.expose())
    };
    let args = ["replicate", "--from", "a", "--to", "b", "--asset", id.as_str()];

    let no_list = run_env(&f, &[("MIRRORCAST_DC_A", sas_dc(Permissions::READ, 1))], &args).await;
    eprintln!("SAS without list: {}", no_list.stderr.trim());
    no_list.usage_error("missing list");
    assert!(no_list.stderr.contains("'a'"), "the error names the data center: {}", no_list.stderr);

    let no_read = run_env(&f, &[("MIRRORCAST_DC_A", sas_dc(Permissions::LIST, 1))], &args).await;
    no_read.usage_error("missing read");

    let expired = run_env(&f, &[("MIRRORCAST_DC_A", sas_dc(Permissions::READ | Permissions::LIST, -1))], &args).await;
    eprintln!("expired SAS: {}", expired.stderr.trim());
    expired.usage_error("expired");
    assert!(!expired.stderr.contains("sig="), "{}", expired.stderr);

    let b_secondary =
        format!("AccountName=dcb;AccountKey={};BlobEndpoint=http://127.0.0.1:{port}/dcb-secondary", key_of(&f, 0, 1));
    run_env(&f, &[("MIRRORCAST_DC_B", b_secondary.clone())], &args).await.usage_error("read-only secondary");
    run_env(&f, &[("MIRRORCAST_DC_B", b_secondary)], &["asset", "create", "--dc", "b", "--name", "x"])
        .await
        .usage_error("read-only secondary");

    // `secondary = true` in mirrorcast.toml: reads work there, writes are refused.
    std::fs::write(
        f.dir.path().join("mirrorcast.toml"),
        format!(
            "[dc.s]\naccount = \"dca\"\nkey_env = \"DCA_KEY\"\nendpoint = \"http://127.0.0.1:{port}/dca\"\nsecondary = true\n"
        ),
    )
    .unwrap();
    let key = [("DCA_KEY", key_of(&f, 0, 0))];
    let listed = run_env(&f, &key, &["asset", "list", "--dc", "s", "--json"]).await.ok().json();
    assert!(listed.to_string().contains(&id), "the secondary serves A's records: {listed}");
    let write = run_env(&f, &key, &["asset", "create", "--dc", "s", "--name", "x"]).await;
    eprintln!("write to a secondary: {}", write.stderr.trim());
    write.usage_error("read-only secondary");

    assert_eq!(snapshot(&a).await, before_a);
    assert!(b.list_containers("").await.unwrap().is_empty(), "nothing may be written to B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sas_seen_on_the_wire_is_refused_after_the_run() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("On The Wire", "none", 64 * 1024).await;
    let port = f.dcs.instances[0].port();
    // B behind a recording proxy; A direct, so that B's service can read A's
    // source URLs (Azurite reads a copy source only at its own address).
    // Every request to B shows its token, and the source token travels in
    // x-ms-copy-source.
    let (proxy, seen) = recording_proxy(format!("http://127.0.0.1:{port}"), Duration::ZERO).await;
    let b_via_proxy = format!(
        "DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={};BlobEndpoint=http://{proxy}/dcb",
        key_of(&f, 0, 1)
    );
    let args = ["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json", "--strategy", "server"];
    let report = run_env(&f, &[("MIRRORCAST_DC_B", b_via_proxy)], &args).await.ok().json();
    assert_eq!(report["totals"]["copied"], 10, "{report}");
    assert!(report["totals"]["strategies"].as_object().unwrap().keys().all(|k| k.starts_with("server")), "{report}");

    eprintln!("requests to B for one 10-blob asset, server-side: {}", seen.lock().unwrap().len());
    // Every SAS that travelled: in a query string, or as the source of a server-side copy.
    let mut tokens: BTreeMap<String, String> = BTreeMap::new(); // token -> path it was used on
    for s in seen.lock().unwrap().iter() {
        let source_path = s.copy_source.as_deref().map(|u| {
            let after_scheme = u.split_once("://").map_or(u, |(_, rest)| rest);
            after_scheme.find('/').map_or("", |i| &after_scheme[i..]).to_owned()
        });
        for path_and_query in [Some(s.path_and_query.clone()), source_path].into_iter().flatten() {
            if let Some((path, query)) = path_and_query.split_once('?') {
                if query.contains("sig=") {
                    tokens.insert(query.to_owned(), path.to_owned());
                }
            }
        }
    }
    let container = container_of(&id);
    let on = |account: &str| tokens.iter().filter(|(_, p)| p.starts_with(&format!("/{account}/"))).count();
    assert!(on("dca") > 0 && on("dcb") > 0, "tokens for both sides must have been used: {:?}", tokens.values());
    for token in tokens.keys() {
        assert!(token.contains("si=mc-"), "every copy SAS is bound to a stored policy");
    }
    let http = reqwest::Client::new();
    for (token, path) in &tokens {
        let response = if path.starts_with("/dca/") {
            // A read token: list the container it was for.
            http.get(format!("http://127.0.0.1:{port}/dca/{container}?restype=container&comp=list&{token}"))
                .header("x-ms-version", "2021-08-06")
                .send()
                .await
                .unwrap()
        } else {
            // A write token: write a blob with it.
            http.put(format!("http://127.0.0.1:{port}/dcb/{container}/after-the-run?{token}"))
                .header("x-ms-version", "2021-08-06")
                .header("x-ms-blob-type", "BlockBlob")
                .body("late")
                .send()
                .await
                .unwrap()
        };
        assert_eq!(response.status().as_u16(), 403, "a token of the run still works on {path}");
    }
    assert!(f.dcs.b.store().head_opt(&container, "after-the-run").await.unwrap().is_none());
    assert_no_grant_policies(&f.dcs.a.store(), "A").await;
    assert_no_grant_policies(&f.dcs.b.store(), "B").await;
    let locators = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    assert!(locators.as_array().unwrap().iter().all(|l| l["type"] == "OnDemandOrigin"), "{locators}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_with_five_stored_policies_keeps_them_and_the_copy_goes_on() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Full ACL", "none", 32 * 1024).await;
    let a = f.dcs.a.store();
    let container = container_of(&id);
    let theirs: Vec<StoredPolicy> = (0..5)
        .map(|i| StoredPolicy {
            id: format!("theirs-{i}"),
            start: None,
            expiry: chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 86_400, 0),
            permissions: Permissions::READ,
        })
        .collect();
    a.set_container_policies(&container, &theirs, None).await.unwrap();
    let report = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok().json();
    assert_eq!(report["totals"]["copied"], 10, "{report}");
    let warnings = report["assets"][0]["warnings"].to_string();
    assert!(warnings.contains("already holds 5 stored access policies"), "{warnings}");
    assert_eq!(a.get_container_policies(&container).await.unwrap().policies, theirs, "their identifiers stay");
    assert_no_grant_policies(&f.dcs.b.store(), "B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_revokes_every_grant_and_b_publishes_no_incomplete_asset() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(f.publish(&format!("Long Night {i}"), "none", 2 * 1024 * 1024).await);
    }
    let b = f.dcs.b.store();
    let (proxy, _) =
        recording_proxy(format!("http://127.0.0.1:{}", f.dcs.instances[1].port()), Duration::from_millis(100)).await;
    let b_via_proxy = format!(
        "DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={};BlobEndpoint=http://{proxy}/dcb",
        key_of(&f, 1, 0)
    );
    let mut env = f.env();
    env.retain(|(k, _)| *k != "MIRRORCAST_DC_B");
    env.push(("MIRRORCAST_DC_B", b_via_proxy));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args =
        ["replicate", "--from", "a", "--to", "b", "--all", "--json", "--concurrency", "1", "--block-size-mib", "1"];
    let child = command_in(f.dir.path(), &env, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let mut landed = 0;
    for _ in 0..1000 {
        landed = 0;
        for id in &ids {
            landed += b.list_all(&container_of(id), "").await.map(|l| l.len()).unwrap_or(0);
        }
        if landed >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(landed >= 2, "the run never got going");
    // Twice: the second must not cut the cleanup short.
    for _ in 0..2 {
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().await.unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 1, "an interrupted run exits 1 (documented): {}", run.stderr);
    assert!(run.stderr.contains("SIGTERM: finishing the copies in flight"), "{}", run.stderr);
    assert!(run.stderr.contains("SIGTERM again"), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["interrupted"], true);
    let incomplete: Vec<String> = report["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["published"] != true)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    // Assets the run never reached are not in the report at all: incomplete too.
    let reported: Vec<&str> = report["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    let mut unpublished: Vec<String> = ids.iter().filter(|id| !reported.contains(&id.as_str())).cloned().collect();
    unpublished.extend(incomplete);
    assert!(!unpublished.is_empty(), "the run was stopped before it finished every asset: {report}");

    // Nothing of the grants is left: no stored policy, no grant record; no URL for an incomplete asset.
    assert_no_grant_policies(&f.dcs.a.store(), "A").await;
    assert_no_grant_policies(&b, "B").await;
    let locators = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    let locators = locators.as_array().unwrap();
    assert!(locators.iter().all(|l| l["type"] == "OnDemandOrigin"), "grant records left: {locators:?}");
    for id in &unpublished {
        assert!(
            locators.iter().all(|l| l["asset_id"].as_str() != Some(id.as_str())),
            "B publishes incomplete asset {id}: {locators:?}"
        );
    }

    // A run that completes them publishes them, with A's locator ids.
    let rerun = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
    assert!(rerun["assets"].as_array().unwrap().iter().all(|a| a["published"] == true), "{rerun}");
    let in_a = f.run(&["locator", "list", "--dc", "a", "--json"]).await.ok().json();
    let in_b = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    let ids_of = |v: &Value| {
        let mut v: Vec<String> = v.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(ids_of(&in_b), ids_of(&in_a));
    for id in &ids {
        assert_same_bytes(&f, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recopies_a_blob_whose_bytes_differ_behind_equal_size_and_md5() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Bit Rot", "none", 64 * 1024).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let container = container_of(&id);
    let victim = a.list_all(&container, "").await.unwrap().into_iter().find(|m| m.name.ends_with(".mp4")).unwrap();
    let (_, original) = a.get_bytes(&container, &victim.name).await.unwrap();
    // Same size, A's Content-MD5 forged on it, no record of the source version: only the bytes differ.
    let mut rotten = original.to_vec();
    rotten[100] ^= 0xff;
    b.put_block(&container, &victim.name, "rot-0", Bytes::from(rotten)).await.unwrap();
    let mut forged = PutOptions::default();
    forged.properties.content_md5 = victim.properties.content_md5.clone();
    b.put_block_list(&container, &victim.name, &["rot-0".to_owned()], &forged).await.unwrap();
    let rotten_meta = b.head_blob(&container, &victim.name).await.unwrap();
    assert_eq!((rotten_meta.size, &rotten_meta.properties.content_md5), (victim.size, &victim.properties.content_md5));

    let status_of = |report: &Value| {
        report["assets"][0]["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|bl| bl["name"] == victim.name.as_str())
            .map(|bl| bl["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let normal = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok().json();
    assert_eq!(status_of(&normal), "skipped", "size and MD5 match: a normal run cannot tell");
    assert_ne!(b.get_bytes(&container, &victim.name).await.unwrap().1, original);

    let deep = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--deep", "--json"]).await.ok().json();
    assert_eq!(status_of(&deep), "copied", "{deep}");
    assert_eq!(deep["totals"]["copied"], 1, "only the differing blob is copied again");
    assert_eq!(b.get_bytes(&container, &victim.name).await.unwrap().1, original, "B's bytes are A's again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_grant_record_revokes_it_and_a_killed_runs_grants_are_swept() {
    use mirrorcast_core::catalog::Catalog;
    use mirrorcast_core::id::{AssetId, LocatorId};
    use mirrorcast_core::model::{Locator, LocatorType};
    use mirrorcast_core::replicate::{policy_id_for, COPY_SAS_TAG};
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Leftovers", "none", 16 * 1024).await;
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let container = container_of(&id);
    let b_catalog = Catalog::new(std::sync::Arc::new(b.clone()));
    let policy = b_catalog.policy_for("mirrorcast copy (rl)", 15, Permissions::READ | Permissions::LIST).await.unwrap();
    let expiry = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 900, 0).unwrap();
    // What a killed run leaves: a grant record in B and the stored policy it names, on either side.
    let leave = |side: &str, store: &AzureBlobStore| Locator {
        id: LocatorId::new(),
        locator_type: LocatorType::Sas,
        asset_id: AssetId::parse_any(&id).unwrap(),
        policy_id: policy.id,
        start_time: None,
        expiration: expiry,
        path: format!("{COPY_SAS_TAG}{side}:{container} on {}", store.describe()),
        delivery: Default::default(),
    };
    let theirs =
        StoredPolicy { id: "theirs".into(), start: None, expiry: Some(expiry), permissions: Permissions::READ };
    let mut records = Vec::new();
    for (side, store) in [("target", &b), ("source", &a)] {
        let record = leave(side, store);
        b_catalog.put_locator(&record, &policy).await.unwrap();
        let mine = StoredPolicy {
            id: policy_id_for(&record.id),
            start: None,
            expiry: Some(expiry),
            permissions: Permissions::READ | Permissions::LIST,
        };
        store.set_container_policies(&container, &[theirs.clone(), mine], None).await.unwrap();
        records.push(record.id);
    }
    let ids = |store: AzureBlobStore| {
        let container = container.clone();
        async move {
            store
                .get_container_policies(&container)
                .await
                .unwrap()
                .policies
                .into_iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };

    // Deleting the target-side record removes its policy; theirs stays.
    let target_record = records[0].to_string();
    f.run(&["locator", "delete", "--dc", "b", &target_record]).await.ok();
    assert_eq!(ids(b.clone()).await, ["theirs"]);

    // The next run sweeps the source-side leftover: its policy on A, then its record.
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    assert_eq!(ids(a.clone()).await, ["theirs"]);
    assert!(b_catalog.get_locator(&records[1]).await.is_err(), "the swept record is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_whose_copy_failed_is_not_published_until_a_run_completes_it() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Half There", "none", 32 * 1024).await;
    // B refuses every write of one rendition.
    let proxy = refusing_proxy(format!("http://127.0.0.1:{}", f.dcs.instances[1].port()), "_1920x1080_").await;
    let b_via_proxy = format!(
        "DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={};BlobEndpoint=http://{proxy}/dcb",
        key_of(&f, 1, 0)
    );
    let failed = run_env(
        &f,
        &[("MIRRORCAST_DC_B", b_via_proxy)],
        &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"],
    )
    .await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let report = failed.json();
    assert_eq!(report["totals"]["failed"], 1, "{report}");
    assert_eq!(report["assets"][0]["published"], false);
    assert!(report["assets"][0]["urls"].as_array().unwrap().is_empty(), "no URLs for an incomplete asset");
    let locators = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    assert!(locators.as_array().unwrap().is_empty(), "B publishes nothing of an incomplete asset: {locators}");

    let done = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok().json();
    assert_eq!(done["totals"]["copied"], 1, "only the missing blob is copied: {done}");
    assert_eq!(done["assets"][0]["published"], true);
    let locators = f.run(&["locator", "list", "--dc", "b", "--json"]).await.ok().json();
    assert_eq!(locators.as_array().unwrap().len(), 1, "{locators}");
    assert_same_bytes(&f, &id).await;
}

/// Every `mc-` policy on the containers of `store`.
async fn grant_policies(store: &AzureBlobStore) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in store.list_containers("").await.unwrap() {
        for p in store.get_container_policies(&c).await.unwrap().policies {
            if p.id.starts_with("mc-") {
                out.push((c.clone(), p.id));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_copy_leaves_batch_grants_that_the_next_run_sweeps_from_every_container_they_name() {
    use mirrorcast_core::catalog::Catalog;
    use mirrorcast_core::model::LocatorType;
    use mirrorcast_core::replicate::grant_record_target;
    // One instance: copies are server-side, so both sides get stored policies.
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(f.publish(&format!("Cut Short {i}"), "none", 64 * 1024).await);
    }
    let (a, b) = (f.dcs.a.store(), f.dcs.b.store());
    let (proxy, _) =
        recording_proxy(format!("http://127.0.0.1:{}", f.dcs.instances[0].port()), Duration::from_millis(150)).await;
    let b_via_proxy = format!(
        "DefaultEndpointsProtocol=http;AccountName=dcb;AccountKey={};BlobEndpoint=http://{proxy}/dcb",
        key_of(&f, 0, 1)
    );
    let mut env = f.env();
    env.retain(|(k, _)| *k != "MIRRORCAST_DC_B");
    env.push(("MIRRORCAST_DC_B", b_via_proxy));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["replicate", "--from", "a", "--to", "b", "--all", "--concurrency", "1", "--strategy", "server"];
    let mut child = command_in(f.dir.path(), &env, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL: no cleanup runs) while a grant is out on A.
    let mut out_on_a = Vec::new();
    for _ in 0..1000 {
        out_on_a = grant_policies(&a).await;
        if !out_on_a.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(!out_on_a.is_empty(), "the run never issued a grant on A");
    let left_on_a = grant_policies(&a).await;
    assert!(!left_on_a.is_empty(), "the kill came too late: no grant policy left on A");

    // What it left: one record per side naming every container of the batch.
    let b_catalog = Catalog::new(std::sync::Arc::new(b.clone()));
    let records: Vec<_> = b_catalog
        .list_locators(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.locator_type == LocatorType::Sas)
        .collect();
    let containers: Vec<String> = ids.iter().map(|id| container_of(id)).collect();
    assert!(!records.is_empty(), "a killed run leaves its grant records");
    for r in &records {
        let (_, named) = grant_record_target(r).unwrap();
        assert!(
            containers.iter().all(|c| named.contains(&c.as_str())),
            "a batch record names every container: {}",
            r.path
        );
    }

    // A run of one asset whose container holds no leftover: the sweep still
    // clears every container the records name (the next run binds nothing there).
    let untouched = ids.iter().find(|id| left_on_a.iter().all(|(c, _)| *c != container_of(id))).unwrap();
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", untouched]).await.ok();
    assert_no_grant_policies(&a, "A").await;
    assert_no_grant_policies(&b, "B").await;
    let left = b_catalog.list_locators(None).await.unwrap();
    assert!(left.iter().all(|l| l.locator_type != LocatorType::Sas), "grant records left: {left:?}");

    let rerun = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
    assert!(rerun["assets"].as_array().unwrap().iter().all(|a| a["published"] == true), "{rerun}");
    for id in &ids {
        assert_same_bytes(&f, id).await;
    }
}
