//! What every place `bundle load` puts images can do (`Target`); `spec` parses `--to`.

use crate::format::BlobRecord;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::Result;
use std::io::Read;

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
    /// For a delta bundle: whether the target already holds a blob the bundle leaves out, made
    /// available to `users` where it can be (a registry mounts it across repositories). Targets
    /// that start empty (a new archive, a staged import) never do, so they cannot take a delta.
    fn has_blob(&self, _blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(false)
    }
    /// Manifests (children before indexes), then names/tags, last. Called only after every blob
    /// of the bundle was verified.
    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>>;
}
