//! The match finders of levels 1–6 (klauspost's fastEncL1–L6, Go 1.27's levels): hash tables
//! of recent positions over a history buffer, no chains. Each level's probing order and table
//! updates decide which matches are found, so each is followed step by step.

use super::tokens::Tokens;

const TABLE_BITS: u32 = 15;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const L2_TABLE_BITS: u32 = 17;
const L3_TABLE_BITS: u32 = 16;
const HASH_LONG_BYTES: u32 = 7;
const BASE_MATCH_OFFSET: i32 = 1;
const MAX_MATCH_LENGTH: i32 = 258;
pub const MAX_MATCH_OFFSET: i32 = 1 << 15;
const MAX_STORE_BLOCK_SIZE: i32 = 65535;
const ALLOC_HISTORY: usize = MAX_STORE_BLOCK_SIZE as usize * 5;
const BUFFER_RESET: i32 =
    ((1i64 << 31) - ALLOC_HISTORY as i64 - MAX_STORE_BLOCK_SIZE as i64 - 1) as i32;
const INPUT_MARGIN: i32 = 12 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN as usize;

const PRIME3: u32 = 506_832_829;
const PRIME4: u32 = 2_654_435_761;
const PRIME5: u64 = 889_523_592_379;
const PRIME6: u64 = 227_718_039_650_203;
const PRIME7: u64 = 58_295_818_150_454_627;

/// The hash of the low `n` bytes of `u` in `b` bits.
#[inline(always)]
fn hash_len(u: u64, b: u32, n: u32) -> usize {
    let h = match n {
        3 => ((u as u32) << 8).wrapping_mul(PRIME3) >> (32 - b),
        5 => ((u << (64 - 40)).wrapping_mul(PRIME5) >> (64 - b)) as u32,
        6 => ((u << (64 - 48)).wrapping_mul(PRIME6) >> (64 - b)) as u32,
        7 => ((u << (64 - 56)).wrapping_mul(PRIME7) >> (64 - b)) as u32,
        _ => (u as u32).wrapping_mul(PRIME4) >> (32 - b),
    };
    h as usize
}

#[inline(always)]
fn ld32(src: &[u8], i: i32) -> u32 {
    let i = i as usize;
    u32::from_le_bytes(src[i..i + 4].try_into().unwrap_or_default())
}

#[inline(always)]
fn ld64(src: &[u8], i: i32) -> u64 {
    let i = i as usize;
    u64::from_le_bytes(src[i..i + 8].try_into().unwrap_or_default())
}

/// How many bytes from `s` equal those from `t` (t < s), up to the end of `src`.
fn match_len_long(src: &[u8], s: i32, t: i32) -> i32 {
    let max = src.len() - s as usize;
    crate::deflate::match_len(&src[s as usize..], &src[t as usize..], max) as i32
}

/// Like `match_len_long`, at most 254 bytes (so the whole match fits one token).
fn match_len_limited(src: &[u8], s: i32, t: i32) -> i32 {
    let max = (src.len() - s as usize).min(MAX_MATCH_LENGTH as usize - 4);
    crate::deflate::match_len(&src[s as usize..], &src[t as usize..], max) as i32
}

/// A position's table entry: the current one and, for two-way tables, the one before.
#[derive(Clone, Copy, Default)]
struct Entry {
    cur: i32,
    prev: i32,
}

pub struct Fast {
    level: i32,
    /// klauspost/compress before 1.18.0 has level 4 compare a second candidate from its
    /// position; 1.18.0 on and Go 1.27 from its distance.
    from_position: bool,
    hist: Vec<u8>,
    /// Table offsets are positions in `hist` plus `cur`, so the history can move without
    /// rewriting the tables.
    cur: i32,
    table: Vec<Entry>,
    b_table: Vec<Entry>,
}

impl Fast {
    pub fn new(level: i32, from_position: bool) -> Fast {
        let (table, b_table) = match level {
            1 => (TABLE_SIZE, 0),
            2 => (1 << L2_TABLE_BITS, 0),
            3 => (1 << L3_TABLE_BITS, 0),
            _ => (TABLE_SIZE, TABLE_SIZE),
        };
        Fast {
            level,
            from_position,
            hist: Vec::new(),
            cur: MAX_STORE_BLOCK_SIZE,
            table: vec![Entry::default(); table],
            b_table: vec![Entry::default(); b_table],
        }
    }

