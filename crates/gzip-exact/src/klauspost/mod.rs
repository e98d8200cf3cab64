//! The klauspost lineage of deflate, byte for byte: Go 1.27's compress/flate (Go 1.27
//! replaced the encoder of Go 1.8–1.26 (`go`), with a port of klauspost/compress's, so
//! BuildKit, containerd and moby built with Go 1.27 write this), and klauspost/compress 1.15
//! itself as pgzip runs it for podman, buildah and skopeo (`Pgzip`). Written from the
//! algorithm as the sources describe it; judged against the Go 1.27 toolchain and Debian's
//! pgzip (tests/judges/klauspost.rs).

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
        Deflater::flavored(level, false)
    }

    /// Go 1.27's encoder, or (`klauspost`) klauspost/compress 1.15's from which it was ported.
    fn flavored(level: i32, klauspost: bool) -> Option<Deflater> {
        let (mode, window, penalty) = match level {
            0 => (Mode::Store, MAX_STORE_BLOCK_SIZE, 0),
            HUFFMAN_ONLY => (Mode::HuffmanOnly, 32 << 10, 10),
            1..=6 => (Mode::Fast, MAX_STORE_BLOCK_SIZE, 7),
            7..=9 => (Mode::Lazy, 0, 8),
            _ => return None,
        };
        Some(Deflater {
            mode,
            w: BitWriter::new(penalty, klauspost),
            window: vec![0; window],
            window_end: 0,
            tokens: Tokens::default(),
            fast: (mode == Mode::Fast).then(|| Fast::new(level, klauspost)),
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

/// klauspost's pgzip as containers/image (podman, buildah, skopeo) runs it: the input cut
/// into 1 MiB blocks, each compressed by a fresh encoder primed with the last 16 KiB of the
/// block before and ended with a sync flush, the last block also closed. The blocks'
/// outputs simply follow each other, so this is one deflate stream.
pub struct Pgzip {
    level: i32,
    block: Vec<u8>,
    tail: Option<Vec<u8>>,
}

/// pgzip's block: each is compressed by a fresh encoder.
pub const PGZIP_BLOCK: usize = 1 << 20;
/// The bytes of the block before that prime each block's encoder.
pub const PGZIP_TAIL: usize = 16384;

impl Pgzip {
    /// None for a level pgzip's encoders do not prime the same way (only 1–6 here).
    pub fn new(level: i32) -> Option<Pgzip> {
        (1..=6).contains(&level).then(|| Pgzip {
            level,
            block: Vec::with_capacity(PGZIP_BLOCK),
            tail: None,
        })
    }

    /// An encoder that goes on from a block boundary: `tail` is the last 16 KiB of the block
    /// before, if there was one. Blocks depend on nothing else, so a stream's blocks can be
    /// compressed apart and their outputs put one after the other.
    pub fn resume(level: i32, tail: Option<Vec<u8>>) -> Option<Pgzip> {
        let mut p = Pgzip::new(level)?;
        p.tail = tail;
        Some(p)
    }

    fn compress(&mut self, closed: bool, out: &mut Vec<u8>) {
        let Some(mut d) = Deflater::flavored(self.level, true) else {
            return;
        };
        if let Some(tail) = &self.tail {
            d.fill_window(tail);
        }
        d.push(&self.block);
        d.sync_flush();
        if closed {
            d.end();
        }
        out.extend_from_slice(&d.take_output());
        self.tail = (self.block.len() > PGZIP_TAIL)
            .then(|| self.block[self.block.len() - PGZIP_TAIL..].to_vec());
        self.block.clear();
    }
}

impl Encoder for Pgzip {
    /// Takes `raw`, appending to `out` the output of every block it completes.
    fn write(&mut self, mut raw: &[u8], out: &mut Vec<u8>) {
        while !raw.is_empty() {
            let n = raw.len().min(PGZIP_BLOCK - self.block.len());
            self.block.extend_from_slice(&raw[..n]);
            raw = &raw[n..];
            if self.block.len() == PGZIP_BLOCK {
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

/// `input` as pgzip writes it at `level` (-1 is its default, 5), with no name or mtime set.
pub fn pgzip(input: &[u8], level: i32) -> Option<Vec<u8>> {
    let xfl = crate::gzip::xfl(level);
    let level = if level == -1 { 5 } else { level };
    let mut p = Pgzip::new(level)?;
    let mut out = vec![0x1f, 0x8b, 8, 0];
    out.extend_from_slice(&PGZIP_MTIME);
    out.extend_from_slice(&[xfl, 255]);
    p.write(input, &mut out);
    p.finish(&mut out);
    out.extend_from_slice(&crate::gzip::trailer(input));
    Some(out)
}
