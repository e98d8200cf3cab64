//! Go's compress/flate encoder as in Go 1.8–1.26, byte for byte: the layer format BuildKit,
//! containerd and moby write (level 6) and go-containerregistry's BestSpeed tools
//! write (level 1). Rebuilding a registry's gzip from its tar needs the producer's exact
//! choices — hash chains, lazy matching, block boundaries, Huffman codes — not just any valid
//! deflate stream. Written from the algorithm as Go's source describes it; judged against the
//! Go toolchains themselves (tests/judges/go.rs).

use crate::encoder::Encoder;
mod fast;
pub(crate) mod token;
pub(crate) mod writer;

use crate::deflate::{
    match_len, BASE_MATCH_LENGTH, BASE_MATCH_OFFSET, MAX_MATCH_LENGTH, MAX_STORE_BLOCK_SIZE,
};
use crate::gzip::{trailer, xfl};
use token::Token;
use writer::BlockWriter;

const LOG_WINDOW_SIZE: usize = 15;
const WINDOW_SIZE: usize = 1 << LOG_WINDOW_SIZE;
const WINDOW_MASK: usize = WINDOW_SIZE - 1;
const MIN_MATCH_LENGTH: i64 = 4;
const MAX_FLATE_BLOCK_TOKENS: usize = 1 << 14;
const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MASK: u32 = (1 << HASH_BITS) - 1;
const MAX_HASH_OFFSET: i64 = 1 << 24;
const SKIP_NEVER: i64 = i32::MAX as i64;

/// Levels as Go numbers them: 0 stores, 1 is BestSpeed, 2–9 search harder, -1 is the default
/// (6), -2 is HuffmanOnly.
pub const HUFFMAN_ONLY: i32 = -2;
/// Go's default level, which is level 6.
pub const DEFAULT_COMPRESSION: i32 = -1;

#[derive(Clone, Copy)]
struct Params {
    good: i64,
    lazy: i64,
    nice: i64,
    chain: i64,
    fast_skip_hashing: i64,
}

/// Go's table: how good a match must be to stop looking, how far to search.
fn params(level: i32) -> Params {
    let (good, lazy, nice, chain, fast_skip_hashing) = match level {
        2 => (4, 0, 16, 8, 5),
        3 => (4, 0, 32, 32, 6),
        4 => (4, 4, 16, 16, SKIP_NEVER),
        5 => (8, 16, 32, 32, SKIP_NEVER),
        6 => (8, 16, 128, 128, SKIP_NEVER),
        7 => (8, 32, 128, 256, SKIP_NEVER),
        8 => (32, 128, 258, 1024, SKIP_NEVER),
        _ => (32, 258, 258, 4096, SKIP_NEVER),
    };
    Params {
        good,
        lazy,
        nice,
        chain,
        fast_skip_hashing,
    }
}

/// What a `Write` step does with the window.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Store,
    HuffmanOnly,
    BestSpeed,
    Deflate,
}

/// The compressor: feed it with `write`, end with `close`; the compressed bytes accumulate in
/// `out()` and may be taken as they come (`take_output`).
pub struct Deflater {
    mode: Mode,
    p: Params,
    w: BlockWriter,
    sync: bool,
    chain_head: i64,
    /// Fixed-size tables: a masked index needs no bounds check in the hot loops.
    hash_head: Box<[u32; HASH_SIZE]>,
    hash_prev: Box<[u32; WINDOW_SIZE]>,
    hash_offset: i64,
    index: i64,
    window: Vec<u8>,
    window_end: i64,
    block_start: i64,
    byte_available: bool,
    tokens: Vec<Token>,
    length: i64,
    offset: i64,
    max_insert_index: i64,
    fast: fast::Fast,
    /// The absolute position of `window[0]`, and the bytes of output handed over: what a
    /// restart point records.
    base: i64,
    taken: u64,
    /// Restart points taken at least `spacing` raw bytes apart, when asked for.
    recording: Option<(u64, Vec<Restart>)>,
    /// Where a piece ends: the block boundary at this absolute position; past it, nothing.
    stop_at: Option<i64>,
    stopped: bool,
    /// Ends the piece at each restart point it records, as `stop_at` would there (`Recorder`).
    stop_at_restart: bool,
}

