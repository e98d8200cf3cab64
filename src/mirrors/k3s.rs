//! k3s / RKE2 `registries.yaml` (`/etc/rancher/k3s/` or `/etc/rancher/rke2/`): per source
//! registry a mirror with the site as `endpoint` and `rewrite` rules (regular expression on
//! the repository → replacement) for the paths load changed; TLS under `configs`. k3s tries a
//! mirror's rewrites in no fixed order, so rules of one registry must not overlap: where the
//! plan's prefixes nest, each repository gets an exact rule.

use super::plan::{comment, strip_components, Mirror, MirrorPlan, Rendered};
use super::sources::Provenance;
use serde_yaml::{Mapping, Value};
use std::path::PathBuf;

pub const FILE: &str = "registries.yaml";

/// A repository path as a literal in a Go (RE2) regular expression: only `.` of the
/// characters a path may hold is special.
fn literal(path: &str) -> String {
    path.replace('.', "\\.")
}

/// The rewrite rules of one registry's mirrors.
fn rewrites(mirrors: &[&Mirror]) -> Mapping {
    let nested = mirrors.iter().any(|a| {
        mirrors
            .iter()
            .any(|b| a != b && strip_components(&b.source_path, &a.source_path).is_some())
    });
    let mut out = Mapping::new();
    let mut add = |from: String, to: String| {
        out.insert(Value::from(from), Value::from(to));
    };
    for m in mirrors {
        if nested {
            for r in &m.repositories {
                add(format!("^{}$", literal(r)), m.site_repository(r));
            }
            continue;
        }
        match (m.source_path.is_empty(), m.site_path.is_empty()) {
            (true, true) => {}
            (true, false) => add("^(.*)$".into(), format!("{}/${{1}}", m.site_path)),
            (false, true) => add(format!("^{}/(.*)$", literal(&m.source_path)), "${1}".into()),
            (false, false) => add(
                format!("^{}(/.*)?$", literal(&m.source_path)),
                format!("{}${{1}}", m.site_path),
            ),
        }
    }
    out
}

pub fn render(plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
    let site = &plan.site;
    let endpoint = format!("{}://{}", site.scheme(), site.host);
    let mut mirrors = Mapping::new();
    for (registry, ms) in plan.by_registry() {
        let mut entry = Mapping::new();
        entry.insert(
            "endpoint".into(),
            Value::Sequence(vec![endpoint.clone().into()]),
        );
        let rules = rewrites(&ms);
        if !rules.is_empty() {
            entry.insert("rewrite".into(), Value::Mapping(rules));
        }
        mirrors.insert(registry.into(), Value::Mapping(entry));
    }
    let mut doc = Mapping::new();
    doc.insert("mirrors".into(), Value::Mapping(mirrors));
    if !site.plain_http && (site.ca_file.is_some() || site.skip_verify) {
        let mut tls = Mapping::new();
        if let Some(ca) = &site.ca_file {
            tls.insert("ca_file".into(), ca.display().to_string().into());
        }
        if site.skip_verify {
            tls.insert("insecure_skip_verify".into(), true.into());
        }
        let mut config = Mapping::new();
        config.insert("tls".into(), Value::Mapping(tls));
        let mut configs = Mapping::new();
        configs.insert(site.host.clone().into(), Value::Mapping(config));
        doc.insert("configs".into(), Value::Mapping(configs));
    }
    let mut lines = provenance.lines();
    lines.push("Install as /etc/rancher/k3s/registries.yaml (RKE2: /etc/rancher/rke2/registries.yaml) on every node, then restart k3s / rke2.".into());
    let mut text = comment(&lines);
    // A mapping of strings, sequences and booleans always serialises.
    text.push_str(&serde_yaml::to_string(&Value::Mapping(doc)).unwrap_or_default());
    let mut out = Rendered::default();
    out.files.push((PathBuf::from(FILE), text.into_bytes()));
    out
}
