//! zlib's deflate run as gzip writers run it, and the pieces of a stream it makes between
//! restart points (see the folder's `mod.rs`).

use super::stream::Stream;
use crate::encoder::Encoder;
use crate::go::Restart;

/// The raw bytes before a restart point that prime its piece's stream: zlib's window.
pub const DICT: u64 = 32 << 10;

/// zlib's deflate at one level, raw (no zlib or gzip framing).
pub struct Zlib(flate2::Compress);

impl Zlib {
    /// None for a negative level (zlib's default, -1, is 6 by name: `Producer::from_id`).
    pub fn new(level: i32) -> Option<Zlib> {
        let level = u32::try_from(level).ok()?;
        Some(Zlib(flate2::Compress::new(
            flate2::Compression::new(level),
            false,
        )))
    }

    fn run(&mut self, mut input: &[u8], flush: flate2::FlushCompress, out: &mut Vec<u8>) {
        let z = &mut self.0;
        let finish = matches!(flush, flate2::FlushCompress::Finish);
        loop {
            out.reserve(64 * 1024);
            let (taken, given) = (z.total_in(), z.total_out());
            let status = z.compress_vec(input, out, flush);
            input = &input[(z.total_in() - taken) as usize..];
            // An error ends the stream short: the digest check refuses it.
            if matches!(status, Ok(flate2::Status::StreamEnd) | Err(_)) {
                break;
            }
            // zlib stops short of filling `out` only when it has nothing more to give.
            let room = out.len() < out.capacity();
            let stuck = z.total_in() == taken && z.total_out() == given;
            if room && (input.is_empty() && !finish || stuck) {
                break;
            }
        }
    }
}

impl Encoder for Zlib {
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.run(raw, flate2::FlushCompress::None, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], flate2::FlushCompress::Finish, out);
    }
}

/// Whether zlib at `level` can be taken up again at its block boundaries: the lazy levels,
/// which hash every position (1–3 leave the positions inside a match out of their chains).
pub fn restartable(level: i32) -> bool {
    (4..=9).contains(&level)
}

/// A zlib restart point as bundles record it (the fields Go's points have besides `raw` and
/// `bit` fixed): the stream is primed with the 32 KiB before `raw`, whatever was pending.
pub fn restart(raw: u64, bit: u64) -> Option<Restart> {
    Some(Restart {
        raw,
        base: raw.checked_sub(DICT)?,
        bit,
        pending: false,
        length: 2,
        offset: 0,
    })
}

/// Whether `list` can be trusted as zlib restart points of a `raw_size`-byte stream: each as
/// `restart` makes them, in order, none more than `max_gap` from the next (or the ends).
pub fn plausible(list: &[Restart], raw_size: u64, max_gap: u64) -> bool {
    let each = list
        .iter()
        .all(|r| r.raw < raw_size && restart(r.raw, r.bit).as_ref() == Some(r));
    each && Restart::ordered_within(list, raw_size, max_gap)
}

/// The deflate output of one piece of a zlib stream at a restartable level: from restart
/// point `from` (None: the start) to the block boundary at `to` (None: the end, finished),
/// given the raw bytes from `from.base` (or the start) to `to.raw` and a few KiB past it. Its
/// first byte is to be OR-ed with the byte the piece before ends in; a piece that ends inside
/// a byte ends with that byte. None if the bytes are too few for the points.
pub fn piece(
    level: i32,
    from: Option<&Restart>,
    to: Option<&Restart>,
    raw: &[u8],
) -> Option<Vec<u8>> {
    let (mut s, input, start_bit) = primed(level, from, raw)?;
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    s.deflate(input, libz_sys::Z_FINISH, &mut out);
    if let Some(to) = to {
        cut(&mut out, to.bit.checked_sub(start_bit)?)?;
    }
    Some(out)
}

/// A stream ready to go on from `from` (or to start), the raw bytes it is to be fed, and the
/// bit position its output's first byte begins at.
pub(super) fn primed<'a>(
    level: i32,
    from: Option<&Restart>,
    raw: &'a [u8],
) -> Option<(Stream, &'a [u8], u64)> {
    if !restartable(level) && from.is_some() {
        return None;
    }
    let mut s = Stream::new(level)?;
    let Some(from) = from else {
        return Some((s, raw, 0));
    };
    let (dict, input) = raw.split_at_checked(DICT as usize)?;
    s.set_dictionary(dict);
    let skip = (from.bit % 8) as u32;
    s.prime(skip, 0)
        .then_some((s, input, from.bit - u64::from(skip)))
}

/// Ends `out` after `bits` bits, the last byte's bits past them cleared; None if it is shorter.
pub(super) fn cut(out: &mut Vec<u8>, bits: u64) -> Option<()> {
    let bytes = usize::try_from(bits.div_ceil(8)).ok()?;
    if out.len() < bytes {
        return None;
    }
    out.truncate(bytes);
    if !bits.is_multiple_of(8) {
        *out.last_mut()? &= (1u8 << (bits % 8)) - 1;
    }
    Some(())
}
