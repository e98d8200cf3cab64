//! `bundle load`: verify, then load into registries and local stores with digests unchanged.
//! `from_file` and `from_stdin` are the two ways through; both check the signature, bundle.json
//! and every manifest before anything is planned or sent, let a blob become visible at a target
//! only with its digest checked, and write manifests (children before indexes) and tags last,
//! once every byte of the bundle checked out. `select` decides what is loaded; `target` is
//! what every destination can do, `spec` parses `--to`.

mod bases;
mod commit;
pub mod containerd;
pub mod containers_storage;
pub mod dir;
pub mod docker_archive;
mod from_file;
mod from_stdin;
mod import_tool;
mod names;
pub mod oci;
mod options;
mod prepare;
mod references;
pub mod registry;
mod signatures;
pub mod spec;
pub mod target;

pub use options::{LoadOptions, LoadReport, TargetReport};

use crate::verify;
use anyhow::{bail, Result};
use std::time::Instant;

pub fn load(opts: &LoadOptions) -> Result<LoadReport> {
    let started = Instant::now();
    let keys = verify::load_keys(&opts.keys)?;
    if opts.targets.is_empty() {
        bail!("no --to target given");
    }
    if opts.file.as_os_str() == "-" {
        from_stdin::load(opts, &keys, started)
    } else {
        from_file::load(opts, &keys, started)
    }
}
