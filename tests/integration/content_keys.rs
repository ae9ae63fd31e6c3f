//! Content keys and policies across a failover (#26): keys stored only
//! wrapped, carried to B re-wrapped under B's KEK, refused without it, and
//! compared by verify without being shown.

use base64::Engine as _;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::catalog::{CATALOG_CONTAINER, JOURNAL_CONTAINER};
use mirrorcast_core::protection::{ContentKey, ContentKeyValue, KeyEncryptionKey as _, LocalKek};
use mirrorcast_core::store::{BlobStore, BlobStoreExt, PutOptions};
use serde_json::Value;

use crate::helpers::{run_in, Run};
use crate::replicate::Failover;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A failover with a KEK for each side (given to the runs that are meant to have it).
pub(crate) struct Protected {
    pub(crate) f: Failover,
    pub(crate) kek_a: String,
    pub(crate) kek_b: String,
    /// An HS256 token key, in base64, given through `HS256_KEY`.
    pub(crate) hs256: String,
}

impl Protected {
    pub(crate) async fn new() -> Self {
        let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
        // Random bytes from v4 UUIDs (122 random bits each): the test needs no RNG crate of its own.
        let random =
            |n: usize| B64.encode((0..n / 16).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect::<Vec<u8>>());
        Protected { f, kek_a: random(32), kek_b: random(32), hs256: random(64) }
    }

    /// Runs the CLI with A's KEK, B's too when `with_b`, and `extra` variables.
    pub(crate) async fn run(&self, with_b: bool, extra: &[(&str, &str)], args: &[&str]) -> Run {
        let mut env = self.f.env();
        env.push(("MIRRORCAST_KEK_A", self.kek_a.clone()));
        env.push(("HS256_KEY", self.hs256.clone()));
        if with_b {
            env.push(("MIRRORCAST_KEK_B", self.kek_b.clone()));
        }
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(extra);
        run_in(self.f.dir.path(), &env, args).await
    }

    /// A published asset with a token policy and a CENC locator whose key is made now; (asset id, key id).
    pub(crate) async fn protected_asset(&self, trace: &[(&str, &str)]) -> (String, String, Vec<Run>) {
        let id = self.f.publish("Protected clip", "none", 64 * 1024).await;
        let policy = self
            .run(
                false,
                trace,
                &[
                    "content-key-policy",
                    "create",
                    "--dc",
                    "a",
                    "Tokened",
                    "--issuer",
                    "https://issuer.example",
                    "--audience",
                    "urn:viewers",
                    "--hs256-key-env",
                    "HS256_KEY",
                    "--require-key-id-claim",
                    "--json",
                ],
            )
            .await
            .ok();
        let locator = self
            .run(
                false,
                trace,
                &[
                    "locator",
                    "create",
                    "--dc",
                    "a",
                    &id,
                    "--streaming-policy",
                    "Predefined_MultiDrmCencStreaming",
                    "--content-key-policy",
                    "Tokened",
                    "--json",
                ],
            )
            .await
            .ok();
        let keys = locator.json()["locator"]["delivery"]["contentKeyIds"].clone();
        let key = keys[0].as_str().unwrap_or_else(|| panic!("a CENC locator binds one key: {keys}")).to_owned();
        (id, key, vec![policy, locator])
    }

    /// `content-key export --reveal` on `dc`: the key's hex.
    pub(crate) async fn reveal(&self, dc: &str, key: &str) -> String {
        let out = self.run(true, &[], &["content-key", "export", "--reveal", "--dc", dc, key, "--json"]).await.ok();
        assert!(out.stderr.contains("in the clear"), "export warns on stderr: {}", out.stderr);
        out.json()["keyHex"].as_str().unwrap().to_owned()
    }
}

/// Every form a key's bytes could be written in: hex both cases, base64 (standard and URL-safe).
pub(crate) fn forms(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    vec![hex.to_uppercase(), hex, B64.encode(secret), url]
}

pub(crate) fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[track_caller]
pub(crate) fn assert_absent(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "a key's bytes appear in {what}");
    }
}

