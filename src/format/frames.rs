//! zstd frame primitives: skippable frames, "stored" frames made of raw blocks, and compressed
//! frames — all with content size and content checksum, as docs/FORMAT.md requires.

use std::io::{self, Read, Write};
use xxhash_rust::xxh64::Xxh64;

pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
pub const SKIPPABLE_HEADER_MAGIC: u32 = 0x184D_2A5A;
pub const SKIPPABLE_INDEX_MAGIC: u32 = 0x184D_2A5E;
/// Raw blocks hold at most 128 KiB; the window can be as small as one block because raw blocks
/// never refer back. A small window keeps the frame decodable by any decoder's memory limit.
const RAW_BLOCK: usize = 128 * 1024;
const WINDOW_DESCRIPTOR_128K: u8 = (17 - 10) << 3;

pub fn write_skippable(out: &mut impl Write, magic: u32, payload: &[u8]) -> io::Result<()> {
    let len =
        u32::try_from(payload.len()).map_err(|_| io::Error::other("skippable frame too large"))?;
    out.write_all(&magic.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(payload)
}

/// Write `src` (exactly `len` bytes) as one zstd frame of raw blocks: no compression work, only
/// the XXH64 checksum. For content that is already compressed (gzip/zstd layers).
pub fn write_stored(out: &mut impl Write, src: &mut impl Read, len: u64) -> io::Result<()> {
    out.write_all(&ZSTD_MAGIC)?;
    // Frame header descriptor: 8-byte content size (flag 3), not single-segment, checksum on.
    out.write_all(&[0b1100_0100, WINDOW_DESCRIPTOR_128K])?;
    out.write_all(&len.to_le_bytes())?;
    let mut hasher = Xxh64::new(0);
    let mut buf = vec![0u8; RAW_BLOCK];
    let mut left = len;
    loop {
        let n = left.min(RAW_BLOCK as u64) as usize;
        src.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
        let last = u32::from(left == 0);
        // Block header: bit 0 last, bits 1-2 type (0 = raw), bits 3.. size.
        let header = last | ((n as u32) << 3);
        out.write_all(&header.to_le_bytes()[..3])?;
        out.write_all(&buf[..n])?;
        if left == 0 {
            break;
        }
    }
    out.write_all(&(hasher.digest() as u32).to_le_bytes())
}

/// Compress `src` (exactly `len` bytes) into one zstd frame at `level`.
pub fn write_compressed(
    out: &mut impl Write,
    src: &mut impl Read,
    len: u64,
    level: i32,
) -> io::Result<()> {
    encode(out, src, len, level, None)
}

/// The largest window a frame may use: readers refuse frames that need more
/// (`window_log_max`), so decoding one never takes more than 128 MiB.
pub const MAX_WINDOW_LOG: u32 = 27;

/// Compress `src` (exactly `len` bytes) into one zstd frame at `level` with long-distance
/// matching over a window of 2^`window_log` bytes (at most `MAX_WINDOW_LOG`): for layers
/// carried uncompressed, where files repeat far apart.
pub fn write_compressed_long(
    out: &mut impl Write,
    src: &mut impl Read,
    len: u64,
    level: i32,
    window_log: u32,
) -> io::Result<()> {
    encode(out, src, len, level, Some(window_log.min(MAX_WINDOW_LOG)))
}

/// One frame with its checksum and content size, and long-distance matching over
/// 2^`long_window` bytes when given.
fn encode(
    out: &mut impl Write,
    src: &mut impl Read,
    len: u64,
    level: i32,
    long_window: Option<u32>,
) -> io::Result<()> {
    let mut enc = zstd::stream::write::Encoder::new(out, level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(len))?;
    if let Some(log) = long_window {
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(log))?;
        enc.long_distance_matching(true)?;
    }
    let copied = io::copy(&mut src.take(len), &mut enc)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "source shorter than declared",
        ));
    }
    enc.finish()?;
    Ok(())
}

