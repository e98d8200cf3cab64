//! A gzip stream rebuilt as its uncompressed bytes arrive, in bounded memory: the encoder's
//! window and whatever output the last piece produced, never the whole layer.

use crate::encoder::Encoder;
use crate::go::{Deflater, Restart};
use crate::klauspost::{self, tail_of, Pgzip, PgzipKind, PGZIP_BLOCK};
use crate::pieces::Pieces;
use crate::pigz::{PIGZ_BLOCK, PIGZ_DICT};
use crate::preflate::Recreate;
use crate::recipe::{Producer, Recipe};
use crate::spacing::{MAX_RESTART_GAP, RESTART_SPACING};
use crate::zlib::Zlib;
use std::io::{self, Read, Write};

/// The encoder of one recipe: header first, then the deflate stream, then CRC-32 and size.
pub struct Rebuilder {
    engine: Engine,
    crc: crc32fast::Hasher,
    len: u64,
    header: Option<Vec<u8>>,
}

/// The encoder of a recipe. A recording one and preflate-rs's are kept by name: the first
/// gives restart points, and preflate-rs takes its side data ahead of the uncompressed bytes.
enum Engine {
    Recording(Box<dyn Recording>),
    Preflate(Box<Recreate>),
    Other(Box<dyn Encoder>),
}

/// An encoder that makes its stream as a reader of its restart points does, while it finds
/// them (Go's, zlib's).
trait Recording: Encoder {
    fn restarts(&self) -> &[Restart];
}

impl Recording for crate::go::Recorder {
    fn restarts(&self) -> &[Restart] {
        crate::go::Recorder::restarts(self)
    }
}

impl Recording for crate::zlib::Recorder {
    fn restarts(&self) -> &[Restart] {
        crate::zlib::Recorder::restarts(self)
    }
}

impl Recording for crate::gnu::Recorder {
    fn restarts(&self) -> &[Restart] {
        crate::gnu::Recorder::restarts(self)
    }
}

impl Engine {
    fn encoder(&mut self) -> &mut dyn Encoder {
        match self {
            Engine::Recording(r) => r.as_mut() as &mut dyn Encoder,
            Engine::Preflate(p) => p.as_mut(),
            Engine::Other(e) => e.as_mut(),
        }
    }

    /// Compress `raw` (or, with `finish`, end the stream), appending the output to `out`.
    fn run(&mut self, raw: &[u8], finish: bool, out: &mut Vec<u8>) {
        let e = self.encoder();
        e.write(raw, out);
        if finish {
            e.finish(out);
        }
    }
}

/// pgzip's blocks depend only on the 16 KiB before them, so a layer's blocks are compressed a
/// few at a time on every core and their outputs joined in order: the same bytes as one
/// encoder running through them.
struct ParallelPgzip {
    level: i32,
    kind: PgzipKind,
    pending: Vec<u8>,
    tail: Option<Vec<u8>>,
    pieces: Pieces,
}

/// Blocks per piece (of either block size): small pieces keep every core busy and little in
/// memory.
const PGZIP_PIECE: usize = 2 * PGZIP_BLOCK;

impl ParallelPgzip {
    fn run(&mut self, mut raw: &[u8], finish: bool, out: &mut Vec<u8>) {
        while !raw.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending = self.pieces.buffer(PGZIP_PIECE);
            }
            let n = raw.len().min(PGZIP_PIECE - self.pending.len());
            self.pending.extend_from_slice(&raw[..n]);
            raw = &raw[n..];
            if self.pending.len() == PGZIP_PIECE {
                self.submit(false, out);
            }
        }
        let done = if finish {
            self.submit(true, out);
            self.pieces.drain()
        } else {
            self.pieces.ready()
        };
        done.iter().for_each(|b| out.extend_from_slice(b));
    }

    fn submit(&mut self, last: bool, out: &mut Vec<u8>) {
        let blocks = std::mem::take(&mut self.pending);
        // Only the last piece can end in a short block, and nothing follows it.
        let tail = std::mem::replace(&mut self.tail, tail_of(&blocks));
        let (level, kind) = (self.level, self.kind);
        let job = move |blocks: &[u8]| {
            let mut bytes = Vec::new();
            if let Some(mut p) = Pgzip::resume(level, kind, tail) {
                p.write(blocks, &mut bytes);
                if last {
                    p.finish(&mut bytes);
                }
            }
            bytes
        };
        for bytes in self.pieces.submit(blocks, job) {
            out.extend_from_slice(&bytes);
        }
    }
}

