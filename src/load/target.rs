//! What every place `bundle load` puts images can do (`Target`); `spec` parses `--to`.

use crate::format::BlobRecord;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::Result;
use std::io::Read;

/// Opens a blob's bytes again (for a retry, or for each target).
pub type Opener<'a> = &'a (dyn Fn() -> Result<Box<dyn Read + Send>> + Sync);

/// What loading blobs did at one target. Each blob counts once, as exactly one of `sent`
/// (its bytes went to the target, into one place or more), `mounted` (none went; the target
/// linked it from where it already was) or `present` (it was everywhere it was needed): the
/// three add up to the blobs loaded. `bytes` is every byte sent, counted each time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BlobOutcome {
    pub sent: u64,
    pub present: u64,
    pub mounted: u64,
    pub bytes: u64,
}

impl BlobOutcome {
    /// One blob of `bytes` was written or uploaded.
    pub fn sent(bytes: u64) -> Self {
        BlobOutcome {
            sent: 1,
            bytes,
            ..Default::default()
        }
    }

    /// One blob was there already.
    pub fn present() -> Self {
        BlobOutcome {
            present: 1,
            ..Default::default()
        }
    }

    /// One blob placed in several places (`uploads` and `mounts` of them; the rest had it).
    pub fn placed(uploads: u64, mounts: u64, bytes: u64) -> Self {
        match (uploads, mounts) {
            (0, 0) => Self::present(),
            (0, _) => BlobOutcome {
                mounted: 1,
                ..Default::default()
            },
            _ => BlobOutcome {
                sent: 1,
                bytes,
                ..Default::default()
            },
        }
    }
}

impl std::ops::AddAssign for BlobOutcome {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.present += o.present;
        self.mounted += o.mounted;
        self.bytes += o.bytes;
    }
}

/// One blob to put into a target: its record, the images that need it (a registry places it in
/// each of their repositories), and how to read its bytes.
#[derive(Clone, Copy)]
pub struct Put<'a> {
    pub blob: &'a BlobRecord,
    pub users: &'a [&'a PlannedImage],
    pub open: Opener<'a>,
}

pub trait Target: Send + Sync {
    fn name(&self) -> String;
    /// Make the blob available where `users` need it; verified before it becomes visible.
    fn put_blob(&self, put: Put) -> Result<BlobOutcome>;
    /// Whether the target can take these images at all (a registry up, our credentials
    /// accepted), asked once before any blob: one cause, one error, not one per blob.
    fn check(&self, _plan: &[PlannedImage]) -> Result<()> {
        Ok(())
    }
    /// Whether there is room for `blobs` here (and we may write here), asked once before any
    /// blob: a full disk or a forbidden directory is one error, not one per blob. Targets
    /// that keep nothing on this machine have nothing to check.
    fn check_room(&self, _blobs: &[&BlobRecord]) -> Result<()> {
        Ok(())
    }
    /// The name an image's tag gets here (`registry/repo:tag`), None for an image loaded by
    /// digest only: two images given one name would leave it to whichever came last.
    fn tag_name(&self, img: &PlannedImage) -> Option<String> {
        img.reference.tagged_name()
    }
    /// For a delta bundle: whether the target already holds a blob the bundle leaves out, made
    /// available to `users` where it can be (a registry mounts it across repositories). Targets
    /// that start empty (a new archive, a staged import) never do, so they cannot take a delta.
    fn has_blob(&self, _blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(false)
    }
    /// A blob the target already holds, read back: the reference layer of a layer carried as
    /// a delta. None when the target does not hold it or cannot be read from.
    fn open_blob(
        &self,
        _digest: &crate::digest::Digest,
        _size: u64,
        _users: &[&PlannedImage],
    ) -> Result<Option<Box<dyn Read + Send>>> {
        Ok(None)
    }
    /// Manifests (children before indexes), then names/tags, last. Called only after every blob
    /// of the bundle was verified.
    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>>;
}
