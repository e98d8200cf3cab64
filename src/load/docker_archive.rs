//! `--to docker-archive:FILE.tar`: one tar that `docker load`, `podman load` and
//! `ctr images import` accept. It is an OCI image layout (index.json names every image, so the
//! OCI path keeps every digest) plus Docker's `manifest.json` (one platform per image, for
//! loaders that only know that format). Layers stay compressed, as they are in the bundle.
//! Written as FILE.partial and renamed when complete; removed if the load fails.

use super::target::{BlobOutcome, Put, Target};
use crate::cpu::{In, Stage};
use crate::digest::{Digest, HashingReader};
use crate::format::{BlobRecord, OCI_LAYOUT_CONTENT};
use crate::fsutil::{partial_path, PartialFile};
use crate::manifest;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What an archive does with artifacts (images without an image config: Helm charts,
/// signatures).
#[derive(Clone, Copy, PartialEq)]
pub enum Artifacts {
    /// For an import that does not unpack (`ctr images import --no-unpack`).
    Keep,
    /// For docker, podman and a plain `ctr images import`, which try to unpack every image
    /// they are given and fail on an artifact.
    LeaveOut,
}

pub struct DockerArchiveTarget {
    path: PathBuf,
    artifacts: Artifacts,
    /// None once committed (or failed while closing).
    tar: Mutex<Option<tar::Builder<BufWriter<PartialFile>>>>,
    written: Mutex<HashSet<Digest>>,
}

impl DockerArchiveTarget {
    pub fn create(path: &Path, artifacts: Artifacts) -> Result<Self> {
        let file = PartialFile::create(path)
            .with_context(|| format!("creating {}", partial_path(path).display()))?;
        let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
        b.mode(tar::HeaderMode::Deterministic);
        let t = DockerArchiveTarget {
            path: path.to_path_buf(),
            artifacts,
            tar: Mutex::new(Some(b)),
            written: Mutex::new(HashSet::new()),
        };
        t.append(
            "oci-layout",
            OCI_LAYOUT_CONTENT.len() as u64,
            &mut &OCI_LAYOUT_CONTENT[..],
        )?;
        Ok(t)
    }

    fn append(&self, name: &str, size: u64, src: &mut dyn Read) -> Result<()> {
        let mut guard = self.tar.lock().unwrap();
        let b = guard.as_mut().context("the archive is already closed")?;
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, src.take(size))
            .with_context(|| format!("writing {name} into {}", partial_path(&self.path).display()))
    }

    /// Append a blob, hashing it on the way; a mismatch fails the load (and so the archive).
    fn append_blob(&self, blob: &BlobRecord, src: &mut dyn Read) -> Result<bool> {
        if !self.written.lock().unwrap().insert(blob.digest.clone()) {
            return Ok(false);
        }
        let mut hashing = In::new(Stage::Hash, HashingReader::new(src));
        self.append(&blob.digest.layout_path(), blob.size, &mut hashing)?;
        let (_, found, n) = hashing.into_inner().finish();
        if found != blob.digest || n != blob.size {
            bail!(
                "blob {} read back as {found} ({n} bytes): the bundle changed during the load",
                blob.digest
            );
        }
        Ok(true)
    }
}

impl DockerArchiveTarget {
    fn holds(&self, img: &PlannedImage) -> bool {
        self.artifacts == Artifacts::Keep || img.is_container_image()
    }
}

