//! BestSpeed (level 1) as Go's deflatefast.go encodes it, Go 1.15–1.26: a Snappy-like single
//! hash table of 4-byte values, matches across the previous block, and the offset shift that
//! keeps positions in 32 bits past about 2 GB of input.

use super::token::Token;
use crate::deflate::{
    BASE_MATCH_LENGTH, BASE_MATCH_OFFSET, MAX_MATCH_LENGTH, MAX_STORE_BLOCK_SIZE,
};

const TABLE_BITS: u32 = 14;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const TABLE_MASK: u32 = (TABLE_SIZE - 1) as u32;
const TABLE_SHIFT: u32 = 32 - TABLE_BITS;
const MAX_MATCH_OFFSET: i32 = 1 << 15;
const BUFFER_RESET: i32 = i32::MAX - MAX_STORE_BLOCK_SIZE as i32 * 2;
const INPUT_MARGIN: i32 = 16 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN as usize;

#[derive(Clone, Copy, Default)]
struct Entry {
    val: u32,
    offset: i32,
}

pub struct Fast {
    table: Vec<Entry>,
    prev: Vec<u8>,
    cur: i32,
}

fn load32(b: &[u8], i: i32) -> u32 {
    let i = i as usize;
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn load64(b: &[u8], i: i32) -> u64 {
    let i = i as usize;
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]))
}

fn hash(u: u32) -> u32 {
    u.wrapping_mul(0x1e35a7bd) >> TABLE_SHIFT
}

fn literals(dst: &mut Vec<Token>, lit: &[u8]) {
    dst.extend(lit.iter().map(|&b| Token::literal_token(u32::from(b))));
}

impl Default for Fast {
    fn default() -> Self {
        Fast {
            table: vec![Entry::default(); TABLE_SIZE],
            prev: Vec::with_capacity(MAX_STORE_BLOCK_SIZE),
            cur: MAX_STORE_BLOCK_SIZE as i32,
        }
    }
}

impl Fast {
    /// The tokens of one block of at most 64 KiB.
    pub fn encode(&mut self, dst: &mut Vec<Token>, src: &[u8]) {
        if self.cur >= BUFFER_RESET {
            self.shift_offsets();
        }
        if src.len() < MIN_NON_LITERAL_BLOCK_SIZE {
            self.cur += MAX_STORE_BLOCK_SIZE as i32;
            self.prev.clear();
            literals(dst, src);
            return;
        }
        let next_emit = self.matches(dst, src);
        if (next_emit as usize) < src.len() {
            literals(dst, &src[next_emit as usize..]);
        }
        self.cur += src.len() as i32;
        self.prev.clear();
        self.prev.extend_from_slice(src);
    }

    /// The block's matches and the literals between them; returns where the literals left at
    /// its end begin.
    fn matches(&mut self, dst: &mut Vec<Token>, src: &[u8]) -> i32 {
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut next_emit = 0i32;
        let mut s = 0i32;
        let mut cv = load32(src, s);
        let mut next_hash = hash(cv);
        loop {
            // Look for a match, skipping ahead faster the longer none is found.
            let mut skip = 32i32;
            let mut next_s = s;
            let mut candidate;
            loop {
                s = next_s;
                let between = skip >> 5;
                next_s = s + between;
                skip += between;
                if next_s > s_limit {
                    return next_emit;
                }
                candidate = self.table[(next_hash & TABLE_MASK) as usize];
                let now = load32(src, next_s);
                self.table[(next_hash & TABLE_MASK) as usize] = Entry {
                    offset: s + self.cur,
                    val: cv,
                };
                next_hash = hash(now);
                let offset = s - (candidate.offset - self.cur);
                if offset > MAX_MATCH_OFFSET || cv != candidate.val {
                    cv = now;
                    continue;
                }
                break;
            }
            literals(dst, &src[next_emit as usize..s as usize]);
            // Emit the match and any that follow it immediately.
            loop {
                s += 4;
                let t = candidate.offset - self.cur + 4;
                let l = self.match_len(s, t, src);
                dst.push(Token::match_token(
                    (i64::from(l) + 4 - BASE_MATCH_LENGTH) as u32,
                    (i64::from(s - t) - BASE_MATCH_OFFSET) as u32,
                ));
                s += l;
                next_emit = s;
                if s >= s_limit {
                    return next_emit;
                }
                let mut x = load64(src, s - 1);
                let prev_hash = hash(x as u32);
                self.table[(prev_hash & TABLE_MASK) as usize] = Entry {
                    offset: self.cur + s - 1,
                    val: x as u32,
                };
                x >>= 8;
                let curr_hash = hash(x as u32);
                candidate = self.table[(curr_hash & TABLE_MASK) as usize];
                self.table[(curr_hash & TABLE_MASK) as usize] = Entry {
                    offset: self.cur + s,
                    val: x as u32,
                };
                let offset = s - (candidate.offset - self.cur);
                if offset > MAX_MATCH_OFFSET || x as u32 != candidate.val {
                    cv = (x >> 8) as u32;
                    next_hash = hash(cv);
                    s += 1;
                    break;
                }
            }
        }
    }

    /// How many bytes from `s` match those from `t`, which may lie in the previous block
    /// (`t` < 0), up to 254 more than the 4 already known.
    fn match_len(&self, s: i32, t: i32, src: &[u8]) -> i32 {
        let s1 = (s as usize + MAX_MATCH_LENGTH as usize - 4).min(src.len());
        let a = &src[s as usize..s1];
        if t >= 0 {
            let b = &src[t as usize..t as usize + a.len()];
            return common(a, b) as i32;
        }
        let tp = self.prev.len() as i32 + t;
        if tp < 0 {
            return 0;
        }
        let b = &self.prev[tp as usize..];
        let b = &b[..b.len().min(a.len())];
        let n = common(&a[..b.len()], b);
        if n < b.len() {
            return n as i32;
        }
        if s as usize + n == s1 {
            return n as i32;
        }
        let rest = &src[s as usize + n..s1];
        (common(rest, &src[..rest.len()]) + n) as i32
    }

    /// After a block written without this encoder: nothing before it may be referred to.
    pub fn reset(&mut self) {
        self.prev.clear();
        self.cur += MAX_MATCH_OFFSET;
        if self.cur >= BUFFER_RESET {
            self.shift_offsets();
        }
    }

    fn shift_offsets(&mut self) {
        if self.prev.is_empty() {
            self.table.iter_mut().for_each(|e| *e = Entry::default());
            self.cur = MAX_MATCH_OFFSET + 1;
            return;
        }
        for e in self.table.iter_mut() {
            e.offset = (e.offset - self.cur + MAX_MATCH_OFFSET + 1).max(0);
        }
        self.cur = MAX_MATCH_OFFSET + 1;
    }
}

fn common(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}
