//! The daemon's layering, checked from its own sources: no import cycle between sibling modules at
//! any depth, and the roles point one way (`cli`, `http`, `jobs` → `services` → the leaves `app`,
//! `output`, `telemetry`). Run it with `cargo test -p orgid layering`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("cli", &["http", "jobs", "services", "output", "app", "telemetry"]),
    ("http", &["services", "output", "app"]),
    ("jobs", &["services", "output", "app"]),
    ("services", &["output", "app"]),
    ("output", &[]),
    ("app", &[]),
    ("telemetry", &[]),
];

type Module = Vec<String>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `services/targets/ldap.rs` → `[services, targets, ldap]`; `mod.rs` is its folder's module.
/// A `#[path]` test file (`parts_tests.rs`) belongs to the module that includes it.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if m.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        m.pop();
    }
    if let Some(last) = m.last_mut()
        && let Some(base) = last.strip_suffix("_tests")
    {
        *last = base.to_string();
    }
    m
}

/// The module paths a file refers to: `crate::a::b…` and `super::…`, cut to the longest known module.
fn references(text: &str, here: &Module, modules: &BTreeSet<Module>) -> Vec<Module> {
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", here[..here.len().saturating_sub(1)].to_vec())] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut m = base.clone();
            let mut best = None;
            for seg in path.split("::").filter(|s| !s.is_empty()) {
                m.push(seg.to_string());
                if modules.contains(&m) {
                    best = Some(m.clone());
                }
            }
            // `super::x` where x is an item of the parent: the parent itself.
            found.push(best.unwrap_or_else(|| base.clone()));
        }
    }
    found
}

/// Edges between sibling modules: for a reference from `a` to `b`, the children of their common
/// ancestor that hold each (a reference to an ancestor or a descendant is no edge).
fn sibling_edges(src: &Path) -> BTreeMap<Module, BTreeSet<(String, String)>> {
    let mut all = Vec::new();
    files(src, &mut all);
    let modules: BTreeSet<Module> = all.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<(String, String)>> = BTreeMap::new();
    for f in &all {
        let here = module_of(src, f);
        let text = std::fs::read_to_string(f).unwrap_or_default();
        // Unit tests may reach anywhere; only the code itself is layered.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for to in references(code, &here, &modules) {
            let common = here.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < here.len() && common < to.len() {
                let parent = here[..common].to_vec();
                edges.entry(parent).or_default().insert((here[common].clone(), to[common].clone()));
            }
        }
    }
    edges
}

fn cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeSet<(String, String)>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for (_, to) in edges.iter().filter(|(from, _)| from == n) {
            if let Some(c) = visit(to, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.iter().find_map(|(from, _)| visit(from, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_cycle_between_sibling_modules_and_the_roles_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = sibling_edges(&src);
    assert!(edges.get(&Vec::new()).is_some_and(|e| e.len() > 5), "the scan found the top-level modules' imports");
    let mut problems = Vec::new();
    for (parent, e) in &edges {
        if let Some(c) = cycle(e) {
            problems.push(format!("cycle under `crate::{}`: {}", parent.join("::"), c.join(" → ")));
        }
    }
    for (from, to) in &edges[&Vec::new()] {
        let allowed = ALLOWED.iter().find(|(m, _)| m == from).map(|(_, a)| *a);
        match allowed {
            Some(a) if a.contains(&to.as_str()) => {}
            Some(_) => problems.push(format!("`{from}` must not use `{to}`")),
            None => problems.push(format!("`{from}` is a top-level module the layering does not name")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_a_cycle_when_there_is_one() {
    let e: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert_eq!(cycle(&e), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let acyclic: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "c")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert_eq!(cycle(&acyclic), None);
}
