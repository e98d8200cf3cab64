//! Split bundles for removable media: `FILE.part001`, `FILE.part002`, ... are the bytes of one
//! bundle cut at a fixed size (so `cat FILE.part* > FILE` is the bundle), and `FILE.split.json`
//! lists each part's size and sha256, signed (`FILE.split.json.sig`) with the bundle's key and
//! bound to its `bundle.json` by digest. Readers take `FILE.part001` or `FILE` and find the rest.

use super::source::Source;
use crate::digest::{hash_reader, Digest, HashingWriter};
use crate::fsutil::PartialFile;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const PARTS_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartsManifest {
    pub parts_version: u32,
    /// The bundle's file name (`cat` of the parts).
    pub bundle: String,
    /// sha256 of the bundle's `bundle.json`: which bundle these parts are.
    pub bundle_json: Digest,
    pub part_size: u64,
    pub size: u64,
    /// sha256 of the whole bundle (all parts in order).
    pub sha256: String,
    pub parts: Vec<PartRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartRecord {
    pub name: String,
    pub size: u64,
    pub sha256: Digest,
}

/// `FILE.part001` for part 1.
/// A parts list names each part in about 150 bytes: this is ten thousand parts and more.
pub const MAX_PARTS_LIST: u64 = 4 << 20;

pub fn part_path(base: &Path, n: usize) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".part{n:03}"));
    PathBuf::from(s)
}

pub fn manifest_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".split.json");
    PathBuf::from(s)
}

pub fn signature_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".split.json.sig");
    PathBuf::from(s)
}

/// Writes the bundle's bytes into parts of `part_size` bytes, each through a `PartialFile`
/// (`NAME.partial`) until `finish` publishes them all; removed on Ctrl-C or when dropped
/// unfinished.
pub struct PartsWriter {
    base: PathBuf,
    part_size: u64,
    sync: bool,
    current: Option<HashingWriter<io::BufWriter<PartialFile>>>,
    done: Vec<(PartialFile, u64, Digest)>,
}

impl PartsWriter {
    /// `sync`: flush each part to disk before it is renamed into place.
    pub fn new(base: &Path, part_size: u64, sync: bool) -> PartsWriter {
        PartsWriter {
            base: base.to_path_buf(),
            part_size,
            sync,
            current: None,
            done: Vec::new(),
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some(w) = self.current.take() {
            let (buf, digest, n) = w.finish();
            let file = buf.into_inner().map_err(|e| e.into_error())?;
            self.done.push((file, n, digest));
        }
        Ok(())
    }

    /// Close the last part and move every part to its final name.
    pub fn finish(mut self) -> io::Result<Vec<PartRecord>> {
        self.close_current()?;
        let mut out = Vec::new();
        for (file, size, sha256) in std::mem::take(&mut self.done) {
            let name = file
                .dest()
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            file.commit(self.sync)?;
            out.push(PartRecord { name, size, sha256 });
        }
        Ok(out)
    }
}

impl Write for PartsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.count() >= self.part_size)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            let f = PartialFile::create(&part_path(&self.base, self.done.len() + 1))?;
            self.current = Some(HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f)));
        }
        let w = self.current.as_mut().expect("opened above");
        let room = (self.part_size - w.count()) as usize;
        w.write(&buf[..buf.len().min(room)])
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// The parts of a split bundle found on disk.
#[derive(Debug, Clone)]
pub struct PartSet {
    pub base: PathBuf,
    pub parts: Vec<PathBuf>,
    /// From `FILE.split.json`, when it is there.
    pub manifest: Option<(PartsManifest, Vec<u8>)>,
}

impl PartSet {
    /// `FILE.partNNN` or `FILE` (when FILE itself does not exist but its parts do). None when
    /// `path` is a plain bundle.
    pub fn find(path: &Path) -> io::Result<Option<PartSet>> {
        let s = path.to_string_lossy();
        let base = match s.rfind(".part") {
            Some(i) if s[i + 5..].len() == 3 && s[i + 5..].bytes().all(|b| b.is_ascii_digit()) => {
                PathBuf::from(&s[..i])
            }
            _ if path.exists() => return Ok(None),
            _ => path.to_path_buf(),
        };
        let mfile = manifest_path(&base);
        // Bounded before it is read: it is not trusted until its signature is checked.
        let manifest = match crate::fsutil::read_bounded(&mfile, MAX_PARTS_LIST) {
            Ok(bytes) => {
                let m: PartsManifest = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a parts list: {e}", mfile.display()),
                    )
                })?;
                Some((m, bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let parts: Vec<PathBuf> = match &manifest {
            Some((m, _)) => (1..=m.parts.len()).map(|n| part_path(&base, n)).collect(),
            None => (1..)
                .map(|n| part_path(&base, n))
                .take_while(|p| p.exists())
                .collect(),
        };
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(PartSet {
            base,
            parts,
            manifest,
        }))
    }

    pub fn display_name(&self) -> String {
        format!("{} ({} parts)", self.base.display(), self.parts.len())
    }

