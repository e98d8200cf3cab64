//! `--to oci:DIR`: create or merge into an OCI image layout, safely: each blob is written to a
//! temp file, verified, then renamed under its digest; `index.json` is replaced atomically; a lock
//! on the layout directory makes concurrent loads into it wait for each other instead of losing
//! entries.

use super::target::{BlobOutcome, Put, Target};
use crate::cpu::{In, Stage};
use crate::digest::{Digest, HashingWriter};
use crate::format::{BlobRecord, OCI_LAYOUT_CONTENT};
use crate::fsutil::PartialFile;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `index.json` lists each image in about 300 bytes: this is fifty thousand images.
const MAX_INDEX_JSON: u64 = 16 << 20;

pub struct OciTarget {
    dir: PathBuf,
    /// The lock on the layout, once it exists: a layout that is not there yet is made only when
    /// the first blob is written, so a load refused before that (a delta whose base is missing)
    /// leaves nothing behind.
    lock: Mutex<Option<File>>,
}

impl OciTarget {
    pub fn open(dir: &Path) -> Result<OciTarget> {
        let t = OciTarget {
            dir: dir.to_path_buf(),
            lock: Mutex::new(None),
        };
        if dir.exists() {
            t.ready()?;
        }
        Ok(t)
    }

    /// Make (or check) the layout and hold its lock, once.
    fn ready(&self) -> Result<()> {
        let mut lock = self.lock.lock().unwrap();
        if lock.is_some() {
            return Ok(());
        }
        let dir = &self.dir;
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("creating OCI layout {}", dir.display()))?;
        // A planted link would send every blob outside the layout.
        for sub in ["blobs", "blobs/sha256"] {
            let p = dir.join(sub);
            if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                bail!(
                    "{} is not a directory of the layout (a symbolic link?); refusing to write blobs through it",
                    p.display()
                );
            }
        }
        // The layout directory itself is locked (flock on its handle): no lock file is left in
        // the layout, and there is no file a planted symlink could redirect.
        let file = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", dir.display()))?;
        let layout = dir.join("oci-layout");
        match crate::fsutil::read_bounded(&layout, 4096) {
            Ok(b) if b.windows(5).any(|w| w == b"1.0.0") => {}
            Ok(_) => bail!(
                "{} is not an OCI image layout version 1.0.0",
                layout.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomic(&layout, OCI_LAYOUT_CONTENT)?
            }
            Err(e) => bail!(
                "{}: {e}; this is not a layout to load into",
                layout.display()
            ),
        }
        *lock = Some(file);
        Ok(())
    }

    pub(crate) fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.layout_path())
    }

    /// A blob file of the right size. A symbolic link is not a blob of the layout (it could
    /// point at anything): it is written over.
    fn has(&self, b: &BlobRecord) -> bool {
        std::fs::symlink_metadata(self.blob_path(&b.digest))
            .is_ok_and(|m| m.is_file() && m.len() == b.size)
    }

    /// Write, verify, then rename into place.
    fn write_blob(&self, b: &BlobRecord, src: &mut dyn std::io::Read) -> Result<()> {
        let dest = self.blob_path(&b.digest);
        let tmp = PartialFile::unique(&dest)
            .with_context(|| format!("creating a temp file in {}", self.dir.display()))?;
        let file = In::new(
            Stage::Write,
            std::io::BufWriter::with_capacity(1 << 20, tmp),
        );
        let mut w = In::new(Stage::Hash, HashingWriter::new(file));
        std::io::copy(src, &mut w)
            .with_context(|| format!("writing blob {} into {}", b.digest, self.dir.display()))?;
        let (buf, found, n) = w.into_inner().finish();
        if found != b.digest || n != b.size {
            bail!(
                "blob {} read back from the bundle as {found} ({n} bytes): the bundle changed during the load; nothing was published",
                b.digest
            );
        }
        let tmp = buf.into_inner().into_inner().map_err(|e| e.into_error())?;
        tmp.commit(true)
            .with_context(|| format!("publishing blob {}", b.digest))
    }
}

impl Target for OciTarget {
    fn name(&self) -> String {
        format!("oci:{}", self.dir.display())
    }

    fn check_room(&self, blobs: &[&BlobRecord]) -> Result<()> {
        let bytes = blobs.iter().filter(|b| !self.has(b)).map(|b| b.size).sum();
        Ok(crate::fsutil::check_room(&self.dir, bytes)?)
    }

    fn has_blob(&self, blob: &BlobRecord, _users: &[&PlannedImage]) -> Result<bool> {
        Ok(self.has(blob))
    }

    fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
        _users: &[&PlannedImage],
    ) -> Result<Option<Box<dyn std::io::Read + Send>>> {
        let path = self.blob_path(digest);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == size => Ok(Some(Box::new(File::open(&path)?))),
            _ => Ok(None),
        }
    }

    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        self.ready()?;
        if self.has(put.blob) {
            return Ok(BlobOutcome::present());
        }
        self.write_blob(put.blob, &mut (put.open)()?)?;
        Ok(BlobOutcome::sent(put.blob.size))
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        self.ready()?;
        for img in plan {
            let referrers = img.referrers.iter().map(|(_, m)| m);
            for m in img.manifests.iter().chain(referrers) {
                if !self.has(m) {
                    self.write_blob(m, &mut &checked.metadata[&m.digest][..])?;
                }
            }
        }
        let index_path = self.dir.join("index.json");
        let existing = match crate::fsutil::read_bounded(&index_path, MAX_INDEX_JSON) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // Replacing what cannot be read would drop every entry it lists.
            Err(e) => bail!("{}: {e}; nothing was named", index_path.display()),
        };
        let mut names = Vec::new();
        let mut entries = Vec::new();
        for img in plan {
            let top = img.top();
            let (entry, full) = crate::format::layout_index_entry(
                &img.reference,
                &top.media_type,
                &top.digest,
                top.size,
            );
            entries.push(entry);
            names.push(full);
            entries.extend(referrer_entries(img, checked));
        }
        let index = crate::manifest::merge_layout_index(existing.as_deref(), &entries)
            .map_err(|why| anyhow::anyhow!("{}: {why}; nothing was named", index_path.display()))?;
        write_atomic(&index_path, &index)?;
        Ok(names)
    }
}

/// index.json entries for an image's referrers, so tools that read a layout find them: a
/// cosign one under `NAME:sha256-<hex>.sig` (as `cosign save` names them), the others unnamed
/// with their artifact type, as ORAS writes them.
fn referrer_entries(img: &PlannedImage, checked: &Checked) -> Vec<serde_json::Value> {
    img.referrers
        .iter()
        .map(|(r, m)| {
            let mut e =
                crate::manifest::referrer_descriptor(&checked.metadata[&m.digest], &m.media_type);
            if let Some(tag) = &r.tag {
                let name = format!("{}:{tag}", img.reference.name());
                e["annotations"] = serde_json::json!({
                    "org.opencontainers.image.ref.name": name,
                    "io.containerd.image.name": name,
                });
            }
            e
        })
        .collect()
}

/// Replace a layout file (index.json, oci-layout) whole, through a temp name of its own.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = PartialFile::unique(path)
        .with_context(|| format!("creating a temp file for {}", path.display()))?;
    tmp.write_all(bytes)?;
    tmp.commit(true)
        .with_context(|| format!("replacing {}", path.display()))
}