/// A block boundary a lazy level (4–9) can go on from with nothing but the raw bytes before
/// it: Go's hash chains hold every position of the last 32 KiB, so they are rebuilt from the
/// window; what else the encoder carries is here. With these, one layer is rebuilt in pieces
/// on every core (`Deflater::resume`, `Deflater::stop_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// The block's start in the raw bytes, and where the window began (a multiple of 32 KiB,
    /// at most 64 KiB before it: slides happen where they happened).
    pub raw: u64,
    /// Where the window began.
    pub base: u64,
    /// The deflate stream's bit position at the block's start.
    pub bit: u64,
    /// A literal at `raw` is pending with the match found there (lazy matching), or not.
    pub pending: bool,
    /// That pending match's length and offset (when `pending`).
    pub length: u16,
    /// See `length`.
    pub offset: u16,
}

impl Restart {
    /// Whether `list` can be trusted as restart points of a `raw_size`-byte stream: in order,
    /// each within the bounds the encoder keeps, none more than `max_gap` from the next (or
    /// from the start or end), so a piece's input stays bounded whatever a bundle says.
    pub fn plausible(list: &[Restart], raw_size: u64, max_gap: u64) -> bool {
        let w = WINDOW_SIZE as u64;
        let each = list.iter().all(|r| {
            r.base % w == 0
                && r.base <= r.raw
                && r.raw - r.base <= 2 * w
                && r.raw < raw_size
                && (MIN_MATCH_LENGTH - 1..=MAX_MATCH_LENGTH).contains(&i64::from(r.length))
                && u64::from(r.offset) <= w
                // Only a pending literal carries a match, and a match has a distance.
                && (r.pending || i64::from(r.length) == MIN_MATCH_LENGTH - 1)
                && (i64::from(r.length) < MIN_MATCH_LENGTH || r.offset >= 1)
        });
        each && Restart::ordered_within(list, raw_size, max_gap)
    }

    /// Whether `list` is in order (raw position, window and bit position each rising) and no
    /// point is more than `max_gap` from the next (or from the start or end): what any
    /// encoder's restart points must be, so a piece's input stays bounded.
    pub(crate) fn ordered_within(list: &[Restart], raw_size: u64, max_gap: u64) -> bool {
        let ordered = list
            .windows(2)
            .all(|p| p[0].raw < p[1].raw && p[0].base <= p[1].base && p[0].bit < p[1].bit);
        let mut edges = vec![0];
        edges.extend(list.iter().map(|r| r.raw));
        edges.push(raw_size);
        let gaps = edges
            .windows(2)
            .all(|e| e[1].checked_sub(e[0]).is_some_and(|gap| gap <= max_gap));
        ordered && gaps
    }
}

#[inline(always)]
fn hash4(b: &[u8]) -> u32 {
    let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    v.wrapping_mul(0x1e35a7bd) >> (32 - HASH_BITS)
}

impl Deflater {
    /// None for a level Go does not have.
    pub fn new(level: i32) -> Option<Deflater> {
        let level = if level == DEFAULT_COMPRESSION {
            6
        } else {
            level
        };
        let mode = match level {
            0 => Mode::Store,
            1 => Mode::BestSpeed,
            HUFFMAN_ONLY => Mode::HuffmanOnly,
            2..=9 => Mode::Deflate,
            _ => return None,
        };
        let window = match mode {
            Mode::Deflate => 2 * WINDOW_SIZE,
            _ => MAX_STORE_BLOCK_SIZE,
        };
        Some(Deflater {
            mode,
            p: params(level),
            w: BlockWriter::default(),
            sync: false,
            chain_head: -1,
            hash_head: vec![0; HASH_SIZE].try_into().expect("HASH_SIZE entries"),
            hash_prev: vec![0; WINDOW_SIZE]
                .try_into()
                .expect("WINDOW_SIZE entries"),
            hash_offset: 1,
            index: 0,
            window: vec![0; window],
            window_end: 0,
            block_start: 0,
            byte_available: false,
            tokens: Vec::with_capacity(MAX_FLATE_BLOCK_TOKENS + 1),
            length: MIN_MATCH_LENGTH - 1,
            offset: 0,
            max_insert_index: 0,
            fast: fast::Fast::default(),
            base: 0,
            taken: 0,
            recording: None,
            stop_at: None,
            stopped: false,
            stop_at_restart: false,
        })
    }