/// pigz's blocks depend only on the 32 KiB before them, so a layer's blocks are compressed a
/// few at a time on every core and their outputs joined in order, as pigz's threads do. A
/// full piece waits for the byte after it: pigz finishes the stream in its last block.
struct ParallelPigz {
    level: i32,
    pending: Vec<u8>,
    dict: Vec<u8>,
    pieces: Pieces,
}

/// Blocks per piece.
const PIGZ_PIECE: usize = 8 * PIGZ_BLOCK;

impl ParallelPigz {
    fn run(&mut self, mut raw: &[u8], finish: bool, out: &mut Vec<u8>) {
        while !raw.is_empty() {
            if self.pending.len() == PIGZ_PIECE {
                self.submit(false, out);
            }
            if self.pending.capacity() == 0 {
                self.pending = self.pieces.buffer(PIGZ_PIECE);
            }
            let n = raw.len().min(PIGZ_PIECE - self.pending.len());
            self.pending.extend_from_slice(&raw[..n]);
            raw = &raw[n..];
        }
        let done = if finish {
            self.submit(true, out);
            self.pieces.drain()
        } else {
            self.pieces.ready()
        };
        done.iter().for_each(|b| out.extend_from_slice(b));
    }

    fn submit(&mut self, last: bool, out: &mut Vec<u8>) {
        let blocks = std::mem::take(&mut self.pending);
        let next_dict = blocks[blocks.len().saturating_sub(PIGZ_DICT)..].to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        let level = self.level;
        let job =
            move |blocks: &[u8]| crate::pigz::piece(level, &dict, blocks, last).unwrap_or_default();
        for bytes in self.pieces.submit(blocks, job) {
            out.extend_from_slice(&bytes);
        }
    }
}

impl Encoder for ParallelPigz {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.run(raw, false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], true, out);
    }

    fn pieces(&self) -> u64 {
        self.pieces.started()
    }
}

/// How one piece of a stream with restart points is made (`go::piece`, `zlib::piece`,
/// `gnu::piece`): from a point (or the start) to the block ending at the next (or the end,
/// finished), given the raw bytes from the first one's window base to a lookahead past the
/// next.
type PieceFn = fn(i32, Option<&Restart>, Option<&Restart>, &[u8]) -> Option<Vec<u8>>;

fn go_piece(
    level: i32,
    from: Option<&Restart>,
    to: Option<&Restart>,
    raw: &[u8],
) -> Option<Vec<u8>> {
    crate::go::piece(level, from, to.map(|t| t.raw), raw)
}

/// A stream with restart points (Go's, zlib's, GNU gzip's), rebuilt a piece at a time on every
/// core:
/// piece k runs from restart k-1 (or the start) to restart k (or the end), from the raw bytes
/// of its window on; a piece that ends inside a byte leaves that byte to be joined with the
/// next piece's first.
struct ParallelRestarts {
    level: i32,
    piece: PieceFn,
    restarts: Vec<Restart>,
    /// Raw bytes a piece is given past its end.
    lookahead: u64,
    /// Pieces handed out so far.
    next: usize,
    /// The raw bytes from `buf_start` on that pieces yet to come need, and all bytes seen.
    buf: Vec<u8>,
    buf_start: u64,
    total: u64,
    /// Per piece in flight, whether it ends inside a byte; and that byte, held back.
    partial: std::collections::VecDeque<bool>,
    held: Option<u8>,
    pieces: Pieces,
}

/// Raw bytes a Go or zlib piece gets past its end: the lookahead their encoders wait for (262)
/// and more. (GNU gzip's reads further: `gnu::PIECE_LOOKAHEAD`.)
const LOOKAHEAD: u64 = 4096;

