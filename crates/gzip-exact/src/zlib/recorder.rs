//! zlib's stream made the way a reader of its restart points makes it, while they are found.
//!
//! zlib's state is inside zlib: a block boundary is found by inflating the stream as it is
//! made (`Walker`), and whether a fresh stream primed with the 32 KiB before the boundary
//! goes on as the stream does is tried, not assumed: a primed stream's next block must come
//! out bit for bit as the stream's own. It then has the stream's state: both made the same
//! 16383 symbols, and a stream that had a match at hand would have let one out within 258
//! positions, so both stood at the same clean point (just after a match, or with no match
//! found) inside that block, and went on alike from there.

use super::deflate::{cut, piece, primed, restart, restartable, DICT};
use super::stream::{BlockEnd, Stream, Walker};
use crate::encoder::Encoder;
use crate::go::Restart;
use std::collections::VecDeque;

/// Raw bytes handed to the stream at a time: a boundary is tried this soon after it is made,
/// so little is compressed twice when a piece begins there.
const FEED: usize = 64 << 10;

/// The encoder of one zlib stream at a lazy level, recording restart points at least
/// `spacing` raw bytes apart and making the stream as a reader of them does: from each point
/// a fresh primed stream (`piece`), its output cut at the next. A proof of its output proves
/// the pieces a reader runs on every core.
pub struct Recorder {
    level: i32,
    spacing: u64,
    /// The current piece's stream, where it began, and the walker over its output.
    s: Stream,
    from: Option<Restart>,
    walker: Walker,
    restarts: Vec<Restart>,
    /// The raw bytes from `recent_start` on, and how far the current stream was fed.
    recent: Vec<u8>,
    recent_start: u64,
    fed: u64,
    /// The bit position the current stream's output begins at; the part of it not yet let
    /// out, and its first byte's bit position.
    start_bit: u64,
    out: Vec<u8>,
    out_bit: u64,
    /// Block ends at least `spacing` past the last point, in order: the first is tried as a
    /// point once the one after it is known. And the last block end seen.
    ends: VecDeque<BlockEnd>,
    last_end: BlockEnd,
    /// The last byte of the piece before, when it ends inside that byte.
    held: Option<u8>,
}

impl Recorder {
    /// None for a level without restart points.
    pub fn new(level: i32, spacing: u64) -> Option<Recorder> {
        if !restartable(level) {
            return None;
        }
        let (s, _, _) = primed(level, None, &[])?;
        Some(Recorder {
            level,
            spacing,
            s,
            from: None,
            walker: Walker::new(&[], 0)?,
            restarts: Vec::new(),
            recent: Vec::new(),
            recent_start: 0,
            fed: 0,
            start_bit: 0,
            out: Vec::new(),
            out_bit: 0,
            ends: VecDeque::new(),
            last_end: BlockEnd { raw: 0, bit: 0 },
            held: None,
        })
    }

    /// The restart points so far: where each piece after the first began.
    pub fn restarts(&self) -> &[Restart] {
        &self.restarts
    }

    fn total(&self) -> u64 {
        self.recent_start + self.recent.len() as u64
    }

    /// Feeds the current stream all it has not had, going on from each point taken.
    fn run(&mut self, out: &mut Vec<u8>) {
        while self.fed < self.total() {
            let at = (self.fed - self.recent_start) as usize;
            let n = (self.total() - self.fed).min(FEED as u64) as usize;
            let made = self.out.len();
            self.s.deflate(
                &self.recent[at..at + n],
                libz_sys::Z_NO_FLUSH,
                &mut self.out,
            );
            self.fed += n as u64;
            self.note(made);
            self.try_ends(out);
        }
        self.let_out(out);
    }

    /// Notes the block ends in the current stream's output from `made` on.
    fn note(&mut self, made: usize) {
        let start = self.from.map_or(0, |f| f.raw);
        let last_point = self.restarts.last().map_or(0, |r| r.raw);
        for e in self.walker.walk(&self.out[made..]) {
            let end = BlockEnd {
                raw: start + e.raw,
                bit: self.start_bit + e.bit,
            };
            self.last_end = end;
            if end.raw >= last_point + self.spacing {
                self.ends.push_back(end);
            }
        }
    }

