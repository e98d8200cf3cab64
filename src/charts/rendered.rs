//! Images in rendered manifests (`helm template`, `kustomize build`): every container of
//! every pod template, found by its shape (a map with a `containers` list) in any kind, and
//! for kinds that are not Kubernetes' own, `image:` strings anywhere else.

use super::error::ChartError;
use super::found::{Collector, Discovery};
use super::walk::is_image_key;
use super::yaml;
use serde_yaml::Value;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Kubernetes' own kinds: their images are in pod templates only, and other `image` keys in
/// them (a ConfigMap's data) are not images.
const BUILT_IN: [&str; 12] = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "PodTemplate",
    "ConfigMap",
    "Secret",
    "Service",
];

/// `images-from: FILE`: the output of `helm template` / `kustomize build`; `file` names it
/// in places and errors.
pub fn rendered(text: &str, file: &str) -> Result<Discovery, ChartError> {
    let docs = yaml::parse_all(text).map_err(|e| ChartError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut out = Collector::default();
    for doc in &docs {
        object(doc, file, &mut out);
    }
    Ok(out.finish())
}

fn object(doc: &Value, file: &str, out: &mut Collector) {
    let Some(kind) = yaml::get(doc, "kind").and_then(Value::as_str) else {
        return;
    };
    if kind.ends_with("List") {
        if let Some(Value::Sequence(items)) = yaml::get(doc, "items") {
            for item in items {
                object(item, file, out);
            }
        }
        return;
    }
    let name = yaml::path(doc, "metadata.name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let place = format!("{file} {kind}/{name}");
    let custom = !BUILT_IN.contains(&kind);
    let mut path = Vec::new();
    walk(doc, custom, &mut path, &place, out);
}

/// Walks everything: a pod spec's containers give `containers[NAME].image`; in a custom
/// resource an `image` (or `…Image`) string elsewhere gives its key path.
fn walk(v: &Value, custom: bool, path: &mut Vec<String>, place: &str, out: &mut Collector) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                let Some(k) = k.as_str() else { continue };
                if CONTAINER_LISTS.contains(&k) {
                    if let Value::Sequence(containers) = child {
                        containers_of(k, containers, place, out);
                        continue;
                    }
                }
                path.push(k.to_string());
                match child {
                    Value::String(s) if custom && is_image_key(k) && !s.trim().is_empty() => {
                        out.add(s, format!("{place} {}", dotted(path)));
                    }
                    _ => walk(child, custom, path, place, out),
                }
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                walk(item, custom, path, place, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn containers_of(list: &str, containers: &[Value], place: &str, out: &mut Collector) {
    for (i, c) in containers.iter().enumerate() {
        let Some(image) = yaml::get(c, "image").and_then(Value::as_str) else {
            continue;
        };
        let name = match yaml::get(c, "name").and_then(Value::as_str) {
            Some(n) => n.to_string(),
            None => i.to_string(),
        };
        out.add(image, format!("{place} {list}[{name}].image"));
    }
}

/// `spec.sidecars[0].image`.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}
