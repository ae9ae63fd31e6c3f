//! Every blob name Azure accepts crosses byte-exact, in both copy strategies.

use bytes::Bytes;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions};

use crate::replicate::Failover;

/// Names that URL encoding, XML listings or path handling could bend.
/// Control characters are left out: Azurite 3.37 drops tab and newline from
/// listed names and fails the listing (500) on others, where Azure sends them
/// percent-encoded with `Encoded="true"` (decoding tested in azure-blob's xml.rs).
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        " leading space.mp4",
        "trailing space.mp4 ",
        "  both  ",
        "100%.mp4",
        "%20already-encoded%2F.mp4",
        "hash#and?query&amp=1.mp4",
        "plus+equals=semi;colon,comma.mp4",
        "quotes\"'<xml>&.mp4",
        "Ünïcødé 映画 🎬.mp4",
        "a//b",
        "/leading-slash",
        "trailing-slash/",
        "dir/",
        "dots.../.hidden/..x/x..",
        "[brackets]{braces}|pipe^caret`tick~",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push(format!("long/{}", "n".repeat(1024 - 5)));
    names
}

async fn hostile_names_cross_byte_exact(f: &Failover, strategy: &str) {
    let id = f.publish("Names", "none", 4096).await;
    let container = id.replace("nb:cid:UUID:", "asset-");
    let a = f.dcs.a.store();
    for (i, name) in hostile_names().iter().enumerate() {
        let body = Bytes::from(format!("{i}:{name}").into_bytes());
        a.put_blob(&container, name, body, &PutOptions::default())
            .await
            .unwrap_or_else(|e| panic!("put {name:?} in A: {e}"));
    }
    let listed = a.list_all(&container, "").await.unwrap_or_else(|e| panic!("list A: {e}"));
    assert_eq!(listed.len(), 10 + hostile_names().len());
    let in_a = f.md5s(&a, &container).await;
    for name in hostile_names() {
        assert!(in_a.contains_key(&name), "A must list {name:?} exactly as written; A lists {:?}", in_a.keys());
    }

    let run = f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &id, "--strategy", strategy, "--json"]).await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report}\n{}", run.stderr);
    assert_eq!(report["totals"]["failed"], 0, "{report}");

    let b = f.dcs.b.store();
    assert_eq!(f.md5s(&b, &container).await, in_a, "B must list A's names, sizes and MD5s");
    for (i, name) in hostile_names().iter().enumerate() {
        let (_, got) = b.get_bytes(&container, name).await.unwrap_or_else(|e| panic!("get {name:?} from B: {e}"));
        assert_eq!(got, format!("{i}:{name}").as_bytes(), "bytes of {name:?} in B");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_blob_names_cross_byte_exact_server_side() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    hostile_names_cross_byte_exact(&f, "server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_blob_names_cross_byte_exact_streamed() {
    let f = Failover::new(TwoDataCenters::two_instances(Persistence::InMemory).await.unwrap()).await;
    hostile_names_cross_byte_exact(&f, "streamed").await;
}

/// A name the target cannot hold fails that blob alone, naming the target;
/// the other blobs of the asset still cross.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_target_cannot_hold_is_a_per_blob_error_naming_the_target() {
    let sb = crate::helpers::Sandbox::start().await;
    let a_dir = sb.dir.path().join("dc-a");
    let env_a = format!("file://{}", a_dir.display());
    let env = [("MIRRORCAST_DC_A", env_a.as_str()), ("MIRRORCAST_DC_B", &sb.connection_string())];
    let id = crate::helpers::run_in(sb.dir.path(), &env, &["asset", "create", "--dc", "a", "--name", "N", "--json"])
        .await
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let container = id.replace("nb:cid:UUID:", "asset-");
    let a = mirrorcast_object_store::ObjectStoreBackend::local(&a_dir).unwrap();
    let unholdable = ["back\\slash.mp4", "a/../b.mp4", "./here.mp4"];
    for name in unholdable.iter().chain(&["fine.mp4"]) {
        a.put_blob(&container, name, Bytes::from_static(b"x"), &PutOptions::default()).await.unwrap();
    }
    let run = crate::helpers::run_in(
        sb.dir.path(),
        &env,
        &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--strategy", "streamed", "--json"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let blobs = report["assets"][0]["blobs"].as_array().unwrap();
    for name in unholdable {
        let b = blobs.iter().find(|b| b["name"] == name).unwrap_or_else(|| panic!("{name} not reported: {report}"));
        assert_eq!(b["status"], "failed", "{b}");
        let error = b["error"].as_str().unwrap();
        assert!(error.contains("data center 'b'") && error.contains("cannot be held"), "{error}");
    }
    let fine = blobs.iter().find(|b| b["name"] == "fine.mp4").unwrap();
    assert_eq!(fine["status"], "copied", "{fine}");
    let b = sb.azurite.store("devstoreaccount1");
    let names: Vec<String> = b.list_all(&container, "").await.unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["fine.mp4"], "no unholdable name may land under another name");
}
