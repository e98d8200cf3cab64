//! What `bundle serve` offers: repositories, tags and digests from one or more bundles, with
//! every manifest already verified and each blob located in its own frame through the seek index.
//!
//! Start-up reads only the front of each bundle (bundle.json, its signature, the layout files and
//! the manifests, all checked exactly as `bundle verify` checks them) and the seek index at the
//! end: its cost does not grow with the size of the layers.

use crate::digest::Digest;
use crate::format::reader::BundleReader;
use crate::format::{BlobRecord, MemberEntry};
use crate::select::{plan, PlannedImage};
use crate::verify::{Checked, Session, TrustedKey, VerifyError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A config or layer: which bundle holds it, and where.
pub struct BlobLocation {
    pub bundle: usize,
    pub member: MemberEntry,
    pub record: BlobRecord,
}

#[derive(Default)]
pub struct Repository {
    pub tags: BTreeMap<String, Digest>,
    /// Every manifest, index and blob an image of this repository needs: what may be fetched
    /// through it, as a registry scopes content to the repositories that reference it.
    pub digests: BTreeSet<Digest>,
    /// The referrers with a `subject`, by subject: what the referrers API lists.
    pub referrers: BTreeMap<Digest, Vec<serde_json::Value>>,
}

pub struct Catalog {
    pub bundles: Vec<BundleReader>,
    pub repositories: BTreeMap<String, Repository>,
    /// Manifests and indexes, verified, with their media types.
    pub manifests: HashMap<Digest, (Vec<u8>, String)>,
    pub blobs: HashMap<Digest, BlobLocation>,
    /// The images served: a repository and a tag (or, pinned, a digest), once however many
    /// bundles carry it.
    served: std::collections::HashSet<(String, String)>,
    /// Where two bundles (or images) claim the same repository and tag: (name, kept digest).
    pub overridden: Vec<String>,
    /// The reference tars of layers carried as patches, from the bundles served.
    pub references: Option<std::sync::Arc<dyn crate::format::References>>,
    /// Layers some bundle carries other than as a delta: what a patch's reference tar can be
    /// read from.
    whole: BTreeSet<Digest>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{path}: {detail}")]
    Inconsistent { path: String, detail: String },
    /// Its message names the bundle already.
    #[error(transparent)]
    Reopen(#[from] anyhow::Error),
}

/// `repository` of an image reference as served: the source path (`library/nginx`), with the
/// source registry as its first component when `keep_registry` is set.
pub fn served_name(reference: &crate::reference::Reference, keep_registry: bool) -> String {
    if keep_registry {
        format!(
            "{}/{}",
            reference.registry.replace(':', "_"),
            reference.repository
        )
    } else {
        reference.repository.clone()
    }
}

impl Catalog {
    /// How many distinct images are served.
    pub fn images(&self) -> usize {
        self.served.len()
    }

    /// Verify the signature and metadata of each bundle and index what they hold. Later bundles
    /// win where two carry the same tag.
    pub fn open(
        files: &[PathBuf],
        keys: &[TrustedKey],
        allow_unsigned: bool,
        keep_registry: bool,
    ) -> Result<Catalog, CatalogError> {
        let mut c = Catalog {
            bundles: Vec::new(),
            repositories: BTreeMap::new(),
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            served: Default::default(),
            overridden: Vec::new(),
            references: None,
            whole: BTreeSet::new(),
        };
        for path in files {
            c.add(path, keys, allow_unsigned, keep_registry)?;
        }
        c.add_fallback_tags();
        // A delta bundle's left-out layers must come from another bundle served with it.
        for (name, repo) in &c.repositories {
            if let Some(d) = repo
                .digests
                .iter()
                .find(|d| !c.blobs.contains_key(*d) && !c.manifests.contains_key(*d))
            {
                return Err(CatalogError::Inconsistent {
                    path: files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    detail: format!(
                        "layer {d} of {name} is in none of these bundles: a delta bundle is served together with its base (bundle serve BASE DELTA)"
                    ),
                });
            }
        }
        c.references = c.reference_tars(files)?;
        Ok(c)
    }

    /// The fallback tag `sha256-<hex>` of each subject with referrers, for clients that look
    /// there rather than at the referrers API; a tag a bundle carries itself wins.
    fn add_fallback_tags(&mut self) {
        for repo in self.repositories.values_mut() {
            for (subject, list) in &repo.referrers {
                let bytes = crate::manifest::referrers_index(list.clone());
                let digest = Digest::of(&bytes);
                let tag = crate::manifest::referrers_tag(subject);
                if repo.tags.contains_key(&tag) {
                    continue;
                }
                repo.tags.insert(tag, digest.clone());
                repo.digests.insert(digest.clone());
                self.manifests
                    .insert(digest, (bytes, crate::manifest::OCI_INDEX.to_string()));
            }
        }
    }

    /// Where layers carried as patches get their reference tars: the bundles served with them,
    /// which must carry every reference (checked here, before anything is served).
    fn reference_tars(
        &self,
        files: &[PathBuf],
    ) -> Result<Option<std::sync::Arc<dyn crate::format::References>>, CatalogError> {
        let mut needed = self.blobs.values().filter_map(|l| {
            let r = l.record.rebuild.as_ref()?.reference.as_ref()?;
            Some((&l.record.digest, &r.layer))
        });
        if needed.clone().next().is_none() {
            return Ok(None);
        }
        if let Some((layer, reference)) = needed.find(|(_, r)| !self.whole.contains(*r)) {
            let why = if layer == reference {
                "itself: no bundle can give its reference, and it cannot be served".to_string()
            } else if self.blobs.contains_key(reference) {
                format!("layer {reference}, which these bundles carry only as a delta itself: serve it together with a bundle that carries {reference} whole (bundle serve BASE DELTA)")
            } else {
                format!("layer {reference}, which none of these bundles carries: serve it together with the bundle it was made against (bundle serve BASE DELTA)")
            };
            return Err(CatalogError::Inconsistent {
                path: files[self.blobs[layer].bundle].display().to_string(),
                detail: format!("layer {layer} is carried as a delta against {why}"),
            });
        }
        let mut tars = crate::reference_tars::ReferenceTars::new();
        for f in files {
            // Both errors name the bundle: said once, not "X: X: ...".
            let reader = BundleReader::open(f).map_err(anyhow::Error::from)?;
            let source = crate::reference_tars::ReferenceTars::bundle_source(reader)?;
            tars.add(f.display().to_string(), source);
        }
        Ok(Some(std::sync::Arc::new(tars)))
    }

    fn add(
        &mut self,
        path: &Path,
        keys: &[TrustedKey],
        allow_unsigned: bool,
        keep_registry: bool,
    ) -> Result<(), CatalogError> {
        // The front of the bundle only: signature, bundle.json, layout files, manifests (of a
        // split bundle: the parts list and the parts' sizes too).
        let crate::verify::Opened {
            name,
            reader,
            stream,
            parts,
        } = crate::verify::Opened::open(path, keys, allow_unsigned)?;
        let session =
            Session::open(stream, &name, keys, allow_unsigned).map_err(|e| parts.explain(e))?;
        let checked = session.checked;
        let inconsistent = |detail: String| CatalogError::Inconsistent {
            path: name.clone(),
            detail,
        };
        self.locate_blobs(&checked, &reader).map_err(inconsistent)?;
        let types: HashMap<&Digest, &str> = checked
            .doc
            .blobs
            .iter()
            .map(|b| (&b.digest, b.media_type.as_str()))
            .collect();
        for (d, bytes) in &checked.metadata {
            self.manifests
                .insert(d.clone(), (bytes.clone(), types[d].to_string()));
        }
        let planned = plan(&checked, &[], &[]).map_err(|e| inconsistent(e.to_string()))?;
        for img in planned {
            self.add_image(&img, &checked, keep_registry);
        }
        self.bundles.push(reader);
        Ok(())
    }

    /// Where each config and layer of the bundle about to be added (`self.bundles.len()`) is;
    /// or why the seek index does not hold one.
    fn locate_blobs(&mut self, checked: &Checked, reader: &BundleReader) -> Result<(), String> {
        let bundle = self.bundles.len();
        for rec in &checked.doc.blobs {
            if checked.metadata.contains_key(&rec.digest) {
                continue;
            }
            if rec.rebuild.as_ref().is_none_or(|r| r.reference.is_none()) {
                self.whole.insert(rec.digest.clone());
            }
            let member = reader
                .member(&rec.member_path())
                .filter(|m| m.size == rec.member_size())
                .ok_or_else(|| {
                    format!(
                        "the seek index has no member of {} bytes for blob {}",
                        rec.member_size(),
                        rec.digest
                    )
                })?
                .clone();
            let record = rec.clone();
            let at = BlobLocation {
                bundle,
                member,
                record,
            };
            self.blobs.insert(rec.digest.clone(), at);
        }
        Ok(())
    }

    /// One image served: its repository's digests, tags and referrers.
    fn add_image(&mut self, img: &PlannedImage, checked: &Checked, keep_registry: bool) {
        let repo_name = served_name(&img.reference, keep_registry);
        let name = match (&img.reference.tag, &img.reference.digest) {
            (Some(tag), None) => tag.clone(),
            _ => img.top().digest.to_string(),
        };
        self.served.insert((repo_name.clone(), name));
        let repo = self.repositories.entry(repo_name.clone()).or_default();
        let blobs = img.blobs.iter().chain(&img.referrer_blobs);
        repo.digests
            .extend(img.manifests.iter().chain(blobs).map(|b| b.digest.clone()));
        for (r, m) in &img.referrers {
            repo.digests.insert(r.digest.clone());
            match &r.tag {
                Some(tag) => {
                    repo.tags.insert(tag.clone(), r.digest.clone());
                }
                None => {
                    let bytes = &checked.metadata[&m.digest];
                    let d = crate::manifest::referrer_descriptor(bytes, &m.media_type);
                    let list = repo.referrers.entry(r.subject.clone()).or_default();
                    if !list.contains(&d) {
                        list.push(d);
                    }
                }
            }
        }
        // A digest-pinned image is served by digest only, never under a tag it did not have.
        if let (Some(tag), None) = (&img.reference.tag, &img.reference.digest) {
            let top = img.top().digest.clone();
            if let Some(old) = repo.tags.insert(tag.clone(), top.clone()) {
                if old != top {
                    self.overridden.push(format!("{repo_name}:{tag}"));
                }
            }
        }
    }
}
