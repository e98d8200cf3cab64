//! A layer's member encoded against a reference tar (a release-1 layer the other side holds):
//! the member in chunks of at most `CHUNK` bytes, each one zstd frame whose prefix (a raw
//! dictionary) is the byte ranges of the reference that hold the same files (docs/FORMAT.md, "Reference
//! deltas"). A chunk needs only its own ranges, so decoding holds one chunk's dictionary and
//! window at a time however large the layers are, and reads the reference at random (a file).

use crate::tarindex::Entry;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

pub const MAGIC: &[u8; 8] = b"BNDLREF1";
/// The member bytes one chunk makes, at most.
pub const CHUNK: u64 = 16 << 20;
/// The reference bytes one chunk's dictionary holds, at most.
pub const MAX_PREFIX: u64 = 32 << 20;
/// A range of the reference per chunk, at most (a reader refuses more).
const MAX_RANGES: u32 = 1 << 16;
/// A big file's piece is matched against the same piece of its old version, widened by this
/// much on each side (a few inserted bytes shift the rest).
const SLACK: u64 = 1 << 20;

/// The reference tar, read at random.
pub trait Reference: Send + Sync {
    fn size(&self) -> u64;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Reference for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl Reference for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// The reference read front to back (to index it).
pub fn reader(r: &dyn Reference) -> impl Read + '_ {
    struct At<'a>(&'a dyn Reference, u64);
    impl Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (buf.len() as u64).min(self.0.size() - self.1) as usize;
            self.0.read_at(&mut buf[..n], self.1)?;
            self.1 += n as u64;
            Ok(n)
        }
    }
    io::BufReader::with_capacity(1 << 20, At(r, 0))
}

/// One chunk to encode: how many member bytes, and the reference ranges (offset, length).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub len: u64,
    pub ranges: Vec<(u64, u64)>,
}

/// Cut a member of `member_len` bytes, whose tar (entries `new`) starts at `tar_at`, into
/// chunks, each with the ranges of the reference (entries `old`) that hold the same paths.
pub fn plan(member_len: u64, tar_at: u64, new: &[Entry], old: &[Entry]) -> Vec<Planned> {
    let by_path: HashMap<&str, &Entry> = old.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut chunks: Vec<Planned> = Vec::new();
    let mut prefix = 0u64;
    let mut at = 0u64;
    let mut push = |seg_end: u64, old: Option<(u64, u64)>, at: &mut u64| {
        let len = seg_end - *at;
        *at = seg_end;
        let fits = chunks.last().is_some_and(|c| c.len + len <= CHUNK);
        if !fits {
            chunks.push(Planned {
                len: 0,
                ranges: Vec::new(),
            });
            prefix = 0;
        }
        let c = chunks.last_mut().expect("a chunk");
        c.len += len;
        if let Some((off, n)) = old {
            let n = n.min(MAX_PREFIX - prefix);
            if n > 0 {
                prefix += n;
                match c.ranges.last_mut() {
                    Some((o, l)) if *o + *l == off => *l += n,
                    _ => c.ranges.push((off, n)),
                }
            }
        }
    };
    for e in new {
        let (start, end) = (tar_at + e.start, tar_at + e.end());
        if start < at || end > member_len {
            continue;
        }
        // Bytes no entry claims (side data, a global header): no reference.
        while at < start {
            push(start.min(at + CHUNK), None, &mut at);
        }
        let was = by_path.get(e.path.as_str()).copied();
        if end - start <= CHUNK {
            push(end, was.map(|o| (o.start, o.end() - o.start)), &mut at);
            continue;
        }
        // A big file: piece by piece, each against the same stretch of its old version.
        while at < end {
            let piece_end = end.min(at + CHUNK);
            let old = was.map(|o| {
                let from = (o.start + (at - start)).saturating_sub(SLACK).max(o.start);
                let to = (o.start + (piece_end - start) + SLACK).min(o.end());
                (from, to.saturating_sub(from))
            });
            push(piece_end, old, &mut at);
        }
    }
    while at < member_len {
        push(member_len.min(at + CHUNK), None, &mut at);
    }
    chunks
}

fn ceil_log2(n: u64) -> u32 {
    64 - n.saturating_sub(1).leading_zeros()
}

