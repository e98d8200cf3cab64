//! Go 1.27's compress/flate encoder, byte for byte: Go 1.27 replaced the encoder of Go
//! 1.8–1.26 (`goflate`) with a port of klauspost/compress's, so BuildKit, containerd and
//! moby built with Go 1.27 write this. Written from the algorithm as Go's source describes
//! it; judged against the Go 1.27 toolchain itself (tests/it/kpflate.rs).

mod fast;
mod lazy;
mod tokens;
mod writer;

use fast::Fast;
use lazy::{Lazy, Out};
use tokens::Tokens;
use writer::BitWriter;

const MAX_STORE_BLOCK_SIZE: usize = 65535;
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
        let (mode, window, penalty) = match level {
            0 => (Mode::Store, MAX_STORE_BLOCK_SIZE, 0),
            HUFFMAN_ONLY => (Mode::HuffmanOnly, 32 << 10, 10),
            1..=6 => (Mode::Fast, MAX_STORE_BLOCK_SIZE, 7),
            7..=9 => (Mode::Lazy, 0, 8),
            _ => return None,
        };
        Some(Deflater {
            mode,
            w: BitWriter::new(penalty),
            window: vec![0; window],
            window_end: 0,
            tokens: Tokens::default(),
            fast: (mode == Mode::Fast).then(|| Fast::new(level)),
            lazy: (mode == Mode::Lazy).then(|| Box::new(Lazy::new(level))),
            sync: false,
        })
    }

    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.w.out)
    }

    pub fn write(&mut self, mut b: &[u8]) {
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

    /// Everything written so far out to a byte boundary (Z_SYNC_FLUSH): what pgzip does at
    /// the end of each block.
    pub fn sync_flush(&mut self) {
        self.sync = true;
        self.step();
        self.w.write_stored_header(0, false);
        self.w.flush();
        self.sync = false;
    }

    /// The rest, then the empty final block.
    pub fn close(&mut self) {
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
    d.write(limit.map_or(input, |l| &input[..l.min(input.len())]));
    if limit.is_none() {
        d.close();
    }
    Some(d.take_output())
}

/// `input` as Go 1.27's gzip.Writer writes it at `level` (no name, no mtime).
pub fn gzip(input: &[u8], level: i32) -> Option<Vec<u8>> {
    let mut out = vec![
        0x1f,
        0x8b,
        8,
        0,
        0,
        0,
        0,
        0,
        crate::goflate::xfl(level),
        255,
    ];
    out.extend_from_slice(&deflate(input, level, None)?);
    out.extend_from_slice(&crate::goflate::trailer(input));
    Some(out)
}
