//! `containers-storage:[STORE]REF`: podman's and buildah's image store. Its layers are kept as
//! overlay (or vfs) directories, not as tars, so skopeo, which links containers/storage, reads
//! the image out as a docker archive into a scratch directory, and `archive` goes on from
//! there. skopeo rather than `podman save`: it takes the store's `[DRIVER@ROOT+RUNROOT]` as
//! the entry writes it, and is on every machine that copies images for a registry.

use super::image::LocalError;
use crate::fsutil::ScratchDir;
use std::path::PathBuf;
use std::process::Command;

/// The image, written by skopeo as a docker archive under `scratch`.
pub fn export(
    store: Option<&str>,
    reference: &str,
    scratch: &ScratchDir,
) -> Result<PathBuf, LocalError> {
    let source = format!("containers-storage:{}{reference}", store.unwrap_or(""));
    let found = Command::new("skopeo").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        return Err(LocalError::Said(format!(
            "{source}: reading podman's store needs skopeo on PATH; install it, or `podman save -o FILE {reference}` and list docker-archive:FILE"
        )));
    }
    let out = scratch.path().join("image.tar");
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", &source])
        .arg(format!("docker-archive:{}", out.display()))
        .output()
        .map_err(|e| LocalError::Said(format!("{source}: running skopeo: {e}")))?;
    if !o.status.success() {
        return Err(LocalError::Said(format!(
            "{source}: skopeo could not read it: {}",
            crate::console::printable(String::from_utf8_lossy(&o.stderr).trim())
        )));
    }
    Ok(out)
}