    /// Sizes first: a missing or truncated part is named before anything is read.
    pub fn check_sizes(&self) -> Result<(), String> {
        let n = self.parts.len();
        for (i, p) in self.parts.iter().enumerate() {
            let len = match std::fs::metadata(p) {
                Ok(m) => m.len(),
                Err(_) => {
                    return Err(format!(
                        "part {} of {n} ({}) is missing",
                        i + 1,
                        p.display()
                    ))
                }
            };
            if let Some((m, _)) = &self.manifest {
                if len != m.parts[i].size {
                    return Err(format!(
                        "part {} of {n} ({}) is {len} bytes, the parts list says {}: it is damaged or cut short",
                        i + 1,
                        p.display(),
                        m.parts[i].size
                    ));
                }
            }
        }
        Ok(())
    }

    /// Hash one part against the parts list: Some(message) when it does not match.
    pub fn corrupt_part(&self, i: usize) -> Option<String> {
        let (m, _) = self.manifest.as_ref()?;
        let (found, _) = hash_reader(File::open(&self.parts[i]).ok()?).ok()?;
        (found != m.parts[i].sha256).then(|| {
            format!(
                "part {} of {} ({}) is corrupt: its sha256 is {found}, the signed parts list says {}",
                i + 1,
                self.parts.len(),
                self.parts[i].display(),
                m.parts[i].sha256
            )
        })
    }

    pub fn open_positional(&self) -> io::Result<PartsFile> {
        let mut files = Vec::new();
        let mut start = 0;
        for p in &self.parts {
            let f = File::open(p)?;
            let len = f.metadata()?.len();
            files.push((start, len, f));
            start += len;
        }
        Ok(PartsFile { files, len: start })
    }

    /// All parts in order, one after the other, with the index of the part being read.
    pub fn open_stream(&self) -> io::Result<PartsStream> {
        Ok(PartsStream {
            parts: self.parts.clone(),
            at: 0,
            current: None,
            position: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }
}

/// The parts as one positional source.
pub struct PartsFile {
    files: Vec<(u64, u64, File)>,
    len: u64,
}

impl Source for PartsFile {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let i = self
            .files
            .partition_point(|(start, len, _)| start + len <= offset);
        let Some((start, len, f)) = self.files.get(i) else {
            return Ok(0);
        };
        let within = offset - start;
        let want = buf.len().min((len - within) as usize);
        std::os::unix::fs::FileExt::read_at(f, &mut buf[..want], within)
    }
}

/// The parts as one stream; `position` tells which part is being read (for error messages).
pub struct PartsStream {
    parts: Vec<PathBuf>,
    at: usize,
    current: Option<File>,
    pub position: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for PartsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.current.is_none() {
                let Some(p) = self.parts.get(self.at) else {
                    return Ok(0);
                };
                self.current = Some(File::open(p)?);
                self.position
                    .store(self.at, std::sync::atomic::Ordering::Relaxed);
            }
            let n = self.current.as_mut().expect("opened above").read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.current = None;
            self.at += 1;
        }
    }
}

/// A part's size (`parse_bytes`), at least 4096 bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let v = parse_bytes(s)?;
    if v < 4096 {
        return Err(format!("{s:?}: a part must be at least 4096 bytes"));
    }
    Ok(v)
}

/// Sizes like `4.7G`, `650M`, `4GiB`, `1048576`: K/M/G/T are powers of 1000, Ki/Mi/Gi/Ti (with or
/// without a trailing B) powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 4.7G, 650M, 4GiB)"))?;
    let mult: f64 = match unit
        .trim()
        .trim_end_matches(['B', 'b'])
        .to_ascii_lowercase()
        .as_str()
    {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024f64.powi(2),
        "gi" => 1024f64.powi(3),
        "ti" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (K, M, G, T, Ki, Mi, Gi, Ti)"
            ))
        }
    };
    let v = (n * mult).floor();
    if v > 1e18 {
        return Err(format!("{s:?} is too large"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4.7G"), Ok(4_700_000_000));
        assert_eq!(parse_size("650M"), Ok(650_000_000));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("1Mi"), Ok(1 << 20));
        assert_eq!(parse_size("25G"), Ok(25_000_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("1K").is_err());
        // Other sizes (serve's --rebuild-space) may be small, or none.
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("1K"), Ok(1000));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_size("4.7X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn parts_concatenate_and_read_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("b.bundle");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = PartsWriter::new(&base, 4096, true);
        for chunk in data.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        let parts = w.finish().unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[4].size, 20_000 - 4 * 4096);
        let set = PartSet::find(&part_path(&base, 1)).unwrap().unwrap();
        let mut all = Vec::new();
        set.open_stream().unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
        let pf = set.open_positional().unwrap();
        let mut buf = vec![0u8; 5000];
        super::super::source::read_exact_at(&pf, &mut buf, 4000).unwrap();
        assert_eq!(buf, data[4000..9000]);
        // `FILE` finds its parts when FILE itself is not there.
        assert_eq!(PartSet::find(&base).unwrap().unwrap().parts.len(), 5);
    }
}