    /// Whether a level goes by blocks whose hash chains the window alone determines (the lazy
    /// levels, 4–9, which hash every position).
    pub fn restartable(level: i32) -> bool {
        (4..=9).contains(&level) || level == DEFAULT_COMPRESSION
    }

    /// Records a restart point at the first block boundary at least `spacing` raw bytes after
    /// the last one; `restarts` gives them. Only for a restartable level.
    pub fn record_restarts(&mut self, spacing: u64) {
        if self.mode == Mode::Deflate && self.p.fast_skip_hashing == SKIP_NEVER {
            self.recording = Some((spacing, Vec::new()));
        }
    }

    /// The restart points recorded so far (`record_restarts`).
    pub fn restarts(&self) -> &[Restart] {
        self.recording.as_ref().map_or(&[], |(_, r)| r)
    }

    /// An encoder that goes on from restart point `r`: `from_base` is the raw bytes from
    /// `r.base` on (at least to `r.raw` and a few more); returns it and how many of those
    /// bytes it took. Its output's first byte is to be joined (OR) with the byte the stream
    /// before ends in. None for a level that cannot restart or bytes that are too few.
    pub fn resume(level: i32, r: &Restart, from_base: &[u8]) -> Option<(Deflater, usize)> {
        let mut d = Deflater::new(level)?;
        if d.mode != Mode::Deflate || d.p.fast_skip_hashing != SKIP_NEVER {
            return None;
        }
        let at = usize::try_from(r.raw.checked_sub(r.base)?).ok()?;
        if at > 2 * WINDOW_SIZE {
            return None;
        }
        let index = at + usize::from(r.pending);
        // The window holds up to the index and the 3 bytes that hash its last position.
        let took = (index + MIN_MATCH_LENGTH as usize - 1).min(from_base.len());
        if index > took || took > d.window.len() {
            return None;
        }
        d.window[..took].copy_from_slice(&from_base[..took]);
        d.window_end = took as i64;
        d.base = i64::try_from(r.base).ok()?;
        d.block_start = at as i64;
        d.index = index as i64;
        d.byte_available = r.pending;
        d.length = i64::from(r.length);
        d.offset = i64::from(r.offset);
        let first = index.saturating_sub(WINDOW_SIZE);
        for pos in first..index.min(took.saturating_sub(MIN_MATCH_LENGTH as usize - 1)) {
            d.insert_hash(pos as i64);
        }
        d.w.bits.resume_at((r.bit % 8) as u32);
        // The restart points it records count bits from the stream's start, as `r.bit` does.
        d.taken = r.bit / 8;
        Some((d, took))
    }

    /// Ends this encoder's piece at the block boundary at absolute raw position `raw`: the
    /// output then ends with that block, padded to a byte, and later input is ignored.
    pub fn stop_at(&mut self, raw: u64) {
        self.stop_at = i64::try_from(raw).ok();
    }

