//! `cargo xtask tidy`: the crate graph against the rules ARCHITECTURE.md states.
//!
//! The rules are the bullets of ARCHITECTURE.md's "Crate edges" section, each
//! "- `a`, `b` never depend on `x`, `y` — why": read from the document itself,
//! so the document and the check cannot drift apart. The graph is `cargo metadata`'s
//! resolve: a forbidden crate reached through another crate's normal or build
//! dependencies counts (a library that pulls in hyper through a helper crate still
//! speaks HTTP); dev-dependencies do not (tests may use anything).
//! Besides the rules: every normal dependency a workspace crate declares is used
//! by its code, and every `[workspace.dependencies]` entry by some member.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// One rule: none of `crates` may reach any of `forbidden`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub crates: Vec<String>,
    pub forbidden: Vec<String>,
    /// The bullet as written, quoted when the rule is broken.
    pub text: String,
}

/// A workspace crate as the check sees it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Member {
    pub name: String,
    /// Normal and build dependencies: package name → the name code uses (`md-5` → `md5`).
    pub direct: BTreeMap<String, String>,
    /// The directories holding its library's and binaries' sources.
    pub source_dirs: Vec<PathBuf>,
}

/// The graph: workspace members, and every package's normal/build dependencies by package name.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub members: Vec<Member>,
    pub edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Every package `name` reaches through normal and build dependencies.
    pub(crate) fn reachable(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut next = vec![name.to_owned()];
        while let Some(current) = next.pop() {
            for dep in self.edges.get(&current).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    next.push(dep.clone());
                }
            }
        }
        seen
    }

    /// The path from `from` to `to` (names), for a message a reader can act on.
    fn path(&self, from: &str, to: &str) -> Vec<String> {
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from.to_owned()]);
        while let Some(current) = queue.pop_front() {
            if current == to {
                let mut path = vec![to.to_owned()];
                while let Some(p) = parent.get(path.last().unwrap()) {
                    path.push(p.clone());
                }
                path.reverse();
                return path;
            }
            for dep in self.edges.get(&current).into_iter().flatten() {
                if dep != from && !parent.contains_key(dep) {
                    parent.insert(dep.clone(), current.clone());
                    queue.push_back(dep.clone());
                }
            }
        }
        vec![from.to_owned(), to.to_owned()]
    }
}

/// The rules of ARCHITECTURE.md's "## Crate edges" section.
pub(crate) fn rules(architecture: &str) -> Result<Vec<Rule>> {
    let architecture = format!("\n{architecture}");
    let section = architecture
        .split("\n## ")
        .find(|part| part.starts_with("Crate edges"))
        .context("ARCHITECTURE.md has no \"## Crate edges\" section: the tidy check reads its rules from there")?;
    let mut rules = Vec::new();
    for line in section.lines().filter(|line| line.starts_with("- ")) {
        let Some((subjects, objects)) = line.split_once(" never depend") else {
            bail!("ARCHITECTURE.md, Crate edges: a bullet that is no rule (\"- `a` never depends on `b`\"): {line}");
        };
        let objects = objects.split(" — ").next().unwrap_or(objects);
        let rule = Rule { crates: ticked(subjects), forbidden: ticked(objects), text: line[2..].to_owned() };
        if rule.crates.is_empty() || rule.forbidden.is_empty() {
            bail!("ARCHITECTURE.md, Crate edges: name the crates in backticks on both sides: {line}");
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        bail!("ARCHITECTURE.md's Crate edges section lists no rule");
    }
    Ok(rules)
}

/// The `backticked` words of a text.
fn ticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// What is wrong with the graph: one line per broken rule, unknown crate or unused dependency.
pub(crate) fn problems(graph: &Graph, rules: &[Rule], workspace_dependencies: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let members: BTreeSet<&str> = graph.members.iter().map(|m| m.name.as_str()).collect();
    for rule in rules {
        for name in &rule.crates {
            if !members.contains(name.as_str()) {
                found.push(format!(
                    "ARCHITECTURE.md names `{name}` in a crate-edge rule, and no workspace crate has that name: {}",
                    rule.text
                ));
                continue;
            }
            let reached = graph.reachable(name);
            for forbidden in rule.forbidden.iter().filter(|f| reached.contains(*f)) {
                found.push(format!(
                    "{name} depends on {forbidden} ({}), which ARCHITECTURE.md forbids: {}",
                    graph.path(name, forbidden).join(" → "),
                    rule.text
                ));
            }
        }
    }
    for member in &graph.members {
        let code = source_text(&member.source_dirs);
        for (package, used_as) in &member.direct {
            if !mentions(&code, used_as) {
                found.push(format!(
                    "{} declares the dependency {package} and no code of its library or binaries uses `{used_as}`: \
                     remove it, or make it a dev-dependency if only tests use it",
                    member.name
                ));
            }
        }
    }
    let declared: BTreeSet<&String> = graph.members.iter().flat_map(|m| m.direct.keys()).collect();
    let all_declared: BTreeSet<&String> = graph.edges.values().flatten().collect();
    for entry in workspace_dependencies {
        if !declared.contains(entry) && !all_declared.contains(entry) && !members.contains(entry.as_str()) {
            found.push(format!("[workspace.dependencies] lists {entry} and no workspace crate uses it: remove it"));
        }
    }
    found
}

/// Whether Rust source uses the crate `name` (a path through it, a `use` or `extern crate`).
fn mentions(code: &str, name: &str) -> bool {
    let mut rest = code;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + name.len()..];
        let word_start = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if word_start && (after.starts_with("::") || after.starts_with(';') || after.starts_with(" as ")) {
            return true;
        }
        rest = &rest[at + name.len()..];
    }
    false
}

