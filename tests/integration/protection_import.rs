//! Content protection brought in from Media Services (#26 item 5): a v3
//! export's keys, content key policies and streaming policies imported with
//! their ids and names, each record alone (a bad one refused with its reason,
//! a key the export lacks named), secrets stored only wrapped and never shown.

use base64::Engine as _;
use serde_json::Value;

use crate::adopt::ams_container;
use crate::content_keys::{assert_absent, forms, storage_text, Protected};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ams");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const CENC_KEY: &str = "c0ffee00-1111-4222-8333-444455556666";
const AES_KEY: &str = "d0ffee00-1111-4222-8333-444455556666";
const LOST_KEY: &str = "e0ffee00-1111-4222-8333-444455556666";

/// The export's secrets, in every form they could be written in.
fn export_secrets() -> Vec<String> {
    let mut all = Vec::new();
    for b64 in [
        "m4677o6p7d7LZCinBJ7Vbw==",
        "lEpmcFRY2X7q3dc8wP4ypA==",
        "4pjy6urTE+VWrmLIEWS1LaxIJFWHaouOo1+3pimVEXDzjggn0pC08Od0Z7KjNLTxevtgj+sVKFCDQRGLxXSn1g==",
    ] {
        all.extend(forms(&B64.decode(b64).unwrap()));
    }
    all.extend(forms(b"legacy-swt-signing-secret-made-as-text"));
    all.push("legacy-swt-signing-secret".into());
    all
}