    /// Whether the piece reached its end (`stop_at`); its output is then complete.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The compressed bytes so far, handed over; once stopped, with the last byte padded.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        if self.stopped {
            self.w.bits.pad();
        }
        let out = std::mem::take(&mut self.w.bits.out);
        self.taken += out.len() as u64;
        out
    }

    pub(crate) fn push(&mut self, mut b: &[u8]) {
        while !b.is_empty() && !self.stopped {
            self.step();
            let n = self.fill(b);
            b = &b[n..];
        }
    }

    /// The rest, then the final empty stored block Go ends every stream with.
    pub(crate) fn end(&mut self) {
        if self.stopped {
            return;
        }
        self.sync = true;
        self.step();
        self.w.write_stored_header(0, true);
        self.w.flush();
    }

    fn step(&mut self) {
        match self.mode {
            Mode::Store => {
                if self.window_end > 0
                    && (self.window_end as usize == MAX_STORE_BLOCK_SIZE || self.sync)
                {
                    let end = self.window_end as usize;
                    self.w.write_stored(&self.window[..end], false);
                    self.window_end = 0;
                }
            }
            Mode::HuffmanOnly => {
                let end = self.window_end as usize;
                if end < self.window.len() && !self.sync || end == 0 {
                    return;
                }
                self.w.write_block_huff(false, &self.window[..end]);
                self.window_end = 0;
            }
            Mode::BestSpeed => self.enc_speed(),
            Mode::Deflate => self.deflate(),
        }
    }

    /// Go's encSpeed: a block per 64 KiB of input; tiny final blocks stored or Huffman-only,
    /// and blocks that found few matches written as Huffman-only.
    fn enc_speed(&mut self) {
        let end = self.window_end as usize;
        if end < MAX_STORE_BLOCK_SIZE {
            if !self.sync {
                return;
            }
            if end < 128 {
                match end {
                    0 => return,
                    1..=16 => self.w.write_stored(&self.window[..end], false),
                    _ => self.w.write_block_huff(false, &self.window[..end]),
                }
                self.window_end = 0;
                self.fast.reset();
                return;
            }
        }
        self.tokens.clear();
        self.fast.encode(&mut self.tokens, &self.window[..end]);
        if self.tokens.len() > end - (end >> 4) {
            self.w.write_block_huff(false, &self.window[..end]);
        } else {
            self.w
                .write_block_dynamic(&mut self.tokens, false, &self.window[..end]);
        }
        self.window_end = 0;
    }

    fn fill(&mut self, b: &[u8]) -> usize {
        if self.mode == Mode::Deflate {
            self.slide_if_needed();
        }
        let end = self.window_end as usize;
        let n = b.len().min(self.window.len() - end);
        self.window[end..end + n].copy_from_slice(&b[..n]);
        self.window_end += n as i64;
        n
    }

    /// Go's fillDeflate: move the second half of the window down once the index nears the end,
    /// and rebase the hash chains every 16 MiB so positions fit in 32 bits.
    fn slide_if_needed(&mut self) {
        let w = WINDOW_SIZE as i64;
        if self.index < 2 * w - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
            return;
        }
        self.window.copy_within(WINDOW_SIZE..2 * WINDOW_SIZE, 0);
        self.index -= w;
        self.window_end -= w;
        self.base += w;
        if self.block_start >= w {
            self.block_start -= w;
        } else {
            self.block_start = i64::from(i32::MAX);
        }
        self.hash_offset += w;
        if self.hash_offset > MAX_HASH_OFFSET {
            let delta = self.hash_offset - 1;
            self.hash_offset -= delta;
            self.chain_head -= delta;
            let rebase = |v: &mut u32| {
                *v = if i64::from(*v) > delta {
                    (i64::from(*v) - delta) as u32
                } else {
                    0
                }
            };
            self.hash_prev.iter_mut().for_each(rebase);
            self.hash_head.iter_mut().for_each(rebase);
        }
    }

    /// The tokens since the last block, with the input they cover when it is still in the
    /// window (so the block may be stored).
    fn write_block(&mut self, index: i64) {
        if index > 0 {
            let window = (self.block_start <= index)
                .then(|| &self.window[self.block_start as usize..index as usize]);
            self.block_start = index;
            self.w.write_block(&mut self.tokens, false, window);
            self.mark(index);
        }
        self.tokens.clear();
    }

    /// After a block: a restart point, if one is being recorded and due, and the piece's end.
    fn mark(&mut self, index: i64) {
        let raw = self.base + index;
        if self.stop_at == Some(raw) {
            self.stopped = true;
        }
        let Some((spacing, list)) = self.recording.as_mut() else {
            return;
        };
        let last = list.last().map_or(0, |r| r.raw);
        // A boundary met while flushing the end has a short lookahead behind it: not one to
        // go on from.
        if self.sync || (raw as u64) < last + *spacing {
            return;
        }
        list.push(Restart {
            raw: raw as u64,
            base: self.base as u64,
            bit: self.taken * 8 + self.w.bits.pending_bits(),
            pending: self.byte_available,
            length: self.length as u16,
            offset: self.offset as u16,
        });
        self.stopped |= self.stop_at_restart;
    }

    #[inline(always)]
    fn insert_hash(&mut self, index: i64) -> i64 {
        let i = index as usize;
        let h = (hash4(&self.window[i..i + 4]) & HASH_MASK) as usize;
        let head = i64::from(self.hash_head[h]);
        self.hash_prev[i & WINDOW_MASK] = self.hash_head[h];
        self.hash_head[h] = (index + self.hash_offset) as u32;
        head
    }

    fn deflate(&mut self) {
        if self.window_end - self.index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !self.sync {
            return;
        }
        self.max_insert_index = self.window_end - (MIN_MATCH_LENGTH - 1);
        let fast = self.p.fast_skip_hashing != SKIP_NEVER;
        loop {
            let lookahead = self.window_end - self.index;
            if lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH {
                if !self.sync {
                    return;
                }
                // Below zero only when a restart point's pending match ran past the input:
                // a wrong stream, which the digest refuses, but the end all the same.
                if lookahead <= 0 {
                    let pending = (self.index as usize)
                        .checked_sub(1)
                        .and_then(|i| self.window.get(i));
                    if let Some(&lit) = pending.filter(|_| self.byte_available) {
                        self.tokens.push(Token::literal_token(u32::from(lit)));
                        self.byte_available = false;
                    }
                    if !self.tokens.is_empty() {
                        self.write_block(self.index);
                    }
                    return;
                }
            }
            if self.index < self.max_insert_index {
                self.chain_head = self.insert_hash(self.index);
            }
            let prev_length = self.length;
            let prev_offset = self.offset;
            self.length = MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = (self.index - WINDOW_SIZE as i64).max(0);
            let wanted = if fast {
                lookahead > MIN_MATCH_LENGTH - 1
            } else {
                lookahead > prev_length && prev_length < self.p.lazy
            };
            if self.chain_head - self.hash_offset >= min_index && wanted {
                let head = self.chain_head - self.hash_offset;
                if let Some((l, o)) =
                    self.find_match(self.index, head, MIN_MATCH_LENGTH - 1, lookahead)
                {
                    self.length = l;
                    self.offset = o;
                }
            }
            let matched = if fast {
                self.length >= MIN_MATCH_LENGTH
            } else {
                prev_length >= MIN_MATCH_LENGTH && self.length <= prev_length
            };
            if matched {
                self.emit_match(fast, prev_length, prev_offset);
            } else {
                self.emit_literal(fast);
            }
            if self.stopped {
                return;
            }
        }
    }

    fn emit_match(&mut self, fast: bool, prev_length: i64, prev_offset: i64) {
        let (len, off) = if fast {
            (self.length, self.offset)
        } else {
            (prev_length, prev_offset)
        };
        self.tokens.push(Token::match_token(
            (len - BASE_MATCH_LENGTH) as u32,
            (off - BASE_MATCH_OFFSET) as u32,
        ));
        if self.length <= self.p.fast_skip_hashing {
            let new_index = if fast {
                self.index + self.length
            } else {
                self.index + prev_length - 1
            };
            for index in self.index + 1..new_index.min(self.max_insert_index) {
                self.insert_hash(index);
            }
            self.index = new_index.max(self.index + 1);
            if !fast {
                self.byte_available = false;
                self.length = MIN_MATCH_LENGTH - 1;
            }
        } else {
            self.index += self.length;
        }
        if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
            self.write_block(self.index);
        }
    }

    fn emit_literal(&mut self, fast: bool) {
        if fast || self.byte_available {
            let i = if fast { self.index } else { self.index - 1 };
            let lit = self.window[i as usize];
            self.tokens.push(Token::literal_token(u32::from(lit)));
            if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                self.write_block(i + 1);
            }
        }
        self.index += 1;
        if !fast {
            self.byte_available = true;
        }
    }

    /// The longest match at `pos` along the hash chain from `prev_head`, if longer than
    /// `prev_length`.
    fn find_match(
        &self,
        pos: i64,
        prev_head: i64,
        prev_length: i64,
        lookahead: i64,
    ) -> Option<(i64, i64)> {
        let min_match_look = MAX_MATCH_LENGTH.min(lookahead);
        let win = &self.window[..(pos + min_match_look) as usize];
        let nice = (win.len() as i64 - pos).min(self.p.nice);
        let mut tries = self.p.chain;
        let mut length = prev_length;
        if length >= self.p.good {
            tries >>= 2;
        }
        let mut w_end = win[(pos + length) as usize];
        let w_pos = &win[pos as usize..];
        let min_index = pos - WINDOW_SIZE as i64;
        let mut found = None;
        let mut i = prev_head;
        while tries > 0 {
            if w_end == win[(i + length) as usize] {
                let n = match_len(&win[i as usize..], w_pos, min_match_look as usize);
                if n > length && (n > MIN_MATCH_LENGTH || pos - i <= 4096) {
                    length = n;
                    found = Some((n, pos - i));
                    if n >= nice {
                        break;
                    }
                    w_end = win[(pos + n) as usize];
                }
            }
            if i == min_index {
                break;
            }
            i = i64::from(self.hash_prev[i as usize & WINDOW_MASK]) - self.hash_offset;
            if i < min_index || i < 0 {
                break;
            }
            tries -= 1;
        }
        found
    }
}