fn source_text(dirs: &[PathBuf]) -> String {
    let mut text = String::new();
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            text.push('\n');
        }
    }
    text
}

/// The workspace's graph from `cargo metadata`.
pub(crate) fn graph(root: &Path) -> Result<Graph> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).context("cargo metadata printed no JSON")?;
    graph_of(&metadata)
}

fn graph_of(metadata: &Value) -> Result<Graph> {
    let packages = metadata["packages"].as_array().context("cargo metadata: no packages")?;
    let name_of: BTreeMap<&str, &str> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let workspace: BTreeSet<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut graph = Graph::default();
    for node in metadata["resolve"]["nodes"].as_array().context("cargo metadata: no resolve graph")? {
        let id = node["id"].as_str().unwrap_or_default();
        let Some(name) = name_of.get(id) else { continue };
        let mut direct = BTreeMap::new();
        for dep in node["deps"].as_array().into_iter().flatten() {
            let not_dev = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null() || kind["kind"] == "build");
            if !not_dev {
                continue;
            }
            let package = name_of.get(dep["pkg"].as_str().unwrap_or_default()).copied().unwrap_or_default();
            graph.edges.entry(name.to_string()).or_default().insert(package.to_owned());
            direct.insert(package.to_owned(), dep["name"].as_str().unwrap_or(package).to_owned());
        }
        if workspace.contains(id) {
            let package = packages.iter().find(|p| p["id"] == id).context("cargo metadata: a member is missing")?;
            let source_dirs =
                package["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| {
                        t["kind"].as_array().into_iter().flatten().any(|k| {
                            matches!(k.as_str(), Some("lib" | "rlib" | "cdylib" | "dylib" | "bin" | "proc-macro"))
                        })
                    })
                    .filter_map(|t| Some(Path::new(t["src_path"].as_str()?).parent()?.to_path_buf()))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
            graph.members.push(Member { name: name.to_string(), direct, source_dirs });
        }
    }
    graph.members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(graph)
}

/// The names under the root manifest's `[workspace.dependencies]`.
fn workspace_dependencies(root: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).context("cannot read Cargo.toml")?;
    let manifest: toml::Table = text.parse().context("Cargo.toml is not TOML")?;
    Ok(manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default())
}

/// Each bullet of ARCHITECTURE.md's "## Invariants" ends with " — `path`, …": where it is enforced.
/// A bullet naming no path, or a path that is not there, is a problem (the map drifted from the code).
pub(crate) fn invariant_problems(architecture: &str, root: &Path) -> Vec<String> {
    let architecture = format!("\n{architecture}");
    let Some(section) = architecture.split("\n## ").find(|part| part.starts_with("Invariants")) else {
        return vec!["ARCHITECTURE.md has no \"## Invariants\" section".to_owned()];
    };
    let mut found = Vec::new();
    for line in section.lines().filter(|line| line.starts_with("- ")) {
        let paths: Vec<String> = line
            .rsplit_once(" — ")
            .map(|(_, place)| ticked(place))
            .unwrap_or_default()
            .into_iter()
            .filter(|word| word.contains('/') || word.ends_with(".rs") || word.ends_with(".toml"))
            .collect();
        if paths.is_empty() {
            found.push(format!(
                "ARCHITECTURE.md: an invariant names no place that enforces it (end it with \" — `path`\"): {line}"
            ));
        }
        for path in paths.iter().filter(|path| !root.join(path).exists()) {
            found.push(format!("ARCHITECTURE.md: an invariant points at {path}, which does not exist: {line}"));
        }
    }
    found
}

