//! The example plugin loaded through the ABI passes the conformance suite;
//! files that are not our plugins are refused with clear errors.

use std::path::PathBuf;
use std::process::Command;

use mirrorcast_plugin::{load, Error};
use mirrorcast_store::conformance;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("debug")
}

/// Builds the example plugins (a no-op when they are fresh) and returns the path of one.
fn plugin(package: &str) -> PathBuf {
    let status = Command::new(env!("CARGO")).args(["build", "--quiet", "-p", package]).status().expect("run cargo");
    assert!(status.success(), "cargo build -p {package} failed");
    let path = target_dir().join(format!("lib{}.so", package.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugin_passes_the_conformance_suite_through_the_abi() {
    let lib = load(&plugin("mirrorcast-plugin-localdir")).unwrap();
    assert_eq!(lib.name(), "localdir");
    let dir = tempfile::tempdir().unwrap();
    let store = lib.open(dir.path().join("dc").to_str().unwrap()).unwrap();
    conformance::run_all(&store).await;
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libfake.so");
    std::fs::write(&path, "just text").unwrap();
    let e = load(&path).unwrap_err();
    assert!(matches!(e, Error::NotALibrary { .. }), "{e}");
    assert!(e.to_string().contains("libfake.so"), "{e}");
}

#[test]
fn a_shared_library_without_the_init_symbol_is_refused() {
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("a libc.so.6 to load");
    let e = load(&libc).unwrap_err();
    assert!(matches!(e, Error::NotAPlugin { .. }), "{e}");
    assert!(e.to_string().contains("mirrorcast_plugin_init"), "{e}");
}

#[test]
fn a_plugin_for_another_abi_version_is_refused() {
    let e = load(&plugin("mirrorcast-plugin-wrong-abi")).unwrap_err();
    assert!(matches!(e, Error::AbiMismatch { plugin: 99, host: 1, .. }), "{e}");
    assert!(e.to_string().contains("ABI version 99"), "{e}");
}
