//! Writes a bundle: header frame, two frames per tar member, end frame, seek index.

use super::frames::{
    write_compressed, write_skippable, write_stored, SKIPPABLE_HEADER_MAGIC, SKIPPABLE_INDEX_MAGIC,
};
use super::{
    padded, FrameSpan, MemberEntry, SeekIndex, FORMAT_VERSION, HEADER_MAGIC, INDEX_TRAILER_MAGIC,
};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// How a member's data frame is made (see docs/FORMAT.md, "Data frame encodings").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Packing {
    /// Raw blocks: for content that is already compressed.
    Stored,
    Compressed(i32),
}

pub const LEVEL_METADATA: i32 = 19;
pub const LEVEL_DATA: i32 = 3;

/// Counts and hashes everything written, so the index can record offsets and the body hash.
struct Tracked<W> {
    inner: W,
    pos: u64,
    hash: Sha256,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct BundleWriter<W: Write> {
    out: Tracked<W>,
    members: Vec<MemberEntry>,
    mtime: u64,
}

impl<W: Write> BundleWriter<W> {
    pub fn new(inner: W, mtime: u64) -> io::Result<Self> {
        let mut out = Tracked {
            inner,
            pos: 0,
            hash: Sha256::new(),
        };
        let mut payload = HEADER_MAGIC.to_vec();
        payload.push(FORMAT_VERSION as u8);
        write_skippable(&mut out, SKIPPABLE_HEADER_MAGIC, &payload)?;
        Ok(BundleWriter {
            out,
            members: Vec::new(),
            mtime,
        })
    }

    pub fn add_bytes(&mut self, path: &str, bytes: &[u8], packing: Packing) -> io::Result<()> {
        self.add(path, bytes.len() as u64, &mut &bytes[..], packing)
    }

    /// Append one tar member whose content is the next `size` bytes of `src`.
    pub fn add(
        &mut self,
        path: &str,
        size: u64,
        src: &mut impl Read,
        packing: Packing,
    ) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let header_start = self.out.pos;
        write_compressed(&mut self.out, &mut &h.as_bytes()[..], 512, LEVEL_METADATA)?;
        let header = FrameSpan {
            offset: header_start,
            length: self.out.pos - header_start,
        };
        let data = if size == 0 {
            None
        } else {
            let start = self.out.pos;
            let pad = padded(size) - size;
            let mut content = src.take(size).chain(io::repeat(0).take(pad));
            match packing {
                Packing::Stored => write_stored(&mut self.out, &mut content, size + pad)?,
                Packing::Compressed(level) => {
                    write_compressed(&mut self.out, &mut content, size + pad, level)?
                }
            }
            Some(FrameSpan {
                offset: start,
                length: self.out.pos - start,
            })
        };
        self.members.push(MemberEntry {
            path: path.to_string(),
            size,
            header,
            data,
        });
        Ok(())
    }

    /// Write the tar end marker and the seek index; returns the inner writer and the sha256 of
    /// the whole file.
    pub fn finish(mut self) -> io::Result<(W, String)> {
        write_compressed(
            &mut self.out,
            &mut io::repeat(0).take(1024),
            1024,
            LEVEL_METADATA,
        )?;
        let body_sha256 = hex::encode(self.out.hash.clone().finalize());
        let index = SeekIndex {
            format_version: FORMAT_VERSION,
            body_sha256,
            members: self.members,
        };
        let json = serde_json::to_vec(&index).map_err(io::Error::other)?;
        let mut payload = json.clone();
        payload.extend_from_slice(&Sha256::digest(&json));
        payload.extend_from_slice(&(json.len() as u64).to_le_bytes());
        payload.extend_from_slice(INDEX_TRAILER_MAGIC);
        write_skippable(&mut self.out, SKIPPABLE_INDEX_MAGIC, &payload)?;
        self.out.flush()?;
        let file_sha = hex::encode(self.out.hash.finalize());
        Ok((self.out.inner, file_sha))
    }
}
