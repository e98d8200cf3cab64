//! Reads a bundle front to back from any reader (a file or stdin): frame by frame, hashing every
//! byte, recording where each frame was, and finally checking all of it against the seek index.
//! `verify` and `load` are built on it, so both see exactly the same checks.

use super::envelope::{
    index_frame_len, parse_header, parse_index_payload, HeaderError, FRAME_HEAD_LEN, HEADER_LEN,
};
use super::{padded, FormatError, FrameSpan, MemberEntry, SeekIndex};
use crate::digest::HashingReader;
use std::io::{self, BufReader, Read, Write};

/// One tar member as the stream presents it.
#[derive(Debug, Clone)]
pub struct Member {
    pub path: String,
    pub size: u64,
}

pub struct StreamReader<R> {
    /// Hashes and counts exactly the bytes consumed.
    src: HashingReader<BufReader<R>>,
    name: String,
    seen: Vec<MemberEntry>,
    /// Set once the data of the current member has been read (or it has none).
    data_pending: Option<Member>,
    /// The end-of-archive frame was read: only the seek index may follow.
    ended: bool,
}

impl<R: Read> StreamReader<R> {
    pub fn new(inner: R, name: &str) -> Result<Self, FormatError> {
        let mut s = StreamReader {
            src: HashingReader::new(BufReader::with_capacity(1 << 20, inner)),
            name: name.to_string(),
            seen: Vec::new(),
            data_pending: None,
            ended: false,
        };
        let mut head = [0u8; HEADER_LEN as usize];
        let version = match s.src.read_exact(&mut head) {
            Ok(()) => parse_header(&head),
            Err(_) => Err(HeaderError::NotABundle),
        };
        match version {
            Ok(_) => Ok(s),
            Err(HeaderError::NotABundle) => Err(FormatError::NotABundle { path: s.name }),
            Err(HeaderError::Newer(found)) => Err(FormatError::NewerVersion {
                path: s.name,
                found,
            }),
        }
    }

    fn corrupt(&self, member: &str, detail: impl Into<String>) -> FormatError {
        FormatError::MemberCorrupt {
            path: self.name.clone(),
            member: member.to_string(),
            detail: detail.into(),
        }
    }

