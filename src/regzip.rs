//! Which encoder made a gzip stream, and the stream rebuilt from its uncompressed bytes: the
//! check that lets `--compact` store a layer decompressed and hand back the exact gzip bytes.
//! Only a producer that is reproduced byte for byte counts; anything else is "unknown" and is
//! stored as it came.

use crate::goflate::{deflate, trailer};
use std::io::Read;

/// An encoder this module can run again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Producer {
    /// Go's compress/gzip, Go 1.8–1.26, at a Go level (-2 HuffmanOnly … 9).
    Go { level: i32 },
}

/// What rebuilds a stream: its producer and its header bytes as they were (mtime, OS, name).
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub producer: Producer,
    pub header: Vec<u8>,
}

/// How far into the uncompressed bytes a candidate is tried before it is run on all of them.
const PREFIX: usize = 1 << 20;

/// The length of a gzip member's header (RFC 1952: the 10 fixed bytes and the optional extra
/// field, name, comment and header CRC), if `gz` starts with one.
pub fn header_len(gz: &[u8]) -> Option<usize> {
    if gz.len() < 18 || gz[..3] != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = gz[3];
    if flags & 0xe0 != 0 {
        return None;
    }
    let mut at = 10;
    if flags & 4 != 0 {
        let xlen = u16::from_le_bytes([*gz.get(at)?, *gz.get(at + 1)?]) as usize;
        at += 2 + xlen;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            at += gz.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at + 8 <= gz.len()).then_some(at)
}

/// The uncompressed bytes of a single-member gzip stream whose trailer checks out, if there
/// are at most `max` of them: a small layer can inflate to anything, and this is held in
/// memory.
pub fn inflate(gz: &[u8], max: u64) -> Option<Vec<u8>> {
    let at = header_len(gz)?;
    let mut dec = flate2::read::DeflateDecoder::new(&gz[at..]);
    let mut raw = Vec::new();
    (&mut dec).take(max + 1).read_to_end(&mut raw).ok()?;
    if raw.len() as u64 > max {
        return None;
    }
    // The deflate stream must end exactly where the 8-byte trailer begins: one member only.
    let used = dec.total_in() as usize;
    let trailer_bytes = gz.get(at + used..)?;
    (trailer_bytes == trailer(&raw)).then_some(raw)
}

/// Go levels worth trying for a header: those whose XFL (`goflate::xfl`) it carries, BestSpeed
/// (4) or BestCompression (2) alone, or the rest (0), the default level 6 first, far more
/// common than any other.
fn go_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        0 => &[6, 5, 4, 3, 2, 7, 8, -2, 0],
        _ => &[],
    }
}

/// Who made `gz`, if it is one of the producers rebuilt here, proven by rebuilding all of it.
/// `raw` is its uncompressed content (`inflate`). Each candidate is tried on the first MiB
/// first, so a wrong guess costs little.
pub fn identify(gz: &[u8], raw: &[u8]) -> Option<Recipe> {
    let at = header_len(gz)?;
    let stream = &gz[at..gz.len() - 8];
    // Go writes exactly this header: no flags, mtime as given, its XFL, OS 255.
    let (flags, xfl, os) = (gz[3], gz[8], gz[9]);
    if flags != 0 || os != 255 {
        return None;
    }
    for &level in go_candidates(xfl) {
        let prefix = deflate(raw, level, Some(PREFIX))?;
        if !stream.starts_with(&prefix) {
            continue;
        }
        if deflate(raw, level, None)?.as_slice() == stream {
            return Some(Recipe {
                producer: Producer::Go { level },
                header: gz[..at].to_vec(),
            });
        }
    }
    None
}

/// The gzip stream again, from its uncompressed bytes and recipe.
pub fn rebuild(raw: &[u8], recipe: &Recipe) -> Option<Vec<u8>> {
    let Producer::Go { level } = recipe.producer;
    let mut out = recipe.header.clone();
    out.extend_from_slice(&deflate(raw, level, None)?);
    out.extend_from_slice(&trailer(raw));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_goflate_wrote_is_identified_and_rebuilt() {
        let raw: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8)
            .collect();
        for level in [1, 6, 9] {
            let gz = crate::goflate::gzip(&raw, level).unwrap();
            assert_eq!(inflate(&gz, raw.len() as u64 - 1), None, "over the limit");
            let back = inflate(&gz, 1 << 30).unwrap();
            assert_eq!(back, raw);
            let r = identify(&gz, &back).expect("identified");
            assert_eq!(r.producer, Producer::Go { level });
            assert_eq!(rebuild(&back, &r).unwrap(), gz);
        }
        // A stream by another encoder is not claimed.
        let mut other = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        std::io::Write::write_all(&mut other, &raw).unwrap();
        let gz = other.finish().unwrap();
        let back = inflate(&gz, 1 << 30).unwrap();
        assert_eq!(identify(&gz, &back), None);
    }
}
