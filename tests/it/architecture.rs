//! The layering docs/ARCHITECTURE.md describes, checked on the source: a top-level module
//! imports only from layers below its own, and no module, down to each file, is in an import
//! cycle with another (a folder's files included, and a folder's `mod.rs` with its files). The
//! gzip-exact crate is held to the same: no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of docs/ARCHITECTURE.md's picture: each line of its first code block that starts
/// with a number, then its modules (one space apart), then two spaces and what they own.
fn layers() -> Vec<(usize, Vec<String>)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .unwrap();
    let picture = doc.split("```").nth(1).unwrap_or("");
    picture
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (number, rest) = line.split_once(' ')?;
            let layer = number.parse().ok()?;
            let modules = rest.trim_start().split("  ").next()?;
            let names = modules
                .split(' ')
                .map(|m| m.trim_end_matches('/').to_string());
            Some((layer, names.collect()))
        })
        .collect()
}

fn layer_of() -> BTreeMap<String, usize> {
    layers()
        .into_iter()
        .flat_map(|(i, names)| names.into_iter().map(move |n| (n, i)))
        .collect()
}

/// Top-level modules named by `crate::X` (or `bundle::X` in main.rs), outside comments and the
/// file's test module.
fn imports(code: &str, root: &str) -> Vec<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            rest = &rest[i + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                out.extend(
                    group
                        .split(',')
                        .map(|m| m.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                out.push(
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                        .to_string(),
                );
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            visit(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn modules_import_only_from_lower_layers() {
    let layers = layer_of();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let own = *layers.get(module.as_str()).unwrap_or_else(|| {
            panic!(
                "src/{} is in no layer of docs/ARCHITECTURE.md",
                rel.display()
            )
        });
        let root = if module == "main" {
            "bundle::"
        } else {
            "crate::"
        };
        let code = std::fs::read_to_string(f).unwrap();
        for m in imports(&code, root) {
            match layers.get(m.as_str()) {
                Some(&l) if l < own || m == module => {}
                Some(&l) => wrong.push(format!(
                    "src/{} (layer {own}) imports {m} (layer {l})",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "src/{} imports {m}, which is in no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    let found = imports("use crate::{digest::Digest, format};\nlet x = crate::select::plan(); // crate::main\n#[cfg(test)]\nuse crate::load;", "crate::");
    assert_eq!(found, vec!["digest", "format", "select"]);
}

/// A module's path from its file: `src/create/write.rs` is `create::write`, `src/create/mod.rs`
/// is `create`, `src/lib.rs` is the crate root (empty).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The paths `code` names from `crate::`, `super::` or `self::`, made absolute from `module`,
/// outside comments and the test module: `use super::{a::B, c};` in `x::y` gives `x::a::B` and
/// `x::c`.
/// A path may also start with the name of one of `children`, the module's submodules
/// (`use write::Output;` in `create`).
fn paths_named(code: &str, module: &[String], children: &[String]) -> Vec<Vec<String>> {
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut roots: Vec<String> = vec!["crate::".into(), "super::".into(), "self::".into()];
    roots.extend(children.iter().map(|c| format!("{c}::")));
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut at = 0;
        while let Some(i) = roots
            .iter()
            .filter_map(|r| line[at..].find(r.as_str()).map(|i| i + at))
            .min()
        {
            at = i + 1;
            let before = line[..i].chars().last();
            if before.is_some_and(|c| ident(c) || c == ':') {
                continue;
            }
            let (mut base, mut rest) = (module.to_vec(), &line[i..]);
            loop {
                if let Some(r) = rest.strip_prefix("crate::") {
                    (base, rest) = (Vec::new(), r);
                } else if let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                } else if let Some(r) = rest.strip_prefix("self::") {
                    rest = r;
                } else {
                    break;
                }
            }
            let segments = |text: &str| -> Vec<String> {
                text.split("::")
                    .map(|s| {
                        s.trim()
                            .chars()
                            .take_while(|&c| ident(c))
                            .collect::<String>()
                    })
                    .take_while(|s| !s.is_empty())
                    .collect()
            };
            let head = rest.split('{').next().unwrap_or("");
            let mut prefix = base.clone();
            prefix.extend(segments(head));
            match rest.strip_prefix(head).and_then(|r| r.strip_prefix('{')) {
                Some(group) => {
                    for item in group.split('}').next().unwrap_or("").split(',') {
                        let mut p = prefix.clone();
                        p.extend(segments(item));
                        out.push(p);
                    }
                }
                None => out.push(prefix),
            }
        }
    }
    out
}

/// Each module's imports of other modules: a named path stands for the longest module it
/// starts with (`create::compact::Packed` for `create::compact`); a module's own items and
/// its own submodules' files are not imports of it.
fn module_graph(files: &[(Vec<String>, String)]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, code) in files {
        let edges: &mut BTreeSet<Vec<String>> = graph.entry(module.clone()).or_default();
        let children: Vec<String> = modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        for path in paths_named(code, module, &children) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(t) = target.filter(|t| t != module) {
                edges.insert(t);
            }
        }
    }
    graph
}

/// Every import cycle (as the modules in it), by Tarjan's strongly connected components.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Vec<String>) -> usize {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            let mut low = n;
            for w in self.graph.get(v).into_iter().flatten() {
                low = match self.index.get(w) {
                    None => low.min(self.visit(w)),
                    Some(_) if self.stack.contains(&w) => low.min(self.index[w].0),
                    Some(_) => low,
                };
            }
            self.index.insert(v, (n, low));
            if low == n {
                let at = self.stack.iter().position(|m| *m == v).unwrap_or(0);
                let scc: Vec<String> = self.stack.drain(at..).map(|m| m.join("::")).collect();
                if scc.len() > 1 {
                    self.found.push(scc);
                }
            }
            low
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

/// The modules of a crate's `src/` and their code (main.rs, a crate of its own, left out).
fn crate_files(src: &Path) -> Vec<(Vec<String>, String)> {
    let mut files: Vec<PathBuf> = Vec::new();
    visit(src, &mut files);
    files
        .iter()
        .filter(|f| !f.ends_with("main.rs") || f.parent() != Some(src))
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap();
            (module_of(rel), std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

#[test]
fn no_module_is_in_an_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for src in [root.join("src"), root.join("crates/gzip-exact/src")] {
        let graph = module_graph(&crate_files(&src));
        for cycle in cycles(&graph) {
            let edges: Vec<String> = graph
                .iter()
                .filter(|(m, _)| cycle.contains(&m.join("::")))
                .flat_map(|(m, to)| {
                    to.iter()
                        .filter(|t| cycle.contains(&t.join("::")))
                        .map(move |t| format!("{} -> {}", m.join("::"), t.join("::")))
                })
                .collect();
            found.push(format!("in {}: {}", src.display(), edges.join(", ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// The checker finds a cycle inside a folder (`super::` both ways), and one between a folder's
/// `mod.rs` and a file of it; and not one where imports point one way.
#[test]
fn the_cycle_checker_sees_a_cycle_inside_a_folder() {
    let file = |m: &str, code: &str| {
        let path = m
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (path, code.to_string())
    };
    let planted = [
        file("create", "mod write;\nmod compact;\nuse write::Output;"),
        file("create::compact", "use super::write::Ready;"),
        file("create::write", "use super::{compact::Packed, describe};"),
        file("create::describe", "pub fn x() {}"),
    ];
    let found = cycles(&module_graph(&planted));
    assert_eq!(found.len(), 1, "{found:?}");
    let mut cycle = found[0].clone();
    cycle.sort();
    assert_eq!(cycle, ["create::compact", "create::write"]);
    let facade = [
        file(
            "load",
            "mod from_file;\npub struct Prepared;\nuse from_file::run;",
        ),
        file("load::from_file", "use super::Prepared;"),
    ];
    assert_eq!(
        cycles(&module_graph(&facade)).len(),
        1,
        "a file importing its folder's mod.rs"
    );
    let one_way = [
        file("create", "mod write;\nuse self::write::Output;"),
        file("create::write", "use crate::digest::Digest;"),
        file("digest", ""),
    ];
    assert!(cycles(&module_graph(&one_way)).is_empty());
}
