//! No secret in any output, even at trace level.

use crate::helpers::{write_sample, Sandbox};

fn assert_no_secrets(text: &str, key: &str) {
    assert!(!text.contains(key), "the account key leaked into the output");
    for (i, _) in text.match_indices("sig=") {
        assert!(
            text[i + 4..].starts_with("REDACTED"),
            "a SAS signature leaked: …{}…",
            &text[i.saturating_sub(40)..(i + 60).min(text.len())]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_upload_at_trace_level_shows_no_key_and_no_signature() {
    let sb = Sandbox::start().await;
    let cs = sb.connection_string();
    let key = sb.azurite.accounts()[0].key.expose().to_owned();
    let env = [("MIRRORCAST_DC_A", cs.as_str()), ("RUST_LOG", "trace")];
    let created = sb.run_with(&env, &["asset", "create", "--dc", "a", "--name", "secret test", "--json"]).await.ok();
    let id = serde_json::from_str::<serde_json::Value>(&created.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    let folder = sb.dir.path().join("enc");
    write_sample(&folder, 5 * 1024 * 1024);
    let up = sb
        .run_with(&env, &["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap(), "--block-size-mib", "1"])
        .await
        .ok();
    let sas = sb.run_with(&env, &["locator", "create", "--dc", "a", &id, "--type", "sas"]).await.ok();
    assert!(sas.stdout.contains("sig=REDACTED"), "a SAS locator URL is shown redacted: {}", sas.stdout);
    assert!(up.stderr.contains("TRACE") || up.stderr.contains("DEBUG"), "RUST_LOG=trace must produce a trace");
    for run in [&created, &up, &sas] {
        assert_no_secrets(&run.stdout, &key);
        assert_no_secrets(&run.stderr, &key);
    }
}
