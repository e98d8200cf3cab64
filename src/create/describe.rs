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
        carries: img.carries.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::compact::{Compacted, Packed};
    use crate::create::referrers::Found;
    use crate::create::resolve::{BlobRef, Carried};
    use crate::format::{
        RebuildRecord, ReferrerRecord, ENCODING_GZIP_REBUILD, ENCODING_ZSTD_FRAME,
    };
    use crate::imagelist::ImageEntry;
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use crate::reference::Reference;
    use serde_json::{json, Value};

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const SIG_CONFIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

    /// A config or layer stands for the bytes of its name.
    fn blob(name: &str, media_type: &str) -> BlobRef {
        BlobRef {
            digest: Digest::of(name.as_bytes()),
            size: name.len() as u64,
            media_type: media_type.into(),
        }
    }

    fn d(name: &str) -> Digest {
        Digest::of(name.as_bytes())
    }

    fn document(media_type: &str, doc: Value) -> Manifest {
        let bytes = serde_json::to_vec(&doc).unwrap();
        Manifest {
            digest: Digest::of(&bytes),
            media_type: media_type.into(),
            bytes,
        }
    }

    fn descriptor(b: &BlobRef) -> Value {
        json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size})
    }

    /// A manifest and the config and layers it names.
    fn manifest(config: BlobRef, layers: &[&str]) -> (Manifest, Vec<BlobRef>) {
        let blobs: Vec<BlobRef> = std::iter::once(config)
            .chain(layers.iter().map(|l| blob(l, LAYER)))
            .collect();
        let layers: Vec<Value> = blobs[1..].iter().map(descriptor).collect();
        let m = document(
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": descriptor(&blobs[0]), "layers": layers}),
        );
        (m, blobs)
    }

    fn child(m: &Manifest, platform: Option<&str>) -> Value {
        let mut v = json!({"mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.bytes.len()});
        if let Some((os, arch)) = platform.and_then(|p| p.split_once('/')) {
            v["platform"] = json!({"os": os, "architecture": arch});
        }
        v
    }

    fn index(children: Vec<Value>) -> Manifest {
        document(
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
        )
    }

    fn entry(source: &str) -> ImageEntry {
        ImageEntry {
            source: source.into(),
            reference: Reference::parse(source).unwrap(),
            origin: Default::default(),
            platforms: None,
            own_platforms: false,
            line: 1,
            found: None,
        }
    }

    /// A plain image, as resolve leaves it: the top manifest is its one child.
    fn plain(source: &str, config: &str, layers: &[&str]) -> ResolvedImage {
        let (m, blobs) = manifest(blob(config, CONFIG), layers);
        ResolvedImage {
            entry: entry(source),
            top: m.clone(),
            children: vec![Carried {
                manifest: m.clone(),
            }],
            nested_indexes: Vec::new(),
            platforms: vec!["linux/amd64".into()],
            complete: true,
            blobs: vec![(m.digest, blobs)],
            referrers: Vec::new(),
            carries: Default::default(),
        }
    }

    /// `r.test/multi:1`: an index of an amd64 manifest and a nested index holding an arm64
    /// one, with a signature of the top index.
    fn multi() -> ResolvedImage {
        let (amd, amd_blobs) = manifest(blob("amd64 config", CONFIG), &["base", "amd64 layer"]);
        let (arm, arm_blobs) = manifest(blob("arm64 config", CONFIG), &["base", "arm64 layer"]);
        let nested = index(vec![child(&arm, Some("linux/arm64"))]);
        let top = index(vec![child(&amd, Some("linux/amd64")), child(&nested, None)]);
        let (sig, sig_blobs) = manifest(blob("sig config", SIG_CONFIG), &["sig"]);
        let record = ReferrerRecord {
            digest: sig.digest.clone(),
            media_type: OCI_MANIFEST.into(),
            size: sig.bytes.len() as u64,
            subject: top.digest.clone(),
            artifact_type: SIG_CONFIG.into(),
            kind: "signature".into(),
            found: "referrers-api".into(),
            tag: None,
        };
        ResolvedImage {
            entry: entry("r.test/multi:1"),
            top,
            children: vec![
                Carried {
                    manifest: amd.clone(),
                },
                Carried {
                    manifest: arm.clone(),
                },
            ],
            nested_indexes: vec![Carried { manifest: nested }],
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            complete: true,
            blobs: vec![
                (amd.digest, amd_blobs),
                (arm.digest, arm_blobs),
                (sig.digest.clone(), sig_blobs),
            ],
            referrers: vec![Found {
                manifest: sig,
                record,
            }],
            carries: Default::default(),
        }
    }

    fn described(
        images: &[ResolvedImage],
        compacted: &Compacted,
        base: Option<&Held>,
    ) -> Described {
        let plan = Plan::new(images, base).unwrap();
        describe(images, &plan, compacted, base, 0, None, Vec::new()).unwrap()
    }

    fn member_digests(members: &[Member]) -> Vec<(&Digest, bool)> {
        members
            .iter()
            .map(|m| match m {
                Member::Manifest { digest } => (digest, true),
                Member::Cached { digest, .. } => (digest, false),
            })
            .collect()
    }

    fn blob_digests(doc: &BundleManifest) -> Vec<&Digest> {
        doc.blobs.iter().map(|b| &b.digest).collect()
    }

    #[test]
    fn manifests_of_gives_the_top_then_nested_indexes_then_children_then_referrers() {
        let img = multi();
        let order: Vec<&Digest> = manifests_of(&img).map(|m| &m.digest).collect();
        assert_eq!(
            order,
            [
                &img.top.digest,
                &img.nested_indexes[0].manifest.digest,
                &img.children[0].manifest.digest,
                &img.children[1].manifest.digest,
                &img.referrers[0].manifest.digest,
            ]
        );
    }

    #[test]
    fn manifests_come_first_each_once_then_configs_and_layers_in_first_use_order() {
        // The plain image listed under two tags: one manifest, written once.
        let images = [
            multi(),
            plain("r.test/app:1", "app config", &["base", "app layer"]),
            plain("r.test/app:latest", "app config", &["base", "app layer"]),
        ];
        let out = described(&images, &Compacted::default(), None);
        let m = &images[0];
        let manifests = [
            &m.top.digest,
            &m.nested_indexes[0].manifest.digest,
            &m.children[0].manifest.digest,
            &m.children[1].manifest.digest,
            &m.referrers[0].manifest.digest,
            &images[1].top.digest,
        ];
        let blobs = [
            "amd64 config",
            "base",
            "amd64 layer",
            "arm64 config",
            "arm64 layer",
            "sig config",
            "sig",
            "app config",
            "app layer",
        ]
        .map(d);
        let expected: Vec<&Digest> = manifests.into_iter().chain(&blobs).collect();
        assert_eq!(blob_digests(&out.doc), expected);
        let members = member_digests(&out.members);
        let kinds: Vec<(&Digest, bool)> = expected
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, i < 6))
            .collect();
        assert_eq!(
            members, kinds,
            "manifests are held in memory, the rest read from the cache"
        );
        // Each record has the size of the bytes it stands for.
        assert_eq!(out.doc.blobs[0].size, m.top.bytes.len() as u64);
        assert_eq!(out.doc.blobs[0].media_type, OCI_INDEX);
        assert!(out
            .doc
            .blobs
            .iter()
            .all(|b| b.encoding == ENCODING_ZSTD_FRAME && b.kept.is_none()));
        match &out.members[7] {
            Member::Cached {
                size, media_type, ..
            } => assert_eq!((*size, media_type.as_str()), (4, LAYER)),
            Member::Manifest { .. } => panic!("a layer is read from the cache"),
        }
    }

    fn rebuild(raw: &str) -> RebuildRecord {
        RebuildRecord {
            encoder: "go1.8".into(),
            level: 6,
            header: "1f8b08000000000000ff".into(),
            raw_size: raw.len() as u64,
            raw_digest: d(raw),
            side_size: None,
            side_digest: None,
            reference: None,
            restarts: Vec::new(),
        }
    }

    #[test]
    fn a_packed_layer_is_recorded_rebuilt_a_kept_one_with_why_and_a_config_as_it_is() {
        let images = [plain("r.test/app:1", "config", &["packed", "kept"])];
        let mut compacted = Compacted::default();
        compacted.packed.insert(
            d("packed"),
            Packed {
                rebuild: rebuild("packed tar"),
                frame: "packed.zst".into(),
                frame_len: 100,
            },
        );
        compacted.kept.insert(d("kept"), "not gzip".into());
        let out = described(&images, &compacted, None);
        let rec = |name: &str| out.doc.blobs.iter().find(|b| b.digest == d(name)).unwrap();
        let packed = rec("packed");
        assert_eq!(packed.encoding, ENCODING_GZIP_REBUILD);
        assert_eq!(packed.rebuild, Some(rebuild("packed tar")));
        assert_eq!(packed.size, 6, "the layer's own size, not its tar's");
        assert_eq!(packed.member_path(), crate::format::raw_path(&d("packed")));
        let kept = rec("kept");
        assert_eq!(
            (kept.encoding.as_str(), kept.kept.as_deref()),
            (ENCODING_ZSTD_FRAME, Some("not gzip"))
        );
        assert_eq!(rec("config"), &BlobRecord::stored(d("config"), 6, CONFIG));
    }

    #[test]
    fn a_delta_names_its_base_and_each_left_out_layer_once_and_carries_none_of_them() {
        let images = [
            plain("r.test/a:2", "a config", &["held", "a layer"]),
            plain("r.test/b:2", "b config", &["held", "b layer"]),
        ];
        let base = Held {
            kind: "bundle",
            digest: d("base bundle.json"),
            name: "last-week.bundle".into(),
            held: [d("held"), d("a config")].into_iter().collect(),
            manifests: Vec::new(),
            file: None,
            carried: HashSet::new(),
        };
        let out = described(&images, &Compacted::default(), Some(&base));
        let delta = out.doc.base.as_ref().expect("a delta names its base");
        assert_eq!(
            (delta.kind.as_str(), &delta.digest, delta.name.as_str()),
            ("bundle", &d("base bundle.json"), "last-week.bundle")
        );
        assert_eq!(delta.omitted, [BlobRecord::stored(d("held"), 4, LAYER)]);
        assert!(!blob_digests(&out.doc).contains(&&d("held")));
        assert!(member_digests(&out.members)
            .iter()
            .all(|(m, _)| **m != d("held")));
        // A config is never left out, even one the base holds.
        assert!(blob_digests(&out.doc).contains(&&d("a config")));
        // Without a base, no `base`.
        assert_eq!(
            described(&images, &Compacted::default(), None).doc.base,
            None
        );
    }

    #[test]
    fn an_image_record_names_its_platform_manifests_and_a_digest_only_name_keeps_the_digest() {
        let pinned_source = format!(
            "r.test/pinned@{}",
            plain("r.test/x:1", "p config", &["p layer"]).top.digest
        );
        let mut pinned = plain("r.test/x:1", "p config", &["p layer"]);
        pinned.entry = entry(&pinned_source);
        let mut partial = multi();
        partial.complete = false;
        let nginx = plain("nginx:1.27", "nginx config", &["nginx layer"]);
        let images = [partial, nginx, pinned];
        let out = described(&images, &Compacted::default(), None);
        let [multi, nginx, pinned] = &out.doc.images[..] else {
            panic!("three images: {:?}", out.doc.images);
        };
        assert_eq!(multi.reference, "r.test/multi:1");
        assert_eq!(multi.digest, images[0].top.digest);
        assert_eq!(multi.media_type, OCI_INDEX);
        assert_eq!(
            multi.manifests,
            [
                images[0].children[0].manifest.digest.clone(),
                images[0].children[1].manifest.digest.clone()
            ]
        );
        assert_eq!(multi.platforms, ["linux/amd64", "linux/arm64"]);
        assert!(!multi.complete);
        assert_eq!(multi.referrers, [images[0].referrers[0].record.clone()]);
        // The name as written and as normalised.
        assert_eq!(
            (nginx.source.as_str(), nginx.reference.as_str()),
            ("nginx:1.27", "docker.io/library/nginx:1.27")
        );
        assert_eq!(nginx.manifests, std::slice::from_ref(&nginx.digest));
        // A bare `r.test/pinned` would load as `:latest`.
        assert_eq!(pinned.reference, pinned_source);
    }

    #[test]
    fn the_layout_files_are_oci_layout_and_the_index_json_that_lists_each_image() {
        let images = [multi(), plain("r.test/app:1", "app config", &["app layer"])];
        let plan = Plan::new(&images, None).unwrap();
        let tool = FileRecord {
            path: "tools/bundle".into(),
            digest: d("binary"),
            size: 6,
        };
        let out = describe(
            &images,
            &plan,
            &Compacted::default(),
            None,
            86_400,
            Some("SHA256:key".into()),
            vec![tool.clone()],
        )
        .unwrap();
        assert_eq!(out.doc.files, layout_files(&out.index_json));
        assert_eq!(out.doc.files[0].path, LAYOUT_PATH);
        assert_eq!(out.doc.files[0].digest, Digest::of(OCI_LAYOUT_CONTENT));
        assert_eq!(out.doc.files[1].path, INDEX_JSON_PATH);
        assert_eq!(out.doc.files[1].digest, Digest::of(&out.index_json));
        assert_eq!(out.doc.files[1].size, out.index_json.len() as u64);
        let index: Value = serde_json::from_slice(&out.index_json).unwrap();
        let tops: Vec<(&str, &str)> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["digest"].as_str().unwrap(),
                    e["annotations"]["org.opencontainers.image.ref.name"]
                        .as_str()
                        .unwrap(),
                )
            })
            .collect();
        let (multi, app) = (
            images[0].top.digest.to_string(),
            images[1].top.digest.to_string(),
        );
        assert_eq!(
            tops,
            [
                (multi.as_str(), "r.test/multi:1"),
                (app.as_str(), "r.test/app:1")
            ]
        );
        // When, by whom, and the tools carried.
        assert_eq!(out.doc.created, "1970-01-02T00:00:00Z");
        assert_eq!(
            out.doc
                .signer
                .as_ref()
                .map(|s| (s.algorithm.as_str(), s.fingerprint.as_str())),
            Some(("ed25519", "SHA256:key"))
        );
        assert_eq!(out.doc.tools, [tool]);
        assert_eq!(out.doc.format_version, FORMAT_VERSION);
    }
}
