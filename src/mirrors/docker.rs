//! Docker Engine's `daemon.json`: `registry-mirrors` serves Docker Hub only, and a mirror is
//! a registry root (Docker asks it for `library/nginx` as it would ask Docker Hub), so only
//! Docker Hub images loaded at the site's root without a changed path can be mirrored. JSON
//! has no comments: a README.txt beside it says what made it and what it cannot cover, with
//! the site name of each image Docker must pull by that name.

use super::plan::{MirrorPlan, Rendered};
use super::sources::Provenance;
use std::path::PathBuf;

pub const FILE: &str = "daemon.json";
pub const README: &str = "README.txt";

pub fn render(plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
    let site = &plan.site;
    let mut out = Rendered::default();
    let mut readme: Vec<String> = provenance.lines();
    let mut uncovered = Vec::new();
    let mut hub = None;
    // (registry, why) -> images, for one note each.
    let mut left_out: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for m in &plan.mirrors {
        if m.registry == "docker.io" && m.whole_registry() && m.site_path.is_empty() {
            hub = Some(m);
            continue;
        }
        let why = match m.registry.as_str() {
            "docker.io" => {
                out.not_covered += m.repositories.len();
                "a Docker mirror is a registry root, and these are under another path at the site"
            }
            _ => "Docker mirrors only Docker Hub",
        };
        for r in &m.repositories {
            uncovered.push(format!(
                "  {}/{r} -> {}/{}  ({why})",
                m.registry,
                site.host,
                m.site_repository(r)
            ));
        }
        *left_out.entry((m.registry.as_str(), why)).or_default() += m.repositories.len();
    }
    for ((registry, why), n) in left_out {
        out.notes.push(format!(
            "docker: {n} image(s) of {registry} cannot be mirrored: {why}; pull them by their site names ({README} lists them)"
        ));
    }
    readme.push(String::new());
    match hub {
        Some(_) => {
            let mut json = serde_json::json!({
                "registry-mirrors": [format!("{}://{}", site.scheme(), site.host)],
            });
            if site.plain_http || site.skip_verify {
                json["insecure-registries"] = serde_json::json!([site.host]);
            }
            // A value of strings always serialises.
            let mut bytes = serde_json::to_vec_pretty(&json).unwrap_or_default();
            bytes.push(b'\n');
            out.files.push((PathBuf::from(FILE), bytes));
            readme.push(format!(
                "{FILE}: merge its keys into /etc/docker/daemon.json and restart dockerd; Docker Hub images then come from {}.",
                site.host
            ));
            if site.ca_file.is_some() {
                readme.push(format!(
                    "The site's CA goes in /etc/docker/certs.d/{}/ca.crt (daemon.json cannot name it).",
                    site.host
                ));
            }
        }
        None => readme.push(format!(
            "No {FILE} was written: no image of the bundle is one Docker can mirror from the site."
        )),
    }
    if !uncovered.is_empty() {
        readme.push(String::new());
        readme.push("Not covered (source -> where it is on the site):".into());
        readme.extend(uncovered);
    }
    let mut text = readme.join("\n");
    text.push('\n');
    out.files.push((PathBuf::from(README), text.into_bytes()));
    out
}
