//! The fallback for a deflate stream no encoder here reproduces: preflate-rs predicts the
//! stream's tokens from its uncompressed bytes as a zlib-like encoder would and records where
//! the prediction is wrong ("side data"). The stream is rebuilt from the bytes and that record.
//! The record is tied to preflate-rs's version (`ENCODER_PREFLATE` names it), which is why the
//! crate is pinned exactly.
//!
//! preflate-rs works a chunk at a time: it is given compressed bytes, takes the whole deflate
//! blocks among them and returns their corrections; rebuilding feeds each chunk's uncompressed
//! bytes with its corrections, in order. The side data is those chunks, serialised:
//!
//! ```text
//! u32 count, then per chunk: u64 uncompressed length, the sha256 of those bytes,
//!                            u32 corrections length, corrections
//! ```
//! (little-endian).
//!
//! preflate-rs 0.7.6 can loop without end (and without bound on memory) on corrections that do
//! not fit their bytes. So it is only ever given a chunk's bytes and corrections exactly as
//! `create` made them and proved they rebuild the layer: the side data must hash to the digest
//! `bundle.json` names, and each chunk's bytes to the sha256 the side data gives them.

use crate::cpu::thread_cpu_time;
use preflate_rs::{ExitCode, PreflateConfig, PreflateStreamProcessor, RecreateStreamProcessor};
use std::collections::VecDeque;
use std::io::{self, Cursor, Read};
use std::time::Duration;

/// The most uncompressed bytes one chunk may hold, at create and in a bundle: what a rebuild
/// buffers at once. Real deflate blocks hold well under 1 MiB.
pub const CHUNK_LIMIT: usize = 16 << 20;

/// The most side data a bundle may ask a reader to hold: create stores at most 3% of the gzip
/// bytes and never more than this.
pub const MAX_SIDE: u64 = 64 << 20;

/// preflate-rs counts positions in 31 bits; past this the stream is not tried.
pub const MAX_RAW: u64 = 3 << 29;

/// How much compressed input is offered per call.
const READ: usize = 1 << 20;

/// Why a stream is not carried with side data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The side data would pass its bound (`max_side`).
    TooLarge,
    /// preflate-rs refused the stream, failed or panicked on it.
    Refused,
    /// It ran past its deadline.
    TooSlow,
}

/// The bounds of one analysis.
pub struct Bounds {
    /// The most side data worth keeping.
    pub max_side: u64,
    /// The CPU time (of the analysing thread) after which the analysis gives up: CPU time,
    /// not wall-clock time, so that a loaded machine refuses no more than an idle one.
    pub cpu: Duration,
}

impl Bounds {
    /// Side data up to 3% of the `gzip_size` bytes (and `MAX_SIDE`), and CPU time enough to
    /// analyse 2 MB of them a second, after a 5 s start: preflate-rs itself runs several
    /// times faster on real layers.
    pub fn for_gzip(gzip_size: u64) -> Bounds {
        Bounds {
            max_side: (gzip_size * 3 / 100).min(MAX_SIDE),
            cpu: Duration::from_secs(5 + gzip_size / 2_000_000),
        }
    }
}

/// The side data of the deflate stream `deflate` reads, within `bounds`.
pub fn analyse(deflate: impl Read, bounds: &Bounds) -> io::Result<Result<Vec<u8>, Refusal>> {
    quietly(|| analyse_chunks(deflate, bounds)).unwrap_or(Ok(Err(Refusal::Refused)))
}

fn analyse_chunks(mut deflate: impl Read, bounds: &Bounds) -> io::Result<Result<Vec<u8>, Refusal>> {
    let config = PreflateConfig {
        max_chain_length: 4096,
        plain_text_limit: CHUNK_LIMIT,
        // The caller proves the whole stream by rebuilding it anyway.
        verify_compression: false,
    };
    let mut p = PreflateStreamProcessor::new(&config);
    let mut side = 0u32.to_le_bytes().to_vec();
    let mut count = 0u32;
    let mut input: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut ended = false;
    let started = thread_cpu_time();
    while !p.is_done() {
        if thread_cpu_time().saturating_sub(started) >= bounds.cpu {
            return Ok(Err(Refusal::TooSlow));
        }
        let r = match p.decompress(&input[at..]) {
            Ok(r) => r,
            Err(e) if e.exit_code() == ExitCode::ShortRead && !ended => {
                input.drain(..at);
                at = 0;
                let before = input.len();
                (&mut deflate).take(READ as u64).read_to_end(&mut input)?;
                ended = input.len() == before;
                continue;
            }
            Err(_) => return Ok(Err(Refusal::Refused)),
        };
        at += r.compressed_size;
        side.extend_from_slice(&(p.plain_text().len() as u64).to_le_bytes());
        side.extend_from_slice(&sha256(p.plain_text().text()));
        side.extend_from_slice(&(r.corrections.len() as u32).to_le_bytes());
        side.extend_from_slice(&r.corrections);
        count += 1;
        if side.len() as u64 > bounds.max_side {
            return Ok(Err(Refusal::TooLarge));
        }
        p.shrink_to_dictionary();
    }
    side[..4].copy_from_slice(&count.to_le_bytes());
    Ok(Ok(side))
}

