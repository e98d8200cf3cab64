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

/// Why `put` stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Cache(CacheError),
    #[error("reading it failed: {0}")]
    Read(std::io::Error),
    #[error("it is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("its sha256 is {found}, not the expected {expected}")]
    Mismatch { expected: Digest, found: Digest },
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

    /// Mark a cached file as used now: `bundle cache --prune --older-than` goes by last use.
    /// Best effort: a cache on a read-only medium still serves.
    pub fn touch(path: &Path) {
        if let Ok(f) = File::options().append(true).open(path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// The size of a blob the cache holds.
    pub fn size_of(&self, d: &Digest) -> Option<u64> {
        std::fs::metadata(self.path(d))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
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

    /// Copy what `from` reads into the cache, hashing as it goes, refusing more than `max`
    /// bytes; the blob appears under its digest only if it is `expect` (when given).
    pub fn put(
        &self,
        from: impl std::io::Read,
        max: u64,
        expect: Option<&Digest>,
    ) -> Result<(Digest, u64), PutError> {
        let io = |source| {
            PutError::Cache(CacheError {
                path: self.dir.clone(),
                source,
            })
        };
        let scratch = crate::fsutil::PartialFile::scratch(&self.dir, ".incoming-").map_err(io)?;
        let mut w = crate::digest::HashingWriter::new(scratch);
        std::io::copy(&mut from.take(max + 1), &mut w).map_err(PutError::Read)?;
        let (scratch, digest, size) = w.finish();
        if size > max {
            return Err(PutError::TooLarge { max });
        }
        if let Some(e) = expect.filter(|e| **e != digest) {
            return Err(PutError::Mismatch {
                expected: e.clone(),
                found: digest,
            });
        }
        scratch.file().sync_data().map_err(io)?;
        std::fs::rename(scratch.temp_path(), self.path(&digest)).map_err(io)?;
        Ok((digest, size))
    }

    /// A verified partial becomes the blob.
    pub fn commit(&self, p: PartialBlob) -> Result<(), CacheError> {
        std::fs::rename(&p.path, &p.final_path).map_err(|source| CacheError {
            path: p.path,
            source,
        })
    }
}

/// What one kind of cache file comes to.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tally {
    pub files: usize,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// `bundle cache`: what the cache under a root holds.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub root: PathBuf,
    /// Downloaded, verified blobs.
    pub blobs: Tally,
    /// Downloads an interrupted run left, resumed by the next.
    pub partial: Tally,
    /// `--compact`'s packed frames, their records and reference tars.
    pub packed: Tally,
}

/// A file of the cache, for pruning: oldest use first.
struct Entry {
    path: PathBuf,
    size: u64,
    used: std::time::SystemTime,
    partial: bool,
}

fn entries(root: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("blobs").join("sha256"), root.join("packed")];
    while let Some(d) = dirs.pop() {
        let Ok(list) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in list.flatten() {
            // Not followed: a link in the cache is not ours to count or delete through.
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                dirs.push(e.path());
            } else if m.is_file() {
                out.push(Entry {
                    partial: e.path().extension().is_some_and(|x| x == "partial"),
                    path: e.path(),
                    size: m.len(),
                    used: m.modified().unwrap_or(std::time::UNIX_EPOCH),
                });
            }
        }
    }
    out
}

pub fn usage(root: &Path) -> Usage {
    let mut u = Usage {
        root: root.to_path_buf(),
        ..Default::default()
    };
    let packed = root.join("packed");
    for e in entries(root) {
        match (e.partial, e.path.starts_with(&packed)) {
            (true, _) => u.partial.add(e.size),
            (false, true) => u.packed.add(e.size),
            (false, false) => u.blobs.add(e.size),
        }
    }
    u
}

/// What `prune` did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub removed: Tally,
    pub kept: Tally,
    /// Partial downloads a running `create` holds: never removed.
    pub in_use: Tally,
}

/// Remove cache files not used for `older_than`, then the least recently used until the cache
/// is at most `max_size`; with neither, everything. A partial download another process is
/// writing (its lock held) is left alone.
pub fn prune(
    root: &Path,
    older_than: Option<std::time::Duration>,
    max_size: Option<u64>,
) -> Pruned {
    let mut all = entries(root);
    all.sort_by_key(|e| e.used);
    let now = std::time::SystemTime::now();
    let mut left: u64 = all.iter().map(|e| e.size).sum();
    let mut p = Pruned::default();
    for e in all {
        let old = older_than.is_some_and(|age| now.duration_since(e.used).is_ok_and(|d| d >= age));
        let over = max_size.is_some_and(|max| left > max);
        let everything = older_than.is_none() && max_size.is_none();
        let wanted = everything || old || over;
        if wanted && e.partial && in_use(&e.path) {
            p.in_use.add(e.size);
        } else if wanted && std::fs::remove_file(&e.path).is_ok() {
            p.removed.add(e.size);
            left -= e.size;
        } else {
            p.kept.add(e.size);
        }
    }
    p
}

/// Whether another process holds the lock on a partial download.
fn in_use(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => f.try_lock().is_err(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod admin_tests {
    use super::*;

    fn aged(path: &Path, bytes: usize, days: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; bytes]).unwrap();
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86400);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn prune_by_age_then_by_size_oldest_first_and_never_a_download_in_progress() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let blob = |n: u8| r.join("blobs/sha256").join(format!("{n:02x}").repeat(32));
        aged(&blob(1), 100, 40);
        aged(&blob(2), 100, 20);
        aged(&blob(3), 100, 1);
        aged(&r.join("packed/zstd-12-w26").join("x.zst"), 50, 35);
        let partial = r.join("blobs/sha256/busy.partial");
        aged(&partial, 10, 90);
        let held = File::options().write(true).open(&partial).unwrap();
        held.lock().unwrap();
        let u = usage(r);
        assert_eq!((u.blobs.files, u.packed.files, u.partial.files), (3, 1, 1));
        assert_eq!(u.blobs.bytes, 300);
        // Older than 30 days: blob 1 and the packed frame; the held partial is left.
        let p = prune(r, Some(std::time::Duration::from_secs(30 * 86400)), None);
        assert_eq!(
            p.removed,
            Tally {
                files: 2,
                bytes: 150
            }
        );
        assert_eq!(p.in_use.files, 1);
        assert!(!blob(1).exists() && blob(2).exists() && partial.exists());
        // At most 150 bytes: the oldest go first (the partial, held, does not count as freed).
        let p = prune(r, None, Some(150));
        assert!(!blob(2).exists() && blob(3).exists(), "{p:?}");
        drop(held);
        let p = prune(r, None, None);
        assert_eq!(p.kept.files, 0, "{p:?}");
        assert!(!partial.exists());
    }
}
