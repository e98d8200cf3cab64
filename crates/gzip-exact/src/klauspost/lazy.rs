//! Levels 7–9: hash chains and lazy matching over a 64 KiB sliding window, with the lineage's
//! additions: a second look for a longer match where the chosen one ends, skipping ahead
//! through long literal runs, and (level 9) accepting a longer match only when an estimate of
//! its bits beats the literals it replaces.

use super::tokens::Tokens;
use super::writer::BitWriter;
use crate::deflate::bits::{LENGTH_EXTRA_BITS, OFFSET_EXTRA_BITS};
use crate::deflate::codes::{length_code, offset_code};
use crate::deflate::huffman::Encoder;

const WINDOW_SIZE: i32 = 1 << 15;
const WINDOW_MASK: i32 = WINDOW_SIZE - 1;
const MIN_MATCH_LENGTH: i32 = 4;
const MAX_MATCH_LENGTH: i32 = 258;
const MAX_FLATE_BLOCK_TOKENS: usize = 1 << 15;
const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const MAX_HASH_OFFSET: i32 = 1 << 28;
const PRIME4: u32 = 2_654_435_761;

fn hash4(b: &[u8]) -> usize {
    let u = u32::from_le_bytes(b[..4].try_into().unwrap_or_default());
    (u.wrapping_mul(PRIME4) >> (32 - HASH_BITS)) as usize
}

/// The extra bits of the distance code Go's table gives `off`, which is the distance itself
/// here (not distance - 1), and for 32768 wraps to code 14.
fn offset_extra_bits(off: u32) -> i64 {
    let code = if off < 1 << 15 {
        offset_code(off)
    } else {
        offset_code((off >> 7) & 0xff) + 14
    };
    i64::from(OFFSET_EXTRA_BITS[code as usize])
}

pub struct Lazy {
    lazy: i32,
    nice: i32,
    chain: i32,
    pub window: Vec<u8>,
    pub window_end: i32,
    length: i32,
    offset: i32,
    max_insert_index: i32,
    chain_head: i32,
    hash_offset: i32,
    literal_counter: u16,
    index: i32,
    block_start: i32,
    byte_available: bool,
    hash_head: Vec<i32>,
    hash_prev: Vec<i32>,
    /// Level 9's literal costs, from the histogram of the input ahead.
    h: Encoder,
}

/// The outputs a lazy step writes to.
pub struct Out<'a> {
    pub w: &'a mut BitWriter,
    pub tokens: &'a mut Tokens,
    pub sync: bool,
}

impl Lazy {
    pub fn new(level: i32) -> Lazy {
        let (lazy, nice, chain) = match level {
            7 => (12, 16, 24),
            8 => (30, 40, 64),
            _ => (258, 258, 1024),
        };
        Lazy {
            lazy,
            nice,
            chain,
            window: vec![0; 2 * WINDOW_SIZE as usize],
            window_end: 0,
            length: MIN_MATCH_LENGTH - 1,
            offset: 0,
            max_insert_index: 0,
            chain_head: -1,
            hash_offset: 1,
            literal_counter: 0,
            index: 0,
            block_start: 0,
            byte_available: false,
            hash_head: vec![0; HASH_SIZE],
            hash_prev: vec![0; WINDOW_SIZE as usize],
            h: Encoder::new(256),
        }
    }

