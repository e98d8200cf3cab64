//! Random access to a bundle through its seek index: no member is decompressed unless asked for.

use super::envelope::{
    frame_head_matches, parse_header, parse_index_payload, parse_trailer, HeaderError,
    FRAME_HEAD_LEN, HEADER_LEN, INDEX_SUFFIX_LEN, MAX_INDEX_BYTES, TRAILER_LEN,
};
use super::frames::frame_reader;
pub use super::source::{read_exact_at, Source};
use super::{padded, BundleManifest, FormatError, MemberEntry, SeekIndex, MANIFEST_PATH};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// bundle.json, index.json, manifests: read into memory, so bounded.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;

pub struct BundleReader {
    file: Arc<dyn Source>,
    path: String,
    pub len: u64,
    pub index: SeekIndex,
    /// Where the index frame starts: everything before it is covered by `body_sha256`.
    pub index_offset: u64,
    /// Member path → its place in `index.members`: blobs are opened by path, once per target
    /// and retry, so the lookup must not walk the whole index.
    by_path: std::collections::HashMap<String, usize>,
    /// Where the reference tars of patch members come from (`set_references`).
    references: Option<Arc<dyn super::References>>,
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
            // A missing or cut part is named before anything is opened.
            set.check_sizes().map_err(|detail| FormatError::Part {
                path: set.display_name(),
                detail,
            })?;
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
        let len = file.size().map_err(|source| FormatError::Io {
            path: p.clone(),
            source,
        })?;
        let version = read_header(&*file, len, &p)?;
        let (index, index_offset) = read_index(&*file, len, &p)?;
        let corrupt = |detail: String| FormatError::IndexCorrupt {
            path: p.clone(),
            detail,
        };
        if index.format_version != version {
            return Err(corrupt(format!(
                "index says format {} but the header says {version}",
                index.format_version
            )));
        }
        check_spans(&index, index_offset).map_err(corrupt)?;
        // The first member of a path wins, as a walk of the index would find it.
        let mut by_path = std::collections::HashMap::new();
        for (i, m) in index.members.iter().enumerate() {
            by_path.entry(m.path.clone()).or_insert(i);
        }
        Ok(BundleReader {
            file,
            path: p,
            len,
            index,
            index_offset,
            by_path,
            references: None,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn member(&self, path: &str) -> Option<&MemberEntry> {
        self.by_path.get(path).map(|&i| &self.index.members[i])
    }

    /// A reader of a member's content (padding excluded), decompressing its frame only. It reads
    /// by position, so any number of them can be used at once from different threads. Read to
    /// its end, it has checked the whole frame (its length, zero padding and checksum) before
    /// it gives the last bytes: a stream pass that skipped the frame (`StreamReader::skip_data`)
    /// relies on that.
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
        let content = Content {
            frame: r,
            left: m.size,
        };
        Ok(crate::cpu::In::new(crate::cpu::Stage::Decode, content))
    }

    /// A reader of a blob's bytes: its member's content, rebuilt when the blob is carried
    /// uncompressed (`gzip-rebuild`). Not a verification: callers check the digest.
    pub fn open_blob(
        &self,
        rec: &super::BlobRecord,
    ) -> Result<Box<dyn Read + Send + 'static>, FormatError> {
        let path = rec.member_path();
        let m = self
            .member(&path)
            .ok_or_else(|| FormatError::MissingMember {
                path: self.path.clone(),
                member: path.clone(),
            })?;
        if m.size != rec.member_size() {
            return Err(FormatError::MemberCorrupt {
                path: self.path.clone(),
                member: path,
                detail: format!(
                    "{} bytes in the archive but {} in bundle.json",
                    m.size,
                    rec.member_size()
                ),
            });
        }
        let refs = self.references.as_deref();
        rec.decoder(self.open_member(m)?, refs)
            .map_err(|source| FormatError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Where `open_blob` gets the reference tars of layers carried as patches against one.
    pub fn set_references(&mut self, refs: Arc<dyn super::References>) {
        self.references = Some(refs);
    }

    pub fn references(&self) -> Option<&Arc<dyn super::References>> {
        self.references.as_ref()
    }

    /// `bundle.json`, read and accepted (`BundleManifest::parse`), with its bytes. Not a
    /// verification: the signature is checked by `verify`.
    pub fn bundle_manifest(&self) -> Result<(BundleManifest, Vec<u8>), FormatError> {
        let bytes = self.read_member(MANIFEST_PATH)?;
        Ok((BundleManifest::parse(&bytes, &self.path)?, bytes))
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

/// The format version in the header frame.
fn read_header(file: &dyn Source, len: u64, p: &str) -> Result<u32, FormatError> {
    let mut head = [0u8; HEADER_LEN as usize];
    if len < HEADER_LEN || read_exact_at(file, &mut head, 0).is_err() {
        return Err(FormatError::NotABundle { path: p.into() });
    }
    parse_header(&head).map_err(|e| match e {
        HeaderError::NotABundle => FormatError::NotABundle { path: p.into() },
        HeaderError::Newer(found) => FormatError::NewerVersion {
            path: p.into(),
            found,
        },
    })
}

/// The seek index, found from the trailer at the end, and the offset of its frame.
fn read_index(file: &dyn Source, len: u64, p: &str) -> Result<(SeekIndex, u64), FormatError> {
    let io = |source| FormatError::Io {
        path: p.into(),
        source,
    };
    let truncated = |detail: &str| FormatError::Truncated {
        path: p.into(),
        detail: detail.into(),
    };
    let corrupt = |detail: String| FormatError::IndexCorrupt {
        path: p.into(),
        detail,
    };
    if len < HEADER_LEN + FRAME_HEAD_LEN + INDEX_SUFFIX_LEN {
        return Err(truncated("too short to hold a seek index"));
    }
    let mut tail = [0u8; TRAILER_LEN as usize];
    read_exact_at(file, &mut tail, len - TRAILER_LEN).map_err(io)?;
    let n =
        parse_trailer(&tail).ok_or_else(|| truncated("the seek index at the end is missing"))?;
    let framed = n + INDEX_SUFFIX_LEN + FRAME_HEAD_LEN + HEADER_LEN;
    if n > MAX_INDEX_BYTES || framed > len {
        return Err(corrupt(format!("index length {n} does not fit the file")));
    }
    let index_offset = len - INDEX_SUFFIX_LEN - n - FRAME_HEAD_LEN;
    let mut frame_head = [0u8; FRAME_HEAD_LEN as usize];
    read_exact_at(file, &mut frame_head, index_offset).map_err(io)?;
    if !frame_head_matches(&frame_head, n + INDEX_SUFFIX_LEN) {
        return Err(corrupt(
            "index frame header does not match its trailer".into(),
        ));
    }
    let mut payload = vec![0u8; (n + INDEX_SUFFIX_LEN) as usize];
    read_exact_at(file, &mut payload, index_offset + FRAME_HEAD_LEN).map_err(io)?;
    let index = parse_index_payload(&payload).map_err(corrupt)?;
    Ok((index, index_offset))
}

/// Every frame must lie inside the body and in order, so no two members overlap.
fn check_spans(index: &SeekIndex, index_offset: u64) -> Result<(), String> {
    let mut end = HEADER_LEN;
    for m in &index.members {
        for span in std::iter::once(&m.header).chain(m.data.as_ref()) {
            let ok = span.offset >= end
                && span.length > 0
                && span
                    .offset
                    .checked_add(span.length)
                    .is_some_and(|e| e <= index_offset);
            if !ok {
                return Err(format!(
                    "frame of {} lies outside the file or overlaps another",
                    m.path
                ));
            }
            end = span.offset + span.length;
        }
        if m.data.is_none() != (m.size == 0) {
            let has = if m.data.is_some() {
                "a data frame"
            } else {
                "no data frame"
            };
            return Err(format!("member {} has size {} but {has}", m.path, m.size));
        }
    }
    Ok(())
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

/// A member's content from its frame: the first `left` bytes; the rest, its padding, must be
/// zeros to the frame's end, which is read (and so checked) before the last content is given.
struct Content<R> {
    frame: R,
    left: u64,
}

impl<R: Read> Read for Content<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let cap = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.frame.read(&mut buf[..cap])?;
        self.left -= n as u64;
        if self.left == 0 {
            let mut padding = Vec::new();
            self.frame.read_to_end(&mut padding)?;
            if padding.iter().any(|&b| b != 0) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "non-zero tar padding",
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member of `content`, framed with `padding` after it, as its reader gives it.
    fn read(content: &[u8], padding: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut member = content.to_vec();
        member.extend_from_slice(padding);
        let mut frame = Vec::new();
        let len = member.len() as u64;
        super::super::frames::write_compressed(&mut frame, &mut &member[..], len, 3).unwrap();
        let mut got = Vec::new();
        let mut reader = Content {
            frame: frame_reader(&frame[..], padded(content.len() as u64))?,
            left: content.len() as u64,
        };
        reader.read_to_end(&mut got)?;
        Ok(got)
    }

    #[test]
    fn a_member_read_to_its_end_has_had_its_padding_and_frame_checked() {
        let content: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        let pad = padded(content.len() as u64) as usize - content.len();
        assert_eq!(read(&content, &vec![0; pad]).unwrap(), content);
        let mut bad = vec![0; pad];
        bad[pad - 1] = 1;
        let e = read(&content, &bad).unwrap_err();
        assert!(e.to_string().contains("padding"), "{e}");
        // More than the padding, or less: the frame is not what the index declares.
        assert!(read(&content, &vec![0; pad + 512]).is_err());
        assert!(read(&content, &vec![0; pad - 1]).is_err());
    }
}
