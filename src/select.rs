//! Which images and platforms of a verified bundle to load or serve: the images chosen with
//! `--image`, the platforms chosen with `--platform`, and for each the manifests (in push order:
//! children before indexes) and blobs it needs. Used by `load` and `serve`.

use crate::digest::Digest;
use crate::format::{BlobRecord, ImageRecord, ReferrerRecord};
use crate::manifest;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::verify::Checked;
use std::collections::{BTreeSet, HashMap, HashSet};

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
    /// The referrers of the manifests loaded (subjects first), with their manifests' records.
    pub referrers: Vec<(ReferrerRecord, BlobRecord)>,
    /// The referrers' configs and layers (not the image's: an artifact stays an artifact).
    pub referrer_blobs: Vec<BlobRecord>,
}

impl PlannedImage {
    /// A runnable container image (an image config among its blobs), not an artifact such as a
    /// Helm chart or a signature, which docker, podman and ctr cannot load.
    pub fn is_container_image(&self) -> bool {
        self.blobs
            .iter()
            .any(|b| manifest::is_image_config(&b.media_type))
    }

    pub fn top(&self) -> &BlobRecord {
        self.manifests
            .last()
            .expect("a planned image has its top manifest")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("--image {0}: no such image in the bundle; it holds: {1}")]
    NoSuchImage(String, String),
    #[error("--image {0} could be any of {1}; give more of the name")]
    Ambiguous(String, String),
    #[error("--platform {0}: {1} has no such platform in the bundle (it carries {2})")]
    NoSuchPlatform(String, String, String),
    #[error("image {0} in the bundle has an invalid reference: {1}")]
    BadReference(String, String),
}

/// The images and platforms chosen (none given: all), each with what it needs, in push order.
pub fn plan(
    checked: &Checked,
    images: &[String],
    platforms: &[Platform],
) -> Result<Vec<PlannedImage>, SelectError> {
    let doc = &checked.doc;
    let mut chosen: HashSet<&str> = HashSet::new();
    for w in images {
        chosen.extend(chosen_by(w, &doc.images)?);
    }
    let bundle = Bundle::of(checked);
    doc.images
        .iter()
        .filter(|img| images.is_empty() || chosen.contains(img.reference.as_str()))
        .map(|img| bundle.plan_image(img, platforms))
        .collect()
}

