//! What to load: the images chosen with `--image`, the platforms chosen with `--platform`, and
//! for each the manifests (in push order: children before indexes) and blobs it needs.

use crate::digest::Digest;
use crate::format::{BlobRecord, ImageRecord};
use crate::manifest;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::verify::Checked;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone)]
pub struct PlannedImage {
    pub record: ImageRecord,
    pub reference: Reference,
    /// Manifests and indexes, children first, the image's top-level digest last.
    pub manifests: Vec<BlobRecord>,
    /// Configs and layers.
    pub blobs: Vec<BlobRecord>,
    /// Platforms of the index missing from the bundle or left out by --platform.
    pub partial: bool,
}

impl PlannedImage {
    pub fn top(&self) -> &BlobRecord {
        self.manifests
            .last()
            .expect("a planned image has its top manifest")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--image {0}: no such image in the bundle; it holds: {1}")]
    NoSuchImage(String, String),
    #[error("--platform {0}: {1} has no such platform in the bundle (it carries {2})")]
    NoSuchPlatform(String, String, String),
    #[error("image {0} in the bundle has an invalid reference: {1}")]
    BadReference(String, String),
}

pub fn plan(
    checked: &Checked,
    images: &[String],
    platforms: &[Platform],
) -> Result<Vec<PlannedImage>, PlanError> {
    let doc = &checked.doc;
    // A delta's omitted layers are planned like the others; the loader checks that the target
    // already has them instead of sending them.
    let records: HashMap<&Digest, &BlobRecord> = doc
        .blobs
        .iter()
        .chain(doc.omitted())
        .map(|b| (&b.digest, b))
        .collect();
    let wanted = |img: &ImageRecord| images.is_empty() || images.iter().any(|w| wanted_one(w, img));
    for w in images {
        if !doc.images.iter().any(|i| wanted_one(w, i)) {
            let all: Vec<&str> = doc.images.iter().map(|i| i.reference.as_str()).collect();
            return Err(PlanError::NoSuchImage(w.clone(), all.join(", ")));
        }
    }
    // Which platform each child manifest has, from every index in the bundle.
    let mut platform_of: HashMap<Digest, Platform> = HashMap::new();
    let mut index_children: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for (d, bytes) in &checked.metadata {
        if manifest::is_index(&records[d].media_type) {
            if let Ok(idx) = manifest::parse_index(bytes) {
                for c in &idx.manifests {
                    if let Some(p) = &c.platform {
                        platform_of.insert(c.digest.clone(), p.to_platform());
                    }
                }
                index_children.insert(
                    d.clone(),
                    idx.manifests.iter().map(|c| c.digest.clone()).collect(),
                );
            }
        }
    }
    let mut out = Vec::new();
    for img in doc.images.iter().filter(|i| wanted(i)) {
        let reference = Reference::parse(&img.reference)
            .map_err(|e| PlanError::BadReference(img.reference.clone(), e.to_string()))?;
        let mut children: Vec<&Digest> = img.manifests.iter().collect();
        let top_is_index = manifest::is_index(&records[&img.digest].media_type);
        let mut partial = !img.complete;
        if top_is_index && !platforms.is_empty() {
            let before = children.len();
            children.retain(|c| match platform_of.get(*c) {
                Some(p) if p.os == "unknown" => true,
                Some(p) => platforms.iter().any(|w| w.matches(p)),
                None => true,
            });
            // Only attestations (platform unknown/unknown) left: nothing runnable was chosen.
            if children
                .iter()
                .all(|c| platform_of.get(*c).is_some_and(|p| p.os == "unknown"))
            {
                return Err(PlanError::NoSuchPlatform(
                    platforms
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    img.reference.clone(),
                    img.platforms.join(", "),
                ));
            }
            partial |= children.len() != before;
        }
        let mut manifests: Vec<BlobRecord> = Vec::new();
        let mut blobs: Vec<BlobRecord> = Vec::new();
        let mut seen = BTreeSet::new();
        for c in &children {
            if let Some(m) = checked
                .metadata
                .get(*c)
                .and_then(|b| manifest::parse_manifest(b).ok())
            {
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    if seen.insert(b.digest.clone()) {
                        blobs.push(records[&b.digest].clone());
                    }
                }
            }
            if **c != img.digest {
                manifests.push(records[*c].clone());
            }
        }
        // Nested indexes between the children and the top.
        if let Some(kids) = index_children.get(&img.digest) {
            for k in kids {
                if index_children.contains_key(k) && checked.metadata.contains_key(k) {
                    manifests.push(records[k].clone());
                }
            }
        }
        manifests.push(records[&img.digest].clone());
        out.push(PlannedImage {
            record: img.clone(),
            reference,
            manifests,
            blobs,
            partial,
        });
    }
    Ok(out)
}

/// `--image` matches the normalised reference, the reference as written in the image list, or
/// anything that normalises to the same (`nginx:1.27` for `docker.io/library/nginx:1.27`).
fn wanted_one(w: &str, img: &ImageRecord) -> bool {
    *w == img.reference
        || *w == img.source
        || Reference::parse(w)
            .is_ok_and(|r| r.tagged_name().as_deref() == Some(img.reference.as_str()))
}
