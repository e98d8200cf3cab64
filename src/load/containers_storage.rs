//! `--to containers-storage` or `containers-storage:[DRIVER@ROOT+RUNROOT]` (brackets literal): podman's (and CRI-O's) image store, through
//! `podman load`, with manifest digests unchanged.
//!
//! podman reads the OCI view of an archive only when it holds a single image; for a multi-image
//! archive it falls back to Docker's manifest.json and recomputes manifests (new digests). So the
//! blobs are first written once, verified, into a temp OCI layout, and each image then goes to
//! podman as its own one-image archive built from that layout.

use super::docker_archive::{Artifacts, DockerArchiveTarget};
use super::import_tool;
use super::oci::OciTarget;
use super::spec::StorageSpec;
use super::target::{BlobOutcome, Put, Target};
use crate::fsutil::ScratchDir;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::Result;
use std::io::Read;
use std::process::Command;

pub struct ContainersStorageTarget {
    spec: Option<StorageSpec>,
    blobs: OciTarget,
    dir: ScratchDir,
}

impl ContainersStorageTarget {
    pub fn open(spec: Option<StorageSpec>) -> Result<Self> {
        import_tool::require("podman", "--to containers-storage needs podman on PATH; or load --to docker-archive:FILE and `podman load` it")?;
        let dir = import_tool::staging(".bundle-podman-")?;
        Ok(ContainersStorageTarget {
            spec,
            blobs: OciTarget::open(&dir.path().join("layout"))?,
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

    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        self.blobs.put_blob(put)
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for (i, img) in plan.iter().enumerate() {
            // An artifact (a Helm chart, a signature) has no image config: podman cannot
            // store it, and refusing the whole load over it would help nobody.
            if !img.is_container_image() {
                crate::console::line(format!(
                    "note: {} is an artifact, not a container image; containers-storage cannot hold it (skipped; use oci: or a registry)",
                    img.record.reference
                ));
                continue;
            }
            let path = self.dir.path().join(format!("image-{i}.tar"));
            let archive = DockerArchiveTarget::create(&path, Artifacts::LeaveOut)?;
            for b in &img.blobs {
                let file = self.blobs.blob_path(&b.digest);
                let open = || -> Result<Box<dyn Read + Send>> {
                    Ok(Box::new(std::fs::File::open(&file)?))
                };
                archive.put_blob(Put {
                    blob: b,
                    users: &[img],
                    open: &open,
                })?;
            }
            names.extend(archive.commit(std::slice::from_ref(img), checked)?);
            let mut podman = self.podman();
            podman.args(["load", "-q", "-i"]).arg(&path);
            import_tool::run(podman, &format!("podman load of {}", img.record.reference))?;
            let _ = std::fs::remove_file(&path);
        }
        Ok(names)
    }
}