/// Encode the member `src` (exactly the chunks' lengths, in order) into `out`.
pub fn encode(
    src: &mut impl Read,
    chunks: &[Planned],
    reference: &dyn Reference,
    level: i32,
    out: &mut impl Write,
) -> io::Result<()> {
    out.write_all(MAGIC)?;
    for c in chunks {
        let mut raw = vec![0u8; c.len as usize];
        src.read_exact(&mut raw)?;
        let prefix = read_ranges(reference, &c.ranges)?;
        let frame = compress_chunk(&raw, &prefix, level)?;
        out.write_all(&c.len.to_le_bytes())?;
        out.write_all(&(frame.len() as u64).to_le_bytes())?;
        out.write_all(&(c.ranges.len() as u32).to_le_bytes())?;
        for (off, len) in &c.ranges {
            out.write_all(&off.to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
        }
        out.write_all(&frame)?;
    }
    Ok(())
}

/// One chunk as one zstd frame over its dictionary, in one call: the chunk is in memory already,
/// and zstd's streaming encoder would copy it into a window buffer of its own (64 MiB for a
/// full chunk and dictionary), which two deltas at once cannot afford.
fn compress_chunk(raw: &[u8], prefix: &[u8], level: i32) -> io::Result<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let mut cctx = CCtx::create();
    // The window spans the dictionary and the chunk, so every byte of both can be used.
    let log =
        ceil_log2(prefix.len() as u64 + raw.len() as u64).clamp(17, super::frames::MAX_WINDOW_LOG);
    for p in [
        CParameter::CompressionLevel(level),
        CParameter::ChecksumFlag(true),
        CParameter::ContentSizeFlag(true),
        CParameter::WindowLog(log),
        CParameter::EnableLongDistanceMatching(true),
    ] {
        cctx.set_parameter(p).map_err(zstd_error)?;
    }
    cctx.ref_prefix(prefix).map_err(zstd_error)?;
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
    cctx.compress2(&mut frame, raw).map_err(zstd_error)?;
    Ok(frame)
}

/// One chunk back from its frame and dictionary, in one call into exactly `len` bytes: no window
/// buffer beside them, and a frame that makes more or less, or is more than one frame, is refused.
fn decompress_chunk(frame: &[u8], prefix: &[u8], len: u64) -> io::Result<Vec<u8>> {
    let one = zstd::zstd_safe::find_frame_compressed_size(frame).map_err(zstd_error)?;
    if one != frame.len() {
        return Err(invalid(format!(
            "a chunk's frame of {} bytes ends at {one}",
            frame.len()
        )));
    }
    let mut dctx = zstd::zstd_safe::DCtx::create();
    dctx.ref_prefix(prefix).map_err(zstd_error)?;
    let mut out = Vec::with_capacity(len as usize);
    let made = dctx.decompress(&mut out, frame).map_err(zstd_error)?;
    if made as u64 != len {
        return Err(invalid(format!("a chunk of {made} bytes, not {len}")));
    }
    Ok(out)
}

