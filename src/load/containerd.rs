//! `--to containerd[://SOCKET][?namespace=NS]`: import into containerd's content store, names and
//! digests unchanged, so Kubernetes nodes (k3s, kubeadm) can run the images with no registry.
//!
//! The images are written as a docker-archive (an OCI layout tar, see `docker_archive`) in
//! `$TMPDIR`, then handed to containerd's own client, `ctr images import --all-platforms`, which
//! reads the layout's index and keeps every digest. Using ctr keeps us off containerd's gRPC API
//! and its version skew; it ships with every containerd package. Images are not unpacked here:
//! containerd unpacks an image for its snapshotter when a container first uses it.

use super::docker_archive::{Artifacts, DockerArchiveTarget};
use super::import_tool;
use super::target::{BlobOutcome, Put, Target};
use crate::fsutil::ScratchDir;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ContainerdTarget {
    socket: PathBuf,
    namespace: String,
    archive: DockerArchiveTarget,
    path: PathBuf,
    _dir: ScratchDir,
}

impl ContainerdTarget {
    pub fn open(socket: &Path, namespace: &str) -> Result<Self> {
        import_tool::require("ctr", "--to containerd needs containerd's `ctr` on PATH (it comes with the containerd package); or load --to docker-archive:FILE and import that on the node")?;
        if !socket.exists() {
            bail!(
                "--to containerd: no containerd socket at {} (k3s uses /run/k3s/containerd/containerd.sock: --to containerd:///run/k3s/containerd/containerd.sock)",
                socket.display()
            );
        }
        let dir = import_tool::staging(".bundle-containerd-")?;
        let path = dir.path().join("images.tar");
        Ok(ContainerdTarget {
            socket: socket.to_path_buf(),
            namespace: namespace.to_string(),
            archive: DockerArchiveTarget::create(&path, Artifacts::Keep)?,
            path,
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

    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        self.archive.put_blob(put)
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let names = self.archive.commit(plan, checked)?;
        let mut ctr = Command::new("ctr");
        ctr.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", &self.namespace])
            .args(["images", "import", "--all-platforms", "--no-unpack"])
            .arg(&self.path);
        import_tool::run(ctr, &format!("ctr images import into {}", self.name()))?;
        Ok(names)
    }
}
