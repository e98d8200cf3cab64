//! containers-registries.conf(5), version 2 (CRI-O, podman, buildah, skopeo): a drop-in for
//! `/etc/containers/registries.conf.d/` with a `[[registry]]` per source prefix and its
//! `[[registry.mirror]]`. The longest matching prefix wins and its part of the name is
//! replaced by the mirror's location, so every mapping of the plan can be written.

use super::plan::{comment, quoted, MirrorPlan, Rendered};
use super::sources::Provenance;
use std::path::PathBuf;

pub const FILE: &str = "50-bundle-mirrors.conf";

pub fn render(plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
    let site = &plan.site;
    let mut lines = provenance.lines();
    lines.push(format!(
        "Install as /etc/containers/registries.conf.d/{FILE} (or point CONTAINERS_REGISTRIES_CONF at it)."
    ));
    if site.ca_file.is_some() {
        lines.push(format!(
            "The site's CA goes in /etc/containers/certs.d/{}/ca.crt: registries.conf cannot name it.",
            site.host
        ));
    }
    let mut conf = comment(&lines);
    // `insecure` allows plain HTTP and skips certificate checks alike.
    let insecure = site.plain_http || site.skip_verify;
    for m in &plan.mirrors {
        conf.push_str(&format!(
            "[[registry]]\nprefix = {0}\nlocation = {0}\n\n[[registry.mirror]]\nlocation = {1}\ninsecure = {insecure}\n\n",
            quoted(&m.source()),
            quoted(&m.site(site)),
        ));
    }
    // One blank line between entries, none after the last.
    conf.truncate(conf.trim_end().len());
    conf.push('\n');
    let mut out = Rendered::default();
    if site.ca_file.is_some() {
        out.notes.push(format!(
            "cri-o: registries.conf cannot name a CA file: put it in /etc/containers/certs.d/{}/ca.crt on each node",
            site.host
        ));
    }
    out.files.push((PathBuf::from(FILE), conf.into_bytes()));
    out
}