fn zstd_error(code: usize) -> io::Error {
    invalid(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
}

fn read_ranges(reference: &dyn Reference, ranges: &[(u64, u64)]) -> io::Result<Vec<u8>> {
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    let mut prefix = vec![0u8; total as usize];
    let mut at = 0usize;
    for (off, len) in ranges {
        reference.read_at(&mut prefix[at..at + *len as usize], *off)?;
        at += *len as usize;
    }
    Ok(prefix)
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads the member back from its encoding and the reference, a chunk at a time. Every length
/// and range is checked against its bound before anything is allocated or read: the member is
/// untrusted until the rebuilt layer's digest says otherwise.
pub struct Decoder<R> {
    src: R,
    reference: Arc<dyn Reference>,
    /// Member bytes still to make.
    left: u64,
    chunk: Option<io::Cursor<Vec<u8>>>,
    started: bool,
}

impl<R: Read> Decoder<R> {
    pub fn new(src: R, reference: Arc<dyn Reference>, member_len: u64) -> Self {
        Decoder {
            src,
            reference,
            left: member_len,
            chunk: None,
            started: false,
        }
    }

    fn next_chunk(&mut self) -> io::Result<io::Cursor<Vec<u8>>> {
        if !std::mem::replace(&mut self.started, true) {
            let mut magic = [0u8; 8];
            self.src.read_exact(&mut magic)?;
            if &magic != MAGIC {
                return Err(invalid("not a reference delta".into()));
            }
        }
        let mut head = [0u8; 20];
        self.src.read_exact(&mut head)?;
        let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
        let (len, frame_len) = (word(0), word(8));
        let ranges = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
        if len == 0 || len > CHUNK.min(self.left) || ranges > MAX_RANGES {
            return Err(invalid(format!(
                "a chunk of {len} bytes with {ranges} reference ranges"
            )));
        }
        if frame_len > zstd::zstd_safe::compress_bound(len as usize) as u64 + 4096 {
            return Err(invalid(format!("a {frame_len}-byte frame for {len} bytes")));
        }
        let mut spans = Vec::with_capacity(ranges as usize);
        let mut total = 0u64;
        for _ in 0..ranges {
            let mut r = [0u8; 16];
            self.src.read_exact(&mut r)?;
            let off = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
            let n = u64::from_le_bytes(r[8..].try_into().expect("8 bytes"));
            total = total.saturating_add(n);
            let past_end = off.checked_add(n).is_none_or(|e| e > self.reference.size());
            if total > MAX_PREFIX || past_end {
                return Err(invalid(format!(
                    "reference range {off}+{n} outside the reference or over its bound"
                )));
            }
            spans.push((off, n));
        }
        let mut frame = vec![0u8; frame_len as usize];
        self.src.read_exact(&mut frame)?;
        let prefix = read_ranges(self.reference.as_ref(), &spans)?;
        // The chunk is decoded whole while its dictionary is at hand: at most `CHUNK` bytes.
        let out = decompress_chunk(&frame, &prefix, len)?;
        self.left -= len;
        Ok(io::Cursor::new(out))
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(c) = self.chunk.as_mut() {
                match c.read(buf)? {
                    0 => self.chunk = None,
                    n => return Ok(n),
                }
            }
            if self.left == 0 || buf.is_empty() {
                return Ok(0);
            }
            self.chunk = Some(self.next_chunk()?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_release_encoded_against_the_last_is_small_and_decodes_exactly() {
        // Incompressible files, so only the reference can make the patch small; one file
        // bigger than a chunk, one changed, one added, one removed.
        let big = noise(1, (CHUNK + CHUNK / 2) as usize);
        let mut big2 = big.clone();
        big2[5_000_000..5_000_100].copy_from_slice(&noise(9, 100));
        let old = tar_of(&[
            ("a", noise(2, 300_000)),
            ("big", big),
            ("gone", noise(3, 200_000)),
            ("c", noise(4, 100_000)),
        ]);
        let new = tar_of(&[
            ("a", noise(2, 300_000)),
            ("big", big2),
            ("c", noise(5, 100_000)),
            ("new", noise(6, 50_000)),
        ]);
        let side = b"side data first".to_vec();
        let member: Vec<u8> = side.iter().chain(&new).copied().collect();
        let chunks = plan(
            member.len() as u64,
            side.len() as u64,
            &crate::tarindex::index(&new[..]).unwrap(),
            &crate::tarindex::index(&old[..]).unwrap(),
        );
        assert!(chunks.len() >= 2 && chunks.iter().all(|c| c.len <= CHUNK));
        assert_eq!(
            chunks.iter().map(|c| c.len).sum::<u64>(),
            member.len() as u64
        );
        let reference: Arc<dyn Reference> = Arc::new(old);
        let mut enc = Vec::new();
        encode(&mut &member[..], &chunks, reference.as_ref(), 3, &mut enc).unwrap();
        // What changed (100 + 100 000 + 50 000 bytes) and little else.
        assert!(enc.len() < 200_000, "{} bytes", enc.len());
        let mut back = Vec::new();
        Decoder::new(&enc[..], reference.clone(), member.len() as u64)
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == member);

        // Damage is an error, never other bytes taken for the member.
        for at in [3, 12, 30, enc.len() / 2, enc.len() - 3] {
            let mut bad = enc.clone();
            bad[at] ^= 0x40;
            let mut out = Vec::new();
            let r = Decoder::new(&bad[..], reference.clone(), member.len() as u64)
                .read_to_end(&mut out);
            assert!(r.is_err() || out != member, "flip at {at}");
        }
    }

    #[test]
    fn a_chunk_that_makes_other_than_its_length_or_hides_a_second_frame_is_refused() {
        let old = tar_of(&[("a", noise(2, 300_000))]);
        let new = tar_of(&[("a", noise(2, 300_000)), ("b", noise(3, 1000))]);
        let (n, o) = (
            crate::tarindex::index(&new[..]).unwrap(),
            crate::tarindex::index(&old[..]).unwrap(),
        );
        let chunks = plan(new.len() as u64, 0, &n, &o);
        assert_eq!(chunks.len(), 1);
        let reference: Arc<dyn Reference> = Arc::new(old);
        let mut enc = Vec::new();
        encode(&mut &new[..], &chunks, reference.as_ref(), 3, &mut enc).unwrap();
        let head = 8 + 20 + 16 * chunks[0].ranges.len();
        let frame = enc[head..].to_vec();
        // The same chunk under a header saying one byte fewer, then with a frame appended.
        let with = |len: u64, frame: &[u8]| {
            let mut e = enc[..head].to_vec();
            e[8..16].copy_from_slice(&len.to_le_bytes());
            e[16..24].copy_from_slice(&(frame.len() as u64).to_le_bytes());
            e.extend_from_slice(frame);
            e
        };
        let len = new.len() as u64;
        let extra = zstd::bulk::compress(b"more", 3).unwrap();
        let two: Vec<u8> = frame.iter().chain(&extra).copied().collect();
        for (what, bad, member_len) in [
            ("one byte short", with(len - 1, &frame), len - 1),
            ("a second frame", with(len, &two), len),
        ] {
            let mut out = Vec::new();
            let r = Decoder::new(&bad[..], reference.clone(), member_len).read_to_end(&mut out);
            assert!(r.is_err(), "{what}");
        }
        let mut back = Vec::new();
        Decoder::new(&with(len, &frame)[..], reference.clone(), len)
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == new);
    }
}
