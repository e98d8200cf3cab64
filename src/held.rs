//! What a site holds, as a file says it: an earlier bundle (its own blobs and those it left
//! out itself) or a `bundle inventory` file. `create --since` leaves it out; `prune --keep`
//! keeps it.

use crate::digest::Digest;
use crate::format::frames::SKIPPABLE_HEADER_MAGIC;
use crate::format::reader::BundleReader;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

pub struct Held {
    pub kind: &'static str,
    /// sha256 of the base's bundle.json, or of the inventory file.
    pub digest: Digest,
    pub name: String,
    pub held: HashSet<Digest>,
    /// The image manifests the base names: (repository, layers in order with their sizes),
    /// what references for `--compact` patches are chosen from (empty for an inventory made
    /// before inventories recorded them).
    pub manifests: Vec<(String, Vec<(Digest, u64)>)>,
    /// A base bundle's file: where reference layers are read from. An inventory has none: they
    /// are fetched from the source registry.
    pub file: Option<std::path::PathBuf>,
    /// The layers a base bundle itself carries (not those it left out).
    pub carried: HashSet<Digest>,
}

pub fn read(path: &Path) -> Result<Held> {
    let mut head = [0u8; 4];
    // A split bundle (`FILE` whose parts exist, or `FILE.part001`) starts in its first part.
    let first = match crate::format::parts::PartSet::find(path) {
        Ok(Some(set)) => set.parts[0].clone(),
        _ => path.to_path_buf(),
    };
    let is_bundle = std::fs::File::open(&first)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == SKIPPABLE_HEADER_MAGIC.to_le_bytes();
    let name = path.file_name().map_or(path.display().to_string(), |n| {
        n.to_string_lossy().to_string()
    });
    if is_bundle {
        let reader = BundleReader::open(path)?;
        let (doc, bytes) = reader.bundle_manifest()?;
        let held = doc
            .blobs
            .iter()
            .chain(doc.omitted())
            .map(|b| b.digest.clone())
            .collect();
        return Ok(Held {
            kind: "bundle",
            digest: Digest::of(&bytes),
            name,
            held,
            manifests: manifests_of(&reader, &doc),
            file: Some(path.to_path_buf()),
            carried: doc.blobs.iter().map(|b| b.digest.clone()).collect(),
        });
    }
    let (inv, bytes) = crate::inventory::read(path)
        .with_context(|| format!("{}: neither a bundle nor an inventory", path.display()))?;
    Ok(Held {
        kind: "inventory",
        digest: Digest::of(&bytes),
        name,
        held: inv.blobs.into_iter().collect(),
        manifests: inv
            .manifests
            .into_iter()
            .map(|m| {
                let layers = m.layers.into_iter().map(|l| (l.digest, l.size)).collect();
                (m.repository, layers)
            })
            .collect(),
        file: None,
        carried: HashSet::new(),
    })
}

/// Each platform manifest of the base's images: its repository and its layers. A manifest
/// that cannot be read only means fewer references to choose from.
fn manifests_of(
    reader: &BundleReader,
    doc: &crate::format::BundleManifest,
) -> Vec<(String, Vec<(Digest, u64)>)> {
    let mut out = Vec::new();
    for img in &doc.images {
        let Ok(r) = crate::reference::Reference::parse(&img.reference) else {
            continue;
        };
        for m in &img.manifests {
            let layers = reader
                .read_member(&m.layout_path())
                .ok()
                .and_then(|b| crate::manifest::parse_manifest(&b).ok());
            if let Some(parsed) = layers {
                let digests = parsed
                    .layers
                    .into_iter()
                    .map(|l| (l.digest, l.size))
                    .collect();
                out.push((r.repository.clone(), digests));
            }
        }
    }
    out
}
