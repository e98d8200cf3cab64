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

/// The directory `p` is in (`.` for a bare file name).
pub fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Read a small file a user or another tool left (a parts list, a layout's `index.json`, an
/// inventory) as untrusted: a regular file, not followed through a symlink, of at most `max`
/// bytes. A device (`/dev/zero`) or a huge file is refused before anything is read.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is a symbolic link; it is not followed", path.display()),
            ),
            _ => e,
        })?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if m.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is {} bytes, more than the {max} such a file can be",
                path.display(),
                m.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(m.len() as usize);
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} grew past {max} bytes while read", path.display()),
        ));
    }
    Ok(out)
}

/// Why `bytes` cannot be written under a directory: found before the first byte, so a full
/// disk or a directory the user may not write is one error, not one per blob.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("{dir}: cannot write there ({reason}); choose another place, or run as a user who may write there", dir = .dir.display())]
    NotWritable { dir: PathBuf, reason: String },
    #[error("{dir}: not enough space: {needed} to write, {free} free; free some space or choose another place", dir = .dir.display(), needed = human(*.needed), free = human(*.free))]
    NoRoom {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
}

fn human(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Check that `bytes` can be written under `dir` (made later if missing: its nearest existing
/// ancestor is checked): writable by us, and room on its filesystem. Other writers can still
/// fill the disk meanwhile; this catches the common case before anything is written.
pub fn check_room(dir: &Path, bytes: u64) -> Result<(), RoomError> {
    let at = dir
        .ancestors()
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()).map_err(|e| {
        RoomError::NotWritable {
            dir: at.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    // SAFETY: `c` is a valid NUL-terminated path; access only reads it.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(RoomError::NotWritable {
            dir: at.to_path_buf(),
            reason: crate::causes::without_os_codes(&io::Error::last_os_error().to_string()),
        });
    }
    // SAFETY: statvfs writes only into the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Ok(()); // No answer: the writes will say what is wrong.
    }
    let free = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
    match free < bytes {
        true => Err(RoomError::NoRoom {
            dir: at.to_path_buf(),
            needed: bytes,
            free,
        }),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_read_refuses_devices_links_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("s.json");
        std::fs::write(&small, b"{}").unwrap();
        assert_eq!(read_bounded(&small, 10).unwrap(), b"{}");
        assert!(read_bounded(&small, 1).is_err());
        assert!(read_bounded(Path::new("/dev/zero"), 1 << 20).is_err());
        let link = dir.path().join("l.json");
        std::os::unix::fs::symlink(&small, &link).unwrap();
        assert!(read_bounded(&link, 10).is_err());
    }

    #[test]
    fn room_is_checked_at_the_nearest_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("not/yet");
        assert!(check_room(&later, 1).is_ok());
        match check_room(&later, u64::MAX) {
            Err(RoomError::NoRoom { dir: d, .. }) => assert_eq!(d, dir.path()),
            other => panic!("{other:?}"),
        }
    }

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
