//! `bundle prune`: what a site holds that none of the kept bundles (or inventories) carries,
//! listed, and with `--yes` removed. From a registry: tags and manifests (its blobs are its own
//! garbage collector's to remove); from an OCI layout: index entries, then the blobs nothing
//! left needs. Nothing a kept image or referrer needs is touched.

mod found;
mod oci;
mod registry;

pub use found::Pruned;

use crate::digest::Digest;
use crate::registry::RegistryConfig;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::PathBuf;

pub struct PruneOptions {
    /// `registry://HOST[:PORT]` or `oci:DIR`.
    pub from: String,
    /// Bundles or inventories whose content stays.
    pub keep: Vec<PathBuf>,
    /// Remove; without it, only list.
    pub yes: bool,
    /// How to reach a registry.
    pub registry: RegistryConfig,
}

pub fn prune(opts: &PruneOptions) -> Result<Pruned> {
    if opts.keep.is_empty() {
        bail!("no --keep given: name the bundles (or inventories) whose content stays");
    }
    let keep = kept(&opts.keep)?;
    if let Some(dir) = opts.from.strip_prefix("oci:") {
        return oci::prune(std::path::Path::new(dir), &keep, opts.yes);
    }
    let Some(host) = opts.from.strip_prefix("registry://") else {
        bail!(
            "--from {}: expected registry://HOST[:PORT] or oci:DIR",
            opts.from
        );
    };
    let host = host.trim_end_matches('/');
    let regs = crate::registry::Registries::single(host, opts.registry.clone());
    registry::prune(host, &regs, &keep, opts.yes)
}

/// Every digest a kept file says the site should hold: a bundle's blobs (manifests, configs,
/// layers, referrers) and those it left out, or an inventory's.
fn kept(files: &[PathBuf]) -> Result<HashSet<Digest>> {
    let mut keep = HashSet::new();
    for f in files {
        let held = crate::held::read(f).with_context(|| format!("--keep {}", f.display()))?;
        keep.extend(held.held);
    }
    Ok(keep)
}
