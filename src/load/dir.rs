//! `--to dir:PATH`: what is not an image, as plain files a web server or an installer can use:
//! each chart as `charts/NAME-VERSION.tgz` (and its `.prov`) with a Helm repository
//! `index.yaml` over every chart in the directory, each file as `files/NAME`, and
//! `images.txt`, the image references loaded here. Every file is written through a temp name,
//! checked, and renamed; a re-run writes the same bytes.

use super::target::{BlobOutcome, Put, Target};
use crate::cpu::{In, Stage};
use crate::digest::{Digest, HashingWriter};
use crate::format::BlobRecord;
use crate::fsutil::PartialFile;
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Helm's own limit on a packaged chart.
const MAX_CHART: u64 = 100 << 20;
const MAX_IMAGES_TXT: u64 = 64 << 20;
const PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

pub struct DirTarget {
    dir: PathBuf,
    /// The lock on the directory, taken when the first file is written.
    lock: Mutex<Option<File>>,
}

impl DirTarget {
    pub fn open(dir: &Path) -> DirTarget {
        DirTarget {
            dir: dir.to_path_buf(),
            lock: Mutex::new(None),
        }
    }

    /// Make the directories and hold the lock, once; a load into the same directory waits.
    fn ready(&self) -> Result<()> {
        let mut lock = self.lock.lock().unwrap();
        if lock.is_some() {
            return Ok(());
        }
        for sub in ["charts", "files"] {
            let p = self.dir.join(sub);
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
            if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                bail!(
                    "{} is not a directory (a symbolic link?); refusing to write through it",
                    p.display()
                );
            }
        }
        let file =
            File::open(&self.dir).with_context(|| format!("opening {}", self.dir.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", self.dir.display()))?;
        *lock = Some(file);
        Ok(())
    }

    /// Where a blob goes for each image that needs it: a chart's archive or provenance, a
    /// file's bytes. Configs and image layers go nowhere here.
    fn places(&self, blob: &BlobRecord, users: &[&PlannedImage]) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for u in users {
            let c = &u.record.carries;
            if let Some(ch) = &c.chart {
                let stem = format!("{}-{}.tgz", plain(&ch.name)?, plain(&ch.version)?);
                if ch.digest == blob.digest {
                    out.push(self.dir.join("charts").join(&stem));
                } else if blob.media_type == PROV {
                    out.push(self.dir.join("charts").join(format!("{stem}.prov")));
                }
            }
            if let Some(f) = c.file.as_ref().filter(|f| f.digest == blob.digest) {
                out.push(self.dir.join("files").join(plain(&f.name)?));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// A name from the bundle used as a file name: one plain component, nothing else.
fn plain(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && !name.starts_with('.');
    match ok {
        true => Ok(name),
        false => bail!("the bundle names a chart or file {name:?}, which is no plain file name; refusing to write it"),
    }
}

/// The file at `path` holds exactly this blob.
fn holds(path: &Path, b: &BlobRecord) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == b.size)
        && File::open(path)
            .and_then(crate::digest::hash_reader)
            .is_ok_and(|(d, _)| d == b.digest)
}

/// Write `src` to `dest` through a temp name, checked against the blob's digest.
fn write_checked(dest: &Path, b: &BlobRecord, src: &mut dyn std::io::Read) -> Result<()> {
    let tmp = PartialFile::unique(dest)
        .with_context(|| format!("creating a temp file for {}", dest.display()))?;
    let file = In::new(
        Stage::Write,
        std::io::BufWriter::with_capacity(1 << 20, tmp),
    );
    let mut w = In::new(Stage::Hash, HashingWriter::new(file));
    std::io::copy(src, &mut w).with_context(|| format!("writing {}", dest.display()))?;
    let (buf, found, n): (_, Digest, u64) = w.into_inner().finish();
    if found != b.digest || n != b.size {
        bail!(
            "blob {} read back from the bundle as {found} ({n} bytes): the bundle changed during the load; {} was not written",
            b.digest,
            dest.display()
        );
    }
    let tmp = buf.into_inner().into_inner().map_err(|e| e.into_error())?;
    tmp.commit(true)
        .with_context(|| format!("publishing {}", dest.display()))
}

fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = PartialFile::unique(path)
        .with_context(|| format!("creating a temp file for {}", path.display()))?;
    tmp.write_all(bytes)?;
    tmp.commit(true)
        .with_context(|| format!("replacing {}", path.display()))
}

impl Target for DirTarget {
    fn name(&self) -> String {
        format!("dir:{}", self.dir.display())
    }

