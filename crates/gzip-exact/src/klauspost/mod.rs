//! The klauspost lineage of deflate, byte for byte: Go 1.27's compress/flate (Go 1.27
//! replaced the encoder of Go 1.8–1.26 (`go`), with a port of klauspost/compress's, so
//! BuildKit, containerd and moby built with Go 1.27 write this), and klauspost/compress 1.15
//! to 1.20 itself as pgzip runs it for podman, buildah, skopeo and umoci (`Pgzip`). Written
//! from the algorithm as the sources describe it; judged against the Go 1.27 toolchain and
//! pgzip built with Debian's klauspost/compress 1.15.12, 1.17.9, 1.18.0 and 1.20.3
//! (tests/judges/klauspost.rs).

use crate::encoder::Encoder;
mod fast;
mod lazy;
mod tokens;
mod writer;

use fast::Fast;
use lazy::{Lazy, Out};
use tokens::Tokens;
use writer::BitWriter;

const MAX_STORE_BLOCK_SIZE: usize = 65535;
/// Go's HuffmanOnly level, as in `go`.
pub const HUFFMAN_ONLY: i32 = -2;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Store,
    HuffmanOnly,
    Fast,
    Lazy,
}

/// The compressor: feed it with `write`, end with `close`; the compressed bytes accumulate
/// and are taken with `take_output`.
pub struct Deflater {
    mode: Mode,
    w: BitWriter,
    window: Vec<u8>,
    window_end: usize,
    tokens: Tokens,
    fast: Option<Fast>,
    /// Levels 7–9 keep their own, larger window.
    lazy: Option<Box<Lazy>>,
    sync: bool,
}

impl Deflater {
    /// None for a level this encoder does not have (-1 is written as the level it means, 6).
    pub fn new(level: i32) -> Option<Deflater> {
        Deflater::flavored(level, Flate::V1_18_1)
    }

    /// Go 1.27's encoder (a port of klauspost/compress 1.18's), or klauspost/compress's own
    /// as `flate` wrote it.
    fn flavored(level: i32, flate: Flate) -> Option<Deflater> {
        let (mode, window, penalty) = match level {
            0 => (Mode::Store, MAX_STORE_BLOCK_SIZE, 0),
            HUFFMAN_ONLY => (Mode::HuffmanOnly, 32 << 10, 10),
            1..=6 => (Mode::Fast, MAX_STORE_BLOCK_SIZE, 7),
            7..=9 => (Mode::Lazy, 0, 8),
            _ => return None,
        };
        Some(Deflater {
            mode,
            w: BitWriter::new(penalty, flate.fills_open_blocks()),
            window: vec![0; window],
            window_end: 0,
            tokens: Tokens::default(),
            fast: (mode == Mode::Fast).then(|| Fast::new(level, flate == Flate::V1_15)),
            lazy: (mode == Mode::Lazy).then(|| Box::new(Lazy::new(level))),
            sync: false,
        })
    }

    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.w.bits.out)
    }

    pub(crate) fn push(&mut self, mut b: &[u8]) {
        if self.lazy.is_some() {
            return self.write_lazy(b);
        }
        while !b.is_empty() {
            if self.window_end == self.window.len() || self.sync {
                self.step();
            }
            let n = b.len().min(self.window.len() - self.window_end);
            self.window[self.window_end..self.window_end + n].copy_from_slice(&b[..n]);
            self.window_end += n;
            b = &b[n..];
        }
    }

    fn write_lazy(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let Some(lazy) = self.lazy.as_mut() else {
                return;
            };
            if lazy.full() || self.sync {
                self.step();
            }
            let Some(lazy) = self.lazy.as_mut() else {
                return;
            };
            b = &b[lazy.fill(b)..];
        }
    }

    /// Primes the encoder with `dict` as if it had been written, without output (Go's
    /// ResetDict on a fresh writer). Only the fast levels are primed, as Go primes them; the
    /// others are not offered for dictionaries (`pgzip` refuses them).
    fn fill_window(&mut self, dict: &[u8]) {
        if let Some(fast) = self.fast.as_mut() {
            let dict = &dict[dict.len().saturating_sub(fast::MAX_MATCH_OFFSET as usize)..];
            fast.encode(&mut self.tokens, dict);
            self.tokens.reset();
        }
    }

    /// Everything written so far out to a byte boundary (Z_SYNC_FLUSH): what pgzip does at
    /// the end of each block.
    pub(crate) fn sync_flush(&mut self) {
        self.sync = true;
        self.step();
        self.w.write_stored_header(0, false);
        self.w.flush();
        self.sync = false;
    }

    /// The rest, then the empty final block.
    pub(crate) fn end(&mut self) {
        self.sync = true;
        self.step();
        self.w.write_stored_header(0, true);
        self.w.flush();
    }

    fn step(&mut self) {
        let end = self.window_end;
        match self.mode {
            Mode::Store => {
                if end > 0 && (end == MAX_STORE_BLOCK_SIZE || self.sync) {
                    self.w.write_stored(&self.window[..end], false);
                    self.window_end = 0;
                }
            }
            Mode::HuffmanOnly => {
                if end < self.window.len() && !self.sync || end == 0 {
                    return;
                }
                self.w
                    .write_block_huff(false, &self.window[..end], self.sync);
                self.window_end = 0;
            }
            Mode::Fast => self.deflate_fast(),
            Mode::Lazy => {
                if let Some(lazy) = self.lazy.as_mut() {
                    lazy.step(&mut Out {
                        w: &mut self.w,
                        tokens: &mut self.tokens,
                        sync: self.sync,
                    });
                }
            }
        }
    }

    /// A block per full window (or at a flush): tiny final blocks stored or Huffman-only,
    /// blocks without matches stored, blocks that found few Huffman-only.
    fn deflate_fast(&mut self) {
        let end = self.window_end;
        let Some(fast) = self.fast.as_mut() else {
            return;
        };
        let input = &self.window[..end];
        if end < self.window.len() {
            if !self.sync {
                return;
            }
            if end < 128 {
                match end {
                    0 => return,
                    1..=32 => self.w.write_stored(input, false),
                    _ => self.w.write_block_huff(false, input, true),
                }
                self.tokens.reset();
                self.window_end = 0;
                fast.reset();
                return;
            }
        }
        fast.encode(&mut self.tokens, input);
        if self.tokens.n() == 0 {
            self.w.write_stored(input, false);
        } else if self.tokens.n() > end - (end >> 4) {
            self.w.write_block_huff(false, input, self.sync);
        } else {
            self.w
                .write_block_dynamic(&mut self.tokens, false, Some(input), self.sync);
        }
        self.tokens.reset();
        self.window_end = 0;
    }
}

