//! Writes a bundle: header frame, two frames per tar member, end frame, seek index.

use super::envelope::{header_bytes, index_payload};
use super::frames::{write_compressed, write_skippable, write_stored, SKIPPABLE_INDEX_MAGIC};
use super::{padded, FrameSpan, MemberEntry, SeekIndex, FORMAT_VERSION};
use crate::digest::HashingWriter;
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

pub struct BundleWriter<W: Write> {
    /// Counts and hashes everything written, so the index can record offsets and the body hash.
    out: HashingWriter<W>,
    members: Vec<MemberEntry>,
    mtime: u64,
}

impl<W: Write> BundleWriter<W> {
    pub fn new(inner: W, mtime: u64) -> io::Result<Self> {
        let mut out = HashingWriter::new(inner);
        out.write_all(&header_bytes())?;
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
        self.add_with_mode(path, size, src, packing, 0o644)
    }

    /// The same with another mode: 0755 for a program (`tools/`), so tar extracts it runnable.
    pub fn add_with_mode(
        &mut self,
        path: &str,
        size: u64,
        src: &mut impl Read,
        packing: Packing,
        mode: u32,
    ) -> io::Result<()> {
        let header = self.add_header(path, size, mode)?;
        let data = if size == 0 {
            None
        } else {
            let start = self.out.count();
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
                length: self.out.count() - start,
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

    /// Append one tar member whose data frame was made beforehand (`frame`, `frame_len` bytes,
    /// holding `size` bytes of content and its padding). The caller vouches for the frame.
    pub fn add_frame(
        &mut self,
        path: &str,
        size: u64,
        frame: &mut impl Read,
        frame_len: u64,
    ) -> io::Result<()> {
        let header = self.add_header(path, size, 0o644)?;
        let start = self.out.count();
        let copied = io::copy(&mut frame.take(frame_len), &mut self.out)?;
        if copied != frame_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the frame of {path} is shorter than {frame_len} bytes"),
            ));
        }
        self.members.push(MemberEntry {
            path: path.to_string(),
            size,
            header,
            data: Some(FrameSpan {
                offset: start,
                length: frame_len,
            }),
        });
        Ok(())
    }

    /// A member's tar header, as its own frame.
    fn add_header(&mut self, path: &str, size: u64, mode: u32) -> io::Result<FrameSpan> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let start = self.out.count();
        write_compressed(&mut self.out, &mut &h.as_bytes()[..], 512, LEVEL_METADATA)?;
        Ok(FrameSpan {
            offset: start,
            length: self.out.count() - start,
        })
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
        let body_sha256 = self.out.digest().hex().to_string();
        let index = SeekIndex {
            format_version: FORMAT_VERSION,
            body_sha256,
            members: self.members,
        };
        let json = serde_json::to_vec(&index).map_err(io::Error::other)?;
        write_skippable(&mut self.out, SKIPPABLE_INDEX_MAGIC, &index_payload(&json))?;
        self.out.flush()?;
        let (inner, file_sha, _) = self.out.finish();
        Ok((inner, file_sha.hex().to_string()))
    }
}