    fn check_room(&self, blobs: &[&BlobRecord]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let bytes = blobs.iter().map(|b| b.size).sum();
        Ok(crate::fsutil::check_room(&self.dir, bytes)?)
    }

    /// A blob with no place here (an image's) is never missing: a delta's left-out layers are
    /// no concern of this target.
    fn has_blob(&self, blob: &BlobRecord, users: &[&PlannedImage]) -> Result<bool> {
        Ok(self.places(blob, users)?.iter().all(|p| holds(p, blob)))
    }

    /// Counts only the blobs written here (charts and files); configs and image layers are no
    /// business of this target and count as nothing.
    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        let places = self.places(put.blob, put.users)?;
        if places.is_empty() {
            return Ok(BlobOutcome::default());
        }
        self.ready()?;
        let missing: Vec<&PathBuf> = places.iter().filter(|p| !holds(p, put.blob)).collect();
        for p in &missing {
            write_checked(p, put.blob, &mut (put.open)()?)?;
        }
        Ok(match missing.is_empty() {
            true => BlobOutcome::present(),
            false => BlobOutcome::sent(put.blob.size),
        })
    }

    fn commit(&self, plan: &[PlannedImage], _checked: &Checked) -> Result<Vec<String>> {
        self.ready()?;
        let index = index_yaml(&self.dir.join("charts"))?;
        write_whole(&self.dir.join("index.yaml"), index.as_bytes())?;
        let images_txt = self.dir.join("images.txt");
        let mut lines: BTreeSet<String> =
            match crate::fsutil::read_bounded(&images_txt, MAX_IMAGES_TXT) {
                Ok(b) => String::from_utf8_lossy(&b)
                    .lines()
                    .map(str::to_string)
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
                Err(e) => bail!("{}: {e}; nothing was replaced", images_txt.display()),
            };
        let mut names = Vec::new();
        for img in plan {
            let c = &img.record.carries;
            match (&c.chart, &c.file) {
                (Some(ch), _) => names.push(format!("charts/{}-{}.tgz", ch.name, ch.version)),
                (_, Some(f)) => names.push(format!("files/{}", f.name)),
                _ => {
                    lines.insert(img.record.reference.clone());
                }
            }
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        write_whole(&images_txt, text.as_bytes())?;
        Ok(names)
    }
}

/// A Helm repository index of every chart archive in `charts`: the repository `helm repo add`
/// or any static web server serves from the directory above it.
fn index_yaml(charts: &Path) -> Result<String> {
    let mut entries: std::collections::BTreeMap<String, Vec<serde_yaml::Value>> =
        Default::default();
    let mut archives: Vec<PathBuf> = std::fs::read_dir(charts)
        .with_context(|| format!("reading {}", charts.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    archives.sort();
    for p in archives {
        let bytes = crate::fsutil::read_bounded(&p, MAX_CHART)
            .with_context(|| format!("reading {}", p.display()))?;
        let chart = crate::charts::Chart::from_tgz(&bytes)
            .with_context(|| format!("{} is not a chart this index can list", p.display()))?;
        let file = p.file_name().unwrap_or_default().to_string_lossy();
        let mut e = serde_yaml::Mapping::new();
        let mut put = |k: &str, v: &str| {
            e.insert(k.into(), v.into());
        };
        put("apiVersion", &chart.metadata.api_version);
        put("name", &chart.name);
        put("version", &chart.version);
        if let Some(a) = &chart.app_version {
            put("appVersion", a);
        }
        if !chart.metadata.description.is_empty() {
            put("description", &chart.metadata.description);
        }
        put("digest", Digest::of(&bytes).hex());
        e.insert("urls".into(), vec![format!("charts/{file}")].into());
        entries
            .entry(chart.name.clone())
            .or_default()
            .push(e.into());
    }
    let mut doc = serde_yaml::Mapping::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("entries".into(), serde_yaml::to_value(entries)?);
    Ok(serde_yaml::to_string(&doc)?)
}