    /// Forget the history (a flush of a tiny block); positions keep increasing.
    pub fn reset(&mut self) {
        if self.cur <= BUFFER_RESET {
            self.cur += MAX_MATCH_OFFSET + self.hist.len() as i32;
        }
        self.hist.clear();
    }

    /// Appends `src` to the history, keeping only the last 32 KiB when it would outgrow its
    /// allocation; where `src` starts in it.
    fn add_block(&mut self, src: &[u8]) -> i32 {
        if self.hist.len() + src.len() > ALLOC_HISTORY {
            let offset = self.hist.len() - MAX_MATCH_OFFSET as usize;
            self.hist.copy_within(offset.., 0);
            self.hist.truncate(MAX_MATCH_OFFSET as usize);
            self.cur += offset as i32;
        }
        let s = self.hist.len() as i32;
        self.hist.extend_from_slice(src);
        s
    }

    /// Levels 4–6's two tables as fixed-size arrays: a hash of `TABLE_BITS` bits then indexes
    /// them without a bounds check in the hot loops.
    fn tables(&mut self) -> (&mut [Entry; TABLE_SIZE], &mut [Entry; TABLE_SIZE]) {
        let table = (&mut self.table[..TABLE_SIZE]).try_into();
        let b_table = (&mut self.b_table[..TABLE_SIZE]).try_into();
        (
            table.expect("levels 4-6 allocate TABLE_SIZE entries"),
            b_table.expect("levels 4-6 allocate TABLE_SIZE entries"),
        )
    }

    /// Rebase the tables before positions could overflow.
    fn rebase(&mut self) {
        while self.cur >= BUFFER_RESET {
            if self.hist.is_empty() {
                self.table.fill(Entry::default());
                self.b_table.fill(Entry::default());
                self.cur = MAX_MATCH_OFFSET;
                break;
            }
            let min_off = self.cur + self.hist.len() as i32 - MAX_MATCH_OFFSET;
            let cur = self.cur;
            let fix = |v: i32| {
                if v <= min_off {
                    0
                } else {
                    v - cur + MAX_MATCH_OFFSET
                }
            };
            let two_way_b = self.level >= 5;
            for e in self.table.iter_mut() {
                *e = Entry {
                    cur: fix(e.cur),
                    prev: fix(e.prev),
                };
            }
            for e in self.b_table.iter_mut() {
                *e = if two_way_b && e.cur <= min_off {
                    Entry::default()
                } else {
                    Entry {
                        cur: fix(e.cur),
                        prev: fix(e.prev),
                    }
                };
            }
            self.cur = MAX_MATCH_OFFSET;
        }
    }

    /// The tokens of `src`, the next block, matched against it and the history.
    pub fn encode(&mut self, dst: &mut Tokens, src: &[u8]) {
        self.rebase();
        let s = self.add_block(src);
        if src.len() < MIN_NON_LITERAL_BLOCK_SIZE {
            // Never reached with the window sizes used: tiny blocks are stored before this.
            return;
        }
        let hist = std::mem::take(&mut self.hist);
        let next_emit = match self.level {
            1 => self.l1(dst, &hist, s),
            2 => self.l2(dst, &hist, s),
            3 => self.l3(dst, &hist, s),
            4 => self.l4(dst, &hist, s),
            5 => self.l5(dst, &hist, s),
            _ => self.l6(dst, &hist, s),
        };
        if (next_emit as usize) < hist.len() && dst.n() > 0 {
            dst.add_literals(&hist[next_emit as usize..]);
        }
        self.hist = hist;
    }

    /// Emits the literals before a match at `s`, extending the match backwards first.
    fn emit_match(
        dst: &mut Tokens,
        src: &[u8],
        next_emit: i32,
        s: &mut i32,
        t: &mut i32,
        l: &mut i32,
    ) {
        while *t > 0 && *s > next_emit && src[*t as usize - 1] == src[*s as usize - 1] {
            *s -= 1;
            *t -= 1;
            *l += 1;
        }
        if next_emit < *s {
            dst.add_literals(&src[next_emit as usize..*s as usize]);
        }
        dst.add_match_long(*l, (*s - *t - BASE_MATCH_OFFSET) as u32);
    }
}

mod levels;
