//! OpenShift's `ImageDigestMirrorSet` and `ImageTagMirrorSet` (config.openshift.io/v1), the
//! resources oc-mirror writes after a mirror: `spec.imageDigestMirrors[]` / `imageTagMirrors[]`
//! each with a `source` (a registry or a repository prefix) and its `mirrors`. The cluster
//! turns them into registries.conf, so every mapping of the plan can be written. Both are named
//! after the bundle (`bundle-<12 hex of bundle.json's digest>`): a later release adds its own.

use super::plan::{comment, MirrorPlan, Rendered};
use super::sources::Provenance;
use serde::Serialize;
use std::path::PathBuf;

pub const FILE: &str = "mirror-sets.yaml";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: std::collections::BTreeMap<&'static str, &'a [Entry]>,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
}

#[derive(Serialize)]
struct Entry {
    source: String,
    mirrors: Vec<String>,
}

pub fn render(plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
    let site = &plan.site;
    let entries: Vec<Entry> = plan
        .mirrors
        .iter()
        .map(|m| Entry {
            source: m.source(),
            mirrors: vec![m.site(site)],
        })
        .collect();
    let name = format!("bundle-{}", &provenance.digest.hex()[..12]);
    let resource = |kind, list| Resource {
        api_version: "config.openshift.io/v1",
        kind,
        metadata: Metadata { name: name.clone() },
        spec: [(list, entries.as_slice())].into_iter().collect(),
    };
    let mut lines = provenance.lines();
    lines.push(format!("Apply with `oc apply -f {FILE}`."));
    if site.plain_http || site.skip_verify {
        lines.push(format!(
            "{} is reached without TLS checks: list it in image.config.openshift.io/cluster spec.registrySources.insecureRegistries.",
            site.host
        ));
    }
    if site.ca_file.is_some() {
        lines.push(format!(
            "The site's CA goes in a ConfigMap named by image.config.openshift.io/cluster spec.additionalTrustedCA (key {}).",
            site.host.replace(':', "..")
        ));
    }
    let mut text = comment(&lines);
    // Strings and lists of strings always serialise.
    text.push_str(
        &serde_yaml::to_string(&resource("ImageDigestMirrorSet", "imageDigestMirrors"))
            .unwrap_or_default(),
    );
    text.push_str("---\n");
    text.push_str(
        &serde_yaml::to_string(&resource("ImageTagMirrorSet", "imageTagMirrors"))
            .unwrap_or_default(),
    );
    let mut out = Rendered::default();
    out.files.push((PathBuf::from(FILE), text.into_bytes()));
    out
}
