//! Storage-backend plugins through the CLI: a plugin data center works end to
//! end; files that are not our plugins are refused with exit 2, never a crash.

use std::path::PathBuf;
use std::process::Command;

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::helpers::run_in;
use crate::replicate::Failover;

fn built_plugin(package: &str) -> PathBuf {
    let status = Command::new(env!("CARGO")).args(["build", "--quiet", "-p", package]).status().expect("run cargo");
    assert!(status.success(), "cargo build -p {package} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join(format!("lib{}.so", package.replace('-', "_")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_replicates_into_a_plugin_data_center_and_verifies_identical() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    f.publish("Via Plugin", "none", 16 * 1024).await;
    let plugin = built_plugin("mirrorcast-plugin-localdir");
    let mut env = f.env();
    env.push(("MIRRORCAST_DC_P", format!("plugin:localdir:{}", f.dir.path().join("dc-p").display())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = plugin.to_str().unwrap();
    let copied =
        run_in(f.dir.path(), &env, &["--plugin", p, "replicate", "--from", "a", "--to", "p", "--all", "--json"])
            .await
            .ok();
    assert_eq!(copied.json()["totals"]["copied"], 10);
    let audit =
        run_in(f.dir.path(), &env, &["--plugin", p, "verify", "--from", "a", "--to", "p", "--all", "--deep"]).await;
    assert_eq!(audit.code, 0, "{}", audit.stdout);
    // Found by name in the plugin directory, without --plugin.
    let dir = plugin.parent().unwrap().to_str().unwrap().to_owned();
    let mut env = env.clone();
    env.push(("MIRRORCAST_PLUGIN_DIR", &dir));
    let listed = run_in(f.dir.path(), &env, &["asset", "list", "--dc", "p", "--json"]).await.ok();
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_our_plugins_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("libnotes.so");
    std::fs::write(&text, "not a library").unwrap();
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("a libc.so.6");
    let future = built_plugin("mirrorcast-plugin-wrong-abi");
    for (path, needle) in [
        (text, "is not a loadable shared library"),
        (libc, "exports no `mirrorcast_plugin_init`"),
        (future, "ABI version 99"),
    ] {
        let run = run_in(dir.path(), &[], &["--plugin", path.to_str().unwrap(), "asset", "list", "--dc", "x"]).await;
        run.usage_error(needle);
        assert!(
            run.stderr.contains(path.file_name().unwrap().to_str().unwrap()),
            "the error names the file: {}",
            run.stderr
        );
    }
}