    /// Takes the first block end whose next block a primed stream makes alike, if any.
    fn try_ends(&mut self, out: &mut Vec<u8>) {
        while let (Some(&end), Some(&next)) = (self.ends.front(), self.ends.get(1)) {
            if let Some(r) = restart(end.raw, end.bit).filter(|r| self.goes_on(r, next)) {
                return self.take(r, out);
            }
            self.ends.pop_front();
        }
    }

    /// Whether a stream primed at `r` makes the block up to `next` as the current one did.
    fn goes_on(&self, r: &Restart, next: BlockEnd) -> bool {
        let Some(to) = restart(next.raw, next.bit) else {
            return false;
        };
        let Some(from) = r.base.checked_sub(self.recent_start) else {
            return false;
        };
        let Some(mut made) = piece(
            self.level,
            Some(r),
            Some(&to),
            &self.recent[from as usize..],
        ) else {
            return false;
        };
        let first = ((r.bit - self.out_bit) / 8) as usize;
        let Some(mine) = self.out.get(first..first + made.len()) else {
            return false;
        };
        // The piece's first bits are the piece before's; its last byte ends at `next`.
        let mut mine = mine.to_vec();
        let keep = |b: &mut u8, from: u64| *b &= !((1u16 << (from % 8)) - 1) as u8;
        keep(&mut mine[0], r.bit);
        keep(&mut made[0], r.bit);
        cut(&mut mine, next.bit - (r.bit - r.bit % 8)).is_some() && mine == made
    }

    /// Ends the current piece at `r` and goes on from there with a primed stream.
    fn take(&mut self, r: Restart, out: &mut Vec<u8>) {
        let mut bytes = std::mem::take(&mut self.out);
        let _ = cut(&mut bytes, r.bit - self.out_bit);
        if !r.bit.is_multiple_of(8) {
            let last = bytes.pop();
            self.join(bytes, out);
            self.held = last;
        } else {
            self.join(bytes, out);
        }
        let from = (r.base - self.recent_start) as usize;
        let dict = &self.recent[from..from + DICT as usize];
        let (Some((s, _, bit)), Some(walker)) = (
            primed(self.level, Some(&r), &self.recent[from..]),
            Walker::new(dict, (r.bit % 8) as u32),
        ) else {
            // Cannot happen for a point `restart` made; the stream then ends short.
            self.fed = u64::MAX;
            return;
        };
        (self.s, self.walker, self.start_bit, self.out_bit) = (s, walker, bit, bit);
        self.from = Some(r);
        self.restarts.push(r);
        self.fed = r.raw;
        self.ends.clear();
        self.last_end = BlockEnd {
            raw: r.raw,
            bit: r.bit,
        };
    }

    /// Lets out the output no later point can cut: everything before the first byte of the
    /// earliest block end still to be tried (or the last end seen). Drops the raw bytes no
    /// later point needs.
    fn let_out(&mut self, out: &mut Vec<u8>) {
        let keep = self.ends.front().copied().unwrap_or(self.last_end);
        let n = ((keep.bit.max(self.out_bit) - self.out_bit) / 8) as usize;
        let bytes: Vec<u8> = self.out.drain(..n.min(self.out.len())).collect();
        self.out_bit += 8 * bytes.len() as u64;
        self.join(bytes, out);
        let drop = keep
            .raw
            .saturating_sub(DICT)
            .saturating_sub(self.recent_start);
        let drop = (drop as usize).min(self.recent.len());
        self.recent.drain(..drop);
        self.recent_start += drop as u64;
    }

    /// Appends bytes, the first OR-ed with the byte the piece before ended in.
    fn join(&mut self, mut bytes: Vec<u8>, out: &mut Vec<u8>) {
        if !crate::pieces::join_held(&mut self.held, &mut bytes) {
            return;
        }
        out.extend_from_slice(&bytes);
    }
}

impl Encoder for Recorder {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.recent.extend_from_slice(raw);
        self.run(out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(out);
        self.s.deflate(&[], libz_sys::Z_FINISH, &mut self.out);
        let bytes = std::mem::take(&mut self.out);
        self.join(bytes, out);
    }
}
