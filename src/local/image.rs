//! What every local source comes to once read: its manifests, the name it gives the image,
//! and its blobs, copied into a store (the create blob cache) as they are checked.

use crate::digest::Digest;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where blobs are kept, by digest (the create blob cache).
pub trait BlobStore: Sync {
    /// Whether the blob is held already, with this size.
    fn has(&self, d: &Digest, size: u64) -> bool;
    /// Keep what `fill` writes under its digest; returns the digest and size. With `expected`,
    /// bytes of another digest or size are refused and not kept; an error from `fill` keeps
    /// nothing.
    fn keep(
        &self,
        expected: Option<(&Digest, u64)>,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<(Digest, u64)>;
    /// The gzipped layer an earlier run made of the tar `diff_id`, if it is still held: a
    /// docker archive is then not compressed again (after `--dry-run`, or for the next release).
    fn made_from(&self, _diff_id: &Digest) -> Option<(Digest, u64)> {
        None
    }
    /// Note what `diff_id` was gzipped to (best effort: a note not written costs time only).
    fn remember(&self, _diff_id: &Digest, _made: &(Digest, u64)) {}
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{}: {reason}", .path.display())]
    At { path: PathBuf, reason: String },
    #[error("{0}")]
    Said(String),
}

impl LocalError {
    pub fn at(path: &Path, reason: impl Into<String>) -> LocalError {
        LocalError::At {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// A manifest or index of a local image, its bytes as they will be carried.
#[derive(Debug, Clone)]
pub struct Found {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// Where a local image's blobs are read from when they are not held yet.
#[derive(Debug)]
pub enum Blobs {
    /// An OCI layout's `blobs/sha256/`.
    Layout(PathBuf),
    /// Made and kept while the source was read (a converted docker archive).
    Kept,
}

/// A local source, read.
#[derive(Debug)]
pub struct LocalImage {
    pub top: Found,
    /// What the source calls the image (RepoTags, or an OCI layout's name annotations).
    pub names: Vec<String>,
    /// Manifests other than `top`, by digest (a layout's are read when asked for).
    pub held: HashMap<Digest, Found>,
    pub blobs: Blobs,
    /// Where the source is, for errors.
    pub place: PathBuf,
}
