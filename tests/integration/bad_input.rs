//! Each bad input: exit 2, one clear line, nothing written.

use mirrorcast_core::catalog::CATALOG_CONTAINER;
use mirrorcast_core::store::{BlobStore, BlobStoreExt};

use crate::helpers::Sandbox;

async fn nothing_written(sb: &Sandbox) {
    let store = sb.azurite.store("devstoreaccount1");
    assert!(store.list_containers("").await.unwrap().is_empty(), "a refused command must write nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_connection_string_is_a_usage_error() {
    let sb = Sandbox::start().await;
    let run = sb
        .run_with(
            &[("MIRRORCAST_DC_A", "AccountName=devstoreaccount1;AccountKey")],
            &["asset", "create", "--dc", "a", "--name", "x"],
        )
        .await;
    run.usage_error("malformed connection string");
    assert!(run.stderr.contains("MIRRORCAST_DC_A"), "the error must name where the string came from: {}", run.stderr);
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_data_center_is_a_usage_error() {
    let sb = Sandbox::start().await;
    let run = sb.run(&["asset", "list", "--dc", "nowhere"]).await;
    run.usage_error("unknown data center 'nowhere'");
    assert!(run.stderr.contains("MIRRORCAST_DC_NOWHERE"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locator_id_that_is_not_a_guid_writes_nothing() {
    let sb = Sandbox::start().await;
    let id = sb.run(&["asset", "create", "--dc", "a", "--name", "x", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = sb.azurite.store("devstoreaccount1");
    let before = store.list_all(CATALOG_CONTAINER, "").await.unwrap().len();
    let run = sb.run(&["locator", "create", "--dc", "a", &id, "--id", "not-a-guid"]).await;
    run.usage_error("'not-a-guid' is not a valid locator id");
    let after = store.list_all(CATALOG_CONTAINER, "").await.unwrap().len();
    assert_eq!(before, after, "no policy or locator may be written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let sb = Sandbox::start().await;
    let cs =
        "DefaultEndpointsProtocol=http;AccountName=media;AccountKey=c2VjcmV0;BlobEndpoint=http://media.example.com/";
    let run = sb.run_with(&[("MIRRORCAST_DC_A", cs)], &["asset", "create", "--dc", "a", "--name", "x"]).await;
    run.usage_error("HTTPS is required");
    assert!(!run.stderr.contains("c2VjcmV0"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_account_key_is_an_authentication_failure_for_that_account() {
    let sb = Sandbox::start().await;
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={wrong};BlobEndpoint={}",
        sb.azurite.blob_endpoint("devstoreaccount1")
    );
    let run = sb.run_with(&[("MIRRORCAST_DC_A", &cs)], &["asset", "create", "--dc", "a", "--name", "x"]).await;
    run.usage_error("authentication failed for account 'devstoreaccount1'");
    assert!(!run.stderr.contains(wrong));
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_caps_are_usage_errors_that_write_nothing() {
    let sb = Sandbox::start().await;
    let id = "nb:cid:UUID:6f1c2a8e-0d4b-4c7a-9a51-2f7d3c9e8b10";
    let file = std::env::temp_dir().join(format!("mirrorcast-caps-{}.mp4", std::process::id()));
    std::fs::write(&file, b"tiny").unwrap();
    let upload = |flag: &'static str, value: &'static str| {
        vec!["asset", "upload", "--dc", "a", id, file.to_str().unwrap(), flag, value]
    };
    let run = sb.run(&upload("--max-bandwidth", "fast")).await;
    run.usage_error("--max-bandwidth");
    let run = sb.run(&upload("--max-requests-per-second", "0")).await;
    run.usage_error("--max-requests-per-second");
    let run = sb.run(&upload("--max-requests-per-second", "NaN")).await;
    run.usage_error("--max-requests-per-second");
    let run = sb.run(&["replicate", "--from", "a", "--to", "b", "--all", "--max-bandwidth=-5MiB/s"]).await;
    run.usage_error("--max-bandwidth");
    std::fs::remove_file(&file).unwrap();
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_out_of_range_are_usage_errors_naming_the_flag() {
    let sb = Sandbox::start().await;
    let cases: &[(&[&str], &str)] = &[
        (&["asset", "upload", "--dc", "a", "x", "f", "--concurrency", "99999999999999999999"], "--concurrency"),
        (&["asset", "upload", "--dc", "a", "x", "f", "--concurrency", "0"], "--concurrency"),
        (&["asset", "upload", "--dc", "a", "x", "f", "--block-size-mib", "0"], "--block-size-mib"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--sas-minutes", "-1"], "--sas-minutes"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--block-size-mib", "4001"], "--block-size-mib"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--concurrency", "-3"], "--concurrency"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--delete", "--max-delete", "-1"], "--max-delete"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--max-delete", "5"], "--delete"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--allow-empty-source"], "--delete"),
        (&["locator", "create", "--dc", "a", "x", "--days", "1e9"], "--days"),
        (&["locator", "create", "--dc", "a", "x", "--days", "99999999999"], "--days"),
        (&["locator", "create", "--dc", "a", "x", "--backdate-minutes", "-5"], "--backdate-minutes"),
        (&["locator", "create", "--dc", "a", "x", "--backdate", "2d"], "--backdate"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--sas-lifetime", "1m"], "--sas-lifetime"),
        (&["replicate", "--from", "a", "--to", "b", "--all", "--sas-lifetime", "15"], "--sas-lifetime"),
        (&["verify", "--from", "a", "--to", "b", "--all", "--parallel", "0"], "--parallel"),
        (&["--retry-for", "0s", "asset", "list", "--dc", "a"], "--retry-for"),
        (&["--retry-for", "forever", "asset", "list", "--dc", "a"], "--retry-for"),
    ];
    for (args, flag) in cases {
        sb.run(args).await.usage_error(flag);
    }
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_names_azure_would_refuse_are_refused_before_any_request() {
    let sb = Sandbox::start().await;
    for bad in ["Media_Store", "ab", "waytoolongforanazureaccount1"] {
        let cs = format!(
            "DefaultEndpointsProtocol=http;AccountName={bad};AccountKey=c2VjcmV0;BlobEndpoint={}",
            sb.azurite.blob_endpoint("devstoreaccount1")
        );
        let run = sb.run_with(&[("MIRRORCAST_DC_A", &cs)], &["asset", "create", "--dc", "a", "--name", "x"]).await;
        run.usage_error(&format!("invalid account name '{bad}'"));
    }
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_another_format_conflict() {
    let sb = Sandbox::start().await;
    let run = sb.run(&["verify", "--from", "a", "--to", "b", "--all", "--json", "--format", "junit"]).await;
    run.usage_error("--json and --format junit conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_config_file_is_checked_even_when_the_environment_names_the_data_center() {
    let sb = Sandbox::start().await;
    let path = sb.dir.path().join("broken.toml");
    std::fs::write(&path, "[dc.a]\nurl = \"file:///tmp/x\"\nnonsense = 1\n").unwrap();
    let run = sb.run(&["--config", path.to_str().unwrap(), "asset", "create", "--dc", "a", "--name", "x"]).await;
    run.usage_error("broken.toml");
    let missing = sb.run(&["--config", "/nonexistent/mirrorcast.toml", "asset", "list", "--dc", "a"]).await;
    missing.usage_error("/nonexistent/mirrorcast.toml");
    nothing_written(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_directory_is_refused_as_a_file_data_center() {
    let sb = Sandbox::start().await;
    for url in ["file://", "file:///"] {
        let run = sb.run_with(&[("MIRRORCAST_DC_X", url)], &["asset", "create", "--dc", "x", "--name", "n"]).await;
        run.usage_error("root directory");
    }
}

/// Runs the CLI with its stdout closed before it writes, as `| head -c 0` would.
async fn run_with_closed_stdout(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let env = [("MIRRORCAST_DC_A", sb.connection_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cmd = crate::helpers::command_in(sb.dir.path(), &env, args);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly_with_the_usual_status() {
    let sb = Sandbox::start().await;
    for i in 0..3 {
        sb.run(&["asset", "create", "--dc", "a", "--name", &format!("asset {i}")]).await.ok();
    }
    for args in [&["asset", "list", "--dc", "a"][..], &["asset", "list", "--dc", "a", "--json"], &["--help"]] {
        let (code, stderr) = run_with_closed_stdout(&sb, args).await;
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: a reader that left is no error: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_given_up_after_the_retry_budget_naming_the_data_center() {
    let sb = Sandbox::start().await;
    // Nothing listens on the first port; the second accepts and never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let key = mirrorcast_azure_blob::config::DEV_ACCOUNT_KEY;
    for port in [closed, silent.local_addr().unwrap().port()] {
        let cs = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
        );
        let run =
            sb.run_with(&[("MIRRORCAST_DC_DEAD", &cs)], &["--retry-for", "2s", "asset", "list", "--dc", "dead"]).await;
        assert_eq!(run.code, 1, "{run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{run:?}");
        assert!(lines[0].contains("data center 'dead'"), "{}", lines[0]);
        assert!(lines[0].contains("gave up after"), "{}", lines[0]);
    }
}
