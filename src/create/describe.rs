//! What the bundle says about itself: `bundle.json` (images, blobs, layout files, a delta's
//! base), the layout's `index.json`, and the order of the members. Pure: no I/O.

use super::plan::Plan;
use super::resolve::ResolvedImage;
use crate::digest::Digest;
use crate::format::{
    BlobRecord, BundleManifest, DeltaBase, FileRecord, ImageRecord, Signer, FORMAT_VERSION,
    INDEX_JSON_PATH, LAYOUT_PATH, OCI_LAYOUT_CONTENT,
};
use crate::held::Held;
use crate::registry::Manifest;
use std::collections::HashSet;

/// A member of the bundle's OCI layout, in write order.
pub enum Member {
    /// A manifest or index, held in memory.
    Manifest { digest: Digest },
    /// A config or layer, read from the cache.
    Cached {
        digest: Digest,
        size: u64,
        media_type: String,
    },
}

pub struct Described {
    pub doc: BundleManifest,
    pub members: Vec<Member>,
    pub index_json: Vec<u8>,
}

/// `created` is Unix seconds; `signer` the signing key's fingerprint.
pub fn describe(
    images: &[ResolvedImage],
    plan: &Plan,
    compacted: &super::compact::Compacted,
    base: Option<&Held>,
    created: u64,
    signer: Option<String>,
    tools: Vec<crate::format::FileRecord>,
) -> serde_json::Result<Described> {
    let (blobs, members) = members_of(images, plan, compacted);
    let index_entries = images.iter().map(index_entry).collect();
    let index_json = crate::format::index_json_bytes(index_entries)?;
    let doc = BundleManifest {
        format_version: FORMAT_VERSION,
        created: humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(created),
        )
        .to_string(),
        tool: concat!("bundle ", env!("CARGO_PKG_VERSION")).to_string(),
        signer: signer.map(|fingerprint| Signer {
            algorithm: "ed25519".into(),
            fingerprint,
        }),
        images: images.iter().map(image_record).collect(),
        blobs,
        files: layout_files(&index_json),
        base: base.map(|b| delta_base(images, plan, b)),
        tools,
    };
    Ok(Described {
        doc,
        members,
        index_json,
    })
}

/// Manifests and indexes first, so a streaming reader knows every image's plan before the
/// layers arrive (docs/FORMAT.md); then configs and layers in order of first use. A layer a
/// delta leaves out is not a member.
fn members_of(
    images: &[ResolvedImage],
    plan: &Plan,
    compacted: &super::compact::Compacted,
) -> (Vec<BlobRecord>, Vec<Member>) {
    let mut records = Vec::new();
    let mut members = Vec::new();
    let mut written: HashSet<&Digest> = HashSet::new();
    for m in images.iter().flat_map(manifests_of) {
        if written.insert(&m.digest) {
            members.push(Member::Manifest {
                digest: m.digest.clone(),
            });
            records.push(record(&m.digest, m.bytes.len() as u64, &m.media_type));
        }
    }
    for n in &plan.needs {
        members.push(Member::Cached {
            digest: n.digest.clone(),
            size: n.size,
            media_type: n.media_type.clone(),
        });
        let rec = record(&n.digest, n.size, &n.media_type);
        records.push(
            match (
                compacted.packed.get(&n.digest),
                compacted.kept.get(&n.digest),
            ) {
                (Some(p), _) => rec.rebuilt(p.rebuild.clone()),
                (None, Some(why)) => rec.kept(why),
                (None, None) => rec,
            },
        );
    }
    (records, members)
}

/// An image's manifests: the top one, nested indexes, the platform manifests, then its
/// referrers'.
pub fn manifests_of(img: &ResolvedImage) -> impl Iterator<Item = &Manifest> {
    std::iter::once(&img.top)
        .chain(img.nested_indexes.iter().map(|c| &c.manifest))
        .chain(img.children.iter().map(|c| &c.manifest))
        .chain(img.referrers.iter().map(|r| &r.manifest))
}

fn index_entry(img: &ResolvedImage) -> serde_json::Value {
    let (entry, _) = crate::format::layout_index_entry(
        &img.entry.reference,
        &img.top.media_type,
        &img.top.digest,
        img.top.bytes.len() as u64,
    );
    entry
}

fn image_record(img: &ResolvedImage) -> ImageRecord {
    let reference = &img.entry.reference;
    ImageRecord {
        source: img.entry.source.clone(),
        // A digest-only image keeps its digest in the name: parsed back at load time, a bare
        // `registry/repo` would mean `:latest` and get tagged as such.
        reference: reference
            .tagged_name()
            .unwrap_or_else(|| format!("{}@{}", reference.name(), img.top.digest)),
        digest: img.top.digest.clone(),
        media_type: img.top.media_type.clone(),
        platforms: img.platforms.clone(),
        manifests: img
            .children
            .iter()
            .map(|c| c.manifest.digest.clone())
            .collect(),
        complete: img.complete,
        referrers: img.referrers.iter().map(|r| r.record.clone()).collect(),
    }
}

fn layout_files(index_json: &[u8]) -> Vec<FileRecord> {
    vec![
        FileRecord {
            path: LAYOUT_PATH.into(),
            digest: Digest::of(OCI_LAYOUT_CONTENT),
            size: OCI_LAYOUT_CONTENT.len() as u64,
        },
        FileRecord {
            path: INDEX_JSON_PATH.into(),
            digest: Digest::of(index_json),
            size: index_json.len() as u64,
        },
    ]
}

/// What a delta was made against, and the layers it leaves out, each once in first-use order.
fn delta_base(images: &[ResolvedImage], plan: &Plan, base: &Held) -> DeltaBase {
    let mut omitted: Vec<BlobRecord> = Vec::new();
    let mut seen = HashSet::new();
    for r in images
        .iter()
        .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b))
    {
        if plan.omitted.contains(&r.digest) && seen.insert(&r.digest) {
            omitted.push(record(&r.digest, r.size, &r.media_type));
        }
    }
    DeltaBase {
        kind: base.kind.into(),
        digest: base.digest.clone(),
        name: base.name.clone(),
        omitted,
    }
}

fn record(d: &Digest, size: u64, media_type: &str) -> BlobRecord {
    BlobRecord::stored(d.clone(), size, media_type)
}