/// The images `--image w` names: those it names in full (`wanted_one`), else the one whose
/// name ends with it at a `/` (`team/app:1.0` or `app:1.0` for `quay.io/team/app:1.0`).
fn chosen_by<'a>(w: &str, all: &'a [ImageRecord]) -> Result<Vec<&'a str>, SelectError> {
    let names = |v: Vec<&'a ImageRecord>| v.into_iter().map(|i| i.reference.as_str()).collect();
    let full: Vec<_> = all.iter().filter(|i| wanted_one(w, i)).collect();
    if !full.is_empty() {
        return Ok(names(full));
    }
    let suffix = format!("/{w}");
    let short: Vec<_> = all
        .iter()
        .filter(|i| i.reference.ends_with(&suffix))
        .collect();
    match short.len() {
        1 => Ok(names(short)),
        0 => Err(SelectError::NoSuchImage(
            w.to_string(),
            all.iter()
                .map(|i| i.reference.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
        _ => Err(SelectError::Ambiguous(
            w.to_string(),
            names(short).join(", "),
        )),
    }
}

/// What planning looks up: every record (a delta's left-out layers too: the loader checks the
/// target has them instead of sending them) and every index, parsed once.
struct Bundle<'a> {
    checked: &'a Checked,
    records: HashMap<&'a Digest, &'a BlobRecord>,
    indexes: HashMap<&'a Digest, manifest::Index>,
}

impl<'a> Bundle<'a> {
    fn of(checked: &'a Checked) -> Bundle<'a> {
        let doc = &checked.doc;
        let records: HashMap<&Digest, &BlobRecord> = doc
            .blobs
            .iter()
            .chain(doc.omitted())
            .map(|b| (&b.digest, b))
            .collect();
        let indexes = checked
            .metadata
            .iter()
            .filter(|(d, _)| manifest::is_index(&records[d].media_type))
            .filter_map(|(d, bytes)| Some((d, manifest::parse_index(bytes).ok()?)))
            .collect();
        Bundle {
            checked,
            records,
            indexes,
        }
    }

    fn plan_image(
        &self,
        img: &ImageRecord,
        platforms: &[Platform],
    ) -> Result<PlannedImage, SelectError> {
        let reference = Reference::parse(&img.reference)
            .map_err(|e| SelectError::BadReference(img.reference.clone(), e.to_string()))?;
        let (children, partial) = self.chosen_children(img, platforms)?;
        let mut manifests: Vec<BlobRecord> = children
            .iter()
            .filter(|c| ***c != img.digest)
            .map(|c| self.records[*c].clone())
            .collect();
        // Nested indexes between the children and the top, each after those it holds.
        let mut nested = Vec::new();
        self.nested_indexes(&img.digest, &mut nested);
        manifests.extend(nested.into_iter().map(|d| self.records[d].clone()));
        manifests.push(self.records[&img.digest].clone());
        let referrers = self.referrers_of(img, &manifests);
        let referrer_digests: Vec<&Digest> = referrers.iter().map(|(r, _)| &r.digest).collect();
        let blobs = self.blobs_of(&children);
        let mut referrer_blobs = self.blobs_of(&referrer_digests);
        referrer_blobs.retain(|b| !blobs.iter().any(|i| i.digest == b.digest));
        Ok(PlannedImage {
            record: img.clone(),
            reference,
            manifests,
            blobs,
            partial,
            referrers,
            referrer_blobs,
        })
    }

    /// The indexes carried inside index `d`, at any depth, each after the indexes it holds
    /// (the order they are pushed in). A digest cannot name itself, so this ends.
    fn nested_indexes(&self, d: &Digest, out: &mut Vec<&'a Digest>) {
        let Some(idx) = self.indexes.get(d) else {
            return;
        };
        for c in &idx.manifests {
            let Some((k, _)) = self.indexes.get_key_value(&c.digest) else {
                continue;
            };
            if !out.contains(k) {
                self.nested_indexes(k, out);
                out.push(k);
            }
        }
    }

    /// The referrers of the manifests chosen, and of those referrers: a platform left out
    /// takes its signatures with it.
    fn referrers_of(
        &self,
        img: &ImageRecord,
        manifests: &[BlobRecord],
    ) -> Vec<(ReferrerRecord, BlobRecord)> {
        let mut subjects: HashSet<&Digest> = manifests.iter().map(|m| &m.digest).collect();
        let mut out = Vec::new();
        for r in &img.referrers {
            if subjects.contains(&r.subject) {
                if let Some(rec) = self.records.get(&r.digest) {
                    subjects.insert(&r.digest);
                    out.push((r.clone(), (*rec).clone()));
                }
            }
        }
        out
    }

    /// The platform manifests to load, and whether some of the image's platforms are left out.
    /// `--platform` picks children by the same rule `create` uses (`manifest::select_children`):
    /// an attestation goes with the image it describes.
    fn chosen_children(
        &self,
        img: &'a ImageRecord,
        platforms: &[Platform],
    ) -> Result<(Vec<&'a Digest>, bool), SelectError> {
        let mut children: Vec<&Digest> = img.manifests.iter().collect();
        if platforms.is_empty() || !self.indexes.contains_key(&img.digest) {
            return Ok((children, !img.complete));
        }
        let mut chosen = HashSet::new();
        self.select(&img.digest, platforms, &mut chosen);
        let before = children.len();
        children.retain(|c| chosen.contains(*c));
        let runnable = children.iter().any(|c| {
            self.platform_of(c)
                .is_some_and(|p| platforms.iter().any(|w| w.matches(&p)))
        });
        if !runnable {
            return Err(SelectError::NoSuchPlatform(
                platforms
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                img.reference.clone(),
                img.platforms.join(", "),
            ));
        }
        let partial = !img.complete || children.len() != before;
        Ok((children, partial))
    }

    /// The children of index `d` (and of the indexes nested in it) that the platforms select.
    fn select(&self, d: &Digest, platforms: &[Platform], chosen: &mut HashSet<Digest>) {
        let Some(idx) = self.indexes.get(d) else {
            return;
        };
        for c in manifest::select_children(idx, Some(platforms)) {
            if chosen.insert(c.digest.clone()) {
                self.select(&c.digest, platforms, chosen);
            }
        }
    }

    fn platform_of(&self, child: &Digest) -> Option<Platform> {
        self.indexes
            .values()
            .flat_map(|i| &i.manifests)
            .find(|c| &c.digest == child)
            .and_then(|c| c.platform.as_ref().map(|p| p.to_platform()))
    }

    /// Configs and layers of these manifests, each once, in order.
    fn blobs_of(&self, children: &[&Digest]) -> Vec<BlobRecord> {
        let mut blobs = Vec::new();
        let mut seen = BTreeSet::new();
        for c in children {
            let Some(m) = self
                .checked
                .metadata
                .get(*c)
                .and_then(|b| manifest::parse_manifest(b).ok())
            else {
                continue;
            };
            for b in std::iter::once(&m.config).chain(&m.layers) {
                if seen.insert(b.digest.clone()) {
                    blobs.push(self.records[&b.digest].clone());
                }
            }
        }
        blobs
    }
}

/// `--image` matches the normalised reference, the reference as written in the image list, or
/// anything that normalises to the same (`nginx:1.27` for `docker.io/library/nginx:1.27`).
fn wanted_one(w: &str, img: &ImageRecord) -> bool {
    *w == img.reference
        || *w == img.source
        || Reference::parse(w)
            .is_ok_and(|r| r.tagged_name().as_deref() == Some(img.reference.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BundleManifest, DeltaBase, FORMAT_VERSION};
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use serde_json::{json, Value};

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const SIG_CONFIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

    /// A bundle being put together: its blob records, manifests' bytes and images.
    #[derive(Default)]
    struct Fixture {
        blobs: Vec<BlobRecord>,
        metadata: HashMap<Digest, Vec<u8>>,
        images: Vec<ImageRecord>,
        omitted: Vec<BlobRecord>,
    }

    /// A config or layer stands for the bytes of its name.
    fn named(name: &str) -> (Digest, u64) {
        (Digest::of(name.as_bytes()), name.len() as u64)
    }

    fn descriptor(name: &str, media_type: &str) -> Value {
        let (d, size) = named(name);
        json!({"mediaType": media_type, "digest": d.to_string(), "size": size})
    }

    impl Fixture {
        fn carry(&mut self, d: &Digest, size: u64, media_type: &str) {
            if !self.blobs.iter().any(|b| &b.digest == d) {
                self.blobs
                    .push(BlobRecord::stored(d.clone(), size, media_type));
            }
        }

        fn document(&mut self, media_type: &str, doc: Value) -> Digest {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let d = Digest::of(&bytes);
            self.carry(&d, bytes.len() as u64, media_type);
            self.metadata.insert(d.clone(), bytes);
            d
        }

        /// A manifest whose config and layers the bundle carries.
        fn manifest(&mut self, config_type: &str, config: &str, layers: &[&str]) -> Digest {
            let (c, size) = named(config);
            self.carry(&c, size, config_type);
            for l in layers {
                let (d, size) = named(l);
                self.carry(&d, size, LAYER);
            }
            let layers: Vec<Value> = layers.iter().map(|l| descriptor(l, LAYER)).collect();
            self.document(
                OCI_MANIFEST,
                json!({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": descriptor(config, config_type), "layers": layers,
                }),
            )
        }

        /// An index entry for a manifest of the bundle.
        fn child(&self, d: &Digest, platform: &str) -> Value {
            let (os, arch) = platform.split_once('/').unwrap();
            json!({
                "mediaType": OCI_MANIFEST, "digest": d.to_string(),
                "size": self.metadata[d].len(),
                "platform": {"os": os, "architecture": arch},
            })
        }

        fn nested(&self, d: &Digest) -> Value {
            json!({"mediaType": OCI_INDEX, "digest": d.to_string(), "size": self.metadata[d].len()})
        }

        fn index(&mut self, children: Vec<Value>) -> Digest {
            self.document(
                OCI_INDEX,
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
            )
        }

        fn image(&mut self, reference: &str, top: &Digest, manifests: Vec<Digest>) {
            self.images.push(ImageRecord {
                source: reference.to_string(),
                reference: reference.to_string(),
                digest: top.clone(),
                media_type: self
                    .blobs
                    .iter()
                    .find(|b| &b.digest == top)
                    .unwrap()
                    .media_type
                    .clone(),
                platforms: Vec::new(),
                manifests,
                complete: true,
                referrers: Vec::new(),
                carries: Default::default(),
            });
        }

        fn checked(self) -> Checked {
            let base = (!self.omitted.is_empty()).then(|| DeltaBase {
                kind: "bundle".into(),
                digest: Digest::of(b"base"),
                name: "base.bundle".into(),
                omitted: self.omitted,
            });
            Checked {
                bundle_json: Digest::of(b"bundle.json"),
                doc: BundleManifest {
                    format_version: FORMAT_VERSION,
                    created: "2025-01-01T00:00:00Z".into(),
                    tool: "bundle test".into(),
                    signer: None,
                    images: self.images,
                    blobs: self.blobs,
                    files: Vec::new(),
                    base,
                    tools: Vec::new(),
                },
                signer: None,
                index_json: Vec::new(),
                metadata: self.metadata,
                unproven: Vec::new(),
            }
        }
    }

    /// Three plain images: two `app:1.0` in different repositories, and nginx as written in a
    /// list (`nginx:1.27`).
    fn three_images() -> Checked {
        let mut f = Fixture::default();
        for (i, name) in [
            "quay.io/team/app:1.0",
            "quay.io/other/app:1.0",
            "docker.io/library/nginx:1.27",
        ]
        .into_iter()
        .enumerate()
        {
            let m = f.manifest(CONFIG, &format!("config {i}"), &[&format!("layer {i}")]);
            f.image(name, &m, vec![m.clone()]);
        }
        f.images[2].source = "nginx:1.27".into();
        f.checked()
    }

    fn names(planned: &[PlannedImage]) -> Vec<&str> {
        planned
            .iter()
            .map(|p| p.record.reference.as_str())
            .collect()
    }

    fn wanted(images: &[&str]) -> Vec<String> {
        images.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_image_named_plans_every_image_in_bundle_order() {
        let checked = three_images();
        let all = plan(&checked, &[], &[]).unwrap();
        assert_eq!(
            names(&all),
            [
                "quay.io/team/app:1.0",
                "quay.io/other/app:1.0",
                "docker.io/library/nginx:1.27"
            ]
        );
        // Named in another order, they are still planned in the bundle's.
        let two = plan(&checked, &wanted(&["nginx:1.27", "team/app:1.0"]), &[]).unwrap();
        assert_eq!(
            names(&two),
            ["quay.io/team/app:1.0", "docker.io/library/nginx:1.27"]
        );
    }

    #[test]
    fn an_image_is_named_in_full_as_listed_or_as_anything_that_normalises_to_it() {
        let checked = three_images();
        for w in [
            "docker.io/library/nginx:1.27",
            "nginx:1.27",
            "library/nginx:1.27",
        ] {
            let p = plan(&checked, &wanted(&[w]), &[]).unwrap();
            assert_eq!(names(&p), ["docker.io/library/nginx:1.27"], "--image {w}");
        }
    }

    #[test]
    fn an_unambiguous_end_of_a_name_chooses_one_image() {
        let checked = three_images();
        let p = plan(&checked, &wanted(&["team/app:1.0"]), &[]).unwrap();
        assert_eq!(names(&p), ["quay.io/team/app:1.0"]);
        assert_eq!(p[0].top().digest, checked.doc.images[0].digest);
        // The end must start at a `/`: `m/app:1.0` is not the end of `team/app:1.0`.
        let e = plan(&checked, &wanted(&["m/app:1.0"]), &[]).unwrap_err();
        assert!(matches!(e, SelectError::NoSuchImage(..)), "{e}");
    }

    #[test]
    fn an_end_two_images_share_is_ambiguous_and_names_both() {
        let e = plan(&three_images(), &wanted(&["app:1.0"]), &[]).unwrap_err();
        assert!(matches!(e, SelectError::Ambiguous(..)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "--image app:1.0 could be any of quay.io/team/app:1.0, quay.io/other/app:1.0; give more of the name"
        );
    }

    #[test]
    fn a_name_no_image_has_is_refused_with_what_the_bundle_holds() {
        let e = plan(&three_images(), &wanted(&["redis:7"]), &[]).unwrap_err();
        assert!(matches!(e, SelectError::NoSuchImage(..)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "--image redis:7: no such image in the bundle; it holds: quay.io/team/app:1.0, quay.io/other/app:1.0, docker.io/library/nginx:1.27"
        );
    }

    /// `r.test/multi:1`: an index of linux/amd64 and linux/arm64, a buildx attestation of the
    /// amd64 image, a signature of the arm64 manifest and a signature of the index, which a
    /// second signature signs in turn. Returns the bundle and the digests
    /// (amd64, arm64, attestation, index, arm64 signature, index signature, its signature).
    fn multi_platform() -> (Checked, [Digest; 7]) {
        let mut f = Fixture::default();
        let amd = f.manifest(CONFIG, "amd64 config", &["base layer", "amd64 layer"]);
        let arm = f.manifest(CONFIG, "arm64 config", &["base layer", "arm64 layer"]);
        let att = f.manifest(CONFIG, "attestation config", &["provenance"]);
        let mut att_entry = f.child(&att, "unknown/unknown");
        att_entry["annotations"] = json!({"vnd.docker.reference.digest": amd.to_string()});
        let children = vec![
            f.child(&amd, "linux/amd64"),
            f.child(&arm, "linux/arm64"),
            att_entry,
        ];
        let top = f.index(children);
        // A signature's layer may be a blob an image also has: sent once, with the image.
        let arm_sig = f.manifest(SIG_CONFIG, "arm64 sig config", &["arm64 sig"]);
        let top_sig = f.manifest(SIG_CONFIG, "index sig config", &["index sig", "base layer"]);
        let sig_sig = f.manifest(SIG_CONFIG, "sig sig config", &["sig sig"]);
        f.image(
            "r.test/multi:1",
            &top,
            vec![amd.clone(), arm.clone(), att.clone()],
        );
        f.images[0].platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        let referrer = |d: &Digest, subject: &Digest, f: &Fixture| ReferrerRecord {
            digest: d.clone(),
            media_type: OCI_MANIFEST.into(),
            size: f.metadata[d].len() as u64,
            subject: subject.clone(),
            artifact_type: SIG_CONFIG.into(),
            kind: "signature".into(),
            found: "referrers-api".into(),
            tag: None,
        };
        let referrers = vec![
            referrer(&arm_sig, &arm, &f),
            referrer(&top_sig, &top, &f),
            referrer(&sig_sig, &top_sig, &f),
        ];
        f.images[0].referrers = referrers;
        (f.checked(), [amd, arm, att, top, arm_sig, top_sig, sig_sig])
    }

    fn digests(records: &[BlobRecord]) -> Vec<Digest> {
        records.iter().map(|b| b.digest.clone()).collect()
    }

    fn blob_names(names: &[&str]) -> Vec<Digest> {
        names.iter().map(|n| named(n).0).collect()
    }

    #[test]
    fn every_platform_planned_children_first_and_the_index_last_with_each_blob_once() {
        let (checked, [amd, arm, att, top, ..]) = multi_platform();
        let p = plan(&checked, &[], &[]).unwrap().remove(0);
        assert_eq!(digests(&p.manifests), [amd, arm, att, top.clone()]);
        assert_eq!(p.top().digest, top);
        assert!(!p.partial);
        assert!(p.is_container_image());
        assert_eq!(
            digests(&p.blobs),
            blob_names(&[
                "amd64 config",
                "base layer",
                "amd64 layer",
                "arm64 config",
                "arm64 layer",
                "attestation config",
                "provenance",
            ])
        );
    }

    #[test]
    fn a_platform_filter_keeps_the_chosen_children_with_their_attestations_and_marks_partial() {
        let (checked, [amd, _arm, att, top, ..]) = multi_platform();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let p = plan(&checked, &[], &[amd64]).unwrap().remove(0);
        assert_eq!(digests(&p.manifests), [amd, att, top]);
        assert!(p.partial, "arm64 is left out");
        assert_eq!(
            digests(&p.blobs),
            blob_names(&[
                "amd64 config",
                "base layer",
                "amd64 layer",
                "attestation config",
                "provenance",
            ])
        );
        // A selector without a variant takes any variant; every platform chosen: not partial.
        let both = ["linux/amd64", "linux/arm64"].map(|p| p.parse().unwrap());
        assert!(!plan(&checked, &[], &both).unwrap()[0].partial);
    }

    #[test]
    fn a_platform_the_image_lacks_is_refused_naming_what_it_carries() {
        let (checked, _) = multi_platform();
        let s390x: Platform = "linux/s390x".parse().unwrap();
        let e = plan(&checked, &[], &[s390x]).unwrap_err();
        assert!(matches!(e, SelectError::NoSuchPlatform(..)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "--platform linux/s390x: r.test/multi:1 has no such platform in the bundle (it carries linux/amd64, linux/arm64)"
        );
    }

    #[test]
    fn referrers_follow_their_subjects_and_bring_only_blobs_the_image_does_not() {
        let (checked, [.., arm_sig, top_sig, sig_sig]) = multi_platform();
        let all = plan(&checked, &[], &[]).unwrap().remove(0);
        let referrers: Vec<Digest> = all
            .referrers
            .iter()
            .map(|(r, _)| r.digest.clone())
            .collect();
        assert_eq!(
            referrers,
            [arm_sig.clone(), top_sig.clone(), sig_sig.clone()]
        );
        assert!(all.referrers.iter().all(|(r, rec)| r.digest == rec.digest));
        // "base layer" is the image's: it is not sent again as a referrer's.
        assert_eq!(
            digests(&all.referrer_blobs),
            blob_names(&[
                "arm64 sig config",
                "arm64 sig",
                "index sig config",
                "index sig",
                "sig sig config",
                "sig sig",
            ])
        );
        // A platform left out takes its signature with it; the index's stay, with theirs.
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let some = plan(&checked, &[], &[amd64]).unwrap().remove(0);
        let referrers: Vec<Digest> = some
            .referrers
            .iter()
            .map(|(r, _)| r.digest.clone())
            .collect();
        assert_eq!(referrers, [top_sig, sig_sig]);
        assert!(!digests(&some.referrer_blobs).contains(&named("arm64 sig").0));
    }

    #[test]
    fn a_layer_a_delta_leaves_out_is_still_planned_for_the_loader_to_find_at_the_target() {
        let mut f = Fixture::default();
        let m = f.manifest(CONFIG, "config", &["held layer", "new layer"]);
        f.image("r.test/app:2", &m, vec![m.clone()]);
        let held = f
            .blobs
            .iter()
            .position(|b| b.digest == named("held layer").0);
        let held = f.blobs.remove(held.unwrap());
        f.omitted.push(held.clone());
        let checked = f.checked();
        let p = plan(&checked, &[], &[]).unwrap().remove(0);
        assert_eq!(
            digests(&p.blobs),
            blob_names(&["config", "held layer", "new layer"])
        );
        assert_eq!(p.blobs[1], held);
    }

    #[test]
    fn an_index_nested_in_the_top_one_is_pushed_after_its_children_and_before_the_top() {
        let mut f = Fixture::default();
        let amd = f.manifest(CONFIG, "amd64 config", &["amd64 layer"]);
        let arm = f.manifest(CONFIG, "arm64 config", &["arm64 layer"]);
        let inner = vec![f.child(&arm, "linux/arm64")];
        let inner = f.index(inner);
        let children = vec![f.child(&amd, "linux/amd64"), f.nested(&inner)];
        let top = f.index(children);
        f.image("r.test/nested:1", &top, vec![amd.clone(), arm.clone()]);
        let checked = f.checked();
        let p = plan(&checked, &[], &[]).unwrap().remove(0);
        assert_eq!(digests(&p.manifests), [amd, arm, inner, top]);
    }

    #[test]
    fn an_index_nested_two_deep_is_pushed_before_the_index_that_holds_it() {
        let mut f = Fixture::default();
        let arm = f.manifest(CONFIG, "arm64 config", &["arm64 layer"]);
        let deepest = vec![f.child(&arm, "linux/arm64")];
        let deepest = f.index(deepest);
        let middle = vec![f.nested(&deepest)];
        let middle = f.index(middle);
        let top = vec![f.nested(&middle)];
        let top = f.index(top);
        f.image("r.test/deep:1", &top, vec![arm.clone()]);
        let checked = f.checked();
        let p = plan(&checked, &[], &[]).unwrap().remove(0);
        assert_eq!(digests(&p.manifests), [arm, deepest, middle, top]);
    }
}