impl Encoder for Deflater {
    /// Fed as io.Copy hands data to gzip.Writer, 32 KiB at a time: the output does not depend
    /// on it, but it keeps to the path the judges test.
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        raw.chunks(32 * 1024).for_each(|piece| self.push(piece));
        out.extend_from_slice(&self.take_output());
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.end();
        out.extend_from_slice(&self.take_output());
    }
}

/// The deflate stream of `input` at `level`, fed as io.Copy hands data to gzip.Writer (32 KiB
/// at a time). With `limit`, only of the first `limit` bytes and left unfinished: whole bytes
/// so far, which are a prefix of the finished stream's. None for a level Go does not have.
pub fn deflate(input: &[u8], level: i32, limit: Option<usize>) -> Option<Vec<u8>> {
    let mut d = Deflater::new(level)?;
    let input = limit.map_or(input, |l| &input[..l.min(input.len())]);
    for chunk in input.chunks(32 * 1024) {
        d.push(chunk);
    }
    if limit.is_none() {
        d.end();
    }
    Some(d.take_output())
}

/// `input` compressed as Go's gzip.Writer at `level` writes it (no name, no mtime): the header,
/// the deflate stream, CRC-32 and size.
pub fn gzip(input: &[u8], level: i32) -> Option<Vec<u8>> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), 255];
    out.extend_from_slice(&deflate(input, level, None)?);
    out.extend_from_slice(&trailer(input));
    Some(out)
}

