//! Random access to a bundle through its seek index: no member is decompressed unless asked for.

use super::frames::{frame_reader, SKIPPABLE_HEADER_MAGIC, SKIPPABLE_INDEX_MAGIC};
use super::{
    padded, FormatError, MemberEntry, SeekIndex, FORMAT_VERSION, HEADER_MAGIC, INDEX_TRAILER_MAGIC,
};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// The index is small (a few hundred bytes per blob); anything far larger is not ours.
const MAX_INDEX_BYTES: u64 = 256 * 1024 * 1024;
/// bundle.json, index.json, manifests: read into memory, so bounded.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;

pub struct BundleReader {
    file: Arc<dyn Source>,
    path: String,
    pub len: u64,
    pub index: SeekIndex,
    /// Where the index frame starts: everything before it is covered by `body_sha256`.
    pub index_offset: u64,
}

impl BundleReader {
    /// A bundle file, or a split bundle (`FILE.part001`, or `FILE` when only its parts exist).
    pub fn open(path: &Path) -> Result<BundleReader, FormatError> {
        let name = path.display().to_string();
        let io = |source| FormatError::Io {
            path: name.clone(),
            source,
        };
        if let Some(set) = super::parts::PartSet::find(path).map_err(io)? {
            let src = set.open_positional().map_err(io)?;
            return Self::from_source(Arc::new(src), &set.display_name());
        }
        let file = File::open(path).map_err(io)?;
        Self::from_source(Arc::new(file), &name)
    }

    /// Read the header and the seek index of an open file; `name` is what errors call it.
    pub fn from_file(file: File, name: &str) -> Result<BundleReader, FormatError> {
        Self::from_source(Arc::new(file), name)
    }

    pub fn from_source(file: Arc<dyn Source>, name: &str) -> Result<BundleReader, FormatError> {
        let p = name.to_string();
        let io = |source| FormatError::Io {
            path: p.clone(),
            source,
        };
        let len = file.size().map_err(io)?;
        let mut head = [0u8; 16];
        if len < 16 || read_exact_at(&*file, &mut head, 0).is_err() {
            return Err(FormatError::NotABundle { path: p });
        }
        if head[..4] != SKIPPABLE_HEADER_MAGIC.to_le_bytes()
            || head[4..8] != 8u32.to_le_bytes()
            || &head[8..15] != HEADER_MAGIC
        {
            return Err(FormatError::NotABundle { path: p });
        }
        let version = u32::from(head[15]);
        if version > FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                path: p,
                found: version,
            });
        }
        let truncated = |detail: &str| FormatError::Truncated {
            path: p.clone(),
            detail: detail.to_string(),
        };
        let corrupt = |detail: String| FormatError::IndexCorrupt {
            path: p.clone(),
            detail,
        };
        if len < 16 + 8 + 48 {
            return Err(truncated("too short to hold a seek index"));
        }
        let mut tail = [0u8; 16];
        read_exact_at(&*file, &mut tail, len - 16).map_err(io)?;
        if &tail[8..] != INDEX_TRAILER_MAGIC {
            return Err(truncated("the seek index at the end is missing"));
        }
        let n = u64::from_le_bytes(tail[..8].try_into().unwrap_or_default());
        if n > MAX_INDEX_BYTES || n + 48 + 8 + 16 > len {
            return Err(corrupt(format!("index length {n} does not fit the file")));
        }
        let index_offset = len - 16 - 32 - n - 8;
        let mut frame_head = [0u8; 8];
        read_exact_at(&*file, &mut frame_head, index_offset).map_err(io)?;
        if frame_head[..4] != SKIPPABLE_INDEX_MAGIC.to_le_bytes()
            || u64::from(u32::from_le_bytes(
                frame_head[4..].try_into().unwrap_or_default(),
            )) != n + 48
        {
            return Err(corrupt(
                "index frame header does not match its trailer".into(),
            ));
        }
        let mut json = vec![0u8; n as usize];
        read_exact_at(&*file, &mut json, index_offset + 8).map_err(io)?;
        let mut sum = [0u8; 32];
        read_exact_at(&*file, &mut sum, index_offset + 8 + n).map_err(io)?;
        if Sha256::digest(&json).as_slice() != sum {
            return Err(corrupt("its checksum does not match".into()));
        }
        let index: SeekIndex = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
        if index.format_version != version {
            return Err(corrupt(format!(
                "index says format {} but the header says {version}",
                index.format_version
            )));
        }
        // Every frame must lie inside the body and in order, so no two members overlap.
        let mut end = 16u64;
        for m in &index.members {
            for span in std::iter::once(&m.header).chain(m.data.as_ref()) {
                let ok = span.offset >= end
                    && span.length > 0
                    && span
                        .offset
                        .checked_add(span.length)
                        .is_some_and(|e| e <= index_offset);
                if !ok {
                    return Err(corrupt(format!(
                        "frame of {} lies outside the file or overlaps another",
                        m.path
                    )));
                }
                end = span.offset + span.length;
            }
            if m.data.is_none() != (m.size == 0) {
                let has = if m.data.is_some() {
                    "a data frame"
                } else {
                    "no data frame"
                };
                return Err(corrupt(format!(
                    "member {} has size {} but {has}",
                    m.path, m.size
                )));
            }
        }
        Ok(BundleReader {
            file,
            path: p,
            len,
            index,
            index_offset,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn member(&self, path: &str) -> Option<&MemberEntry> {
        self.index.members.iter().find(|m| m.path == path)
    }

    /// A reader of a member's content (padding excluded), decompressing its frame only. It reads
    /// by position, so any number of them can be used at once from different threads.
    pub fn open_member(&self, m: &MemberEntry) -> Result<impl Read + Send + 'static, FormatError> {
        let data = m.data.ok_or_else(|| FormatError::MemberCorrupt {
            path: self.path.clone(),
            member: m.path.clone(),
            detail: "empty".into(),
        })?;
        let at = Positioned {
            file: self.file.clone(),
            pos: data.offset,
            end: data.offset + data.length,
        };
        let r = frame_reader(BufReader::with_capacity(256 * 1024, at), padded(m.size)).map_err(
            |source| FormatError::Io {
                path: self.path.clone(),
                source,
            },
        )?;
        Ok(r.take(m.size))
    }

    /// Read a small member (metadata) fully.
    pub fn read_member(&self, path: &str) -> Result<Vec<u8>, FormatError> {
        let m = self
            .member(path)
            .ok_or_else(|| FormatError::MissingMember {
                path: self.path.clone(),
                member: path.to_string(),
            })?;
        if m.size > MAX_METADATA_BYTES {
            return Err(FormatError::MemberCorrupt {
                path: self.path.clone(),
                member: path.to_string(),
                detail: format!("{} bytes is too large for metadata", m.size),
            });
        }
        let mut out = Vec::with_capacity(m.size as usize);
        self.open_member(m)?
            .read_to_end(&mut out)
            .map_err(|e| FormatError::MemberCorrupt {
                path: self.path.clone(),
                member: path.to_string(),
                detail: e.to_string(),
            })?;
        Ok(out)
    }
}

/// A window of a shared file read with `pread`, independent of any other reader's position.
struct Positioned {
    file: Arc<dyn Source>,
    pos: u64,
    end: u64,
}

impl Read for Positioned {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Something read by position from any number of threads at once: a file, or the parts of a
/// split bundle.
pub trait Source: Send + Sync {
    fn size(&self) -> std::io::Result<u64>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl Source for File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

pub fn read_exact_at(src: &dyn Source, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match src.read_at(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
