//! The layering docs/ARCHITECTURE.md describes, checked on the source: a module imports only
//! from layers below its own, so there is no import cycle and nothing points upward.

use std::collections::BTreeMap;
use std::path::Path;

/// The table of docs/ARCHITECTURE.md, layer by layer.
const LAYERS: &[&[&str]] = &[
    &[
        "digest",
        "platform",
        "causes",
        "console",
        "exit_codes",
        "goflate",
        "tarindex",
    ],
    &[
        "interrupt",
        "reference",
        "manifest",
        "progress",
        "kpflate",
        "gnuflate",
    ],
    &["fsutil", "regzip", "cosign"],
    &["format", "cache", "imagelist", "keys"],
    &["registry", "reftars"],
    &["verify", "inventory"],
    &["select", "delta"],
    &["create", "load", "serve", "inspect"],
    &["cli"],
    &["config", "report"],
    &["main"],
];

fn layer_of() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (*n, i)))
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