/// The deflate output of one piece of a stream: from restart point `from` (None: the start)
/// to the block boundary at raw position `to` (None: the end, closed), given the raw bytes
/// from `from.base` (or the start) to `to` and a few KiB past it. A piece that ends at a
/// partial byte ends with that byte, to be OR-ed into the next piece's first. None if the
/// piece cannot be made (a level without restarts, bytes too few, `to` never met).
pub fn piece(level: i32, from: Option<&Restart>, to: Option<u64>, raw: &[u8]) -> Option<Vec<u8>> {
    let (mut d, took) = match from {
        Some(r) => Deflater::resume(level, r, raw)?,
        None => (Deflater::new(level)?, 0),
    };
    if let Some(to) = to {
        d.stop_at(to);
    }
    for chunk in raw[took..].chunks(32 * 1024) {
        d.push(chunk);
    }
    // `write` compresses what it was given before, not what it was just given.
    if !d.stopped {
        d.step();
    }
    match to {
        Some(_) if !d.stopped() => return None,
        Some(_) => {}
        None => d.end(),
    }
    Some(d.take_output())
}

/// `input`'s deflate stream at `level` made twice: once in one go, recording restart points
/// `spacing` raw bytes apart, then piece by piece from them, the pieces joined as a reader
/// joins them. Both, and the restart points; for judging the pieces against the producer.
pub fn deflate_in_pieces(
    input: &[u8],
    level: i32,
    spacing: u64,
) -> Option<(Vec<u8>, Vec<u8>, Vec<Restart>)> {
    let mut d = Deflater::new(level)?;
    d.record_restarts(spacing);
    for chunk in input.chunks(32 * 1024) {
        d.push(chunk);
    }
    d.end();
    let whole = d.take_output();
    let restarts = d.restarts().to_vec();
    let mut joined: Vec<u8> = Vec::new();
    let mut from: Option<&Restart> = None;
    for k in 0..=restarts.len() {
        let to = restarts.get(k);
        let start = from.map_or(0, |r| r.base as usize);
        let end = to.map_or(input.len(), |t| (t.raw as usize + 4096).min(input.len()));
        let mut bytes = piece(level, from, to.map(|t| t.raw), &input[start..end])?;
        if from.is_some_and(|r| r.bit % 8 != 0) {
            let held = joined.pop()?;
            *bytes.first_mut()? |= held;
        }
        joined.extend_from_slice(&bytes);
        from = to;
    }
    Some((whole, joined, restarts))
}

