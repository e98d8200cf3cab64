//! What `bundle load` is asked to do, and what it reports.

use super::spec::TargetSpec;
use super::target::BlobOutcome;
use crate::naming::Naming;
use crate::platform::Platform;
use crate::progress::Mode;
use crate::registry::Registries;
use std::path::PathBuf;

pub struct LoadOptions {
    /// A bundle file, or `-` for stdin.
    pub file: PathBuf,
    pub keys: Vec<PathBuf>,
    pub allow_unsigned: bool,
    pub targets: Vec<TargetSpec>,
    /// `--base FILE` (repeatable): the bundles the site holds, which a delta's left-out layers
    /// and its patches' reference layers are read from where a target lacks them.
    pub bases: Vec<PathBuf>,
    /// `--verify-images`: every image must carry a cosign signature by this public key.
    pub verify_images: Option<PathBuf>,
    pub images: Vec<String>,
    pub platforms: Vec<Platform>,
    pub jobs: usize,
    /// For registry targets.
    pub registries: Box<dyn Fn() -> Registries + Send + Sync>,
    pub naming: Naming,
    pub progress: Mode,
}

pub struct TargetReport {
    pub target: String,
    pub names: Vec<String>,
    pub blobs: BlobOutcome,
}

pub struct LoadReport {
    pub signer: Option<String>,
    /// The images loaded, by their source names (what `--write-mirrors` maps).
    pub sources: Vec<crate::reference::Reference>,
    /// sha256 of the bundle's bundle.json, and when the bundle was made.
    pub bundle_json: crate::digest::Digest,
    pub created: String,
    pub targets: Vec<TargetReport>,
    pub partial: Vec<String>,
    pub seconds: f64,
}