impl ParallelRestarts {
    fn new(level: i32, piece: PieceFn, restarts: Vec<Restart>, lookahead: u64) -> Self {
        ParallelRestarts {
            level,
            piece,
            restarts,
            lookahead,
            next: 0,
            buf: Vec::new(),
            buf_start: 0,
            total: 0,
            partial: Default::default(),
            held: None,
            pieces: Pieces::default(),
        }
    }

    fn run(&mut self, raw: &[u8], finish: bool, out: &mut Vec<u8>) {
        // Restart points are at most MAX_RESTART_GAP apart (checked with the recipe), so this
        // bound is only passed by a member longer than its record says: its digest will not
        // match, and holding its bytes would only cost memory.
        let most = MAX_RESTART_GAP + 3 * self.lookahead + (1 << 17);
        if (self.buf.len() + raw.len()) as u64 <= most {
            self.buf.extend_from_slice(raw);
        }
        self.total += raw.len() as u64;
        while self
            .restarts
            .get(self.next)
            .is_some_and(|r| self.total >= r.raw.saturating_add(self.lookahead))
        {
            self.submit(out);
        }
        if finish {
            while self.next <= self.restarts.len() {
                self.submit(out);
            }
            let done = self.pieces.drain();
            self.join(done, out);
            out.extend(self.held.take());
        } else {
            let done = self.pieces.ready();
            self.join(done, out);
        }
    }

    /// Hands out the next piece: up to the next restart point, or the rest when there is none.
    fn submit(&mut self, out: &mut Vec<u8>) {
        let from = self.next.checked_sub(1).map(|k| self.restarts[k]);
        let to = self.restarts.get(self.next).copied();
        self.next += 1;
        let start = from.map_or(0, |r| r.base);
        let end = to.map_or(self.total, |t| {
            t.raw.saturating_add(self.lookahead).min(self.total)
        });
        let range = (start.saturating_sub(self.buf_start) as usize)
            ..(end.saturating_sub(self.buf_start) as usize);
        let input = self.buf.get(range).unwrap_or_default();
        let mut raw = self.pieces.buffer(input.len());
        raw.extend_from_slice(input);
        if let Some(t) = to {
            // What no later piece needs: everything before the next piece's window.
            let drop = (t.base.saturating_sub(self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
        }
        self.partial.push_back(to.is_some_and(|t| t.bit % 8 != 0));
        let (level, piece) = (self.level, self.piece);
        let job =
            move |raw: &[u8]| piece(level, from.as_ref(), to.as_ref(), raw).unwrap_or_default();
        let done = self.pieces.submit(raw, job);
        self.join(done, out);
    }

    /// Appends finished pieces in order, joining the byte one ends in with the next one's first.
    fn join(&mut self, done: Vec<Vec<u8>>, out: &mut Vec<u8>) {
        for mut bytes in done {
            if let Some(h) = self.held.take() {
                match bytes.first_mut() {
                    Some(first) => *first |= h,
                    None => bytes.push(h),
                }
            }
            if self.partial.pop_front().unwrap_or(false) {
                self.held = bytes.pop();
            }
            out.extend_from_slice(&bytes);
        }
    }
}

impl Encoder for ParallelPgzip {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.run(raw, false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], true, out);
    }

    fn pieces(&self) -> u64 {
        self.pieces.started()
    }
}

impl Encoder for ParallelRestarts {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.run(raw, false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], true, out);
    }

    fn pieces(&self) -> u64 {
        self.pieces.started()
    }
}

impl Rebuilder {
    /// A rebuilder that also records restart points (`restarts`) where its encoder has them,
    /// and makes the stream as a reader of those points does (`go::Recorder`): what it makes
    /// is what the recipe with its restart points rebuilds.
    pub fn recording(recipe: &Recipe) -> Option<Rebuilder> {
        let mut r = Rebuilder::new(&Recipe {
            restarts: Vec::new(),
            ..recipe.clone()
        })?;
        let recorder: Option<Box<dyn Recording>> = match recipe.producer {
            Producer::Go { level } => crate::go::Recorder::new(level, RESTART_SPACING)
                .map(|r| Box::new(r) as Box<dyn Recording>),
            Producer::Zlib { level } => crate::zlib::Recorder::new(level, RESTART_SPACING)
                .map(|r| Box::new(r) as Box<dyn Recording>),
            Producer::Gnu { level } => crate::gnu::Recorder::new(level, RESTART_SPACING)
                .map(|r| Box::new(r) as Box<dyn Recording>),
            _ => None,
        };
        if let Some(rec) = recorder {
            r.engine = Engine::Recording(rec);
        }
        Some(r)
    }