    /// Appends to the window, first sliding it down by 32 KiB when the index nears its end
    /// (and rebasing the chains before positions overflow); how many bytes were taken.
    pub fn fill(&mut self, b: &[u8]) -> usize {
        if self.index >= 2 * WINDOW_SIZE - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
            let w = WINDOW_SIZE as usize;
            self.window.copy_within(w..2 * w, 0);
            self.index -= WINDOW_SIZE;
            self.window_end -= WINDOW_SIZE;
            self.block_start = if self.block_start >= WINDOW_SIZE {
                self.block_start - WINDOW_SIZE
            } else {
                i32::MAX
            };
            self.hash_offset += WINDOW_SIZE;
            if self.hash_offset > MAX_HASH_OFFSET {
                let delta = self.hash_offset - 1;
                self.hash_offset -= delta;
                self.chain_head -= delta;
                for v in self.hash_prev.iter_mut().chain(self.hash_head.iter_mut()) {
                    *v = (*v - delta).max(0);
                }
            }
        }
        let end = self.window_end as usize;
        let n = b.len().min(self.window.len() - end);
        self.window[end..end + n].copy_from_slice(&b[..n]);
        self.window_end += n as i32;
        n
    }

    pub fn full(&self) -> bool {
        self.window_end as usize == self.window.len()
    }

    /// The tokens so far as a block ending at `index`, with its input when still in the
    /// window.
    fn write_block(&mut self, o: &mut Out, index: i32) {
        if index > 0 {
            let input = (self.block_start <= index)
                .then(|| &self.window[self.block_start as usize..index as usize]);
            self.block_start = index;
            o.w.write_block_dynamic(o.tokens, false, input, o.sync);
        }
        o.tokens.reset();
    }

    fn write_if_full(&mut self, o: &mut Out) {
        if o.tokens.n() == MAX_FLATE_BLOCK_TOKENS {
            self.write_block(o, self.index);
        }
    }

    fn insert(&mut self, at: i32) {
        let h = hash4(&self.window[at as usize..]);
        let ch = self.hash_head[h];
        self.chain_head = ch;
        self.hash_prev[(at & WINDOW_MASK) as usize] = ch;
        self.hash_head[h] = at + self.hash_offset;
    }

    /// Go's deflateLazy: runs while at least a maximal match of lookahead is buffered (to the
    /// end when syncing).
    pub fn step(&mut self, o: &mut Out) {
        if self.window_end - self.index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !o.sync {
            return;
        }
        if self.window_end != self.index && self.chain > 100 {
            let mut tmp = [0i32; 256];
            let ahead = &self.window[self.index as usize..self.window_end as usize];
            for &v in &ahead[..ahead.len().min(MAX_FLATE_BLOCK_TOKENS)] {
                tmp[v as usize] += 1;
            }
            self.h.generate(&tmp, 15);
        }
        self.max_insert_index = self.window_end - (MIN_MATCH_LENGTH - 1);
        loop {
            let lookahead = self.window_end - self.index;
            if lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH {
                if !o.sync {
                    return;
                }
                if lookahead == 0 {
                    if self.byte_available {
                        o.tokens.add_literal(self.window[self.index as usize - 1]);
                        self.byte_available = false;
                    }
                    if o.tokens.n() > 0 {
                        self.write_block(o, self.index);
                    }
                    return;
                }
            }
            if self.index < self.max_insert_index {
                self.insert(self.index);
            }
            let prev_length = self.length;
            let prev_offset = self.offset;
            self.length = MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = (self.index - WINDOW_SIZE).max(0);
            let head = self.chain_head - self.hash_offset;
            if head >= min_index && lookahead > prev_length && prev_length < self.lazy {
                if let Some((l, off)) = self.find_match(self.index, head, lookahead) {
                    self.length = l;
                    self.offset = off;
                }
            }
            if prev_length >= MIN_MATCH_LENGTH && self.length <= prev_length {
                self.emit_previous(o, prev_length, prev_offset, lookahead);
                continue;
            }
            if self.length >= MIN_MATCH_LENGTH {
                self.literal_counter = 0;
            }
            if self.byte_available {
                self.literal_counter = self.literal_counter.wrapping_add(1);
                o.tokens.add_literal(self.window[self.index as usize - 1]);
                self.write_if_full(o);
                self.index += 1;
                self.skip_literals(o);
            } else {
                self.index += 1;
                self.byte_available = true;
            }
        }
    }

    /// The previous position's match won: emit it (perhaps improved at its end) and hash
    /// the positions it covers.
    fn emit_previous(&mut self, o: &mut Out, prev_length: i32, prev_offset: i32, lookahead: i32) {
        let (prev_length, prev_offset) =
            self.try_better_match_at_end(o, prev_length, prev_offset, lookahead);
        o.tokens
            .add_match((prev_length - 3) as u32, (prev_offset - 1) as u32);
        let new_index = self.index + prev_length - 1;
        let end = new_index.min(self.max_insert_index) + MIN_MATCH_LENGTH - 1;
        let start = (self.index + 1).min(self.max_insert_index);
        for di in start..=end - MIN_MATCH_LENGTH {
            let h = hash4(&self.window[di as usize..]);
            self.hash_prev[(di & WINDOW_MASK) as usize] = self.hash_head[h];
            self.hash_head[h] = di + self.hash_offset;
        }
        self.index = new_index;
        self.byte_available = false;
        self.length = MIN_MATCH_LENGTH - 1;
        self.write_if_full(o);
        self.literal_counter = 0;
    }

    fn find_match(&self, pos: i32, prev_head: i32, lookahead: i32) -> Option<(i32, i32)> {
        let min_match_look = lookahead.min(MAX_MATCH_LENGTH);
        let win = &self.window[..(pos + min_match_look) as usize];
        let nice = self.nice.min(win.len() as i32 - pos);
        let mut length = MIN_MATCH_LENGTH - 1;
        let mut w_end = win[(pos + length) as usize];
        let w_pos = &win[pos as usize..];
        let min_index = (pos - WINDOW_SIZE).max(0);
        let mut found = None;
        let mut c_gain = 4i64;
        const BASE_COST: i64 = 3;
        let mut i = prev_head;
        let mut tries = self.chain;
        while tries > 0 {
            if w_end == win[(i + length) as usize] {
                let n =
                    crate::deflate::match_len(&win[i as usize..], w_pos, min_match_look as usize)
                        as i32;
                let mut take = n > length;
                if take && self.chain >= 100 {
                    let literal_bits: i64 = w_pos[..n as usize]
                        .iter()
                        .map(|&b| i64::from(self.h.codes[b as usize].len.max(1)))
                        .sum();
                    let new_gain = literal_bits
                        - offset_extra_bits((pos - i) as u32)
                        - BASE_COST
                        - i64::from(LENGTH_EXTRA_BITS[length_code((n - 3) as u32) as usize]);
                    take = new_gain > c_gain;
                    if take {
                        c_gain = new_gain;
                    }
                }
                if take {
                    length = n;
                    found = Some((n, pos - i));
                    if n >= nice {
                        break;
                    }
                    w_end = win[(pos + n) as usize];
                }
            }
            if i <= min_index {
                break;
            }
            i = self.hash_prev[(i & WINDOW_MASK) as usize] - self.hash_offset;
            if i < min_index {
                break;
            }
            tries -= 1;
        }
        found
    }

    /// A match found where the previous one ends, reaching further, may replace it: up to two
    /// literals are emitted first when its start does not extend back that far.
    fn try_better_match_at_end(
        &mut self,
        o: &mut Out,
        prev_length: i32,
        prev_offset: i32,
        lookahead: i32,
    ) -> (i32, i32) {
        const CHECK_OFF: i32 = 2;
        if prev_length >= MAX_MATCH_LENGTH - CHECK_OFF {
            return (prev_length, prev_offset);
        }
        let prev_index = self.index - 1;
        if prev_index + prev_length >= self.max_insert_index {
            return (prev_length, prev_offset);
        }
        let end = lookahead.min(MAX_MATCH_LENGTH + CHECK_OFF) + prev_index;
        let min_index = (self.index - WINDOW_SIZE).max(0);
        let h = hash4(&self.window[(prev_index + prev_length) as usize..]);
        let ch2 = self.hash_head[h] - self.hash_offset - prev_length;
        if prev_index - ch2 == prev_offset || ch2 <= min_index + CHECK_OFF {
            return (prev_length, prev_offset);
        }
        let a = (prev_index + CHECK_OFF) as usize;
        let length = crate::deflate::match_len(
            &self.window[a..],
            &self.window[(ch2 + CHECK_OFF) as usize..],
            end as usize - a,
        ) as i32;
        if length <= prev_length {
            return (prev_length, prev_offset);
        }
        let mut prev_length = length;
        let prev_offset = prev_index - ch2;
        for i in (0..CHECK_OFF).rev() {
            let (x, y) = ((prev_index + i) as usize, (ch2 + i) as usize);
            if prev_length >= MAX_MATCH_LENGTH || self.window[x] != self.window[y] {
                for j in 0..=i {
                    o.tokens.add_literal(self.window[(prev_index + j) as usize]);
                    self.write_if_full(o);
                    self.index += 1;
                    if self.index < self.max_insert_index {
                        self.insert(self.index);
                    }
                }
                break;
            }
            prev_length += 1;
        }
        (prev_length, prev_offset)
    }

    /// Through a long run of literals, emit several per step without searching.
    fn skip_literals(&mut self, o: &mut Out) {
        let n = i32::from(self.literal_counter) - self.chain;
        if n <= 0 {
            return;
        }
        for _ in 0..1 + (n >> 6) {
            if self.index >= self.window_end - 1 {
                break;
            }
            o.tokens.add_literal(self.window[self.index as usize - 1]);
            self.write_if_full(o);
            if self.index < self.max_insert_index {
                self.insert(self.index);
            }
            self.index += 1;
        }
        o.tokens.add_literal(self.window[self.index as usize - 1]);
        self.byte_available = false;
        self.write_if_full(o);
    }
}