fn line<'j>(report: &'j Value, id: &str) -> &'j Value {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("no line for {id}: {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_export_imports_keys_policies_and_streaming_policies_with_their_ids_each_record_alone() {
    let p = Protected::new().await;
    let a = p.f.dcs.a.store();
    ams_container(&a, "asset-7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "Protected clip", 3).await;
    let export = format!("{DATA}/v3-protected");

    let plan = p.run(false, &[], &["import", "--dc", "a", &export, "--dry-run", "--json"]).await;
    assert_eq!(plan.json()["totals"]["create"], 10, "4 policies, 2 keys, the asset, 3 locators: {}", plan.stdout);
    assert!(!storage_text_has_keys(&a).await, "a dry run writes no key");

    let run = p.run(false, &[("RUST_LOG", "trace")], &["import", "--dc", "a", &export, "--json"]).await;
    assert_eq!(run.code, 1, "a key the export lacks and bad records fail the run: {}", run.stderr);
    let report = run.json();
    for (id, action) in [
        ("TokenedClearKey", "created"),
        ("MultiDrm", "created"),
        ("LegacySwt", "created"),
        ("CencClearKey", "created"),
        ("Predefined_ClearKey", "skipped"),
        (CENC_KEY, "created"),
        (AES_KEY, "created"),
        (LOST_KEY, "missing"),
        ("NoSecretsExported", "invalid"),
        ("EnvelopeAndCencOnDash", "invalid"),
        ("nb:cid:UUID:7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "created"),
    ] {
        assert_eq!(line(&report, id)["action"], action, "{id}: {report}");
    }
    let lost = line(&report, LOST_KEY)["message"].as_str().unwrap();
    assert!(lost.contains("content-key create") && lost.contains("licences already issued"), "{lost}");
    assert!(line(&report, "NoSecretsExported")["message"].as_str().unwrap().contains("--with-secrets"));
    assert!(line(&report, "EnvelopeAndCencOnDash")["message"].as_str().unwrap().contains("one scheme per protocol"));
    assert!(line(&report, "LegacySwt")["message"].as_str().unwrap().contains("JWTs only"));
    assert!(line(&report, "MultiDrm")["message"].as_str().unwrap().contains("FairPlay"));
    let locators = report["records"].as_array().unwrap().iter().filter(|l| l["kind"] == "locator");
    assert_eq!(locators.filter(|l| l["action"] == "created").count(), 3, "{report}");

    // The records, as the CLI shows them: ids and names kept, secrets by kind only.
    let keys = p.run(false, &[], &["content-key", "list", "--dc", "a", "--json"]).await.ok().json();
    let listed: Vec<(&str, &str)> =
        keys.as_array().unwrap().iter().map(|k| (k["id"].as_str().unwrap(), k["type"].as_str().unwrap())).collect();
    assert!(listed.contains(&(CENC_KEY, "cenc")) && listed.contains(&(AES_KEY, "envelope")), "{keys}");
    let shown = p.run(false, &[], &["content-key", "show", "--dc", "a", CENC_KEY, "--json"]).await.ok().json();
    assert_eq!(shown["policyName"], "TokenedClearKey");
    let policy =
        p.run(false, &[], &["content-key-policy", "show", "--dc", "a", "TokenedClearKey", "--json"]).await.ok().json();
    let option = &policy["options"][0];
    assert_eq!(
        (option["restriction"].as_str(), option["issuer"].as_str()),
        (Some("token"), Some("https://issuer.example/"))
    );
    assert_eq!(option["tokenKeys"], serde_json::json!(["hs256", "rs256"]));
    assert_eq!(option["requiredClaims"][0]["claimType"], "urn:microsoft:azure:mediaservices:contentkeyidentifier");
    let streaming =
        p.run(false, &[], &["streaming-policy", "show", "--dc", "a", "CencClearKey", "--json"]).await.ok().json();
    assert_eq!(streaming["defaultContentKeyPolicyName"], "TokenedClearKey");
    assert_eq!(
        streaming["drm"][1]["licenseUrlTemplate"], "https://drm.example/playready/{ContentKeyId}",
        "{streaming}"
    );
    let locators = p.run(false, &[], &["locator", "list", "--dc", "a", "--json"]).await.ok().json();
    let cenc =
        locators.as_array().unwrap().iter().find(|l| l.to_string().contains("8f2a3b4c-5d6e-4f7a-9b8c-0d1e2f3a4b5c"));
    let cenc = cenc.unwrap_or_else(|| panic!("{locators}"));
    assert_eq!(cenc["delivery"]["contentKeyIds"][0], CENC_KEY, "{cenc}");

    // The export's key comes back out; nothing of it or of the HS256 key is in the clear anywhere else.
    let hex = p.reveal("a", CENC_KEY).await;
    assert_eq!(B64.encode(crate::content_keys::hex_bytes(&hex)), "m4677o6p7d7LZCinBJ7Vbw==");
    let secrets = export_secrets();
    assert_absent(&storage_text(&a).await, &secrets, "A's catalog");
    for r in [&plan, &run] {
        assert_absent(&format!("{}{}", r.stdout, r.stderr), &secrets, "import's output and trace logs");
    }

    // Again: every record is found as it is, none rewritten.
    let again = p.run(false, &[], &["import", "--dc", "a", &export, "--json"]).await.json();
    for id in ["TokenedClearKey", "LegacySwt", "CencClearKey", CENC_KEY, AES_KEY] {
        assert_eq!(line(&again, id)["action"], "exists", "{id}: {again}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_kek_the_secrets_are_refused_by_record_and_the_rest_imported() {
    let p = Protected::new().await;
    let a = p.f.dcs.a.store();
    ams_container(&a, "asset-7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "Protected clip", 3).await;
    let env: Vec<(&str, String)> = p.f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let export = format!("{DATA}/v3-protected");
    let run = crate::helpers::run_in(p.f.dir.path(), &env, &["import", "--dc", "a", &export, "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    for (id, action) in
        [("TokenedClearKey", "invalid"), ("MultiDrm", "created"), ("CencClearKey", "created"), (CENC_KEY, "invalid")]
    {
        assert_eq!(line(&report, id)["action"], action, "{id}: {report}");
    }
    assert!(line(&report, CENC_KEY)["message"].as_str().unwrap().contains("MIRRORCAST_KEK_"), "{report}");
    assert_absent(&format!("{}{}", run.stdout, run.stderr), &export_secrets(), "the refusals");
}

/// Whether A's catalog holds any content key record.
async fn storage_text_has_keys(store: &dyn mirrorcast_core::store::BlobStore) -> bool {
    use mirrorcast_core::catalog::CATALOG_CONTAINER;
    use mirrorcast_core::store::BlobStoreExt;
    store.list_all(CATALOG_CONTAINER, "content-keys/").await.map(|l| !l.is_empty()).unwrap_or(false)
}
