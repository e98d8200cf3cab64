//! What every deflate encoder here shares: RFC 1951's codes and tables, Go's Huffman code
//! builder (which the klauspost lineage kept), the bit writer and the dynamic block header.
//! Each encoder differs from the others only in what it builds on these.

pub mod bits;
pub mod codes;
pub mod huffman;

/// The shortest and longest match, and the nearest distance.
pub const BASE_MATCH_LENGTH: i64 = 3;
pub const MAX_MATCH_LENGTH: i64 = 258;
pub const BASE_MATCH_OFFSET: i64 = 1;
/// The most bytes a stored block holds.
pub const MAX_STORE_BLOCK_SIZE: usize = 65535;
/// Literal/length codes in use: 256 literals, end of block, 29 lengths.
pub const MAX_NUM_LIT: usize = 286;

/// How many of the first `max` bytes of `a` and `b` are equal; eight at a time, since this is
/// where every encoder spends most of its time.
pub fn match_len(a: &[u8], b: &[u8], max: usize) -> i64 {
    let (a, b) = (&a[..max], &b[..max]);
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff = u64::from_le_bytes(x.try_into().unwrap_or_default())
            ^ u64::from_le_bytes(y.try_into().unwrap_or_default());
        if diff != 0 {
            return (n + diff.trailing_zeros() as usize / 8) as i64;
        }
        n += 8;
    }
    (n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(x, y)| x == y)
        .count()) as i64
}