    /// Decode one zstd frame from the stream into `sink`, refusing more than `limit` bytes.
    fn frame(
        &mut self,
        limit: u64,
        sink: &mut dyn Write,
        member: &str,
    ) -> Result<(u64, FrameSpan), FormatError> {
        let start = self.src.count();
        let mut dec = zstd::stream::read::Decoder::with_buffer(&mut self.src)
            .and_then(|d| {
                let mut d = d.single_frame();
                d.window_log_max(super::frames::MAX_WINDOW_LOG)?;
                Ok(d)
            })
            .map_err(|e| FormatError::Io {
                path: self.name.clone(),
                source: e,
            })?;
        let copied = io::copy(&mut (&mut dec).take(limit + 1), sink);
        drop(dec);
        let n = match copied {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(FormatError::Truncated {
                    path: self.name.clone(),
                    detail: format!("it ends inside {member}"),
                })
            }
            Err(e) => return Err(self.corrupt(member, e.to_string())),
        };
        if n > limit {
            return Err(self.corrupt(
                member,
                format!("its frame inflates beyond the {limit} bytes it should hold"),
            ));
        }
        Ok((
            n,
            FrameSpan {
                offset: start,
                length: self.src.count() - start,
            },
        ))
    }

    /// The next member's header, or None at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member>, FormatError> {
        if self.ended {
            return Ok(None);
        }
        if let Some(m) = self.data_pending.take() {
            // The caller skipped the data: read (and so verify) it anyway.
            self.read_data(&m, &mut io::sink())?;
        }
        let at = self
            .seen
            .last()
            .map_or("the start".to_string(), |m| format!("after {}", m.path));
        let mut buf = Vec::with_capacity(1024);
        let (n, span) = self.frame(1024, &mut buf, &format!("the tar header {at}"))?;
        if n == 1024 && buf.iter().all(|&b| b == 0) {
            self.ended = true;
            return Ok(None);
        }
        if n != 512 {
            return Err(self.corrupt(
                &format!("the tar header {at}"),
                format!("{n} bytes instead of 512"),
            ));
        }
        let header = tar::Header::from_byte_slice(&buf);
        let path = header
            .path()
            .map_err(|e| self.corrupt(&format!("the tar header {at}"), e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let ok_type = header.entry_type() == tar::EntryType::Regular;
        let ok_sum = header.cksum().ok() == Some(checksum(&buf));
        let size = header
            .size()
            .map_err(|e| self.corrupt(&path, e.to_string()))?;
        if !ok_type || !ok_sum {
            return Err(self.corrupt(
                &path,
                "the tar header is not a plain file entry with a valid checksum",
            ));
        }
        let m = Member { path, size };
        self.seen.push(MemberEntry {
            path: m.path.clone(),
            size,
            header: span,
            data: None,
        });
        if size > 0 {
            self.data_pending = Some(m.clone());
        }
        Ok(Some(m))
    }

    /// Stream the current member's content into `sink` (padding checked and dropped).
    pub fn read_data(&mut self, m: &Member, sink: &mut dyn Write) -> Result<(), FormatError> {
        self.data_pending = None;
        let mut w = Unpad {
            inner: sink,
            left: m.size,
            bad_padding: false,
        };
        let (n, span) = self.frame(padded(m.size), &mut w, &m.path)?;
        if n != padded(m.size) {
            return Err(self.corrupt(
                &m.path,
                format!("{n} bytes where {} were declared", padded(m.size)),
            ));
        }
        if w.bad_padding {
            return Err(self.corrupt(&m.path, "non-zero tar padding"));
        }
        if let Some(last) = self.seen.last_mut() {
            last.data = Some(span);
        }
        Ok(())
    }

    /// Pass over the current member's frame without decoding it, for a member whose content
    /// the caller has decoded and checked where it is read by position
    /// (`BundleReader::open_member` checks its length, padding and checksum): its bytes are
    /// still hashed and its span recorded, as `finish` needs.
    pub fn skip_data(&mut self, m: &Member) -> Result<(), FormatError> {
        self.data_pending = None;
        let offset = self.src.count();
        let length = super::frames::skip_frame(&mut self.src).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => FormatError::Truncated {
                path: self.name.clone(),
                detail: format!("it ends inside {}", m.path),
            },
            _ => self.corrupt(&m.path, e.to_string()),
        })?;
        if let Some(last) = self.seen.last_mut() {
            last.data = Some(FrameSpan { offset, length });
        }
        Ok(())
    }

    /// After the end of the archive: read the seek index and check that it describes exactly the
    /// frames we read, and that the body hash matches. Then nothing may follow.
    pub fn finish(mut self) -> Result<SeekIndex, FormatError> {
        while self.next_member()?.is_some() {}
        let body_sha256 = self.src.digest().hex().to_string();
        let trunc = |d: &str| FormatError::Truncated {
            path: self.name.clone(),
            detail: d.to_string(),
        };
        let mut head = [0u8; FRAME_HEAD_LEN as usize];
        self.src
            .read_exact(&mut head)
            .map_err(|_| trunc("the seek index is missing"))?;
        let corrupt = |d: String| FormatError::IndexCorrupt {
            path: self.name.clone(),
            detail: d,
        };
        let len = index_frame_len(&head)
            .ok_or_else(|| corrupt("the frame after the archive is not a seek index".into()))?;
        // Grow with the bytes that actually arrive: a forged length must not reserve memory.
        let mut payload = Vec::new();
        let got = (&mut self.src)
            .take(len)
            .read_to_end(&mut payload)
            .map_err(|_| trunc("the seek index is cut short"))?;
        if got as u64 != len {
            return Err(trunc("the seek index is cut short"));
        }
        let mut extra = [0u8; 1];
        if self.src.read(&mut extra).unwrap_or(0) != 0 {
            return Err(corrupt("bytes follow the seek index".into()));
        }
        let index = parse_index_payload(&payload).map_err(corrupt)?;
        if index.body_sha256 != body_sha256 {
            return Err(corrupt(
                "the file's bytes do not hash to what the index recorded".into(),
            ));
        }
        if index.members != self.seen {
            return Err(corrupt(
                "it does not describe the members actually in the file".into(),
            ));
        }
        Ok(index)
    }
}

/// Passes through the first `left` bytes and checks that the rest (tar padding) is zero.
struct Unpad<'a> {
    inner: &'a mut dyn Write,
    left: u64,
    bad_padding: bool,
}

impl Write for Unpad<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = (self.left.min(buf.len() as u64)) as usize;
        if take > 0 {
            self.inner.write_all(&buf[..take])?;
            self.left -= take as u64;
        }
        if buf[take..].iter().any(|&b| b != 0) {
            self.bad_padding = true;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The ustar header checksum: sum of all bytes with the checksum field taken as spaces.
fn checksum(h: &[u8]) -> u32 {
    h.iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum()
}
