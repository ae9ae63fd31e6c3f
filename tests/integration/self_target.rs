//! A data center is never its own target: another name for the same account
//! (another endpoint form, credential, the geo-secondary) or the same
//! directory is refused with exit 2 before anything is read or written.

use std::collections::BTreeMap;

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::model::Permissions;
use mirrorcast_core::store::{BlobStore, BlobStoreExt};
use mirrorcast_object_store::ObjectStoreBackend;

use crate::helpers::{run_in, write_sample, Run};
use crate::replicate::Failover;

/// Every container of a store with its blobs' ETags: the asset's blobs and
/// the catalog's records alike.
async fn etags(store: &dyn BlobStore) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for c in store.list_containers("").await.unwrap() {
        let blobs = store.list_all(&c, "").await.unwrap().into_iter().map(|b| (b.name, b.etag)).collect();
        out.insert(c, blobs);
    }
    out
}

async fn run(dir: &std::path::Path, env: &[(&str, String)], args: &[&str]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_in(dir, &env, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_into_the_source_account_under_another_name_is_refused_and_writes_nothing() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Self Portrait", "none", 64 * 1024).await;
    let a = f.dcs.a.store();
    let before = etags(&a).await;
    assert!(before.contains_key("mirrorcast-catalog") && before.len() >= 2, "{before:?}");

    let port = f.dcs.instances[0].port();
    let key = f.dcs.instances[0].accounts()[0].key.expose().to_owned();
    let all = Permissions::READ | Permissions::WRITE | Permissions::CREATE | Permissions::DELETE | Permissions::LIST;
    let sas = a.account_sas(all, chrono::Utc::now() + chrono::Duration::hours(1)).unwrap();
    let same_account = [
        // localhost for 127.0.0.1, a trailing slash: the same emulator account by key.
        format!("DefaultEndpointsProtocol=http;AccountName=dca;AccountKey={key};BlobEndpoint=http://localhost:{port}/dca/"),
        // A SAS of the same account that may write everything.
        format!("BlobEndpoint=http://127.0.0.1:{port}/dca;SharedAccessSignature={}", sas.expose()),
        // Its geo-secondary holds the same data.
        format!("AccountName=dca;AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/dca;BlobSecondaryEndpoint=http://127.0.0.1:{port}/dca-secondary"),
    ];
    for c in same_account {
        let mut env = f.env();
        env.push(("MIRRORCAST_DC_C", c));
        for (from, to) in [("a", "c"), ("c", "a")] {
            let args = ["replicate", "--from", from, "--to", to, "--asset", &id, "--json"];
            run(f.dir.path(), &env, &args).await.usage_error("a data center is never its own target");
            let all = ["replicate", "--from", from, "--to", to, "--all", "--delete"];
            run(f.dir.path(), &env, &all).await.usage_error("are one: both reach storage account 'dca'");
        }
        run(f.dir.path(), &env, &["verify", "--from", "a", "--to", "c", "--all"]).await.usage_error("proves nothing");
    }
    assert_eq!(etags(&a).await, before, "A's blobs and records must be untouched");

    // Another account of the same emulator is a target like any other.
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    assert_eq!(etags(&a).await, before, "replicating to B writes nothing in A either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_into_the_source_directory_under_another_path_is_refused_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let dc = work.path().join("dc");
    let env_a = format!("file://{}", dc.display());
    let env = vec![("MIRRORCAST_DC_A", env_a)];
    let created =
        run(work.path(), &env, &["asset", "create", "--dc", "a", "--name", "Local Portrait", "--json"]).await.ok();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let folder = work.path().join("upload");
    write_sample(&folder, 32 * 1024);
    run(work.path(), &env, &["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();
    run(work.path(), &env, &["locator", "create", "--dc", "a", &id, "--type", "origin"]).await.ok();
    let a = ObjectStoreBackend::local(&dc).unwrap();
    let before = etags(&a).await;
    assert!(before.len() >= 2, "{before:?}");

    let link = work.path().join("link-to-dc");
    std::os::unix::fs::symlink(&dc, &link).unwrap();
    let same_directory = [
        format!("file://{}/", dc.display()),
        format!("file://{}/../dc", dc.display()),
        format!("file://{}", link.display()),
        // A data center inside A's directory writes into A.
        format!("file://{}/{}", dc.display(), id.replace("nb:cid:UUID:", "asset-")),
    ];
    for c in same_directory {
        let mut env = env.clone();
        env.push(("MIRRORCAST_DC_C", c.clone()));
        let args = ["replicate", "--from", "a", "--to", "c", "--asset", &id];
        let refused = run(work.path(), &env, &args).await;
        refused.usage_error("a data center is never its own target");
        assert!(refused.stderr.contains("directory '"), "{c}: {}", refused.stderr);
    }
    assert_eq!(etags(&a).await, before, "A's blobs and records must be untouched");
}
