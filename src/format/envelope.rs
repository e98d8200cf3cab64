//! The bytes around the tar members: the header frame that starts a bundle and the seek index
//! frame that ends it (docs/FORMAT.md, "File layout"). Written by `writer`, read back by `reader`
//! (from the end, by position) and `stream` (front to back): all three use these functions.

use super::frames::{SKIPPABLE_HEADER_MAGIC, SKIPPABLE_INDEX_MAGIC};
use super::{SeekIndex, FORMAT_VERSION, HEADER_MAGIC, INDEX_TRAILER_MAGIC};
use sha2::{Digest as _, Sha256};

/// The header frame: skippable-frame magic, length 8, `OCIBNDL`, the format version.
pub const HEADER_LEN: u64 = 16;
/// After the index JSON: its sha256 (32), its length (8), the trailer magic (8).
pub const INDEX_SUFFIX_LEN: u64 = 48;
/// The skippable-frame head of the index frame: magic and length.
pub const FRAME_HEAD_LEN: u64 = 8;
/// The last bytes of a bundle: the index length and the trailer magic.
pub const TRAILER_LEN: u64 = 16;
/// The index is small (a few hundred bytes per blob); anything far larger is not ours.
pub const MAX_INDEX_BYTES: u64 = 256 * 1024 * 1024;

pub fn header_bytes() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(&SKIPPABLE_HEADER_MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&8u32.to_le_bytes());
    h[8..15].copy_from_slice(HEADER_MAGIC);
    h[15] = FORMAT_VERSION as u8;
    h
}

#[derive(Debug, PartialEq)]
pub enum HeaderError {
    NotABundle,
    Newer(u32),
}

/// The format version a header announces.
pub fn parse_header(head: &[u8]) -> Result<u32, HeaderError> {
    if head.len() < HEADER_LEN as usize
        || head[..4] != SKIPPABLE_HEADER_MAGIC.to_le_bytes()
        || head[4..8] != 8u32.to_le_bytes()
        || &head[8..15] != HEADER_MAGIC
    {
        return Err(HeaderError::NotABundle);
    }
    match u32::from(head[15]) {
        v if v > FORMAT_VERSION => Err(HeaderError::Newer(v)),
        v => Ok(v),
    }
}

/// The payload of the index frame for this index JSON.
pub fn index_payload(json: &[u8]) -> Vec<u8> {
    let mut payload = json.to_vec();
    payload.extend_from_slice(&Sha256::digest(json));
    payload.extend_from_slice(&(json.len() as u64).to_le_bytes());
    payload.extend_from_slice(INDEX_TRAILER_MAGIC);
    payload
}

/// The index JSON's length, from the last 16 bytes of a file; None when the trailer magic is
/// not there.
pub fn parse_trailer(tail: &[u8; TRAILER_LEN as usize]) -> Option<u64> {
    (&tail[8..] == INDEX_TRAILER_MAGIC)
        .then(|| u64::from_le_bytes(tail[..8].try_into().unwrap_or_default()))
}

/// Whether an index frame's 8-byte head announces a payload of `payload_len` bytes.
pub fn frame_head_matches(head: &[u8; FRAME_HEAD_LEN as usize], payload_len: u64) -> bool {
    head[..4] == SKIPPABLE_INDEX_MAGIC.to_le_bytes()
        && u64::from(u32::from_le_bytes(head[4..].try_into().unwrap_or_default())) == payload_len
}

/// The payload length an index frame's head announces, if it is an index frame of a size we
/// accept.
pub fn index_frame_len(head: &[u8; FRAME_HEAD_LEN as usize]) -> Option<u64> {
    let len = u64::from(u32::from_le_bytes(head[4..].try_into().unwrap_or_default()));
    (head[..4] == SKIPPABLE_INDEX_MAGIC.to_le_bytes()
        && (INDEX_SUFFIX_LEN..=MAX_INDEX_BYTES + INDEX_SUFFIX_LEN).contains(&len))
    .then_some(len)
}

/// Check an index frame's payload (JSON, checksum, length, trailer) and parse the index.
pub fn parse_index_payload(payload: &[u8]) -> Result<SeekIndex, String> {
    let n = payload
        .len()
        .checked_sub(INDEX_SUFFIX_LEN as usize)
        .ok_or("the index frame is too short")?;
    let (json, rest) = payload.split_at(n);
    if Sha256::digest(json).as_slice() != &rest[..32]
        || rest[32..40] != (n as u64).to_le_bytes()
        || &rest[40..] != INDEX_TRAILER_MAGIC
    {
        return Err("its checksum or trailer does not match".into());
    }
    serde_json::from_slice(json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_index_round_trip() {
        assert_eq!(parse_header(&header_bytes()), Ok(FORMAT_VERSION));
        let mut newer = header_bytes();
        newer[15] = 9;
        assert_eq!(parse_header(&newer), Err(HeaderError::Newer(9)));
        assert_eq!(
            parse_header(b"not a bundle at all"),
            Err(HeaderError::NotABundle)
        );
        let index = SeekIndex {
            format_version: 1,
            body_sha256: "00".into(),
            members: vec![],
        };
        let payload = index_payload(&serde_json::to_vec(&index).unwrap());
        assert_eq!(parse_index_payload(&payload).unwrap(), index);
        let mut bad = payload.clone();
        bad[0] ^= 1;
        assert!(parse_index_payload(&bad).is_err());
        let tail: [u8; 16] = payload[payload.len() - 16..].try_into().unwrap();
        assert_eq!(parse_trailer(&tail), Some(payload.len() as u64 - 48));
    }
}
