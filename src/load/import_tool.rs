//! What the targets that hand images to a store's own import tool share (containerd through
//! `ctr images import`, containers-storage through `podman load`): the tool must be on PATH, the
//! images are staged in a scratch directory of `$TMPDIR` (removed on every exit path), and a
//! failed import is reported with the tool's own words.

use crate::fsutil::ScratchDir;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// Fail early, before anything is staged, when `program` cannot be run; `hint` says what to do.
pub fn require(program: &str, hint: &str) -> Result<()> {
    let found = Command::new(program).arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        bail!("{hint}");
    }
    Ok(())
}

/// A scratch directory for the staged archives.
pub fn staging(prefix: &str) -> Result<ScratchDir> {
    ScratchDir::new(prefix)
        .context("creating a temp directory for the import (set TMPDIR to a roomier place)")
}

/// Run an import; `what` names it in errors (`ctr images import into X`).
pub fn run(mut cmd: Command, what: &str) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let o = cmd
        .output()
        .with_context(|| format!("running {program} for {what}"))?;
    if !o.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(())
}