/// Passes over one zstd frame in `src` without decoding it, by its header and its blocks'
/// headers; how many bytes it spans. For a frame whose content is checked where it is decoded
/// later (`reader::BundleReader::open_member`): decoding it here too would double the work.
/// An error if the bytes are no frame (`InvalidData`) or end inside it (`UnexpectedEof`).
pub fn skip_frame(src: &mut impl Read) -> io::Result<u64> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut head = [0u8; 5];
    src.read_exact(&mut head)?;
    let fhd = head[4];
    if head[..4] != ZSTD_MAGIC || fhd & 0b1000 != 0 {
        return Err(invalid("not a zstd frame"));
    }
    let single_segment = fhd & 0b10_0000 != 0;
    let window = u64::from(!single_segment);
    let dict = [0, 1, 2, 4][usize::from(fhd & 0b11)];
    let content_size = match fhd >> 6 {
        0 => u64::from(single_segment),
        flag => 1 << flag,
    };
    let mut spans = 5;
    spans += skip(src, window + dict + content_size)?;
    loop {
        let mut block = [0u8; 4];
        src.read_exact(&mut block[..3])?;
        spans += 3;
        let header = u32::from_le_bytes(block);
        let size = u64::from(header >> 3);
        spans += match (header >> 1) & 0b11 {
            0 | 2 if size <= RAW_BLOCK as u64 => skip(src, size)?,
            1 => skip(src, 1)?,
            _ => return Err(invalid("a zstd block of a reserved type or size")),
        };
        if header & 1 == 1 {
            break;
        }
    }
    let checksum = if fhd & 0b100 != 0 { 4 } else { 0 };
    Ok(spans + skip(src, checksum)?)
}

/// Reads and drops exactly `n` bytes.
fn skip(src: &mut impl Read, n: u64) -> io::Result<u64> {
    match io::copy(&mut src.take(n), &mut io::sink())? {
        got if got == n => Ok(n),
        _ => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

/// A reader of one zstd frame's content that refuses to produce more than `expected` bytes
/// (a frame that inflates beyond what the index declares is a bomb or a corruption).
pub fn frame_reader<'a, R: io::BufRead + Send + 'a>(
    src: R,
    expected: u64,
) -> io::Result<impl Read + Send + 'a> {
    let mut dec = zstd::stream::read::Decoder::with_buffer(src)?.single_frame();
    dec.window_log_max(MAX_WINDOW_LOG)?;
    Ok(bounded(dec, expected))
}

/// `inner`, refusing to give more or fewer than `expected` bytes.
pub fn bounded<R: Read>(inner: R, expected: u64) -> impl Read {
    BoundedRead {
        inner,
        left: expected,
    }
}

struct BoundedRead<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for BoundedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Anything more than declared is an error, not silently dropped.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame holds more data than the index declares",
                )),
            };
        }
        let cap = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "frame holds less data than the index declares",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_frames_decode_with_libzstd() {
        for len in [0usize, 1, 511, RAW_BLOCK, RAW_BLOCK + 1, 3 * RAW_BLOCK + 77] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut frame = Vec::new();
            write_stored(&mut frame, &mut &data[..], len as u64).unwrap();
            let out = zstd::stream::decode_all(&frame[..]).unwrap();
            assert_eq!(out, data, "len {len}");
            // a flipped content byte must fail the checksum
            if len > 0 {
                let mut bad = frame.clone();
                let n = bad.len();
                bad[n - 6] ^= 1;
                assert!(zstd::stream::decode_all(&bad[..]).is_err());
            }
        }
    }

    #[test]
    fn a_frame_is_passed_over_to_its_last_byte_without_decoding() {
        let data: Vec<u8> = (0..700_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        let mut frames = Vec::new();
        write_stored(&mut frames, &mut &data[..], data.len() as u64).unwrap();
        let stored = frames.len();
        write_compressed_long(&mut frames, &mut &data[..], data.len() as u64, 3, 20).unwrap();
        write_compressed(&mut frames, &mut &[0u8; 100_000][..], 100_000, 19).unwrap();
        write_compressed(&mut frames, &mut &b""[..], 0, 3).unwrap();
        frames.extend_from_slice(b"after");
        let mut src = &frames[..];
        let mut spans = Vec::new();
        for _ in 0..4 {
            spans.push(skip_frame(&mut src).unwrap());
        }
        assert_eq!(spans[0], stored as u64);
        assert_eq!(src, b"after", "{spans:?}");
        // Cut short, or not a frame: refused, never taken for one.
        for cut in [3, 7, stored / 2, stored - 1] {
            let e = skip_frame(&mut &frames[..cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        let mut garbage = frames.clone();
        garbage[0] ^= 1;
        let e = skip_frame(&mut &garbage[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // A block of the reserved type.
        let mut reserved = frames[..stored].to_vec();
        reserved[14] |= 0b110;
        let e = skip_frame(&mut &reserved[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn bounded_reader_rejects_more_than_declared() {
        let mut frame = Vec::new();
        write_compressed(&mut frame, &mut &[7u8; 10000][..], 10000, 3).unwrap();
        let mut out = Vec::new();
        assert!(frame_reader(&frame[..], 100)
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
        out.clear();
        frame_reader(&frame[..], 10000)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 10000);
    }
}