/// The deflate stream of `input` at `level`. With `limit`, only of the first `limit` bytes and
/// left unfinished: whole bytes so far, a prefix of the finished stream's.
pub fn deflate(input: &[u8], level: i32, limit: Option<usize>) -> Option<Vec<u8>> {
    let mut d = Deflater::new(level)?;
    d.push(limit.map_or(input, |l| &input[..l.min(input.len())]));
    if limit.is_none() {
        d.end();
    }
    Some(d.take_output())
}

/// `input` as Go 1.27's gzip.Writer writes it at `level` (no name, no mtime).
pub fn gzip(input: &[u8], level: i32) -> Option<Vec<u8>> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, crate::gzip::xfl(level), 255];
    out.extend_from_slice(&deflate(input, level, None)?);
    out.extend_from_slice(&crate::gzip::trailer(input));
    Some(out)
}

/// Which klauspost/compress compressed a pgzip stream: its fast levels changed their bytes
/// twice from 1.15 to 1.20.3 (docs/FORMAT.md says where).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flate {
    /// 1.15.x to 1.17.x (Debian 12's skopeo, umoci, buildah and podman); judged against
    /// 1.15.12 and 1.17.9.
    V1_15,
    /// 1.18.0: level 4 compares its second candidate from the distance, not the position.
    V1_18_0,
    /// 1.18.1 to 1.20.3: also, a block left open declares only the codes it uses, as Go
    /// 1.27's port of it does.
    V1_18_1,
}

impl Flate {
    fn fills_open_blocks(self) -> bool {
        self != Flate::V1_18_1
    }
}

/// How a pgzip stream was made: which klauspost/compress, and the block size its writer was
/// given (`SetConcurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgzipKind {
    /// The encoder.
    pub flate: Flate,
    /// Bytes per block: `PGZIP_BLOCK` or `UMOCI_BLOCK`.
    pub block: usize,
}

/// pgzip's block as containers/image (podman, buildah, skopeo) leaves it: 1 MiB.
pub const PGZIP_BLOCK: usize = 1 << 20;
/// The block umoci sets (`SetConcurrency(256<<10, ...)`).
pub const UMOCI_BLOCK: usize = 256 << 10;
/// The bytes of the block before that prime each block's encoder.
pub const PGZIP_TAIL: usize = 16384;

impl PgzipKind {
    /// containers/image's pgzip with Debian 12's klauspost/compress.
    pub const DEFAULT: PgzipKind = PgzipKind {
        flate: Flate::V1_15,
        block: PGZIP_BLOCK,
    };
}

/// klauspost's pgzip: the input cut into blocks, each compressed by a fresh encoder primed
/// with the last 16 KiB of the block before and ended with a sync flush, the last block also
/// closed. The blocks' outputs simply follow each other, so this is one deflate stream.
pub struct Pgzip {
    level: i32,
    kind: PgzipKind,
    block: Vec<u8>,
    tail: Option<Vec<u8>>,
}

