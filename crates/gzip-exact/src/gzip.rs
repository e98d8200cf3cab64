//! The gzip member around a deflate stream (RFC 1952): its header's length, its trailer, and
//! the header byte Go's gzip.Writer derives from the level.

use std::io::Read;

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

/// A gzip member's trailer for `raw`: CRC-32, then the size modulo 2^32.
pub fn trailer(raw: &[u8]) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&crc32fast::hash(raw).to_le_bytes());
    t[4..].copy_from_slice(&(raw.len() as u32).to_le_bytes());
    t
}

/// The XFL byte Go's gzip.Writer puts in the header for a level: 2 for BestCompression, 4 for
/// BestSpeed, 0 otherwise.
pub fn xfl(level: i32) -> u8 {
    match level {
        9 => 2,
        1 => 4,
        _ => 0,
    }
}
