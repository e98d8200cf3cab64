//! `--to docker-archive:FILE.tar`: one tar that `docker load`, `podman load` and
//! `ctr images import` accept. It is an OCI image layout (index.json names every image, so the
//! OCI path keeps every digest) plus Docker's `manifest.json` (one platform per image, for
//! loaders that only know that format). Layers stay compressed, as they are in the bundle.
//! Written as FILE.partial and renamed when complete; removed if the load fails.

use super::plan::PlannedImage;
use super::target::{BlobOutcome, Opener, Target};
use crate::digest::{Digest, HashingWriter};
use crate::format::{BlobRecord, OCI_LAYOUT_CONTENT};
use crate::manifest;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct DockerArchiveTarget {
    path: PathBuf,
    partial: PathBuf,
    _interrupt: crate::interrupt::PartialGuard,
    tar: Mutex<Option<tar::Builder<BufWriter<File>>>>,
    written: Mutex<HashSet<Digest>>,
}

impl DockerArchiveTarget {
    pub fn create(path: &Path) -> Result<Self> {
        let partial = crate::create::partial_path(path);
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
        b.mode(tar::HeaderMode::Deterministic);
        let t = DockerArchiveTarget {
            path: path.to_path_buf(),
            _interrupt: crate::interrupt::PartialGuard::new(&partial),
            partial,
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
            .with_context(|| format!("writing {name} into {}", self.partial.display()))
    }

    /// Append a blob, hashing it on the way; a mismatch fails the load (and so the archive).
    fn append_blob(&self, blob: &BlobRecord, src: &mut dyn Read) -> Result<bool> {
        if !self.written.lock().unwrap().insert(blob.digest.clone()) {
            return Ok(false);
        }
        let mut hashing = HashRead {
            inner: src,
            hash: HashingWriter::new(std::io::sink()),
        };
        self.append(&blob.digest.layout_path(), blob.size, &mut hashing)?;
        let (_, found, n) = hashing.hash.finish();
        if found != blob.digest || n != blob.size {
            bail!(
                "blob {} read back as {found} ({n} bytes): the bundle changed during the load",
                blob.digest
            );
        }
        Ok(true)
    }
}

impl Drop for DockerArchiveTarget {
    fn drop(&mut self) {
        // Not committed: never leave a half archive where it could be mistaken for a good one.
        if self.tar.lock().map(|t| t.is_some()).unwrap_or(false) {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

impl Target for DockerArchiveTarget {
    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }

    /// A new archive holds nothing yet: it cannot take a delta bundle.
    fn has_blob(&self, _blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(false)
    }

    fn put_blob(
        &self,
        blob: &BlobRecord,
        _users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome> {
        let sent = self.append_blob(blob, &mut open()?)?;
        Ok(BlobOutcome {
            sent: u64::from(sent),
            present: u64::from(!sent),
            bytes: if sent { blob.size } else { 0 },
            ..Default::default()
        })
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let mut index_entries = Vec::new();
        let mut docker_entries = Vec::new();
        let mut names = Vec::new();
        for img in plan {
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
        let index = crate::create::index_json_bytes(index_entries)?;
        self.append("index.json", index.len() as u64, &mut &index[..])?;
        let docker = serde_json::to_vec(&docker_entries)?;
        self.append("manifest.json", docker.len() as u64, &mut &docker[..])?;
        let b = self
            .tar
            .lock()
            .unwrap()
            .take()
            .context("the archive is already closed")?;
        let file = b
            .into_inner()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .with_context(|| format!("finishing {}", self.partial.display()))?;
        file.sync_all()?;
        std::fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "renaming {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
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
    let is_image = m.config.media_type == "application/vnd.oci.image.config.v1+json"
        || m.config.media_type == "application/vnd.docker.container.image.v1+json";
    is_image.then_some(m)
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

struct HashRead<'a> {
    inner: &'a mut dyn Read,
    hash: HashingWriter<std::io::Sink>,
}

impl Read for HashRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}
