//! The one way `bundle` writes a file: under a temp name next to its destination, renamed into
//! place only when complete, and removed when dropped unfinished or on Ctrl-C (the temp name is
//! registered with `interrupt` while it exists). So no half-written bundle, part, inventory,
//! archive, layout file or key is ever found under a name a user could mistake for good output.
//!
//! The blob cache (`cache.rs`) is the one exception, on purpose: its partial downloads must
//! survive an interrupt so the next run resumes them.

use crate::interrupt::PartialGuard;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `FILE.partial`: the visible temp name of an output the user named.
pub fn partial_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// A file being written; it appears at `dest` only through `commit`.
pub struct PartialFile {
    file: Option<File>,
    temp: PathBuf,
    dest: PathBuf,
    _guard: PartialGuard,
}

impl PartialFile {
    /// Write `dest` through `dest.partial` (one writer per destination, as for outputs).
    pub fn create(dest: &Path) -> io::Result<PartialFile> {
        Self::open(dest, partial_path(dest), 0o666)
    }

    /// Like `create`, with permission bits (before the umask) for the new file.
    pub fn create_with_mode(dest: &Path, mode: u32) -> io::Result<PartialFile> {
        Self::open(dest, partial_path(dest), mode)
    }

    /// Write `dest` through a temp name of its own in the same directory, for places where
    /// several writers may aim at one destination (blobs of an OCI layout).
    pub fn unique(dest: &Path) -> io::Result<PartialFile> {
        let dir = parent_of(dest);
        let name = dest
            .file_name()
            .map_or("file".into(), |n| n.to_string_lossy());
        let temp = dir.join(format!(".{name}.{:016x}.tmp", fastrand::u64(..)));
        Self::open(dest, temp, 0o666)
    }

    /// A scratch file in `dir` that is never published: removed when dropped or on Ctrl-C.
    pub fn scratch(dir: &Path, prefix: &str) -> io::Result<PartialFile> {
        let temp = dir.join(format!("{prefix}{:016x}", fastrand::u64(..)));
        Self::open(&temp.clone(), temp, 0o600)
    }

    fn open(dest: &Path, temp: PathBuf, mode: u32) -> io::Result<PartialFile> {
        // Registered before it exists, so an interrupt between the two cannot leave it behind.
        let guard = PartialGuard::new(&temp);
        // A leftover from an earlier crash is replaced; a planted symlink is not followed.
        let _ = std::fs::remove_file(&temp);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        Ok(PartialFile {
            file: Some(file),
            temp,
            dest: dest.to_path_buf(),
            _guard: guard,
        })
    }

    pub fn file(&self) -> &File {
        self.file.as_ref().expect("open until committed")
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Rename into place, replacing what is there; `sync` flushes the data (and the directory
    /// entry) to disk first.
    pub fn commit(mut self, sync: bool) -> io::Result<()> {
        self.finish_writing(sync)?;
        std::fs::rename(&self.temp, &self.dest)?;
        self.after_rename(sync);
        Ok(())
    }

    /// Publish only if `dest` does not exist yet (AlreadyExists otherwise), even in a race:
    /// keys are never overwritten.
    pub fn commit_new(mut self, sync: bool) -> io::Result<()> {
        self.finish_writing(sync)?;
        std::fs::hard_link(&self.temp, &self.dest)?;
        let _ = std::fs::remove_file(&self.temp);
        self.after_rename(sync);
        Ok(())
    }

    fn finish_writing(&mut self, sync: bool) -> io::Result<()> {
        let mut f = self.file.take().expect("open until committed");
        f.flush()?;
        if sync {
            f.sync_all()?;
        }
        Ok(())
    }

    fn after_rename(&mut self, sync: bool) {
        // The temp name is gone: nothing for Drop to remove.
        self.temp = PathBuf::new();
        if sync {
            if let Ok(d) = File::open(parent_of(&self.dest)) {
                let _ = d.sync_all();
            }
        }
    }
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("open until committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("open until committed").flush()
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Write `bytes` to `dest` through a `PartialFile`.
pub fn write_file(dest: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut f = PartialFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit(sync)
}

/// A temp directory removed when dropped or on Ctrl-C.
pub struct ScratchDir {
    dir: tempfile::TempDir,
    _guard: PartialGuard,
}

impl ScratchDir {
    /// In `$TMPDIR`.
    pub fn new(prefix: &str) -> io::Result<ScratchDir> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<ScratchDir> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        let guard = PartialGuard::new(dir.path());
        Ok(ScratchDir { dir, _guard: guard })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appears_only_on_commit_and_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let mut f = PartialFile::create(&dest).unwrap();
        f.write_all(b"half").unwrap();
        assert!(!dest.exists());
        assert!(partial_path(&dest).exists());
        drop(f);
        assert!(!partial_path(&dest).exists());
        let mut f = PartialFile::unique(&dest).unwrap();
        f.write_all(b"whole").unwrap();
        f.commit(true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let again = PartialFile::create(&dest).unwrap().commit_new(false);
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
