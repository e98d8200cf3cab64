//! `--to containerd[://SOCKET][?namespace=NS]`: import into containerd's content store, names and
//! digests unchanged, so Kubernetes nodes (k3s, kubeadm) can run the images with no registry.
//!
//! The images are written as a docker-archive (an OCI layout tar, see `docker_archive`) in
//! `$TMPDIR`, then handed to containerd's own client, `ctr images import --all-platforms`, which
//! reads the layout's index and keeps every digest. Using ctr keeps us off containerd's gRPC API
//! and its version skew; it ships with every containerd package. Images are not unpacked here:
//! containerd unpacks an image for its snapshotter when a container first uses it.

use super::docker_archive::DockerArchiveTarget;
use super::plan::PlannedImage;
use super::target::{BlobOutcome, Opener, Target};
use crate::format::BlobRecord;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";
/// Kubernetes' namespace: what the kubelet (through CRI) sees.
pub const DEFAULT_NAMESPACE: &str = "k8s.io";

pub struct ContainerdTarget {
    socket: PathBuf,
    namespace: String,
    archive: DockerArchiveTarget,
    path: PathBuf,
    _interrupt: crate::interrupt::PartialGuard,
    _dir: tempfile::TempDir,
}

impl ContainerdTarget {
    pub fn open(socket: &Path, namespace: &str) -> Result<Self> {
        let ctr = Command::new("ctr").arg("--version").output();
        if !ctr.is_ok_and(|o| o.status.success()) {
            bail!("--to containerd needs containerd's `ctr` on PATH (it comes with the containerd package); or load --to docker-archive:FILE and import that on the node");
        }
        if !socket.exists() {
            bail!(
                "--to containerd: no containerd socket at {} (k3s uses /run/k3s/containerd/containerd.sock: --to containerd:///run/k3s/containerd/containerd.sock)",
                socket.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix(".bundle-containerd-")
            .tempdir()
            .context("creating a temp directory for the import (set TMPDIR to a roomier place)")?;
        let path = dir.path().join("images.tar");
        Ok(ContainerdTarget {
            socket: socket.to_path_buf(),
            namespace: namespace.to_string(),
            archive: DockerArchiveTarget::create(&path)?,
            path,
            _interrupt: crate::interrupt::PartialGuard::new(dir.path()),
            _dir: dir,
        })
    }
}

impl Target for ContainerdTarget {
    fn name(&self) -> String {
        format!(
            "containerd://{}?namespace={}",
            self.socket.display(),
            self.namespace
        )
    }

    /// The import goes through a fresh archive, which cannot reference what containerd holds.
    fn has_blob(&self, _blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(false)
    }

    fn put_blob(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome> {
        self.archive.put_blob(blob, users, open)
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let names = self.archive.commit(plan, checked)?;
        let o = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", &self.namespace])
            .args(["images", "import", "--all-platforms", "--no-unpack"])
            .arg(&self.path)
            .output()
            .context("running ctr images import")?;
        if !o.status.success() {
            bail!(
                "ctr images import into {} failed: {}",
                self.name(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        Ok(names)
    }
}
