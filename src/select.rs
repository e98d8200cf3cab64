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
        // Nested indexes between the children and the top.
        if let Some(top) = self.indexes.get(&img.digest) {
            for k in top.manifests.iter().map(|c| &c.digest) {
                if self.indexes.contains_key(k) {
                    manifests.push(self.records[k].clone());
                }
            }
        }
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