    /// The restart points recorded so far.
    pub fn restarts(&self) -> Vec<Restart> {
        match &self.engine {
            Engine::Recording(r) => r.restarts().to_vec(),
            _ => Vec::new(),
        }
    }

    /// A rebuilder for `recipe`; None for a producer or level this version cannot run.
    pub fn new(recipe: &Recipe) -> Option<Rebuilder> {
        let engine = match recipe.producer {
            Producer::Go { level } if !recipe.restarts.is_empty() => {
                Deflater::new(level)?;
                let restarts = recipe.restarts.clone();
                let pieces = ParallelRestarts::new(level, go_piece, restarts, LOOKAHEAD);
                Engine::Other(Box::new(pieces))
            }
            Producer::Zlib { level } if !recipe.restarts.is_empty() => {
                Zlib::new(level)?;
                let restarts = recipe.restarts.clone();
                let pieces = ParallelRestarts::new(level, crate::zlib::piece, restarts, LOOKAHEAD);
                Engine::Other(Box::new(pieces))
            }
            Producer::Gnu { level } if !recipe.restarts.is_empty() => {
                crate::gnu::Deflater::new(level)?;
                let restarts = recipe.restarts.clone();
                let lookahead = crate::gnu::PIECE_LOOKAHEAD;
                let pieces = ParallelRestarts::new(level, crate::gnu::piece, restarts, lookahead);
                Engine::Other(Box::new(pieces))
            }
            Producer::Go { level } => Engine::Other(Box::new(Deflater::new(level)?)),
            Producer::Go127 { level } => Engine::Other(Box::new(klauspost::Deflater::new(level)?)),
            Producer::Pgzip { level, kind } => {
                Pgzip::new(level, kind)?;
                Engine::Other(Box::new(ParallelPgzip {
                    level,
                    kind,
                    pending: Vec::new(),
                    tail: None,
                    pieces: Pieces::default(),
                }))
            }
            Producer::Gnu { level } => Engine::Other(Box::new(crate::gnu::Deflater::new(level)?)),
            Producer::Pigz { level } => {
                crate::pigz::Pigz::new(level)?;
                Engine::Other(Box::new(ParallelPigz {
                    level,
                    pending: Vec::new(),
                    dict: Vec::new(),
                    pieces: Pieces::default(),
                }))
            }
            Producer::PigzSerial { level } => {
                Engine::Other(Box::new(crate::pigz::PigzSerial::new(level)?))
            }
            Producer::Zlib { level } => Engine::Other(Box::new(Zlib::new(level)?)),
            Producer::Preflate { side, sha256 } => {
                Engine::Preflate(Box::new(Recreate::new(side, sha256)?))
            }
        };
        Some(Rebuilder {
            engine,
            crc: crc32fast::Hasher::new(),
            len: 0,
            header: Some(recipe.header.clone()),
        })
    }

    /// How many pieces of the stream were handed out so far to be made on every core: none
    /// when it is made on the caller's thread alone.
    pub fn pieces(&self) -> u64 {
        match &self.engine {
            Engine::Recording(r) => r.pieces(),
            Engine::Preflate(p) => p.pieces(),
            Engine::Other(e) => e.pieces(),
        }
    }

    /// The gzip bytes that `member`, the next bytes of the member, let out: uncompressed
    /// bytes, after the side data for `Producer::Preflate`.
    pub fn feed(&mut self, member: &[u8]) -> Vec<u8> {
        let raw = match &mut self.engine {
            Engine::Preflate(p) => p.take_side(member),
            _ => member,
        };
        self.crc.update(raw);
        self.len += raw.len() as u64;
        let mut out = self.header.take().unwrap_or_default();
        self.engine.run(raw, false, &mut out);
        out
    }

    /// The rest of the stream and its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        self.engine.run(&[], true, &mut out);
        out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        out.extend_from_slice(&(self.len as u32).to_le_bytes());
        out
    }
}

