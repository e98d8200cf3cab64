//! containerd's hosts directory (`config_path` of its CRI plugin, `ctr images pull
//! --hosts-dir`): `DIR/<source host>/hosts.toml`, whose `[host."…"]` is tried before `server`.
//! containerd mirrors a whole registry host and keeps the repository path (under the host
//! URL's path with `override_path`), so only whole-registry mappings can be written.

use super::plan::{comment, quoted, MirrorPlan, Rendered};
use super::sources::Provenance;
use std::path::PathBuf;

pub fn render(plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
    let site = &plan.site;
    let mut out = Rendered::default();
    for (registry, mirrors) in plan.by_registry() {
        let (whole, parts): (Vec<_>, Vec<_>) =
            mirrors.into_iter().partition(|m| m.whole_registry());
        for m in &parts {
            out.not_covered += m.repositories.len();
            out.notes.push(format!(
                "containerd: {}/* is at {}/* on the site ({}), and containerd mirrors a whole registry host keeping the repository path: pull them by their site names, load with a --rewrite that only adds components in front ({}=NEW/{}), or use --format cri-o or k3s",
                m.source(),
                m.site(site),
                m.repositories.iter().map(|r| format!("{registry}/{r}")).collect::<Vec<_>>().join(", "),
                m.source_path,
                m.source_path,
            ));
        }
        let Some(m) = whole.first() else {
            continue;
        };
        let (dir, server) = match registry {
            "docker.io" => ("docker.io", "https://registry-1.docker.io".to_string()),
            r => (r, format!("https://{r}")),
        };
        let mut lines = provenance.lines();
        lines.push(format!(
            "Pulls of {registry}/… try the site registry {} first.",
            m.site(site)
        ));
        let mut toml = comment(&lines);
        toml.push_str(&format!("server = {}\n\n", quoted(&server)));
        let url = match m.site_path.is_empty() {
            true => format!("{}://{}", site.scheme(), site.host),
            false => format!("{}://{}/v2/{}", site.scheme(), site.host, m.site_path),
        };
        toml.push_str(&format!("[host.{}]\n", quoted(&url)));
        toml.push_str("  capabilities = [\"pull\", \"resolve\"]\n");
        if !m.site_path.is_empty() {
            toml.push_str("  override_path = true\n");
        }
        if let Some(ca) = &site.ca_file {
            toml.push_str(&format!("  ca = {}\n", quoted(&ca.display().to_string())));
        }
        if site.skip_verify {
            toml.push_str("  skip_verify = true\n");
        }
        out.files
            .push((PathBuf::from(dir).join("hosts.toml"), toml.into_bytes()));
    }
    out
}