/// The check `cargo xtask tidy` runs (and `cargo xtask test` before the tests).
pub(crate) fn run(root: &Path) -> Result<()> {
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("cannot read ARCHITECTURE.md")?;
    let rules = rules(&architecture)?;
    let mut found = problems(&graph(root)?, &rules, &workspace_dependencies(root)?);
    found.extend(invariant_problems(&architecture, root));
    if !found.is_empty() {
        for problem in &found {
            eprintln!("tidy: {problem}");
        }
        bail!("tidy: {} problem(s) in the crate graph", found.len());
    }
    eprintln!(
        "tidy: {} crate-edge rules hold; every declared dependency is used; every invariant names a place that exists",
        rules.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, deps: &[&str], dir: &Path) -> Member {
        Member {
            name: name.to_owned(),
            direct: deps.iter().map(|d| (d.to_string(), d.replace('-', "_"))).collect(),
            source_dirs: vec![dir.to_path_buf()],
        }
    }

    fn graph(edges: &[(&str, &[&str])], dir: &Path) -> Graph {
        let mut graph = Graph::default();
        for (name, deps) in edges {
            graph.edges.insert(name.to_string(), deps.iter().map(|d| d.to_string()).collect());
            if name.starts_with("mirrorcast") {
                graph.members.push(member(name, deps, dir));
            }
        }
        graph
    }

    const DOC: &str = "# A\n\n## Crate edges\n\nChecked by tidy.\n\n\
        - `mirrorcast-core` never depends on `hyper`, `reqwest` — the domain speaks no HTTP\n\
        - `mirrorcast-front` never depends on `mirrorcast-origin`\n\n## Invariants\n\n- not a rule\n";

    #[test]
    fn rules_are_read_from_the_crate_edges_section_only() {
        let rules = rules(DOC).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].crates, ["mirrorcast-core"]);
        assert_eq!(rules[0].forbidden, ["hyper", "reqwest"]);
        assert_eq!(rules[1].forbidden, ["mirrorcast-origin"]);
        assert!(super::rules("# A\n\n## Invariants\n- x\n").is_err());
        assert!(super::rules("## Crate edges\n\n- `a` may use `b`\n").is_err());
    }

    #[test]
    fn a_forbidden_edge_is_found_directly_and_through_another_crate() {
        let dir = tempfile_dir("uses");
        std::fs::write(dir.join("lib.rs"), "use mirrorcast_util::x;\nuse mirrorcast_origin as o;\n").unwrap();
        let clean = graph(&[("mirrorcast-core", &[]), ("mirrorcast-front", &[])], &dir);
        assert!(problems(&clean, &rules(DOC).unwrap(), &[]).is_empty());

        let direct = graph(&[("mirrorcast-core", &[]), ("mirrorcast-front", &["mirrorcast-origin"])], &dir);
        let found = problems(&direct, &rules(DOC).unwrap(), &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("mirrorcast-front depends on mirrorcast-origin"), "{found:?}");

        let through =
            graph(&[("mirrorcast-core", &["mirrorcast-util"]), ("mirrorcast-util", &["hyper"]), ("hyper", &[])], &dir);
        let found = problems(&through, &rules(DOC).unwrap(), &[]);
        assert!(found.iter().any(|p| p.contains("mirrorcast-core → mirrorcast-util → hyper")), "{found:?}");
    }

    #[test]
    fn a_declared_dependency_no_code_uses_is_reported() {
        let dir = tempfile_dir("unused");
        std::fs::write(
            dir.join("lib.rs"),
            "use serde::Serialize;\n// md5 is only named here\nfn f() { tokio::spawn(); }\n",
        )
        .unwrap();
        let g = graph(&[("mirrorcast-x", &["serde", "tokio", "md5"])], &dir);
        let found = problems(&g, &[], &["serde".into(), "tokio".into(), "md5".into(), "walkdir".into()]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("declares the dependency md5"), "{found:?}");
        assert!(found[1].contains("lists walkdir"), "{found:?}");
    }

    #[test]
    fn a_rule_naming_no_workspace_crate_is_itself_a_problem() {
        let dir = tempfile_dir("typo");
        let g = graph(&[("mirrorcast-core", &[])], &dir);
        let found = problems(&g, &rules(DOC).unwrap(), &[]);
        assert!(found.iter().any(|p| p.contains("`mirrorcast-front`")), "{found:?}");
    }

    #[test]
    fn an_invariant_without_a_place_or_with_a_missing_one_is_reported() {
        let dir = tempfile_dir("invariants");
        std::fs::create_dir_all(dir.join("core/src")).unwrap();
        std::fs::write(dir.join("core/src/model.rs"), "").unwrap();
        let doc = "## Invariants\n\nintro\n\n### Records\n\
            - checked before use — `core/src/model.rs`\n\
            - a paragraph with no place\n\
            - moved away — `core/src/gone.rs`, `core/src/model.rs`\n\n## Next\n- not an invariant\n";
        let found = invariant_problems(doc, &dir);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("names no place"), "{found:?}");
        assert!(found[1].contains("core/src/gone.rs, which does not exist"), "{found:?}");
    }

    /// The workspace itself: the rules ARCHITECTURE.md states hold (so `cargo test` guards them too).
    #[test]
    fn the_workspace_keeps_the_crate_edges_architecture_md_states() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        run(root).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mirrorcast-tidy-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