/// Every blob of the catalog and journal containers, bodies and metadata, as text.
pub(crate) async fn storage_text(store: &dyn BlobStore) -> String {
    let mut all = String::new();
    for container in [CATALOG_CONTAINER, JOURNAL_CONTAINER] {
        for blob in store.list_all(container, "").await.unwrap_or_default() {
            let (meta, body) = store.get_bytes(container, &blob.name).await.unwrap();
            all.push_str(&blob.name);
            all.push_str(&String::from_utf8_lossy(&body));
            for (k, v) in meta.metadata.iter().chain(&blob.metadata) {
                all.push_str(&format!("{k}={v}\n"));
                // Records ride in metadata as base64 JSON: read that too.
                if let Ok(decoded) = B64.decode(v) {
                    all.push_str(&String::from_utf8_lossy(&decoded));
                }
            }
        }
    }
    assert!(all.contains("content-keys/"), "the catalog was read: {}", all.len());
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_keys_are_never_in_the_clear_in_storage_logs_json_or_errors() {
    let p = Protected::new().await;
    let trace = [("RUST_LOG", "trace")];
    let (id, key, mut runs) = p.protected_asset(&trace).await;
    let listed = p.run(false, &trace, &["content-key", "list", "--dc", "a", "--json"]).await.ok();
    assert_eq!(listed.json()[0]["id"], key, "{}", listed.stdout);
    runs.push(listed);
    runs.push(p.run(false, &trace, &["content-key", "show", "--dc", "a", &key, "--json"]).await.ok());
    runs.push(p.run(false, &trace, &["content-key-policy", "show", "--dc", "a", "tokened", "--json"]).await.ok());
    let replicated = p.run(true, &trace, &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await;
    assert_eq!(replicated.code, 0, "{}", replicated.stderr);
    assert!(replicated.stderr.contains("TRACE") || replicated.stderr.contains("DEBUG"), "RUST_LOG=trace traces");
    runs.push(replicated);
    runs.push(p.run(true, &trace, &["verify", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok());
    // Errors: an id taken, export without --reveal, a KEK that does not open the key.
    let taken = p.run(false, &trace, &["content-key", "create", "--dc", "a", "--id", &key]).await;
    assert_eq!(taken.code, 1, "{}", taken.stderr);
    let unrevealed = p.run(false, &trace, &["content-key", "export", "--dc", "a", &key]).await;
    assert!(unrevealed.code == 2 && unrevealed.stderr.contains("--reveal"), "{}", unrevealed.stderr);
    let wrong_kek = B64.encode([9u8; 32]);
    let wrong = p
        .run(
            false,
            &[("MIRRORCAST_KEK_A", &wrong_kek), ("RUST_LOG", "trace")],
            &["content-key", "export", "--reveal", "--dc", "a", &key],
        )
        .await;
    assert!(wrong.code != 0 && wrong.stderr.contains("key-encryption key"), "{}", wrong.stderr);
    runs.extend([taken, unrevealed, wrong]);

    let value = hex_bytes(&p.reveal("a", &key).await);
    assert_eq!(value.len(), 16);
    let mut secrets = forms(&value);
    secrets.extend(forms(&B64.decode(&p.hs256).unwrap()));
    for (i, run) in runs.iter().enumerate() {
        assert_absent(&run.stdout, &secrets, &format!("the stdout of run {i}"));
        assert_absent(&run.stderr, &secrets, &format!("the stderr (RUST_LOG=trace) of run {i}"));
    }
    for (side, store) in [("A", p.f.dcs.a.store()), ("B", p.f.dcs.b.store())] {
        assert_absent(&storage_text(&store).await, &secrets, &format!("{side}'s catalog or journal"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_without_b_kek_refuses_the_protected_asset_and_copies_nothing_then_carries_the_same_key() {
    let p = Protected::new().await;
    let (protected, key, _) = p.protected_asset(&[]).await;
    let clear = p.f.publish("Clear clip", "none", 32 * 1024).await;
    let container = format!("asset-{}", protected.rsplit(':').next().unwrap());

    let refused = p.run(false, &[], &["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_eq!(refused.code, 1, "a refused asset fails the run: {}", refused.stderr);
    let report = refused.json();
    let status = |id: &str| {
        report["assets"].as_array().unwrap().iter().find(|a| a["id"] == id).map(|a| a["status"].clone()).unwrap()
    };
    assert_eq!(status(&protected), Value::from("refused"), "{report}");
    assert_eq!(status(&clear), Value::from("replicated"), "the clear asset still goes: {report}");
    let why = report.to_string();
    assert!(why.contains("MIRRORCAST_KEK_B"), "the refusal names the variable to set: {why}");
    let b = p.f.dcs.b.store();
    assert!(b.list_all(&container, "").await.unwrap_or_default().is_empty(), "no blob of the protected asset in B");
    let b_catalog: Vec<String> = b.list_all(CATALOG_CONTAINER, "").await.unwrap().into_iter().map(|m| m.name).collect();
    assert!(!b_catalog.iter().any(|n| n.starts_with("content-key")), "no key or policy in B: {b_catalog:?}");
    let b_assets = p.run(true, &[], &["asset", "list", "--dc", "b", "--json"]).await.ok().stdout;
    assert!(!b_assets.contains(&protected) && b_assets.contains(&clear), "{b_assets}");

    let carried = p.run(true, &[], &["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await;
    assert_eq!(carried.code, 0, "{}", carried.stderr);
    assert_eq!(p.reveal("b", &key).await, p.reveal("a", &key).await, "B holds A's key under the same id");
    let shown = p.run(true, &[], &["content-key", "show", "--dc", "b", &key, "--json"]).await.ok().json();
    let a_shown = p.run(true, &[], &["content-key", "show", "--dc", "a", &key, "--json"]).await.ok().json();
    assert_ne!(shown["kek"], a_shown["kek"], "B's copy is wrapped under B's KEK, not A's");
    let verified = p.run(true, &[], &["verify", "--from", "a", "--to", "b", "--all"]).await;
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_marks_a_key_that_b_holds_differently() {
    let p = Protected::new().await;
    let (id, key, _) = p.protected_asset(&[]).await;
    p.run(true, &[], &["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    let clean = p.run(true, &[], &["verify", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await.ok();
    let protection = |report: &Value| -> Vec<(String, String)> {
        report["assets"][0]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["check"] == "protection")
            .map(|e| (e["marker"].as_str().unwrap().to_owned(), e["path"].as_str().unwrap().to_owned()))
            .collect()
    };
    let same = protection(&clean.json());
    assert!(same.contains(&("=".into(), format!("content key {key}"))), "{same:?}");
    assert!(same.contains(&("=".into(), "content key policy 'tokened'".into())), "{same:?}");

    // B's record of the key now holds another key, properly wrapped under B's KEK.
    let kek_b = LocalKek::from_base64(&p.kek_b, "test").unwrap();
    let record =
        ContentKey::seal(key.parse().unwrap(), "cenc".parse().unwrap(), None, &ContentKeyValue::generate(), &kek_b)
            .await
            .unwrap();
    let body = bytes::Bytes::from(serde_json::to_vec(&record).unwrap());
    let path = format!("content-keys/{key}.json");
    p.f.dcs.b.store().put_blob(CATALOG_CONTAINER, &path, body, &PutOptions::default()).await.unwrap();

    let differs = p.run(true, &[], &["verify", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await;
    assert_eq!(differs.code, 1, "{}", differs.stderr);
    assert!(protection(&differs.json()).contains(&("*".into(), format!("content key {key}"))), "{}", differs.stdout);
    let text = p.run(true, &[], &["verify", "--from", "a", "--to", "b", "--asset", &id]).await;
    assert!(text.stdout.contains(&format!("content key {key}")), "{}", text.stdout);
    let secrets =
        [forms(&hex_bytes(&p.reveal("a", &key).await)), forms(&hex_bytes(&p.reveal("b", &key).await))].concat();
    assert_absent(&format!("{}{}{}", differs.stdout, text.stdout, text.stderr), &secrets, "verify's report");

    // Without B's KEK the key cannot be compared: '!' naming what to set, never '='.
    let blind = p.run(false, &[], &["verify", "--from", "a", "--to", "b", "--asset", &id]).await;
    assert_eq!(blind.code, 2, "{}", blind.stdout);
    assert!(blind.stdout.contains("MIRRORCAST_KEK_B"), "{}", blind.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kek_comes_from_kek_file_or_kek_env_and_a_bad_one_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let kek = B64.encode([7u8; 32]);
    std::fs::write(root.join("a.kek"), format!("{kek}\n")).unwrap();
    let config = |table: &str| {
        let text = format!("[dc.a]\nurl = \"file://{}/a\"\n{table}\n", root.display());
        std::fs::write(root.join("mirrorcast.toml"), text).unwrap();
    };
    std::fs::create_dir_all(root.join("a")).unwrap();

    config("kek_file = \"a.kek\"");
    let made = run_in(root, &[], &["content-key", "create", "--dc", "a", "--type", "envelope"]).await.ok();
    let key = made.stdout.trim().to_owned();
    config("kek_env = \"MY_KEK\"");
    let via_env = run_in(root, &[("MY_KEK", &kek)], &["content-key", "export", "--reveal", "--dc", "a", &key]).await;
    assert_eq!(via_env.code, 0, "the same KEK through kek_env opens it: {}", via_env.stderr);
    let unset = run_in(root, &[], &["content-key", "export", "--reveal", "--dc", "a", &key]).await;
    assert!(unset.code == 2 && unset.stderr.contains("MY_KEK"), "{}", unset.stderr);

    let short = B64.encode([1u8; 16]);
    let bad = run_in(root, &[("MY_KEK", &short)], &["content-key", "create", "--dc", "a"]).await;
    assert!(bad.code == 2 && bad.stderr.contains("16 bytes, not 32"), "{}", bad.stderr);
    assert!(!bad.stderr.contains(&short), "the bad KEK is not echoed: {}", bad.stderr);
    let other = B64.encode([8u8; 32]);
    let wrong = run_in(root, &[("MY_KEK", &other)], &["content-key", "export", "--reveal", "--dc", "a", &key]).await;
    assert!(wrong.code != 0 && wrong.stderr.contains("not under the one given"), "{}", wrong.stderr);

    config("kek_env = \"MY_KEK\"\nkek_file = \"a.kek\"");
    let both = run_in(root, &[("MY_KEK", &kek)], &["content-key", "list", "--dc", "a"]).await;
    assert!(both.code == 2 && both.stderr.contains("one of kek_env, kek_file and kek_command"), "{}", both.stderr);
    // MIRRORCAST_KEK_<NAME> wins over the table.
    config("kek_file = \"missing.kek\"");
    let env_wins =
        run_in(root, &[("MIRRORCAST_KEK_A", &kek)], &["content-key", "export", "--reveal", "--dc", "a", &key]).await;
    assert_eq!(env_wins.code, 0, "{}", env_wins.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_imported_from_an_ams_export_keep_their_ids_and_values_and_missing_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let value = [0x42u8; 16];
    let (with, without) = ("3fa85f64-5717-4562-b3fc-2c963f66afa6", "4fa85f64-5717-4562-b3fc-2c963f66afa6");
    // As `az ams streaming-locator list-content-keys` prints them.
    let export = serde_json::json!([
        {"id": with, "type": "CommonEncryptionCenc", "value": B64.encode(value), "policyName": "Tokened",
         "labelReferenceInStreamingPolicy": "cencDefaultKey", "tracks": []},
        {"id": without, "type": "EnvelopeEncryption", "labelReferenceInStreamingPolicy": "aesDefaultKey"}
    ]);
    std::fs::write(root.join("keys.json"), export.to_string()).unwrap();
    let dc = format!("file://{}/a", root.display());
    std::fs::create_dir_all(root.join("a")).unwrap();
    let kek = B64.encode([5u8; 32]);
    let env = [("MIRRORCAST_DC_A", dc.as_str()), ("MIRRORCAST_KEK_A", kek.as_str()), ("RUST_LOG", "trace")];

    let first = run_in(root, &env, &["content-key", "import", "--dc", "a", "keys.json", "--json"]).await;
    assert_eq!(first.code, 1, "a key without its value is not imported: {}", first.stderr);
    let lines = first.json()["keys"].clone();
    assert_eq!(lines[0]["outcome"], "imported", "{lines}");
    assert_eq!(lines[1]["outcome"], "no-value", "{lines}");
    assert!(lines[1]["detail"].as_str().unwrap().contains("content-key create"), "{lines}");
    let again = run_in(root, &env, &["content-key", "import", "--dc", "a", "keys.json"]).await;
    assert!(again.stdout.contains(&format!("{with} cenc same")), "{}", again.stdout);
    let revealed = run_in(root, &env, &["content-key", "export", "--reveal", "--dc", "a", with, "--json"]).await.ok();
    assert_eq!(revealed.json()["keyHex"], "42".repeat(16));
    for run in [&first, &again] {
        assert_absent(&format!("{}{}", run.stdout, run.stderr), &forms(&value), "import's output");
    }
    let store_files: String = walk(&root.join("a"));
    assert_absent(&store_files, &forms(&value), "the data center's files");
}

/// Every file below `dir`, concatenated as text.
fn walk(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.push_str(&walk(&path));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kek_kept_in_a_kms_wraps_a_key_that_b_holds_rewrapped_under_its_own_and_never_in_the_clear() {
    let p = Protected::new().await;
    let id = p.f.publish("KMS clip", "none", 32 * 1024).await;
    let kms = |key_hex: &str| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/kms/fake-kms.sh");
        let text = format!(
            "[dc.a]\nconnection_string_env = \"CONN_A\"\nkek_command = [\"bash\", \"{script}\", \"{key_hex}\"]\n\
             kek_command_timeout_secs = 20\n[dc.b]\nconnection_string_env = \"CONN_B\"\n"
        );
        std::fs::write(p.f.dir.path().join("mirrorcast.toml"), text).unwrap();
    };
    let env = [
        ("CONN_A", p.f.dcs.a.connection_string.as_str()),
        ("CONN_B", p.f.dcs.b.connection_string.as_str()),
        ("MIRRORCAST_KEK_B", p.kek_b.as_str()),
        ("RUST_LOG", "trace"),
    ];
    let run = |args: &'static [&'static str]| run_in(p.f.dir.path(), &env, args);
    let kms_key: String = uuid::Uuid::new_v4().simple().to_string().repeat(2);
    kms(&kms_key);

    let made = run_in(p.f.dir.path(), &env, &["content-key", "create", "--dc", "a", "--type", "cenc"]).await.ok();
    let key = made.stdout.trim().to_owned();
    let shown = run_in(p.f.dir.path(), &env, &["content-key", "show", "--dc", "a", &key, "--json"]).await.ok();
    assert!(
        shown.json()["kek"].as_str().unwrap().starts_with("fake-kms:"),
        "wrapped through the KMS: {}",
        shown.stdout
    );
    run(&["content-key-policy", "create", "--dc", "a", "Open", "--open"]).await.ok();
    let locator = [
        "locator",
        "create",
        "--dc",
        "a",
        &id,
        "--streaming-policy",
        "Predefined_MultiDrmCencStreaming",
        "--content-key-policy",
        "Open",
        "--content-key",
        &key,
    ];
    let mut runs = vec![made, shown, run_in(p.f.dir.path(), &env, &locator).await.ok()];
    let replicated =
        run_in(p.f.dir.path(), &env, &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await;
    assert_eq!(replicated.code, 0, "{}", replicated.stderr);
    assert!(replicated.stderr.contains("TRACE") || replicated.stderr.contains("DEBUG"), "RUST_LOG=trace traces");
    runs.push(replicated);
    let verified =
        run_in(p.f.dir.path(), &env, &["verify", "--from", "a", "--to", "b", "--asset", &id, "--json"]).await;
    assert_eq!(verified.code, 0, "verify is clean: {}{}", verified.stdout, verified.stderr);
    let same_key = verified.json()["assets"][0]["entries"].as_array().unwrap().iter().any(|e| {
        e["check"] == "protection" && e["marker"] == "=" && e["path"] == format!("content key {key}").as_str()
    });
    assert!(same_key, "verify opened both copies and found them equal: {}", verified.stdout);
    runs.push(verified);

    let reveal = |dc: &'static str| {
        let key = key.clone();
        let dir = p.f.dir.path().to_owned();
        async move {
            let out = run_in(&dir, &env, &["content-key", "export", "--reveal", "--dc", dc, &key, "--json"]).await.ok();
            out.json()["keyHex"].as_str().unwrap().to_owned()
        }
    };
    let hex = reveal("a").await;
    assert_eq!(reveal("b").await, hex, "B holds A's key under the same id");
    let b_shown = run_in(p.f.dir.path(), &env, &["content-key", "show", "--dc", "b", &key, "--json"]).await.ok();
    let b_kek = LocalKek::from_base64(&p.kek_b, "test").unwrap();
    assert_eq!(b_shown.json()["kek"].as_str(), Some(b_kek.fingerprint()), "B's copy is under B's local KEK");
    runs.push(b_shown);

    let secret = forms(&hex_bytes(&hex));
    let a_catalog = storage_text(&p.f.dcs.a.store()).await;
    assert!(a_catalog.contains("A256GCM+KMS"), "A's record holds the KMS-wrapped data key");
    assert_absent(&a_catalog, &secret, "A's catalog");
    assert_absent(&storage_text(&p.f.dcs.b.store()).await, &secret, "B's catalog");
    for r in &runs {
        assert_absent(&format!("{}{}", r.stdout, r.stderr), &secret, "a run's output or trace");
    }

    // Another KMS key is named as such; a KMS that fails is named with its first stderr line.
    kms(&uuid::Uuid::new_v4().simple().to_string().repeat(2));
    let wrong = run_in(p.f.dir.path(), &env, &["content-key", "export", "--reveal", "--dc", "a", &key]).await;
    assert!(wrong.code != 0 && wrong.stderr.contains("not under the one given"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("fake-kms:"), "{}", wrong.stderr);
    kms("not-hex");
    let broken = run(&["content-key", "create", "--dc", "a"]).await;
    assert!(broken.code != 0 && broken.stderr.contains("data center 'a': kek_command 'bash'"), "{}", broken.stderr);
    assert!(
        broken.stderr.contains("wrap failed") && broken.stderr.contains("hex string is too short"),
        "{}",
        broken.stderr
    );
    assert!(!broken.stderr.contains("fake-kms.sh"), "the command's arguments are not echoed: {}", broken.stderr);
}