/// Reads the gzip stream rebuilt from a reader of the uncompressed bytes.
pub struct RebuildReader<R> {
    raw: R,
    rebuilder: Option<Rebuilder>,
    buf: Vec<u8>,
    at: usize,
    input: Vec<u8>,
}

impl<R: Read> RebuildReader<R> {
    /// Reads the gzip stream `rebuilder` makes of what `raw` yields.
    pub fn new(raw: R, rebuilder: Rebuilder) -> Self {
        RebuildReader {
            raw,
            rebuilder: Some(rebuilder),
            buf: Vec::new(),
            at: 0,
            input: vec![0; 128 * 1024],
        }
    }
}

impl<R: Read> Read for RebuildReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            let Some(r) = self.rebuilder.as_mut() else {
                return Ok(0);
            };
            let n = self.raw.read(&mut self.input)?;
            self.buf = match n {
                0 => self
                    .rebuilder
                    .take()
                    .map(Rebuilder::finish)
                    .unwrap_or_default(),
                n => r.feed(&self.input[..n]),
            };
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Takes uncompressed bytes and writes the rebuilt gzip stream into `W`; `finish` writes its
/// end.
pub struct RebuildWriter<W: Write> {
    out: W,
    rebuilder: Rebuilder,
}

impl<W: Write> RebuildWriter<W> {
    /// Writes into `out` the gzip stream `rebuilder` makes of what is written.
    pub fn new(out: W, rebuilder: Rebuilder) -> Self {
        RebuildWriter { out, rebuilder }
    }

    /// The restart points its rebuilder recorded (`Rebuilder::recording`).
    pub fn restarts(&self) -> Vec<Restart> {
        self.rebuilder.restarts()
    }

    /// Writes the stream's end (the rest, CRC-32 and size) and hands back `out`.
    pub fn finish(self) -> io::Result<W> {
        let mut out = self.out;
        out.write_all(&self.rebuilder.finish())?;
        Ok(out)
    }
}

