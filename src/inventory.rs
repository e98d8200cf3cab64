//! `bundle inventory`: the digests a disconnected site already holds, carried back out so the
//! next `bundle create --since inventory.json` leaves those layers out. Digests only: no names
//! of hosts' secrets, no credentials.

use crate::digest::Digest;
use crate::manifest;
use crate::registry::{Registries, RegistryClient, RegistryError};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

pub const INVENTORY_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub inventory_version: u32,
    /// What was listed (`registry://HOST`, `oci:DIR`), for the operator.
    pub source: String,
    pub created: String,
    /// Every manifest, config and layer found, sorted.
    pub blobs: BTreeSet<Digest>,
    /// Each image manifest found: its repository and its layers in order. `create --compact
    /// --since` picks the layer a changed one replaces from these (absent in older inventories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<HeldManifest>,
    /// Repositories whose content could not be listed (no tags, or a read that failed), each
    /// with why: what they hold is not in `blobs`, so the next delta carries it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlisted: Vec<Unlisted>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unlisted {
    pub repository: String,
    pub why: String,
}

/// An image manifest the site holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldManifest {
    pub repository: String,
    pub layers: Vec<HeldLayer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldLayer {
    pub digest: Digest,
    pub size: u64,
}

impl HeldManifest {
    fn of(repository: &str, m: manifest::ImageManifest) -> HeldManifest {
        HeldManifest {
            repository: repository.to_string(),
            layers: m
                .layers
                .into_iter()
                .map(|l| HeldLayer {
                    digest: l.digest,
                    size: l.size,
                })
                .collect(),
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// An OCI layout: the names under blobs/sha256/ (temp files and foreign names are skipped).
pub fn from_oci(dir: &Path) -> Result<Inventory> {
    let blobs_dir = dir.join("blobs/sha256");
    let entries = std::fs::read_dir(&blobs_dir).with_context(|| {
        format!(
            "{} is not an OCI image layout (no blobs/sha256)",
            dir.display()
        )
    })?;
    let mut blobs = BTreeSet::new();
    for e in entries {
        let name = e?.file_name().to_string_lossy().to_string();
        if let Ok(d) = format!("sha256:{name}").parse::<Digest>() {
            blobs.insert(d);
        }
    }
    Ok(Inventory {
        inventory_version: INVENTORY_VERSION,
        source: format!("oci:{}", dir.display()),
        created: now(),
        blobs,
        manifests: oci_manifests(dir),
        unlisted: Vec::new(),
    })
}

/// The image manifests an OCI layout names in index.json (children of indexes too), with the
/// repository of each name. What cannot be read is left out: it only means fewer references.
fn oci_manifests(dir: &Path) -> Vec<HeldManifest> {
    let read = |d: &Digest| crate::fsutil::read_bounded(&dir.join(d.layout_path()), 4 << 20).ok();
    let Some(index) = crate::fsutil::read_bounded(&dir.join("index.json"), 16 << 20)
        .ok()
        .and_then(|b| manifest::parse_index(&b).ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for top in &index.manifests {
        let name = top
            .annotations
            .get("org.opencontainers.image.ref.name")
            .or_else(|| top.annotations.get("io.containerd.image.name"));
        let Some(repo) = name
            .and_then(|n| crate::reference::Reference::parse(n).ok())
            .map(|r| r.repository)
        else {
            continue;
        };
        let mut todo = vec![top.digest.clone()];
        let mut seen = 0;
        while let Some(d) = todo.pop() {
            seen += 1;
            let Some(bytes) = read(&d).filter(|_| seen < 1000) else {
                continue;
            };
            if let Ok(idx) = manifest::parse_index(&bytes).map(|i| i.manifests) {
                if !idx.is_empty() {
                    todo.extend(idx.into_iter().map(|c| c.digest));
                    continue;
                }
            }
            if let Ok(m) = manifest::parse_manifest(&bytes) {
                out.push(HeldManifest::of(&repo, m));
            }
        }
    }
    out
}

/// A registry: every tag of every repository in its catalog, down to configs and layers. A
/// repository without tags (what a failed load leaves) holds nothing usable; one that cannot be
/// read is named in a warning and left out, which only makes the next delta carry more.
pub fn from_registry(host: &str, registries: &Registries) -> Result<Inventory> {
    let client = registries.client(host)?;
    let repos = client
        .catalog()
        .with_context(|| format!("listing the repositories of {host} (its /v2/_catalog)"))?;
    let mut blobs = BTreeSet::new();
    let mut manifests = Vec::new();
    let mut unlisted = Vec::new();
    for repo in &repos {
        let why = match held_by(&client, repo, &mut blobs, &mut manifests) {
            Ok(true) => continue,
            Ok(false) => NO_TAGS.to_string(),
            Err(e) => crate::causes::flatten(e.chain()),
        };
        crate::console::line(format!(
            "warning: {host}/{repo} left out of the inventory: {why}"
        ));
        unlisted.push(Unlisted {
            repository: repo.clone(),
            why,
        });
    }
    Ok(Inventory {
        inventory_version: INVENTORY_VERSION,
        source: format!("registry://{host}"),
        created: now(),
        blobs,
        manifests,
        unlisted,
    })
}

/// A registry lists tags, not manifests: an untagged manifest cannot be found. `bundle load`
/// tags what it pushes by digest alone (`manifest::PINNED_TAG`); other tools may not.
const NO_TAGS: &str = "it has no tags, so its manifests cannot be listed through the registry API (a failed load, or a push by digest alone by another tool)";

/// Every digest the tags of `repo` lead to; false when it has no tags.
fn held_by(
    client: &RegistryClient,
    repo: &str,
    blobs: &mut BTreeSet<Digest>,
    manifests: &mut Vec<HeldManifest>,
) -> Result<bool> {
    let tags = match client.tags(repo) {
        Ok(t) => t,
        Err(RegistryError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let tagged = !tags.is_empty();
    for tag in tags {
        let mut todo = vec![client.get_manifest(repo, &tag)?];
        while let Some(m) = todo.pop() {
            if !blobs.insert(m.digest.clone()) {
                continue;
            }
            if manifest::is_index(&m.media_type) {
                let idx = manifest::parse_index(&m.bytes)
                    .map_err(|e| anyhow::anyhow!("{repo}:{tag}: {e}"))?;
                // A child the registry lacks (a partial index) is simply not held.
                todo.extend(
                    idx.manifests
                        .iter()
                        .filter_map(|c| client.get_manifest(repo, &c.digest.to_string()).ok()),
                );
            } else {
                let im = manifest::parse_manifest(&m.bytes)
                    .map_err(|e| anyhow::anyhow!("{repo}:{tag}: {e}"))?;
                blobs.insert(im.config.digest.clone());
                blobs.extend(im.layers.iter().map(|d| d.digest.clone()));
                manifests.push(HeldManifest::of(repo, im));
            }
        }
    }
    Ok(tagged)
}

/// `--from registry://HOST[:PORT]` (with `cfg` for how to reach it) or `--from oci:DIR`.
pub fn take(from: &str, cfg: crate::registry::RegistryConfig) -> Result<Inventory> {
    if let Some(dir) = from.strip_prefix("oci:") {
        return from_oci(Path::new(dir));
    }
    let Some(host) = from.strip_prefix("registry://") else {
        bail!("--from {from}: expected registry://HOST[:PORT] or oci:DIR");
    };
    let host = host.trim_end_matches('/');
    from_registry(host, &Registries::single(host, cfg))
}

pub fn read(path: &Path) -> Result<(Inventory, Vec<u8>)> {
    // Every digest a site holds, 75 bytes each: this is a million and more.
    let bytes = crate::fsutil::read_bounded(path, 256 << 20)
        .with_context(|| format!("reading {}", path.display()))?;
    let inv: Inventory = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a bundle inventory", path.display()))?;
    if inv.inventory_version > INVENTORY_VERSION {
        bail!(
            "{} is inventory version {}; this bundle reads up to {INVENTORY_VERSION}: upgrade bundle",
            path.display(),
            inv.inventory_version
        );
    }
    Ok((inv, bytes))
}

/// Write to `out` through a temp name, so a half-written inventory never exists under it.
pub fn write(inv: &Inventory, out: &Path) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(inv)?;
    crate::fsutil::write_file(out, &bytes, false)
        .with_context(|| format!("writing {}", out.display()))
}
