//! Pruning an OCI layout: the `index.json` entries whose manifest no kept file carries go
//! (index.json is replaced whole, first), then every blob no remaining entry leads to. The
//! layout is locked as `load` locks it, so neither runs while the other does.

use super::found::Pruned;
use crate::digest::Digest;
use crate::manifest;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

/// index.json is read as `load` reads it: untrusted, bounded.
const MAX_INDEX_JSON: u64 = 16 << 20;
/// A manifest or index blob read to follow what it names.
const MAX_MANIFEST: u64 = 4 << 20;

pub fn prune(dir: &Path, keep: &HashSet<Digest>, yes: bool) -> Result<Pruned> {
    let lock = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", dir.display()))?;
    let index_path = dir.join("index.json");
    let bytes = crate::fsutil::read_bounded(&index_path, MAX_INDEX_JSON)
        .with_context(|| format!("reading {}", index_path.display()))?;
    let mut index: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", index_path.display()))?;
    let Some(entries) = index["manifests"].as_array_mut() else {
        bail!("{} has no manifests list", index_path.display());
    };
    let mut pruned = Pruned {
        site: format!("oci:{}", dir.display()),
        ..Default::default()
    };
    entries.retain(|e| {
        let digest = e["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
        let stays = digest.as_ref().is_none_or(|d| keep.contains(d));
        if !stays {
            let name = &e["annotations"]["org.opencontainers.image.ref.name"];
            if let Some(n) = name.as_str() {
                pruned.tags.push(n.to_string());
            }
            pruned.manifests.extend(digest.map(|d| d.to_string()));
        }
        stays
    });
    let roots: Vec<Digest> = entries
        .iter()
        .filter_map(|e| e["digest"].as_str()?.parse().ok())
        .collect();
    let needed = reachable(dir, roots, keep);
    let unneeded = blobs_not_in(dir, &needed)?;
    pruned.blobs = unneeded.len();
    pruned.blob_bytes = unneeded.iter().map(|(_, n)| n).sum();
    if yes {
        let json = serde_json::to_vec_pretty(&index)?;
        crate::fsutil::write_file(&index_path, &json, true)
            .with_context(|| format!("replacing {}", index_path.display()))?;
        for (d, _) in &unneeded {
            let p = dir.join(d.layout_path());
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    pruned.removed = yes;
    drop(lock);
    Ok(pruned)
}

/// Every digest the remaining entries lead to (manifests, their configs, layers, subjects and
/// children), and every kept one.
fn reachable(dir: &Path, roots: Vec<Digest>, keep: &HashSet<Digest>) -> HashSet<Digest> {
    let mut needed: HashSet<Digest> = keep.clone();
    let mut todo = roots;
    let mut seen = HashSet::new();
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        needed.insert(d.clone());
        // A blob that is not a manifest (a layer) or not there names nothing further.
        let Ok(bytes) = crate::fsutil::read_bounded(&dir.join(d.layout_path()), MAX_MANIFEST)
        else {
            continue;
        };
        todo.extend(named_by(&bytes));
    }
    needed
}

/// The digests a manifest or index names: children, config, layers, subject.
fn named_by(bytes: &[u8]) -> Vec<Digest> {
    if let Ok(idx) = manifest::parse_index(bytes) {
        if !idx.manifests.is_empty() {
            return idx.manifests.into_iter().map(|c| c.digest).collect();
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let descriptors = std::iter::once(&v["config"])
        .chain(v["layers"].as_array().into_iter().flatten())
        .chain(std::iter::once(&v["subject"]));
    descriptors
        .filter_map(|d| d["digest"].as_str()?.parse().ok())
        .collect()
}

/// The blob files under `blobs/sha256` that are not `needed`, with their sizes. Temp files
/// and names that are not digests are left alone.
fn blobs_not_in(dir: &Path, needed: &HashSet<Digest>) -> Result<Vec<(Digest, u64)>> {
    let blobs = dir.join("blobs/sha256");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&blobs).with_context(|| format!("listing {}", blobs.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(d) = format!("sha256:{name}").parse::<Digest>() else {
            continue;
        };
        let meta = e.metadata()?;
        if meta.is_file() && !needed.contains(&d) {
            out.push((d, meta.len()));
        }
    }
    out.sort();
    Ok(out)
}