/// Raw bytes per feed, as `piece` and io.Copy feed an encoder.
const FEED: usize = 32 * 1024;

/// The encoder of one Go stream at a restartable level, recording restart points at least
/// `spacing` raw bytes apart, and making the stream the way a reader of those points does
/// while it finds them: from the start to the first point, then from each point resumed
/// (`Deflater::resume`) as a piece is, to the next, the pieces' bytes joined as `piece`'s
/// callers join them. So a proof of its output (its digest) proves the pieces too, in one
/// pass: what a reader runs on every core is what was proven, not a second encoder's output
/// that should agree with it.
pub struct Recorder {
    level: i32,
    spacing: u64,
    /// The current piece's encoder, which stops at the first restart point it records.
    d: Deflater,
    restarts: Vec<Restart>,
    /// The raw bytes from `recent_start` on: from the current encoder's window on, so the next
    /// piece can be resumed from its window.
    recent: Vec<u8>,
    recent_start: u64,
    /// The raw bytes handed to the current encoder so far (an absolute position), in feeds of
    /// `FEED` from where it began, as `piece` hands them over.
    fed: u64,
    /// The last byte of the piece before, when it ends inside that byte: joined with the next
    /// piece's first.
    held: Option<u8>,
}

impl Recorder {
    /// None for a level without restart points.
    pub fn new(level: i32, spacing: u64) -> Option<Recorder> {
        if !Deflater::restartable(level) {
            return None;
        }
        let mut d = Deflater::new(level)?;
        d.record_restarts(spacing);
        d.stop_at_restart = true;
        Some(Recorder {
            level,
            spacing,
            d,
            restarts: Vec::new(),
            recent: Vec::new(),
            recent_start: 0,
            fed: 0,
            held: None,
        })
    }

    /// The restart points so far: where each piece after the first was resumed from.
    pub fn restarts(&self) -> &[Restart] {
        &self.restarts
    }

    fn total(&self) -> u64 {
        self.recent_start + self.recent.len() as u64
    }

    /// Feeds the current encoder every whole feed (and, with `last`, the rest), going on from
    /// each restart point it stops at.
    fn run(&mut self, last: bool, out: &mut Vec<u8>) {
        loop {
            while !self.d.stopped && self.total() > self.fed {
                let at = (self.fed - self.recent_start) as usize;
                let n = (self.total() - self.fed).min(FEED as u64) as usize;
                if n < FEED && !last {
                    break;
                }
                self.d.push(&self.recent[at..at + n]);
                self.fed += n as u64;
            }
            // `push` compresses what it was given before, not what it was just given.
            if last && !self.d.stopped {
                self.d.step();
            }
            let bytes = self.d.take_output();
            self.join(bytes, out);
            if !self.d.stopped {
                break;
            }
            if !self.resume() {
                return;
            }
        }
        let keep = (self.d.base as u64).saturating_sub(self.recent_start) as usize;
        let keep = keep.min(self.recent.len());
        self.recent.drain(..keep);
        self.recent_start += keep as u64;
    }

