//! Where `bundle load` puts images, parsed from `--to`.

use super::plan::PlannedImage;
use crate::format::BlobRecord;
use crate::verify::Checked;
use anyhow::{bail, Result};
use std::io::Read;
use std::path::PathBuf;

/// Opens a blob's bytes again (for a retry, or for each target).
pub type Opener<'a> = &'a (dyn Fn() -> Result<Box<dyn Read + Send>> + Sync);

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BlobOutcome {
    pub sent: u64,
    pub present: u64,
    pub mounted: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for BlobOutcome {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.present += o.present;
        self.mounted += o.mounted;
        self.bytes += o.bytes;
    }
}

pub trait Target: Send + Sync {
    fn name(&self) -> String;
    /// Make the blob available where `users` need it; verified before it becomes visible.
    fn put_blob(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome>;
    /// Manifests (children before indexes), then names/tags, last. Called only after every blob
    /// of the bundle was verified.
    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    Registry { host: String, prefix: String },
    Oci { dir: PathBuf },
    DockerArchive { file: PathBuf },
}

impl std::str::FromStr for TargetSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("registry://") {
            let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if host.is_empty() {
                bail!("--to {s}: registry://HOST[:PORT][/PREFIX] needs a host");
            }
            let prefix = prefix.trim_matches('/').to_string();
            if !prefix.is_empty()
                && crate::reference::Reference::parse(&format!("{host}/{prefix}/x")).is_err()
            {
                bail!("--to {s}: the prefix {prefix:?} is not a valid repository path");
            }
            return Ok(TargetSpec::Registry {
                host: host.to_string(),
                prefix,
            });
        }
        if let Some(dir) = s.strip_prefix("oci:") {
            if dir.is_empty() {
                bail!("--to oci:DIR needs a directory");
            }
            return Ok(TargetSpec::Oci { dir: dir.into() });
        }
        if let Some(file) = s.strip_prefix("docker-archive:") {
            if file.is_empty() {
                bail!("--to docker-archive:FILE needs a file name");
            }
            return Ok(TargetSpec::DockerArchive { file: file.into() });
        }
        bail!("--to {s}: expected registry://HOST[:PORT][/PREFIX], oci:DIR or docker-archive:FILE")
    }
}
