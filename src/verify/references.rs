//! What the manifests of a bundle may reference: pure checks over bundle.json and the verified
//! manifest bytes, run before any config or layer is trusted.

use super::checked::Checked;
use super::error::VerifyError;
use crate::digest::Digest;
use crate::format::{BlobRecord, BundleManifest};
use crate::manifest;
use std::collections::{HashMap, HashSet};

/// Every manifest parses, references only blobs the bundle holds (or, for a platform-filtered
/// index, children it says it left out), and index.json names only bundled images.
pub fn check_references(
    checked: &Checked,
    records: &HashMap<Digest, BlobRecord>,
    name: &str,
) -> Result<(), VerifyError> {
    let doc = &checked.doc;
    for (digest, bytes) in &checked.metadata {
        let media_type = &records[digest].media_type;
        let problem = if manifest::is_index(media_type) {
            index_problem(doc, records, digest, bytes)
        } else {
            manifest_problem(doc, records, digest, bytes)
        };
        problem.map_or(Ok(()), |detail| {
            Err(VerifyError::inconsistent(name, detail))
        })?;
    }
    for img in &doc.images {
        for d in std::iter::once(&img.digest).chain(&img.manifests) {
            if !checked.metadata.contains_key(d) {
                return Err(VerifyError::inconsistent(
                    name,
                    format!(
                        "image {} needs manifest {d}, which is not in the bundle",
                        img.reference
                    ),
                ));
            }
        }
    }
    let index: manifest::Index = serde_json::from_slice(&checked.index_json)
        .map_err(|e| VerifyError::inconsistent(name, format!("index.json: {e}")))?;
    match index
        .manifests
        .iter()
        .find(|d| !doc.images.iter().any(|i| i.digest == d.digest))
    {
        Some(d) => Err(VerifyError::inconsistent(
            name,
            format!(
                "index.json names {}, which is not a bundled image",
                d.digest
            ),
        )),
        None => Ok(()),
    }
}

/// An index's children must be in the bundle, unless a platform filter left them out on purpose.
fn index_problem(
    doc: &BundleManifest,
    records: &HashMap<Digest, BlobRecord>,
    digest: &Digest,
    bytes: &[u8],
) -> Option<String> {
    let idx = match manifest::parse_index(bytes) {
        Ok(i) => i,
        Err(e) => return Some(format!("index {digest}: {e}")),
    };
    let carried: HashSet<&Digest> = doc.images.iter().flat_map(|i| i.manifests.iter()).collect();
    let partial = doc
        .images
        .iter()
        .any(|i| !i.complete && i.digest == *digest);
    idx.manifests
        .iter()
        .find(|c| {
            let present = records.contains_key(&c.digest);
            let left_out = partial && !carried.contains(&c.digest);
            !present && !left_out
        })
        .map(|c| {
            format!(
                "index {digest} references {}, which is not in the bundle",
                c.digest
            )
        })
}

/// A manifest's config and layers must be carried, or (a delta) listed as left out, with the
/// size the manifest gives.
fn manifest_problem(
    doc: &BundleManifest,
    records: &HashMap<Digest, BlobRecord>,
    digest: &Digest,
    bytes: &[u8],
) -> Option<String> {
    let m = match manifest::parse_manifest(bytes) {
        Ok(m) => m,
        Err(e) => return Some(format!("manifest {digest}: {e}")),
    };
    std::iter::once(&m.config)
        .chain(&m.layers)
        .find(|b| {
            let omitted = doc.omitted().iter().find(|o| o.digest == b.digest);
            !matches!(records.get(&b.digest).or(omitted), Some(r) if r.size == b.size)
        })
        .map(|b| {
            format!(
                "manifest {digest} references {}, which is not in the bundle",
                b.digest
            )
        })
}

/// ` (used by IMAGE, ...)` for messages about blob `d`, or nothing.
pub fn images_using(checked: &Checked, d: &Digest) -> String {
    let uses_blob = |m: &Digest| {
        checked
            .metadata
            .get(m)
            .and_then(|b| manifest::parse_manifest(b).ok())
            .is_some_and(|man| man.config.digest == *d || man.layers.iter().any(|l| l.digest == *d))
    };
    let names: Vec<&str> = checked
        .doc
        .images
        .iter()
        .filter(|img| img.digest == *d || img.manifests.iter().any(|m| m == d || uses_blob(m)))
        .map(|img| img.reference.as_str())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (used by {})", names.join(", "))
    }
}
