//! `--to containers-storage[:[DRIVER@ROOT+RUNROOT]]`: podman's (and CRI-O's) image store, through
//! `podman load`, with manifest digests unchanged.
//!
//! podman reads the OCI view of an archive only when it holds a single image; for a multi-image
//! archive it falls back to Docker's manifest.json and recomputes manifests (new digests). So the
//! blobs are first written once, verified, into a temp OCI layout, and each image then goes to
//! podman as its own one-image archive built from that layout.

use super::docker_archive::DockerArchiveTarget;
use super::oci::OciTarget;
use super::plan::PlannedImage;
use super::target::{BlobOutcome, Opener, Target};
use crate::format::BlobRecord;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::process::Command;

/// Where podman keeps images: its defaults, or `DRIVER@ROOT+RUNROOT` as containers-storage
/// references spell it (`vfs@/var/lib/containers/storage+/run/containers/storage`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSpec {
    pub driver: String,
    pub root: String,
    pub runroot: String,
}

pub fn parse_spec(s: &str) -> Result<Option<StorageSpec>> {
    let inner = s.trim();
    if inner.is_empty() {
        return Ok(None);
    }
    let bad = || {
        anyhow::anyhow!(
            "containers-storage:{s}: expected [DRIVER@ROOT+RUNROOT], e.g. [overlay@/var/lib/containers/storage+/run/containers/storage]"
        )
    };
    let body = inner
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (driver, paths) = body.split_once('@').ok_or_else(bad)?;
    let (root, runroot) = paths.split_once('+').ok_or_else(bad)?;
    if driver.is_empty() || !root.starts_with('/') || !runroot.starts_with('/') {
        return Err(bad());
    }
    Ok(Some(StorageSpec {
        driver: driver.into(),
        root: root.into(),
        runroot: runroot.into(),
    }))
}

const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

pub struct ContainersStorageTarget {
    spec: Option<StorageSpec>,
    blobs: OciTarget,
    dir: tempfile::TempDir,
    _interrupt: crate::interrupt::PartialGuard,
}

impl ContainersStorageTarget {
    pub fn open(spec: Option<StorageSpec>) -> Result<Self> {
        let podman = Command::new("podman").arg("--version").output();
        if !podman.is_ok_and(|o| o.status.success()) {
            bail!("--to containers-storage needs podman on PATH; or load --to docker-archive:FILE and `podman load` it");
        }
        let dir = tempfile::Builder::new()
            .prefix(".bundle-podman-")
            .tempdir()
            .context("creating a temp directory for the import (set TMPDIR to a roomier place)")?;
        Ok(ContainersStorageTarget {
            spec,
            blobs: OciTarget::open(&dir.path().join("layout"))?,
            _interrupt: crate::interrupt::PartialGuard::new(dir.path()),
            dir,
        })
    }

    fn podman(&self) -> Command {
        let mut c = Command::new("podman");
        if let Some(s) = &self.spec {
            c.args([
                "--root",
                &s.root,
                "--runroot",
                &s.runroot,
                "--storage-driver",
                &s.driver,
            ]);
        }
        c
    }
}

impl Target for ContainersStorageTarget {
    fn name(&self) -> String {
        match &self.spec {
            None => "containers-storage".into(),
            Some(s) => format!("containers-storage:[{}@{}+{}]", s.driver, s.root, s.runroot),
        }
    }

    /// Images are loaded whole, from archives that hold every blob they need.
    fn has_blob(&self, _blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(false)
    }

    fn put_blob(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome> {
        self.blobs.put_blob(blob, users, open)
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for (i, img) in plan.iter().enumerate() {
            // An artifact (a Helm chart, a signature) has no image config: podman cannot
            // store it, and refusing the whole load over it would help nobody.
            if !img
                .blobs
                .iter()
                .any(|b| IMAGE_CONFIGS.contains(&b.media_type.as_str()))
            {
                eprintln!(
                    "note: {} is an artifact, not a container image; containers-storage cannot hold it (skipped; use oci: or a registry)",
                    img.record.reference
                );
                continue;
            }
            let path = self.dir.path().join(format!("image-{i}.tar"));
            let archive = DockerArchiveTarget::create(&path)?;
            for b in &img.blobs {
                let file = self.blobs.blob_path(&b.digest);
                let open = || -> Result<Box<dyn Read + Send>> {
                    Ok(Box::new(std::fs::File::open(&file)?))
                };
                archive.put_blob(b, &[img], &open)?;
            }
            names.extend(archive.commit(std::slice::from_ref(img), checked)?);
            let o = self
                .podman()
                .args(["load", "-q", "-i"])
                .arg(&path)
                .output()
                .context("running podman load")?;
            if !o.status.success() {
                bail!(
                    "podman load of {} failed: {}",
                    img.record.reference,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            let _ = std::fs::remove_file(&path);
        }
        Ok(names)
    }
}
