//! The blob cache as the store local sources copy into (`crate::local::BlobStore`): a blob
//! is written to a scratch file in the cache's directory, hashed as it is written, and renamed
//! to its digest only when it is whole and, where the source named it, has that digest. Then
//! `fetch` finds it cached and asks no registry for it.

use super::cache::BlobCache;
use crate::digest::{Digest, HashingWriter};
use crate::local::BlobStore;
use std::fs::Permissions;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;

impl BlobStore for BlobCache {
    fn has(&self, d: &Digest, size: u64) -> bool {
        BlobCache::has(self, d, size)
    }

    fn keep(
        &self,
        expected: Option<(&Digest, u64)>,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<(Digest, u64)> {
        let scratch = crate::fsutil::PartialFile::scratch(self.dir(), ".local-")?;
        let mut w = HashingWriter::new(BufWriter::new(scratch.file().try_clone()?));
        fill(&mut w)?;
        w.flush()?;
        let (_, d, n) = w.finish();
        if let Some((want, size)) = expected {
            if (&d, n) != (want, size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("its bytes are {d} ({n} bytes), not {want} ({size} bytes) as named: the source is damaged"),
                ));
            }
        }
        // A cache blob appears under its digest by a rename, as a finished download does (the
        // scratch file's guard then finds nothing left to remove).
        if !self.has(&d, n) {
            // Readable as a downloaded blob is (a scratch file is private until then).
            std::fs::set_permissions(scratch.temp_path(), Permissions::from_mode(0o644))?;
            std::fs::rename(scratch.temp_path(), self.path(&d))?;
        }
        Ok((d, n))
    }

    fn made_from(&self, diff_id: &Digest) -> Option<(Digest, u64)> {
        let note = std::fs::read_to_string(self.packed_dir(MADE).ok()?.join(diff_id.hex())).ok()?;
        let (d, n) = note.trim().split_once(' ')?;
        let made = (d.parse().ok()?, n.parse().ok()?);
        self.has(&made.0, made.1).then_some(made)
    }

    fn remember(&self, diff_id: &Digest, (d, n): &(Digest, u64)) {
        if let Ok(dir) = self.packed_dir(MADE) {
            let note = format!("{d} {n}\n");
            let _ = crate::fsutil::write_file(&dir.join(diff_id.hex()), note.as_bytes(), false);
        }
    }
}

/// The cache's notes of which gzipped layer a docker archive's tar became (by diff_id), kept
/// with `--compact`'s files (pruned with them) and never trusted beyond a blob the cache holds.
const MADE: &str = "pgzip-of-tar";