impl Pgzip {
    /// None for a level pgzip's encoders do not prime the same way (only 1–6 here), or a
    /// block size no producer here uses.
    pub fn new(level: i32, kind: PgzipKind) -> Option<Pgzip> {
        let known = [PGZIP_BLOCK, UMOCI_BLOCK].contains(&kind.block);
        ((1..=6).contains(&level) && known).then(|| Pgzip {
            level,
            kind,
            block: Vec::with_capacity(kind.block),
            tail: None,
        })
    }

    /// An encoder that goes on from a block boundary: `tail` is the last 16 KiB of the block
    /// before, if there was one. Blocks depend on nothing else, so a stream's blocks can be
    /// compressed apart and their outputs put one after the other.
    pub fn resume(level: i32, kind: PgzipKind, tail: Option<Vec<u8>>) -> Option<Pgzip> {
        let mut p = Pgzip::new(level, kind)?;
        p.tail = tail;
        Some(p)
    }

    /// A fresh encoder for the next block, primed with the tail of the one before.
    fn block_encoder(&self) -> Option<Deflater> {
        let mut d = Deflater::flavored(self.level, self.kind.flate)?;
        if let Some(tail) = &self.tail {
            d.fill_window(tail);
        }
        Some(d)
    }

    fn compress(&mut self, closed: bool, out: &mut Vec<u8>) {
        let Some(mut d) = self.block_encoder() else {
            return;
        };
        d.push(&self.block);
        d.sync_flush();
        if closed {
            d.end();
        }
        out.extend_from_slice(&d.take_output());
        self.next_block();
    }

    fn next_block(&mut self) {
        self.tail = tail_of(&self.block);
        self.block.clear();
    }
}

/// What of a block primes the next block's encoder: its last `PGZIP_TAIL` bytes, unless it
/// is no longer than that (pgzip then primes with nothing).
pub fn tail_of(block: &[u8]) -> Option<Vec<u8>> {
    (block.len() > PGZIP_TAIL).then(|| block[block.len() - PGZIP_TAIL..].to_vec())
}

/// Whether `deflate` begins as pgzip (`level`, `kind`) writes `raw`, the first bytes of a
/// stream. The output is compared as each 64 KiB window is compressed, so a wrong guess is
/// refused after about a window's work, not a MiB's.
pub fn begins(level: i32, kind: PgzipKind, raw: &[u8], deflate: &[u8]) -> bool {
    let Some(mut p) = Pgzip::new(level, kind) else {
        return false;
    };
    let mut at = 0;
    let mut same = |out: Vec<u8>| {
        let fits = deflate.get(at..at + out.len()) == Some(&out[..]);
        at += out.len();
        fits
    };
    for block in raw.chunks(kind.block) {
        let Some(mut d) = p.block_encoder() else {
            return false;
        };
        for window in block.chunks(MAX_STORE_BLOCK_SIZE) {
            d.push(window);
            if !same(d.take_output()) {
                return false;
            }
        }
        // A short last block may go on past `raw`: how it ends is not known here.
        if block.len() < kind.block {
            break;
        }
        d.sync_flush();
        if !same(d.take_output()) {
            return false;
        }
        p.tail = tail_of(block);
    }
    true
}

impl Encoder for Pgzip {
    /// Takes `raw`, appending to `out` the output of every block it completes.
    fn write(&mut self, mut raw: &[u8], out: &mut Vec<u8>) {
        while !raw.is_empty() {
            let n = raw.len().min(self.kind.block - self.block.len());
            self.block.extend_from_slice(&raw[..n]);
            raw = &raw[n..];
            if self.block.len() == self.kind.block {
                self.compress(false, out);
            }
        }
    }

    /// The last block (perhaps empty), closed.
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.compress(true, out);
    }
}

impl Encoder for Deflater {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.push(raw);
        out.extend_from_slice(&self.take_output());
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.end();
        out.extend_from_slice(&self.take_output());
    }
}

/// The mtime field pgzip writes when none is set: Go's zero time (year 1) in Unix seconds,
/// cut to 32 bits. No other producer writes it, so it names pgzip.
pub const PGZIP_MTIME: [u8; 4] = [0x00, 0x09, 0x6e, 0x88];

/// `input` as pgzip (`kind`) writes it at `level` (-1 is its default, 5), with no name or
/// mtime set.
pub fn pgzip(input: &[u8], level: i32, kind: PgzipKind) -> Option<Vec<u8>> {
    let xfl = crate::gzip::xfl(level);
    let level = if level == -1 { 5 } else { level };
    let mut p = Pgzip::new(level, kind)?;
    let mut out = vec![0x1f, 0x8b, 8, 0];
    out.extend_from_slice(&PGZIP_MTIME);
    out.extend_from_slice(&[xfl, 255]);
    p.write(input, &mut out);
    p.finish(&mut out);
    out.extend_from_slice(&crate::gzip::trailer(input));
    Some(out)
}
