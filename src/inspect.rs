//! `bundle inspect`: what a bundle holds, read from its seek index and `bundle.json` only.

use crate::format::reader::BundleReader;
use crate::format::{FormatError, SIGNATURE_PATH};
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub file: String,
    pub format_version: u32,
    pub created: String,
    pub tool: String,
    pub signed: bool,
    pub signer: Option<String>,
    pub file_size: u64,
    /// Manifests, and configs and layers (`blobs`, `blobBytes`), as every command counts them.
    #[serde(flatten)]
    pub contents: crate::format::Contents,
    /// How the layers are carried (rebuilt by an encoder, or as they came).
    pub layers: Vec<crate::format::Carriage>,
    pub images: Vec<crate::format::ImageRecord>,
    /// A delta bundle's base and the layers it leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::format::DeltaBase>,
    /// Layers carried as patches against a layer the loading side holds, per image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<DeltaLayer>,
    /// Each image's configs and layers, and the part other images share.
    pub image_sizes: Vec<ImageSize>,
    /// Programs carried (`create --include-tool`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::format::FileRecord>,
}

/// A layer of an image carried as a patch (`create --compact --since`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaLayer {
    pub image: String,
    pub layer: crate::digest::Digest,
    /// The layer's size as registries hold it, and its patch's.
    pub size: u64,
    pub delta_size: u64,
    pub reference: crate::digest::Digest,
}

/// What one image weighs: the configs and layers of the platforms carried, each once, and how
/// much of that other images of the bundle use too (stored once, so counted once in `blobBytes`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSize {
    pub image: String,
    pub bytes: u64,
    pub shared_bytes: u64,
}

/// Each image's manifests, read and parsed once for everything `inspect` says of them (what
/// cannot be read or parsed is left out: it only means less said).
fn manifests_of(
    reader: &BundleReader,
    doc: &crate::format::BundleManifest,
) -> Vec<Vec<crate::manifest::ImageManifest>> {
    doc.images
        .iter()
        .map(|img| {
            img.manifests
                .iter()
                .filter_map(|m| reader.read_member(&m.layout_path()).ok())
                .filter_map(|b| crate::manifest::parse_manifest(&b).ok())
                .collect()
        })
        .collect()
}

/// The configs and layers of each image's manifests (sizes from the manifests, left-out ones
/// included), then each image's total and its share used by others.
fn sizes_of(
    doc: &crate::format::BundleManifest,
    manifests: &[Vec<crate::manifest::ImageManifest>],
) -> Vec<ImageSize> {
    use std::collections::{HashMap, HashSet};
    let uses: Vec<HashMap<&crate::digest::Digest, u64>> = manifests
        .iter()
        .map(|ms| {
            ms.iter()
                .flat_map(|m| std::iter::once(&m.config).chain(&m.layers))
                .map(|d| (&d.digest, d.size))
                .collect()
        })
        .collect();
    let mut users: HashMap<&crate::digest::Digest, usize> = HashMap::new();
    for u in &uses {
        for d in u.keys().copied().collect::<HashSet<_>>() {
            *users.entry(d).or_default() += 1;
        }
    }
    doc.images
        .iter()
        .zip(&uses)
        .map(|(img, u)| ImageSize {
            image: img.reference.clone(),
            bytes: u.values().sum(),
            shared_bytes: u
                .iter()
                .filter(|(d, _)| users[*d] > 1)
                .map(|(_, s)| s)
                .sum(),
        })
        .collect()
}

/// Each image's layers that are carried as patches, from its manifests.
fn deltas_of(
    doc: &crate::format::BundleManifest,
    manifests: &[Vec<crate::manifest::ImageManifest>],
) -> Vec<DeltaLayer> {
    let records: std::collections::HashMap<_, _> =
        doc.blobs.iter().map(|b| (&b.digest, b)).collect();
    let mut out = Vec::new();
    for (img, ms) in doc.images.iter().zip(manifests) {
        for l in ms.iter().flat_map(|m| &m.layers) {
            let Some(b) = records.get(&l.digest) else {
                continue;
            };
            if let Some(r) = b.rebuild.as_ref().and_then(|r| r.reference.as_ref()) {
                out.push(DeltaLayer {
                    image: img.reference.clone(),
                    layer: b.digest.clone(),
                    size: b.size,
                    delta_size: r.delta_size,
                    reference: r.layer.clone(),
                });
            }
        }
    }
    out
}

pub fn inspect(path: &Path) -> Result<Inspection, FormatError> {
    let reader = BundleReader::open(path)?;
    let (doc, _) = reader.bundle_manifest()?;
    let signed = reader.member(SIGNATURE_PATH).is_some();
    let layers = doc.carriage();
    let contents = doc.contents();
    let manifests = manifests_of(&reader, &doc);
    let deltas = deltas_of(&doc, &manifests);
    let image_sizes = sizes_of(&doc, &manifests);
    Ok(Inspection {
        deltas,
        image_sizes,
        file: path.display().to_string(),
        format_version: doc.format_version,
        created: doc.created,
        tool: doc.tool,
        signed,
        // The fingerprint alone, as create, verify and load give it (the key is ed25519).
        signer: doc.signer.map(|s| s.fingerprint),
        file_size: reader.len,
        contents,
        layers,
        images: doc.images,
        base: doc.base,
        tools: doc.tools,
    })
}