impl Target for DockerArchiveTarget {
    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }

    fn check_room(&self, blobs: &[&BlobRecord]) -> Result<()> {
        let bytes = blobs.iter().map(|b| b.size).sum();
        Ok(crate::fsutil::check_room(
            crate::fsutil::parent_of(&self.path),
            bytes,
        )?)
    }

    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        // Signatures and other referrers are not named by an archive: docker, podman and ctr
        // would take them for images, so their blobs are not written either.
        let wanted = |u: &&PlannedImage| {
            self.holds(u) && u.blobs.iter().any(|b| b.digest == put.blob.digest)
        };
        if !put.users.iter().any(wanted) {
            return Ok(BlobOutcome::default());
        }
        Ok(match self.append_blob(put.blob, &mut (put.open)()?)? {
            true => BlobOutcome::sent(put.blob.size),
            false => BlobOutcome::present(),
        })
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let mut index_entries = Vec::new();
        let mut docker_entries = Vec::new();
        let mut names = Vec::new();
        for img in plan {
            if !self.holds(img) {
                crate::console::line(format!(
                    "note: {} is an artifact, not a container image; left out of {} (docker, podman and ctr would try to unpack it; use oci: or a registry)",
                    img.record.reference,
                    self.path.display()
                ));
                continue;
            }
            if let Some(r) = crate::format::referrer_summary(&img.record.referrers) {
                crate::console::line(format!(
                    "note: {} of {} left out (docker archives and containerd imports cannot name them; oci: and registries keep them)",
                    r, img.record.reference
                ));
            }
            for m in &img.manifests {
                self.append_blob(m, &mut &checked.metadata[&m.digest][..])?;
            }
            let top = img.top();
            let (entry, full) = crate::format::layout_index_entry(
                &img.reference,
                &top.media_type,
                &top.digest,
                top.size,
            );
            index_entries.push(entry);
            // Docker's format has one platform per tag: the host's if present, else the first.
            if let Some(m) = docker_manifest_for(img, checked) {
                docker_entries.push(serde_json::json!({
                    "Config": m.config.digest.layout_path(),
                    "RepoTags": img.reference.tagged_name().into_iter().collect::<Vec<_>>(),
                    "Layers": m.layers.iter().map(|l| l.digest.layout_path()).collect::<Vec<_>>(),
                }));
            }
            names.push(full);
        }
        let index = crate::format::index_json_bytes(index_entries)?;
        self.append("index.json", index.len() as u64, &mut &index[..])?;
        let docker = serde_json::to_vec(&docker_entries)?;
        self.append("manifest.json", docker.len() as u64, &mut &docker[..])?;
        let b = self
            .tar
            .lock()
            .unwrap()
            .take()
            .context("the archive is already closed")?;
        b.into_inner()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|file| file.commit(true))
            .with_context(|| format!("finishing {}", self.path.display()))?;
        Ok(names)
    }
}

/// The image manifest Docker's `manifest.json` should describe for this image, if it is an image
/// (artifacts with other config types are only in index.json).
fn docker_manifest_for(img: &PlannedImage, checked: &Checked) -> Option<manifest::ImageManifest> {
    let host = crate::platform::Platform {
        os: "linux".into(),
        architecture: host_arch().into(),
        variant: None,
    };
    let children: Vec<&BlobRecord> = img
        .manifests
        .iter()
        .filter(|m| !manifest::is_index(&m.media_type))
        .collect();
    let index_platforms: Vec<(Digest, crate::platform::Platform)> = checked
        .metadata
        .get(&img.top().digest)
        .filter(|_| manifest::is_index(&img.top().media_type))
        .and_then(|b| manifest::parse_index(b).ok())
        .map(|i| {
            i.manifests
                .iter()
                .filter_map(|c| {
                    c.platform
                        .as_ref()
                        .map(|p| (c.digest.clone(), p.to_platform()))
                })
                .collect()
        })
        .unwrap_or_default();
    let chosen = children
        .iter()
        .find(|c| {
            index_platforms
                .iter()
                .any(|(d, p)| d == &c.digest && host.matches(p))
        })
        .or_else(|| {
            children.iter().find(|c| {
                !index_platforms
                    .iter()
                    .any(|(d, p)| d == &c.digest && p.os == "unknown")
            })
        })?;
    let m = manifest::parse_manifest(checked.metadata.get(&chosen.digest)?).ok()?;
    manifest::is_image_config(&m.config.media_type).then_some(m)
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}
