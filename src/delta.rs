//! `create --since`: what the other side already holds, from an earlier bundle (its own blobs
//! and those it left out itself) or from a `bundle inventory` file.

use crate::digest::Digest;
use crate::format::frames::SKIPPABLE_HEADER_MAGIC;
use crate::format::reader::BundleReader;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

pub struct Base {
    pub kind: &'static str,
    /// sha256 of the base's bundle.json, or of the inventory file.
    pub digest: Digest,
    pub name: String,
    pub held: HashSet<Digest>,
}

pub fn load_base(path: &Path) -> Result<Base> {
    let mut head = [0u8; 4];
    let is_bundle = std::fs::File::open(path)
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
        return Ok(Base {
            kind: "bundle",
            digest: Digest::of(&bytes),
            name,
            held,
        });
    }
    let (inv, bytes) = crate::inventory::read(path).with_context(|| {
        format!(
            "--since {}: neither a bundle nor an inventory",
            path.display()
        )
    })?;
    Ok(Base {
        kind: "inventory",
        digest: Digest::of(&bytes),
        name,
        held: inv.blobs.into_iter().collect(),
    })
}
