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
    // An index has no config or layers to check: bytes that do are a manifest recorded as an
    // index, whose blobs would otherwise never be checked.
    let fields: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    if fields.get("config").is_some() || fields.get("layers").is_some() {
        return Some(format!(
            "{digest} is recorded as an index but is an image manifest (it has a config or layers)"
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{DeltaBase, ImageRecord, FORMAT_VERSION};
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use serde_json::{json, Value};

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// A config or layer stands for the bytes of its name.
    fn named(name: &str) -> Digest {
        Digest::of(name.as_bytes())
    }

    fn descriptor(name: &str, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": named(name).to_string(), "size": name.len()})
    }

    fn manifest_bytes(config: &str, layers: &[&str]) -> Vec<u8> {
        let layers: Vec<Value> = layers.iter().map(|l| descriptor(l, LAYER)).collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(config, CONFIG), "layers": layers,
        }))
        .unwrap()
    }

    fn index_bytes(children: &[(&Digest, usize, &str)]) -> Vec<u8> {
        let children: Vec<Value> = children
            .iter()
            .map(|(d, size, arch)| {
                json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size,
                       "platform": {"os": "linux", "architecture": arch}})
            })
            .collect();
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
        )
        .unwrap()
    }

    /// A bundle and the digests of its manifests.
    struct Fixture {
        checked: Checked,
        amd: Digest,
        arm: Digest,
        index: Digest,
        plain: Digest,
    }

    impl Fixture {
        /// `r.test/multi:1`, an index of amd64 and arm64 sharing a base layer, and
        /// `r.test/plain:1`, a plain manifest that shares the base layer too.
        fn new() -> Fixture {
            let amd_bytes = manifest_bytes("amd64 config", &["base", "amd64 layer"]);
            let arm_bytes = manifest_bytes("arm64 config", &["base", "arm64 layer"]);
            let plain_bytes = manifest_bytes("plain config", &["base", "plain layer"]);
            let (amd, arm, plain) = (
                Digest::of(&amd_bytes),
                Digest::of(&arm_bytes),
                Digest::of(&plain_bytes),
            );
            let index_bytes = index_bytes(&[
                (&amd, amd_bytes.len(), "amd64"),
                (&arm, arm_bytes.len(), "arm64"),
            ]);
            let index = Digest::of(&index_bytes);
            let mut blobs = Vec::new();
            let mut metadata = HashMap::new();
            for (bytes, media_type) in [
                (amd_bytes, OCI_MANIFEST),
                (arm_bytes, OCI_MANIFEST),
                (index_bytes, OCI_INDEX),
                (plain_bytes, OCI_MANIFEST),
            ] {
                let d = Digest::of(&bytes);
                blobs.push(BlobRecord::stored(
                    d.clone(),
                    bytes.len() as u64,
                    media_type,
                ));
                metadata.insert(d, bytes);
            }
            for (name, media_type) in [
                ("amd64 config", CONFIG),
                ("base", LAYER),
                ("amd64 layer", LAYER),
                ("arm64 config", CONFIG),
                ("arm64 layer", LAYER),
                ("plain config", CONFIG),
                ("plain layer", LAYER),
            ] {
                blobs.push(BlobRecord::stored(
                    named(name),
                    name.len() as u64,
                    media_type,
                ));
            }
            let image =
                |reference: &str, top: &Digest, media_type: &str, manifests: Vec<Digest>| {
                    ImageRecord {
                        source: reference.into(),
                        reference: reference.into(),
                        digest: top.clone(),
                        media_type: media_type.into(),
                        platforms: Vec::new(),
                        manifests,
                        complete: true,
                        referrers: Vec::new(),
                        carries: Default::default(),
                    }
                };
            let images = vec![
                image(
                    "r.test/multi:1",
                    &index,
                    OCI_INDEX,
                    vec![amd.clone(), arm.clone()],
                ),
                image("r.test/plain:1", &plain, OCI_MANIFEST, vec![plain.clone()]),
            ];
            let index_json = layout_index(&[&index, &plain]);
            let checked = Checked {
                bundle_json: Digest::of(b"bundle.json"),
                doc: BundleManifest {
                    format_version: FORMAT_VERSION,
                    created: "2025-01-01T00:00:00Z".into(),
                    tool: "bundle test".into(),
                    signer: None,
                    images,
                    blobs,
                    files: Vec::new(),
                    base: None,
                    tools: Vec::new(),
                },
                signer: None,
                index_json,
                metadata,
                unproven: Vec::new(),
            };
            Fixture {
                checked,
                amd,
                arm,
                index,
                plain,
            }
        }

        /// The records as a session keeps them: the blobs carried, by digest.
        fn check(&self) -> Result<(), String> {
            let records = self
                .checked
                .doc
                .blobs
                .iter()
                .map(|b| (b.digest.clone(), b.clone()))
                .collect();
            check_references(&self.checked, &records, "b.bundle").map_err(|e| {
                assert!(matches!(e, VerifyError::Inconsistent { .. }), "{e:?}");
                e.to_string()
            })
        }

        /// Take blob `d` out of the blobs carried, and give it back.
        fn uncarry(&mut self, d: &Digest) -> BlobRecord {
            let blobs = &mut self.checked.doc.blobs;
            blobs.remove(blobs.iter().position(|b| &b.digest == d).unwrap())
        }

        fn record(&mut self, d: &Digest) -> &mut BlobRecord {
            let blobs = &mut self.checked.doc.blobs;
            blobs.iter_mut().find(|b| &b.digest == d).unwrap()
        }
    }

    fn layout_index(tops: &[&Digest]) -> Vec<u8> {
        let entries: Vec<Value> = tops
            .iter()
            .map(|d| json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": 1}))
            .collect();
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": entries})).unwrap()
    }

    #[test]
    fn a_bundle_whose_manifests_name_only_what_it_carries_passes() {
        assert_eq!(Fixture::new().check(), Ok(()));
    }

    #[test]
    fn a_blob_a_manifest_names_must_be_carried_with_the_size_the_manifest_gives() {
        let mut f = Fixture::new();
        f.uncarry(&named("plain layer"));
        let expected = format!(
            "b.bundle: manifest {} references {}, which is not in the bundle",
            f.plain,
            named("plain layer")
        );
        assert_eq!(f.check(), Err(expected.clone()));

        let mut f = Fixture::new();
        f.record(&named("plain layer")).size += 1;
        assert_eq!(f.check(), Err(expected));

        // A config is held to the same.
        let mut f = Fixture::new();
        f.uncarry(&named("amd64 config"));
        let e = f.check().unwrap_err();
        assert!(
            e.contains(&format!(
                "manifest {} references {}",
                f.amd,
                named("amd64 config")
            )),
            "{e}"
        );
    }

    #[test]
    fn a_layer_a_delta_lists_as_left_out_need_not_be_carried_but_must_keep_its_size() {
        let mut f = Fixture::new();
        let mut held = f.uncarry(&named("base"));
        f.checked.doc.base = Some(DeltaBase {
            kind: "bundle".into(),
            digest: Digest::of(b"base bundle.json"),
            name: "base.bundle".into(),
            omitted: vec![held.clone()],
        });
        assert_eq!(f.check(), Ok(()));
        held.size += 1;
        f.checked.doc.base.as_mut().unwrap().omitted = vec![held];
        let e = f.check().unwrap_err();
        assert!(
            e.contains(&format!(
                "references {}, which is not in the bundle",
                named("base")
            )),
            "{e}"
        );
    }

    #[test]
    fn an_index_child_may_be_missing_only_when_a_platform_filter_left_it_out() {
        let mut f = Fixture::new();
        f.uncarry(&f.arm.clone());
        f.checked.metadata.remove(&f.arm);
        f.checked.doc.images[0].manifests = vec![f.amd.clone()];
        assert_eq!(
            f.check(),
            Err(format!(
                "b.bundle: index {} references {}, which is not in the bundle",
                f.index, f.arm
            ))
        );
        // The same bundle, saying the index is incomplete: arm64 was filtered out on purpose.
        f.checked.doc.images[0].complete = false;
        assert_eq!(f.check(), Ok(()));
        // But not a child the image says it carries.
        f.checked.doc.images[0].manifests = vec![f.amd.clone(), f.arm.clone()];
        let e = f.check().unwrap_err();
        assert!(
            e.contains(&format!("index {} references {}", f.index, f.arm)),
            "{e}"
        );
    }

    #[test]
    fn every_manifest_an_image_names_must_have_been_read() {
        let mut f = Fixture::new();
        f.checked.metadata.remove(&f.plain);
        assert_eq!(
            f.check(),
            Err(format!(
                "b.bundle: image r.test/plain:1 needs manifest {}, which is not in the bundle",
                f.plain
            ))
        );
    }

    #[test]
    fn index_json_may_name_only_bundled_images() {
        let mut f = Fixture::new();
        let stranger = Digest::of(b"another image");
        f.checked.index_json = layout_index(&[&f.index, &stranger]);
        assert_eq!(
            f.check(),
            Err(format!(
                "b.bundle: index.json names {stranger}, which is not a bundled image"
            ))
        );
        f.checked.index_json = b"not json".to_vec();
        let e = f.check().unwrap_err();
        assert!(e.starts_with("b.bundle: index.json: "), "{e}");
    }

    #[test]
    fn bytes_that_do_not_parse_as_their_recorded_type_are_refused() {
        // An index recorded as a manifest has no config.
        let mut f = Fixture::new();
        f.record(&f.index.clone()).media_type = OCI_MANIFEST.into();
        let e = f.check().unwrap_err();
        assert!(
            e.starts_with(&format!("b.bundle: manifest {}: invalid manifest", f.index)),
            "{e}"
        );
        // Bytes that are no index at all.
        let mut f = Fixture::new();
        f.checked
            .metadata
            .insert(f.index.clone(), b"[1, 2]".to_vec());
        let e = f.check().unwrap_err();
        assert!(
            e.starts_with(&format!("b.bundle: index {}: invalid index", f.index)),
            "{e}"
        );
    }

    #[test]
    fn a_manifest_recorded_as_an_index_still_has_its_blobs_checked() {
        let mut f = Fixture::new();
        f.record(&f.plain.clone()).media_type = OCI_INDEX.into();
        f.uncarry(&named("plain layer"));
        assert!(f.check().is_err());
    }

    #[test]
    fn images_using_names_every_image_whose_manifests_hold_a_blob() {
        let f = Fixture::new();
        let c = &f.checked;
        assert_eq!(
            images_using(c, &named("base")),
            " (used by r.test/multi:1, r.test/plain:1)"
        );
        assert_eq!(
            images_using(c, &named("arm64 layer")),
            " (used by r.test/multi:1)"
        );
        assert_eq!(
            images_using(c, &named("plain config")),
            " (used by r.test/plain:1)"
        );
        // A manifest is used by its image, a top-level digest by its own.
        assert_eq!(images_using(c, &f.arm), " (used by r.test/multi:1)");
        assert_eq!(images_using(c, &f.index), " (used by r.test/multi:1)");
        assert_eq!(images_using(c, &Digest::of(b"nobody's")), "");
    }
}