/// The chunks side data lists, if it is well formed and within the bounds a reader keeps.
fn parse(side: &[u8]) -> Option<VecDeque<Chunk>> {
    let mut r = side;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = (r.len() >= n).then(|| r.split_at(n))?;
        r = b;
        Some(a)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut chunks = VecDeque::new();
    for _ in 0..count {
        let len = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let len = usize::try_from(len).ok().filter(|&l| l <= CHUNK_LIMIT)?;
        let sha256 = take(32)?.try_into().ok()?;
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let corrections = take(n)?.to_vec();
        chunks.push_back(Chunk {
            len,
            sha256,
            corrections,
        });
    }
    take(1).is_none().then_some(chunks)
}

/// One chunk of side data: how many uncompressed bytes, their sha256, their corrections.
struct Chunk {
    len: usize,
    sha256: [u8; 32],
    corrections: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    <sha2::Sha256 as sha2::Digest>::digest(bytes).into()
}

/// Rebuilds a deflate stream from its side data and then its uncompressed bytes, as they come.
/// Anything wrong (side data that does not parse, bytes that do not fit it) ends the output
/// short: the digest check that follows every rebuild refuses it.
pub struct Recreate {
    side_left: usize,
    sha256: [u8; 32],
    side: Vec<u8>,
    chunks: Option<VecDeque<Chunk>>,
    pending: Vec<u8>,
    engine: Option<Worker>,
    failed: bool,
}

/// preflate-rs's rebuilder cannot move between threads, and a `Rebuilder` must: it lives on a
/// thread of its own, which ends when the `Recreate` is dropped.
struct Worker {
    chunks: std::sync::mpsc::SyncSender<(Vec<u8>, Vec<u8>)>,
    deflate: std::sync::mpsc::Receiver<Option<Vec<u8>>>,
}

impl Worker {
    fn start() -> Option<Worker> {
        let (chunks, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, Vec<u8>)>(1);
        let (tx, deflate) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("preflate".into())
            .spawn(move || {
                let mut engine = RecreateStreamProcessor::new();
                for (plain, corrections) in rx {
                    let mut plain = Cursor::new(plain);
                    let r = quietly(|| engine.recompress(&mut plain, &corrections));
                    let bytes = r.and_then(|r| r.ok()).map(|(bytes, _)| bytes);
                    if tx.send(bytes).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Worker { chunks, deflate })
    }

    /// The deflate bytes of one chunk.
    fn recompress(&self, plain: Vec<u8>, corrections: Vec<u8>) -> Option<Vec<u8>> {
        self.chunks.send((plain, corrections)).ok()?;
        self.deflate.recv().ok()?
    }
}

impl Recreate {
    /// A rebuilder whose first `side` bytes of input are the side data, which must hash to
    /// `sha256` (see the module's comment for why).
    pub fn new(side: u64, sha256: [u8; 32]) -> Option<Recreate> {
        (side <= MAX_SIDE).then(|| Recreate {
            side_left: side as usize,
            sha256,
            side: Vec::new(),
            chunks: None,
            pending: Vec::new(),
            engine: None,
            failed: false,
        })
    }

    /// Takes what of `input` is side data; returns the rest, the uncompressed bytes.
    pub fn take_side<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let n = self.side_left.min(input.len());
        self.side.extend_from_slice(&input[..n]);
        self.side_left -= n;
        if self.side_left == 0 && self.chunks.is_none() {
            let named = sha256(&self.side) == self.sha256;
            self.chunks = named.then(|| parse(&self.side)).flatten();
            self.failed |= self.chunks.is_none();
            self.side = Vec::new();
        }
        &input[n..]
    }

    /// The deflate bytes `raw` completes; with `finish`, whether every chunk was used.
    pub fn run(&mut self, raw: &[u8], finish: bool, out: &mut Vec<u8>) {
        if self.failed {
            return;
        }
        let Some(chunks) = self.chunks.as_mut() else {
            self.failed |= !raw.is_empty() || finish;
            return;
        };
        self.pending.extend_from_slice(raw);
        let mut used = 0;
        while let Some(chunk) = chunks.front() {
            let len = chunk.len;
            if self.pending.len() - used < len {
                break;
            }
            let chunk = chunks.pop_front().expect("a front chunk");
            let plain = self.pending[used..used + len].to_vec();
            if sha256(&plain) != chunk.sha256 {
                self.failed = true;
                return;
            }
            if self.engine.is_none() {
                self.engine = Worker::start();
            }
            match self
                .engine
                .as_ref()
                .and_then(|w| w.recompress(plain, chunk.corrections))
            {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => {
                    self.failed = true;
                    return;
                }
            }
            used += len;
        }
        self.pending.drain(..used);
        if finish && (!chunks.is_empty() || !self.pending.is_empty()) {
            self.failed = true;
        }
    }
}

/// `f`, with a panic in it caught (None) and not printed: preflate-rs is given untrusted
/// streams and side data, and a panic there means only "cannot".
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    r
}