impl<W: Write> Write for RebuildWriter<W> {
    fn write(&mut self, raw: &[u8]) -> io::Result<usize> {
        let bytes = self.rebuilder.feed(raw);
        self.out.write_all(&bytes)?;
        Ok(raw.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgzip_blocks_compressed_in_parallel_join_into_what_one_encoder_writes() {
        let block = crate::klauspost::PGZIP_BLOCK;
        // 11 blocks and a bit: more pieces than are in flight, so later pieces fill the input
        // buffers earlier ones gave back.
        let many = 11 * block + 3;
        for size in [
            0,
            1,
            block,
            2 * block,
            2 * block + 1,
            5 * block + block / 2,
            many,
        ] {
            // Words from a small vocabulary, so blocks find matches in the block before.
            let words = [
                "layer ",
                "tar ",
                "usr/lib/",
                "x86_64 ",
                "\n",
                "libc.so.6 ",
                "00644 ",
            ];
            let mut seed = 12345u32;
            let mut raw = Vec::with_capacity(size);
            while raw.len() < size {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                raw.extend_from_slice(words[(seed >> 16) as usize % words.len()].as_bytes());
            }
            raw.truncate(size);
            for (id, kind) in crate::recipe::PGZIP_KINDS {
                let want = crate::klauspost::pgzip(&raw, 5, kind).unwrap();
                let producer = Producer::Pgzip { level: 5, kind };
                let recipe = Recipe::new(producer, want[..10].to_vec()).unwrap();
                let mut w = RebuildWriter::new(Vec::new(), Rebuilder::new(&recipe).unwrap());
                // Odd feeds, so pieces are cut across them.
                for piece in raw.chunks(300_007) {
                    w.write_all(piece).unwrap();
                }
                assert!(w.finish().unwrap() == want, "{id}: {size} bytes");
            }
        }
    }

    #[test]
    fn a_go_stream_with_restart_points_is_rebuilt_in_pieces_as_go_writes_it() {
        let words = [
            "layer ",
            "tar ",
            "usr/lib/",
            "x86_64 ",
            "\n",
            "libc.so.6 ",
            "00644 ",
        ];
        let mut seed = 99u32;
        let mut raw = Vec::new();
        while raw.len() < 11 << 20 {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            match (seed >> 16) % 16 {
                0 => raw.extend((0..64).map(|i| (seed >> (i % 24)) as u8)),
                k => raw.extend_from_slice(words[k as usize % words.len()].as_bytes()),
            }
        }
        let want = crate::go::gzip(&raw, 6).unwrap();
        let recipe = Recipe::new(Producer::Go { level: 6 }, want[..10].to_vec()).unwrap();
        let mut w = RebuildWriter::new(Vec::new(), Rebuilder::recording(&recipe).unwrap());
        w.write_all(&raw).unwrap();
        let restarts = w.restarts();
        assert!(w.finish().unwrap() == want);
        assert!(restarts.len() >= 2, "{} restarts", restarts.len());
        let recipe = recipe.with_restarts(restarts, raw.len() as u64).unwrap();
        let mut got = Vec::new();
        RebuildReader::new(&raw[..], Rebuilder::new(&recipe).unwrap())
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == want, "pieces joined differ");
        // A restart point moved by a byte is refused, not followed.
        let refused = |change: &dyn Fn(&mut Restart)| {
            let mut bad = recipe.restarts.clone();
            change(&mut bad[0]);
            recipe
                .clone()
                .with_restarts(bad, raw.len() as u64)
                .is_none()
        };
        assert!(refused(&|r| r.base += 1));
        assert!(refused(&|r| r.raw = raw.len() as u64));
        // A match with no literal pending, or with no distance, is no state Go is ever in.
        assert!(refused(&|r| (r.pending, r.length) = (false, 5)));
        assert!(refused(&|r| (r.pending, r.length, r.offset) = (true, 5, 0)));
        assert!(!refused(&|r| (r.pending, r.length, r.offset) = (true, 5, 1)));
    }

    /// `raw` rebuilt with `recipe`, fed in MiB cuts; the output and the pieces it took.
    fn rebuilt_in_pieces(recipe: &Recipe, raw: &[u8]) -> (Vec<u8>, u64) {
        let mut r = Rebuilder::new(recipe).unwrap();
        let mut got = Vec::new();
        for cut in raw.chunks(1 << 20) {
            got.extend(r.feed(cut));
        }
        let pieces = r.pieces();
        got.extend(r.finish());
        (got, pieces)
    }

    /// Words and noise, so blocks end after matches and after literals, and runs of noise
    /// long enough to hold blocks of literals only.
    fn words_and_noise(size: usize, seed: u32) -> Vec<u8> {
        let words = [
            "layer ",
            "tar ",
            "usr/lib/",
            "x86_64 ",
            "\n",
            "libc.so.6 ",
            "00644 ",
        ];
        let mut seed = seed;
        let mut raw = Vec::new();
        while raw.len() < size {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            match (seed >> 16) % 512 {
                0 => raw.extend((0..300_000u32).map(|i| (i.wrapping_mul(seed) >> 13) as u8)),
                1..=40 => raw.extend((0..64).map(|i| (seed >> (i % 24)) as u8)),
                k => raw.extend_from_slice(words[k as usize % words.len()].as_bytes()),
            }
        }
        raw.truncate(size);
        raw
    }

    #[test]
    fn a_zlib_stream_with_restart_points_is_rebuilt_in_pieces_as_zlib_writes_it() {
        let raw = words_and_noise(13 << 20, 5);
        for level in [4, 6, 9] {
            let mut want = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
            let mut z = Zlib::new(level).unwrap();
            z.write(&raw, &mut want);
            z.finish(&mut want);
            want.extend_from_slice(&crate::gzip::trailer(&raw));
            let recipe = Recipe::new(Producer::Zlib { level }, want[..10].to_vec()).unwrap();
            let mut w = RebuildWriter::new(Vec::new(), Rebuilder::recording(&recipe).unwrap());
            for cut in raw.chunks(300_007) {
                w.write_all(cut).unwrap();
            }
            let restarts = w.restarts();
            assert!(
                w.finish().unwrap() == want,
                "level {level}: the recorder's stream"
            );
            assert!(restarts.len() >= 2, "level {level}: {restarts:?}");
            assert!(restarts.iter().any(|r| r.bit % 8 != 0), "{restarts:?}");
            let recipe = recipe.with_restarts(restarts, raw.len() as u64).unwrap();
            let (got, pieces) = rebuilt_in_pieces(&recipe, &raw);
            assert!(pieces >= 2, "level {level}: {pieces} pieces");
            assert!(got == want, "level {level}: pieces joined differ");
        }
    }

    #[test]
    fn zlib_restart_points_no_encoder_records_are_refused() {
        let raw_size = 30 << 20;
        let good = vec![
            crate::zlib::restart(5 << 20, 9_000_001).unwrap(),
            crate::zlib::restart(10 << 20, 18_000_000).unwrap(),
        ];
        let recipe = |level| {
            Recipe::new(
                Producer::Zlib { level },
                vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
            )
            .unwrap()
        };
        let with = |level, list: Vec<Restart>| recipe(level).with_restarts(list, raw_size);
        assert!(
            with(6, good.clone()).is_none(),
            "the end is more than 12 MiB on"
        );
        let raw_size = 20 << 20;
        let with = |level, list: Vec<Restart>| recipe(level).with_restarts(list, raw_size);
        assert!(with(6, good.clone()).is_some());
        assert!(
            with(3, good.clone()).is_none(),
            "level 3 has no restart points"
        );
        let refused = |change: &dyn Fn(&mut Restart)| {
            let mut bad = good.clone();
            change(&mut bad[1]);
            with(6, bad).is_none()
        };
        assert!(refused(&|r| r.base += 1));
        assert!(refused(&|r| r.pending = true));
        assert!(refused(&|r| (r.length, r.offset) = (3, 1)));
        assert!(refused(&|r| r.bit = 9_000_000));
        assert!(refused(&|r| r.raw = raw_size));
        assert!(refused(&|r| (r.raw, r.base) = (100, 0)));
        // What a forged list that passes makes is some stream, never a panic.
        let raw = words_and_noise(2 << 20, 9);
        let forged = vec![crate::zlib::restart(1 << 20, 3).unwrap()];
        let recipe = recipe(6).with_restarts(forged, raw.len() as u64).unwrap();
        assert!(crate::identify::rebuild(&raw, &recipe).is_some());
    }

    #[test]
    fn a_gnu_stream_with_restart_points_is_rebuilt_in_pieces_as_gzip_writes_it() {
        let raw = words_and_noise(8 << 20, 11);
        for level in [4, 6, 9] {
            let want = crate::gnu::gzip(&raw, level).unwrap();
            let (header, trailer) = (&want[..10], &want[want.len() - 8..]);
            // Points far closer than create's, so there are many of each kind.
            let mut rec = crate::gnu::Recorder::new(level, 150_000).unwrap();
            let mut made = header.to_vec();
            for cut in raw.chunks(77_777) {
                rec.write(cut, &mut made);
            }
            rec.finish(&mut made);
            made.extend_from_slice(trailer);
            assert!(made == want, "level {level}: the recorder's stream");
            let restarts = rec.restarts().to_vec();
            assert!(restarts.len() >= 3, "level {level}: {restarts:?}");
            let kinds = |f: &dyn Fn(&Restart) -> bool| restarts.iter().any(f);
            assert!(
                kinds(&|r| !r.pending) && kinds(&|r| r.pending),
                "{restarts:?}"
            );
            assert!(kinds(&|r| r.bit % 8 != 0) && kinds(&|r| r.base > 0));
            let recipe = Recipe::new(Producer::Gnu { level }, header.to_vec()).unwrap();
            let recipe = recipe.with_restarts(restarts, raw.len() as u64).unwrap();
            let (got, pieces) = rebuilt_in_pieces(&recipe, &raw);
            assert!(pieces >= 3, "level {level}: {pieces} pieces");
            assert!(got == want, "level {level}: pieces joined differ");
        }
        assert!(crate::gnu::Recorder::new(3, 150_000).is_none());
    }

    #[test]
    fn gnu_restart_points_no_gzip_records_are_refused() {
        let w = 32768u64;
        let point = |raw, base, bit, pending, length, offset| Restart {
            raw,
            base,
            bit,
            pending,
            length,
            offset,
        };
        let good = vec![
            point(5 << 20, (5 << 20) - w, 9_000_001, true, 7, 300),
            point((9 << 20) + w - 300, (9 << 20) - w, 18_000_000, false, 2, 0),
        ];
        let recipe = |level| {
            Recipe::new(
                Producer::Gnu { level },
                vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
            )
            .unwrap()
        };
        let raw_size = 20 << 20;
        let with = |level, list: Vec<Restart>| recipe(level).with_restarts(list, raw_size);
        assert!(with(6, good.clone()).is_some());
        assert!(with(3, good.clone()).is_none(), "level 3 has none");
        assert!(
            recipe(6).with_restarts(good.clone(), 30 << 20).is_none(),
            "the end is far"
        );
        let refused = |change: &dyn Fn(&mut Restart)| {
            let mut bad = good.clone();
            change(&mut bad[0]);
            with(6, bad).is_none()
        };
        assert!(refused(&|r| r.base += 1), "a window base off 32 KiB");
        assert!(refused(&|r| r.base = r.raw + w), "a window past the point");
        assert!(refused(&|r| r.base -= 2 * w), "a window behind a slide");
        assert!(
            refused(&|r| r.raw = r.base + 2000),
            "before MAX_DIST after a slide"
        );
        assert!(
            refused(&|r| r.raw = r.base + 2 * w - 261),
            "no lookahead left"
        );
        assert!(
            refused(&|r| r.pending = false),
            "a match with no literal pending"
        );
        assert!(refused(&|r| r.offset = 0), "a match with no distance");
        assert!(refused(&|r| r.offset = 32_507), "past MAX_DIST");
        assert!(
            refused(&|r| (r.length, r.offset) = (3, 5000)),
            "a far 3-byte match"
        );
        assert!(refused(&|r| r.length = 259));
        assert!(refused(&|r| (r.length, r.offset) = (2, 7)));
        assert!(refused(&|r| r.bit = 18_000_000), "bits out of order");
        assert!(!refused(&|r| (r.length, r.offset) = (3, 4096)));
        assert!(!refused(&|r| (r.length, r.offset) = (2, 0)));
        let mut late = good.clone();
        late[1].base = raw_size - w;
        late[1].raw = late[1].base + 100;
        assert!(with(6, late).is_none(), "a window the input does not fill");
        // What a forged list that passes makes is some stream, never a panic: points at the
        // window's edges, with matches that are not there.
        let raw = words_and_noise(2 << 20, 9);
        let far = 2 * w - 262;
        let edges = [
            point(5 * w + far, 5 * w, 3, true, 258, 32_506),
            point(19 * w + 32_506, 19 * w, 40, true, 258, 32_505),
            point(20 * w + far, 20 * w, 41, true, 3, 1),
            point(30 * w + 2 * w - 5, 30 * w, 900, false, 2, 0),
            point(40 * w + 32_506, 40 * w, 1, false, 2, 0),
            point(100, 0, 7, true, 3, 99),
        ];
        for p in edges {
            let recipe = recipe(6).with_restarts(vec![p], raw.len() as u64);
            let recipe = recipe.unwrap_or_else(|| panic!("{p:?} refused"));
            assert!(crate::identify::rebuild(&raw, &recipe).is_some());
        }
    }

    #[test]
    fn reader_and_writer_rebuild_what_go_writes_in_one_piece() {
        let raw: Vec<u8> = (0..700_000u32)
            .map(|i| (i % 97) as u8 ^ (i >> 11) as u8)
            .collect();
        for level in [1, 6] {
            let want = crate::go::gzip(&raw, level).unwrap();
            let recipe = Recipe::new(Producer::Go { level }, want[..10].to_vec()).unwrap();
            let mut got = Vec::new();
            RebuildReader::new(&raw[..], Rebuilder::new(&recipe).unwrap())
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == want, "reader, level {level}");
            let mut w = RebuildWriter::new(Vec::new(), Rebuilder::new(&recipe).unwrap());
            for piece in raw.chunks(5000) {
                w.write_all(piece).unwrap();
            }
            assert!(w.finish().unwrap() == want, "writer, level {level}");
        }
    }
}
