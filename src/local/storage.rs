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
            "reading podman's store needs skopeo on PATH; install it, or `podman save -o FILE {reference}` and list docker-archive:FILE"
        )));
    }
    let out = scratch.path().join("image.tar");
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", &source])
        .arg(format!("docker-archive:{}", out.display()))
        .output()
        .map_err(|e| LocalError::Said(format!("running skopeo: {e}")))?;
    if !o.status.success() {
        return Err(LocalError::Said(format!(
            "skopeo could not read it from the store: {}",
            crate::console::printable(&skopeo_message(&String::from_utf8_lossy(&o.stderr)))
        )));
    }
    Ok(out)
}

/// The message of skopeo's fatal log line (`time=… level=fatal msg="…"`), else its output.
fn skopeo_message(stderr: &str) -> String {
    let text = stderr.trim();
    match text.split_once("msg=\"") {
        Some((_, m)) => m.strip_suffix('"').unwrap_or(m).replace("\\\"", "\""),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn skopeos_fatal_line_is_cut_to_its_message() {
        let line = r#"time="2026-12-06T10:34:16Z" level=fatal msg="initializing source x: reference \"y\" does not resolve""#;
        assert_eq!(
            super::skopeo_message(line),
            r#"initializing source x: reference "y" does not resolve"#
        );
        assert_eq!(super::skopeo_message(" no log\n"), "no log");
    }
}