static QUIET_HOOK: std::sync::Once = std::sync::Once::new();

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl crate::encoder::Encoder for Recreate {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.run(raw, false, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], true, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zlib with a sync flush every 64 KiB, as pigz's blocks end: no encoder here reproduces
    /// it, preflate does with little side data.
    fn zlib_flushed(raw: &[u8]) -> Vec<u8> {
        let mut z = flate2::Compress::new(flate2::Compression::new(6), false);
        let mut out = Vec::with_capacity(raw.len() + 1024);
        for piece in raw.chunks(65_536) {
            out.reserve(piece.len() + 1024);
            z.compress_vec(piece, &mut out, flate2::FlushCompress::Sync)
                .unwrap();
        }
        out.reserve(1024);
        z.compress_vec(&[], &mut out, flate2::FlushCompress::Finish)
            .unwrap();
        out
    }

    fn rebuild(side: &[u8], raw: &[u8], pieces: usize) -> Vec<u8> {
        rebuild_named(side, sha256(side), raw, pieces)
    }

    fn rebuild_named(side: &[u8], sha256: [u8; 32], raw: &[u8], pieces: usize) -> Vec<u8> {
        let mut r = Recreate::new(side.len() as u64, sha256).unwrap();
        let member = [side, raw].concat();
        let mut out = Vec::new();
        for piece in member.chunks(pieces) {
            let raw = r.take_side(piece);
            r.run(raw, false, &mut out);
        }
        r.run(&[], true, &mut out);
        out
    }

    /// Real text: the licenses every Debian machine carries.
    fn text() -> Vec<u8> {
        let mut paths: Vec<_> = std::fs::read_dir("/usr/share/common-licenses")
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        paths
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect()
    }

    #[test]
    fn a_stream_is_rebuilt_from_its_side_data_in_any_pieces() {
        let raw = text();
        let deflate = zlib_flushed(&raw);
        let bounds = Bounds::for_gzip(deflate.len() as u64);
        let side = analyse(&deflate[..], &bounds).unwrap().expect("analysed");
        assert!((side.len() as u64) < bounds.max_side, "{}", side.len());
        for pieces in [1 << 30, 65_536, 777] {
            assert!(
                rebuild(&side, &raw, pieces) == deflate,
                "pieces of {pieces}"
            );
        }
        // Damaged side data never reaches preflate-rs: nothing comes out.
        let named = sha256(&side);
        for at in [0, 4, 12, side.len() / 2, side.len() - 1] {
            let mut bad = side.clone();
            bad[at] ^= 0x40;
            assert!(
                rebuild_named(&bad, named, &raw, 4096).is_empty(),
                "byte {at}"
            );
        }
        assert!(rebuild_named(&side[..side.len() - 1], named, &raw, 4096).is_empty());
        // Nor do other uncompressed bytes: the chunk they are in is not handed to preflate-rs.
        let mut other = raw.clone();
        other[1000] ^= 1;
        assert!(rebuild(&side, &other, 4096).is_empty());
        assert!(rebuild(&side, &raw[..raw.len() - 1], 4096) != deflate);
    }

    #[test]
    fn bounds_and_refusals() {
        let raw = text();
        let deflate = zlib_flushed(&raw);
        let tight = Bounds {
            max_side: 4,
            cpu: Duration::from_secs(60),
        };
        assert_eq!(
            analyse(&deflate[..], &tight).unwrap(),
            Err(Refusal::TooLarge)
        );
        let late = Bounds {
            max_side: 1 << 20,
            cpu: Duration::ZERO,
        };
        assert_eq!(analyse(&deflate[..], &late).unwrap(), Err(Refusal::TooSlow));
        let bounds = Bounds::for_gzip(1 << 20);
        let garbage: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(analyse(&garbage[..], &bounds).unwrap().is_err());
        assert!(parse(&[1, 0, 0, 0]).is_none(), "a chunk missing");
        assert!(parse(&[0, 0, 0, 0, 9]).is_none(), "a byte after the chunks");
        assert!(Recreate::new(MAX_SIDE + 1, [0; 32]).is_none());
    }
}
