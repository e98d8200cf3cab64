//! The conventions charts write images in, as rules (docs/CLI.md, "Charts: which images are
//! found"): image maps and image strings in values, literal `image:` lines in templates, and
//! the `artifacthub.io/images` annotation.

use super::values::Seg;
use super::yaml::{self, shortest_g};
use serde_yaml::{Mapping, Value};

/// An image read from values, with where: the key path of the map or string, and the keys
/// of the map it was built from (to tell which file set them).
pub struct Candidate {
    pub image: String,
    pub path: Vec<Seg>,
    pub fields: Vec<&'static str>,
}

/// What an image map or string is composed with.
pub struct Context<'a> {
    /// `global.imageRegistry`, which replaces a map's `registry` (bitnami's convention).
    pub global_registry: Option<&'a str>,
    /// What an empty tag means: the chart's `appVersion` (`default .Chart.AppVersion`).
    pub app_version: Option<&'a str>,
}

/// `image`, or a camel-case name ending in `Image` (`initImage`, `kubectlImage`).
pub fn is_image_key(k: &str) -> bool {
    k == "image" || (k.len() > 5 && k.ends_with("Image"))
}

/// A value as a Helm template prints it: text as is, numbers the way Go's `%v` prints the
/// float64 that YAML numbers become (`1.10` is `1.1`), booleans as words.
fn printed(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(|f| shortest_g(&format!("{f:e}"), 6)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(m: &Mapping, key: &str) -> Option<String> {
    m.get(key)
        .and_then(printed)
        .filter(|s| !s.trim().is_empty())
}

/// Whether a `repository` is a git or web address rather than an image's.
fn is_address(repo: &str) -> bool {
    repo.contains("://") || repo.starts_with("git@") || repo.ends_with(".git")
}

/// A map is an image when it has a `repository` (not an address) and either sits under an
/// image key or has a sibling only images have: `tag`, `digest`, `registry`, `pullPolicy`.
fn image_map(
    m: &Mapping,
    under_image_key: bool,
    ctx: &Context,
) -> Option<(String, Vec<&'static str>)> {
    let repo = text(m, "repository")?;
    let sign = ["tag", "digest", "registry", "pullPolicy"]
        .iter()
        .any(|k| m.contains_key(*k));
    if is_address(&repo) || !(sign || under_image_key) {
        return None;
    }
    // Only maps with a `registry` key are built by bitnami's helper, which lets
    // `global.imageRegistry` replace it.
    let registry = match m.contains_key("registry") {
        true => ctx
            .global_registry
            .map(str::to_string)
            .or_else(|| text(m, "registry")),
        false => None,
    };
    let tag = text(m, "tag");
    let digest = text(m, "digest");
    let mut image = match registry {
        Some(r) => format!(
            "{}/{}",
            r.trim_end_matches('/'),
            repo.trim_start_matches('/')
        ),
        None => repo,
    };
    let last = image.rsplit('/').next().unwrap_or_default();
    let complete = last.contains([':', '@']);
    if !complete {
        match (&tag, &digest, ctx.app_version) {
            (Some(t), _, _) => image = format!("{image}:{t}"),
            (None, None, Some(app)) => image = format!("{image}:{app}"),
            _ => {}
        }
        if let Some(d) = &digest {
            image = format!("{image}@{d}");
        }
    }
    let fields = ["registry", "repository", "tag", "digest"]
        .into_iter()
        .filter(|k| m.contains_key(*k))
        .collect();
    Some((image, fields))
}

/// Every image in a chart's merged values, in the order the keys are written. `skip` are
/// top-level keys not to enter (subcharts' values, read in their own scope).
pub fn values_images(v: &Value, skip: &[String], ctx: &Context) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(v, false, &mut path, skip, ctx, &mut out);
    out
}

fn walk(
    v: &Value,
    under_image_key: bool,
    path: &mut Vec<Seg>,
    skip: &[String],
    ctx: &Context,
    out: &mut Vec<Candidate>,
) {
    match v {
        Value::Mapping(m) => {
            if let Some((image, fields)) = image_map(m, under_image_key, ctx) {
                if !image.contains("{{") {
                    out.push(Candidate {
                        image,
                        path: path.clone(),
                        fields,
                    });
                }
                return;
            }
            for (k, child) in m {
                let Some(k) = k.as_str() else { continue };
                if path.is_empty() && skip.iter().any(|s| s == k) {
                    continue;
                }
                path.push(Seg::Key(k.to_string()));
                match child {
                    Value::String(s) if is_image_key(k) => {
                        let s = s.trim();
                        if !s.is_empty() && !s.contains("{{") {
                            out.push(Candidate {
                                image: s.to_string(),
                                path: path.clone(),
                                fields: Vec::new(),
                            });
                        }
                    }
                    _ => walk(child, is_image_key(k), path, skip, ctx, out),
                }
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(item, false, path, skip, ctx, out);
                path.pop();
            }
        }
        Value::Tagged(t) => walk(&t.value, under_image_key, path, skip, ctx, out),
        _ => {}
    }
}

/// Literal `image:` values of a template (1-based line numbers): a line `image: X` or
/// `- image: X` whose value has no template action. Anything built with `{{` needs a render
/// (`images-from`).
pub fn template_images(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut l = line.trim_start();
        while let Some(rest) = l.strip_prefix("- ") {
            l = rest.trim_start();
        }
        let Some(value) = l.strip_prefix("image:") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() || value.contains("{{") {
            continue;
        }
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default(),
            Some('|' | '>' | '&' | '*' | '!' | '{' | '[' | '#') => continue,
            _ => value.split(" #").next().unwrap_or_default().trim(),
        };
        if !value.is_empty() {
            out.push((n + 1, value.to_string()));
        }
    }
    out
}

/// Chart.yaml's `artifacthub.io/images`: YAML text holding a list of `name` and `image`.
/// Each entry is (name, image).
pub fn annotation_images(text: &str) -> Result<Vec<(String, String)>, String> {
    let v = yaml::parse(text).map_err(|e| format!("is not YAML: {e}"))?;
    let items = match &v {
        Value::Sequence(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err("is not a list of name and image".into()),
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let image = yaml::get(item, "image")?.as_str()?.to_string();
            let name = yaml::get(item, "name")
                .and_then(printed)
                .unwrap_or_default();
            Some((name, image))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_template_images_are_read_and_templated_ones_left() {
        let t = "spec:\n  containers:\n    - name: a\n      image: \"busybox:1.36\"  # pinned\n    - image: {{ .Values.x }}\n    - image: alpine:3 # c\n";
        assert_eq!(
            template_images(t),
            vec![(4, "busybox:1.36".to_string()), (6, "alpine:3".to_string())]
        );
    }

    #[test]
    fn a_repository_that_is_an_address_or_alone_is_no_image() {
        let ctx = Context {
            global_registry: None,
            app_version: Some("2.0"),
        };
        let v = yaml::parse(
            "chart: {repository: https://charts.example.com, tag: x}\nbackup: {repository: s3bucket}\napp: {repository: web, pullPolicy: Always}\n",
        )
        .unwrap();
        let found: Vec<String> = values_images(&v, &[], &ctx)
            .into_iter()
            .map(|c| c.image)
            .collect();
        assert_eq!(found, vec!["web:2.0"]);
    }
}
