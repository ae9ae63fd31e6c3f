//! deploy/kubernetes validated as CI must: the core kinds against the Kubernetes
//! schemas, strictly (kubernetes-validate, pinned in tools/deploy-check/requirements.txt),
//! the PrometheusRule and PodMonitor against the Prometheus Operator's CRD schemas (pinned in
//! tools/deploy-check/package-lock.json), and every container's args accepted by
//! the CLI they run. Needs `cargo xtask setup` (the venv and node_modules in
//! tools/deploy-check); without them this test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tools() -> PathBuf {
    root().join("tools/deploy-check")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "deploy/kubernetes lost its manifests: {files:?}");
    files
}

fn kubernetes_validate(files: &[PathBuf]) -> Output {
    let bin = tools().join("venv/bin/kubernetes-validate");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    Command::new(bin).arg("--strict").args(files).output().unwrap()
}

fn crd_validate(files: &[PathBuf]) -> Output {
    let dir = tools();
    assert!(
        dir.join("node_modules/@kubernetes-models").exists(),
        "tools/deploy-check/node_modules is missing: run `cargo xtask setup`"
    );
    Command::new("node").arg(dir.join("validate.mjs")).args(files).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_kubernetes_manifests_validate_against_the_schemas() {
    let files = manifests();
    let core = kubernetes_validate(&files);
    let out = text(&core);
    assert!(core.status.success(), "{out}");
    // Every core resource checked; the only kinds without a schema there are the CRDs checked below.
    assert!(out.matches(" passed for resource ").count() >= 7, "{out}");
    for line in out.lines().filter(|l| l.contains("Couldn't find schema")) {
        assert!(
            line.contains("kind PrometheusRule") || line.contains("kind PodMonitor"),
            "a kind nobody validates: {line}"
        );
    }
    let crd = crd_validate(&files);
    assert!(crd.status.success(), "{}", text(&crd));
}

#[test]
fn every_container_in_the_manifests_runs_arguments_the_cli_accepts() {
    let crd = crd_validate(&manifests());
    assert!(crd.status.success(), "{}", text(&crd));
    let containers: Vec<serde_json::Value> =
        String::from_utf8_lossy(&crd.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let commands: Vec<&str> = containers.iter().map(|c| c["args"][0].as_str().unwrap()).collect();
    for expected in ["serve", "front", "replicate"] {
        assert!(commands.contains(&expected), "no container runs `{expected}`: {commands:?}");
    }
    for c in &containers {
        let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        // clap parses every argument before it acts on --help: an unknown flag or a bad value is exit 2.
        let run = Command::new(env!("CARGO_BIN_EXE_mirrorcast")).args(&args).arg("--help").output().unwrap();
        assert!(run.status.success(), "{} {}: {args:?}\n{}", c["file"], c["container"], text(&run));
    }
}

/// The validators are strict: a misspelt field and a rule without its expression are refused.
#[test]
fn a_misspelt_manifest_is_refused_by_the_validators() {
    let dir = tempfile::tempdir().unwrap();
    let serve = std::fs::read_to_string(root().join("deploy/kubernetes/serve.yaml")).unwrap();
    let bad = dir.path().join("serve.yaml");
    std::fs::write(&bad, serve.replace("readinessProbe:", "readinesProbe:")).unwrap();
    let core = kubernetes_validate(&[bad]);
    assert!(!core.status.success(), "a misspelt probe passed: {}", text(&core));

    let rules = std::fs::read_to_string(root().join("deploy/kubernetes/prometheusrule.yaml")).unwrap();
    let bad = dir.path().join("prometheusrule.yaml");
    std::fs::write(&bad, rules.replacen("expr:", "exprr:", 1)).unwrap();
    let crd = crd_validate(&[bad]);
    assert!(!crd.status.success(), "a rule without expr passed: {}", text(&crd));
    assert!(text(&crd).contains("expr"), "{}", text(&crd));
}
