//! A content-addressed blob store on disk: `<root>/blobs/sha256/<hex>`. A blob appears under
//! its digest only after it was verified; a download in progress lives in `<hex>.partial`, so an
//! interrupted run resumes where it stopped.

use crate::digest::Digest;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub struct BlobCache {
    dir: PathBuf,
    root: PathBuf,
    /// Set for `--no-cache`: a private directory removed when the cache is dropped or on Ctrl-C.
    _temp: Option<crate::fsutil::ScratchDir>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "blob cache {path}: {source}; choose another place with --cache-dir or run with --no-cache"
)]
pub struct CacheError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A partial download held exclusively by this process (other processes sharing the cache wait).
pub struct PartialBlob {
    pub file: File,
    pub path: PathBuf,
    final_path: PathBuf,
}

impl BlobCache {
    pub fn open(root: &Path) -> Result<BlobCache, CacheError> {
        let dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(|source| CacheError {
            path: dir.clone(),
            source,
        })?;
        Ok(BlobCache {
            dir,
            root: root.to_path_buf(),
            _temp: None,
        })
    }

    /// A throw-away cache next to `near` (same file system as the output, so no extra copy).
    pub fn temporary(near: &Path) -> Result<BlobCache, CacheError> {
        let t = crate::fsutil::ScratchDir::new_in(near, ".bundle-blobs-").map_err(|source| {
            CacheError {
                path: near.to_path_buf(),
                source,
            }
        })?;
        let mut c = BlobCache::open(t.path())?;
        c._temp = Some(t);
        Ok(c)
    }

    /// `$XDG_CACHE_HOME/bundle`, else `~/.cache/bundle`.
    pub fn default_root() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("bundle")
    }

    /// Where the blobs are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    /// `<root>/packed/<kind>/`: what `create --compact` made of the blobs (frames of their
    /// uncompressed bytes and how to rebuild them), kept for the next run. Never trusted as it
    /// is: a packed blob is rebuilt and checked against its digest before it is used.
    pub fn packed_dir(&self, kind: &str) -> Result<PathBuf, CacheError> {
        let dir = self.root.join("packed").join(kind);
        std::fs::create_dir_all(&dir).map_err(|source| CacheError {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Present with the right size. Contents are checked again when the bundle is written.
    pub fn has(&self, d: &Digest, size: u64) -> bool {
        std::fs::metadata(self.path(d)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Open (or create) the partial file for `d` and lock it. `None` if, once we hold the lock,
    /// another process has already completed the blob.
    pub fn begin(&self, d: &Digest, size: u64) -> Result<Option<PartialBlob>, CacheError> {
        let path = self.dir.join(format!("{}.partial", d.hex()));
        let err = |source| CacheError {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        file.lock().map_err(err)?;
        if self.has(d, size) {
            return Ok(None);
        }
        Ok(Some(PartialBlob {
            file,
            path: path.clone(),
            final_path: self.path(d),
        }))
    }

    /// A verified partial becomes the blob.
    pub fn commit(&self, p: PartialBlob) -> Result<(), CacheError> {
        std::fs::rename(&p.path, &p.final_path).map_err(|source| CacheError {
            path: p.path,
            source,
        })
    }
}