    /// The next piece's encoder, from the restart point the current one stopped at.
    fn resume(&mut self) -> bool {
        let Some(&r) = self.d.restarts().last() else {
            return false;
        };
        let from = r.base.saturating_sub(self.recent_start) as usize;
        let Some((mut d, took)) = Deflater::resume(self.level, &r, &self.recent[from..]) else {
            return false;
        };
        d.recording = Some((self.spacing, vec![r]));
        d.stop_at_restart = true;
        self.d = d;
        self.fed = r.base + took as u64;
        self.restarts.push(r);
        true
    }

    /// Appends a piece's bytes, joining the byte the piece before ended in with its first.
    fn join(&mut self, mut bytes: Vec<u8>, out: &mut Vec<u8>) {
        if !crate::pieces::join_held(&mut self.held, &mut bytes) {
            return;
        }
        let ends_inside =
            self.d.stopped && self.d.restarts().last().is_some_and(|r| r.bit % 8 != 0);
        if ends_inside {
            self.held = bytes.pop();
        }
        out.extend_from_slice(&bytes);
    }
}

impl Encoder for Recorder {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.recent.extend_from_slice(raw);
        self.run(false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(true, out);
        self.d.end();
        let bytes = self.d.take_output();
        self.join(bytes, out);
        out.extend(self.held.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_rebuilt_in_pieces_from_its_restart_points_is_the_stream() {
        // Text-like bytes with long repeats and a stretch of noise, so blocks end after
        // matches and after literals, some stored.
        let mut input = Vec::new();
        let mut seed = 7u32;
        while input.len() < 3 << 20 {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            let word = (seed >> 16) % 64;
            match word {
                0..=5 => input.extend((0..40).map(|i| (seed >> (i % 24)) as u8 ^ i)),
                6 => input.extend(std::iter::repeat_n(b'x', (seed % 700) as usize)),
                _ => input
                    .extend_from_slice(format!("usr/lib/{word}/lib{}.so ", seed % 5).as_bytes()),
            }
        }
        for level in [4, 6, 9] {
            let (whole, joined, restarts) = deflate_in_pieces(&input, level, 100_000).unwrap();
            assert!(
                restarts.len() > 10,
                "level {level}: {} restarts",
                restarts.len()
            );
            assert!(restarts.iter().any(|r| r.pending) && restarts.iter().any(|r| !r.pending));
            assert!(restarts.iter().any(|r| r.bit % 8 != 0));
            assert!(Restart::plausible(&restarts, input.len() as u64, 32 << 20));
            assert!(
                joined == whole,
                "level {level}: pieces differ from the stream"
            );
            // Made piece by piece as the points are found (fed in odd cuts), it is the same
            // stream with the same points.
            let mut rec = Recorder::new(level, 100_000).unwrap();
            let mut made = Vec::new();
            for cut in input.chunks(77_777) {
                rec.write(cut, &mut made);
            }
            rec.finish(&mut made);
            assert_eq!(rec.restarts(), &restarts[..], "level {level}");
            assert!(
                made == whole,
                "level {level}: the recorder's stream differs"
            );
        }
        assert!(Recorder::new(2, 100_000).is_none());
        // Levels whose chains are not all in the window take none.
        assert!(deflate_in_pieces(&input, 2, 100_000).unwrap().2.is_empty());
    }

    #[test]
    fn empty_and_one_byte_inputs_deflate_at_every_level() {
        // Go writes a final empty block for no input; at index 0 there is no pending byte.
        for level in [-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
            let empty = deflate(&[], level, None).unwrap();
            assert!(!empty.is_empty(), "level {level}");
            assert!(deflate(b"x", level, None).unwrap().len() > empty.len() - 1);
        }
    }
}
