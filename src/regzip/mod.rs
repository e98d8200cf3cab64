//! Which encoder made a gzip stream, and the stream rebuilt from its uncompressed bytes: the
//! check that lets `--compact` store a layer decompressed and hand back the exact gzip bytes.
//! Only a producer that is reproduced byte for byte counts; anything else is "unknown" and is
//! stored as it came.

mod pieces;
pub mod preflate;
mod rebuild;

pub use rebuild::{RebuildReader, RebuildWriter, Rebuilder};

pub use crate::goflate::Restart;
use crate::goflate::{deflate, trailer};
use std::io::Read;

/// An encoder this module can run again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Producer {
    /// Go's compress/gzip, Go 1.8–1.26, at a Go level (-2 HuffmanOnly … 9).
    Go { level: i32 },
    /// zlib's deflate (1.2.x–1.3.x) at a level 1–9, with the parameters gzip writers pass it:
    /// a 32 KiB window, memLevel 8, the default strategy (Python's gzip, Java's
    /// GZIPOutputStream).
    Zlib { level: i32 },
    /// Go's compress/gzip from Go 1.27 on (a new encoder), at a Go level (-2 … 9).
    Go127 { level: i32 },
    /// klauspost's pgzip (klauspost/compress 1.15) as containers/image runs it: podman,
    /// buildah and skopeo's layers, levels 1–6.
    Pgzip { level: i32 },
    /// GNU gzip's own deflate, `gzip -1` … `-9`: tarballs made with `tar z` or `gzip`.
    Gnu { level: i32 },
    /// Any other deflate stream preflate-rs can describe: rebuilt from `side` bytes of side
    /// data, which come before the uncompressed bytes (`preflate`), and are used only if their
    /// sha256 is `sha256`. Never guessed.
    Preflate { side: u64, sha256: [u8; 32] },
}

/// The encoder ids `bundle.json` records (docs/FORMAT.md, `gzip-rebuild`).
pub const ENCODER_GO: &str = "go1.8";
pub const ENCODER_ZLIB: &str = "zlib";
pub const ENCODER_GO127: &str = "go1.27";
pub const ENCODER_PGZIP: &str = "pgzip";
pub const ENCODER_GNU: &str = "gnu";
/// Side data is what preflate-rs 0.7.6 writes; another version may read it otherwise.
pub const ENCODER_PREFLATE: &str = "preflate-rs0.7.6";

impl Producer {
    /// The id recorded in `bundle.json`, and the level.
    pub fn id(&self) -> (&'static str, i32) {
        match *self {
            Producer::Go { level } => (ENCODER_GO, level),
            Producer::Zlib { level } => (ENCODER_ZLIB, level),
            Producer::Go127 { level } => (ENCODER_GO127, level),
            Producer::Pgzip { level } => (ENCODER_PGZIP, level),
            Producer::Gnu { level } => (ENCODER_GNU, level),
            Producer::Preflate { .. } => (ENCODER_PREFLATE, 0),
        }
    }

    /// The producer an id, level and side data (size and sha256) name, if this version can
    /// run it.
    pub fn from_id_with_side(
        encoder: &str,
        level: i32,
        side: Option<(u64, [u8; 32])>,
    ) -> Option<Producer> {
        match (encoder, side) {
            (ENCODER_PREFLATE, Some((side, sha256)))
                if level == 0 && side <= preflate::MAX_SIDE =>
            {
                Some(Producer::Preflate { side, sha256 })
            }
            (_, None) => Producer::from_id(encoder, level),
            _ => None,
        }
    }

    /// The producer an id and level name, if this version can run it without side data.
    pub fn from_id(encoder: &str, level: i32) -> Option<Producer> {
        match encoder {
            ENCODER_GO if crate::goflate::Deflater::new(level).is_some() && level != -1 => {
                Some(Producer::Go { level })
            }
            ENCODER_ZLIB if (1..=9).contains(&level) => Some(Producer::Zlib { level }),
            ENCODER_GO127 if crate::kpflate::Deflater::new(level).is_some() => {
                Some(Producer::Go127 { level })
            }
            ENCODER_PGZIP if crate::kpflate::Pgzip::new(level).is_some() => {
                Some(Producer::Pgzip { level })
            }
            ENCODER_GNU if (1..=9).contains(&level) => Some(Producer::Gnu { level }),
            _ => None,
        }
    }

    /// The deflate stream of the first `limit` bytes of `raw`, left unfinished: a prefix of
    /// what this producer writes for any input that starts with them.
    fn prefix(&self, raw: &[u8], limit: usize) -> Option<Vec<u8>> {
        let raw = &raw[..raw.len().min(limit)];
        match *self {
            Producer::Go { level } => deflate(raw, level, Some(limit)),
            Producer::Go127 { level } => crate::kpflate::deflate(raw, level, Some(limit)),
            Producer::Preflate { .. } => None,
            Producer::Zlib { .. } | Producer::Pgzip { .. } | Producer::Gnu { .. } => {
                let mut r = Rebuilder::new(&Recipe {
                    producer: *self,
                    header: Vec::new(),
                    restarts: Vec::new(),
                })?;
                Some(r.feed(raw))
            }
        }
    }
}

/// What rebuilds a stream: its producer and its header bytes as they were (mtime, OS, name).
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub producer: Producer,
    pub header: Vec<u8>,
    /// Where the stream can be taken up again (Go's lazy levels): with these, its pieces are
    /// rebuilt on every core at once.
    pub restarts: Vec<Restart>,
}

/// How far apart create records restart points: pieces of a few MiB keep every core busy
/// and little in memory.
pub const RESTART_SPACING: u64 = 4 << 20;

/// The most raw bytes between restart points a reader accepts, so that what one piece holds
/// is bounded whatever a bundle says: create takes a point at the first block boundary past
/// `RESTART_SPACING`, and a Go block covers at most 16384 × 258 bytes (4.03 MiB).
pub const MAX_RESTART_GAP: u64 = 3 * RESTART_SPACING;

/// The fewest raw bytes between restart points (and before the first) a bundle may list: a
/// point costs a piece's setup, and create never takes them closer than `RESTART_SPACING`.
/// (Checked where bundle.json is accepted; the encoders themselves rebuild any spacing.)
pub const MIN_RESTART_GAP: u64 = RESTART_SPACING / 4;

/// Whether every restart point is at least `MIN_RESTART_GAP` after the one before (or the
/// start).
pub fn spaced(raws: impl Iterator<Item = u64>) -> bool {
    let mut last = 0u64;
    raws.into_iter().all(|raw| {
        let ok = raw.checked_sub(last).is_some_and(|g| g >= MIN_RESTART_GAP);
        last = raw;
        ok
    })
}

/// How far a layer may inflate (tar bytes per gzip byte) for create to carry it rebuilt; a
/// reader refuses a record claiming more (a bomb declared under a small layer).
pub const MAX_INFLATION: u64 = 100;

/// The most tar a `size`-byte gzip layer may declare (see `MAX_INFLATION`; small layers may
/// always claim up to `PREFIX`).
pub fn max_raw_size(size: u64) -> u64 {
    size.saturating_mul(MAX_INFLATION).max(PREFIX as u64)
}

impl Recipe {
    /// A recipe from what a bundle says, checked: a known producer and bytes that are exactly
    /// one gzip member header (at most `MAX_HEADER` bytes).
    pub fn new(producer: Producer, header: Vec<u8>) -> Option<Recipe> {
        let mut probe = header.clone();
        probe.extend_from_slice(&[0; 8]);
        (header.len() <= MAX_HEADER && header_len(&probe) == Some(header.len())).then_some(Recipe {
            producer,
            header,
            restarts: Vec::new(),
        })
    }

    /// The same recipe going by `restarts`, if they are plausible for a producer that has
    /// them and a `raw_size`-byte stream (`Restart::plausible`).
    pub fn with_restarts(mut self, restarts: Vec<Restart>, raw_size: u64) -> Option<Recipe> {
        let restartable = matches!(self.producer, Producer::Go { level } if crate::goflate::Deflater::restartable(level));
        let trusted = restartable && Restart::plausible(&restarts, raw_size, MAX_RESTART_GAP);
        if !(restarts.is_empty() || trusted) {
            return None;
        }
        self.restarts = restarts;
        Some(self)
    }
}

/// A header carrying a long name or comment is possible, but no layer producer writes one.
pub const MAX_HEADER: usize = 4096;

/// How far into the uncompressed bytes a candidate is tried before it is run on all of them.
pub const PREFIX: usize = 1 << 20;

/// How many bytes of a gzip stream `guess` needs to see: the header and the deflate output of
/// `PREFIX` bytes at worst (stored blocks).
pub const HEAD: usize = MAX_HEADER + PREFIX + PREFIX / 8;

/// The length of a gzip member's header (RFC 1952: the 10 fixed bytes and the optional extra
/// field, name, comment and header CRC), if `gz` starts with one.
pub fn header_len(gz: &[u8]) -> Option<usize> {
    if gz.len() < 18 || gz[..3] != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = gz[3];
    if flags & 0xe0 != 0 {
        return None;
    }
    let mut at = 10;
    if flags & 4 != 0 {
        let xlen = u16::from_le_bytes([*gz.get(at)?, *gz.get(at + 1)?]) as usize;
        at += 2 + xlen;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            at += gz.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at + 8 <= gz.len()).then_some(at)
}

/// The uncompressed bytes of a single-member gzip stream whose trailer checks out, if there
/// are at most `max` of them: a small layer can inflate to anything, and this is held in
/// memory.
pub fn inflate(gz: &[u8], max: u64) -> Option<Vec<u8>> {
    let at = header_len(gz)?;
    let mut dec = flate2::read::DeflateDecoder::new(&gz[at..]);
    let mut raw = Vec::new();
    (&mut dec).take(max + 1).read_to_end(&mut raw).ok()?;
    if raw.len() as u64 > max {
        return None;
    }
    // The deflate stream must end exactly where the 8-byte trailer begins: one member only.
    let used = dec.total_in() as usize;
    let trailer_bytes = gz.get(at + used..)?;
    (trailer_bytes == trailer(&raw)).then_some(raw)
}

/// Go levels worth trying for a header: those whose XFL (`goflate::xfl`) it carries, BestSpeed
/// (4) or BestCompression (2) alone, or the rest (0), the default level 6 first, far more
/// common than any other.
fn go_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        0 => &[6, 5, 4, 3, 2, 7, 8, -2, 0],
        _ => &[],
    }
}

/// zlib levels worth trying for a header's XFL: Python's gzip sets it as Go does; other
/// writers leave it 0.
fn zlib_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        _ => &[6, 9, 1, 5, 4, 3, 2, 7, 8],
    }
}

/// pgzip levels worth trying for a header's XFL: its default (5) first.
fn pgzip_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        0 => &[5, 6, 4, 3, 2],
        _ => &[],
    }
}

/// GNU gzip levels worth trying for a header's XFL: its default (6) first.
fn gnu_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        _ => &[6, 5, 4, 3, 2, 7, 8],
    }
}

/// The producers whose header `gz` starts with, the likeliest first (cheap: no compression
/// is tried). A header with pgzip's mtime is pgzip's; one with OS 3 (Unix) is GNU gzip's,
/// else zlib's; otherwise Go's default level (as Go 1.8–1.26 and then Go 1.27 write it),
/// then zlib's, then the rest.
pub fn candidates(gz: &[u8]) -> Vec<Producer> {
    let Some(_) = header_len(gz) else {
        return Vec::new();
    };
    let (flags, xfl, os) = (gz[3], gz[8], gz[9]);
    // Go and pgzip write exactly this header: no flags, their XFL, OS 255.
    let go_like = flags == 0 && os == 255;
    if go_like && gz[4..8] == crate::kpflate::PGZIP_MTIME {
        return pgzip_candidates(xfl)
            .iter()
            .map(|&level| Producer::Pgzip { level })
            .collect();
    }
    let mut zlib = zlib_candidates(xfl)
        .iter()
        .map(|&level| Producer::Zlib { level });
    if os == 3 {
        let gnu = gnu_candidates(xfl)
            .iter()
            .map(|&level| Producer::Gnu { level });
        return gnu.chain(zlib).collect();
    }
    let go: &[i32] = match go_like {
        true => go_candidates(xfl),
        false => &[],
    };
    let mut go = go
        .iter()
        .flat_map(|&level| [Producer::Go { level }, Producer::Go127 { level }]);
    let firsts: Vec<Producer> = go.by_ref().take(2).chain(zlib.next()).collect();
    firsts.into_iter().chain(go).chain(zlib).collect()
}

/// The first candidate whose output for `raw_prefix` (the first `PREFIX` uncompressed bytes,
/// or all of them) is where `head` (the first `HEAD` bytes of the gzip stream, or all of it)
/// begins. Only a guess for a large stream: the whole of it must still be rebuilt to prove it.
/// A small one (all of it in `head`, all its bytes in `raw_prefix`) is rebuilt whole here,
/// since every encoder's output for it may be nothing until the end.
pub fn guess(head: &[u8], raw_prefix: &[u8]) -> Option<Recipe> {
    let at = header_len(head)?;
    let whole = head.len() < HEAD && raw_prefix.len() < PREFIX;
    candidates(head).into_iter().find_map(|producer| {
        let recipe = Recipe::new(producer, head[..at].to_vec())?;
        let fits = match whole {
            true => rebuild(raw_prefix, &recipe)? == head,
            false => head[at..].starts_with(&producer.prefix(raw_prefix, PREFIX)?),
        };
        fits.then_some(recipe)
    })
}

/// Who made `gz`, if it is one of the producers rebuilt here, proven by rebuilding all of it.
/// `raw` is its uncompressed content (`inflate`). Each candidate is tried on the first MiB
/// first, so a wrong guess costs little.
pub fn identify(gz: &[u8], raw: &[u8]) -> Option<Recipe> {
    let recipe = guess(&gz[..gz.len().min(HEAD)], &raw[..raw.len().min(PREFIX)])?;
    (rebuild(raw, &recipe)? == gz).then_some(recipe)
}

/// The gzip stream again, from its uncompressed bytes and recipe.
pub fn rebuild(raw: &[u8], recipe: &Recipe) -> Option<Vec<u8>> {
    let mut r = Rebuilder::new(recipe)?;
    let mut out = r.feed(raw);
    out.extend_from_slice(&r.finish());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_goflate_wrote_is_identified_and_rebuilt() {
        let raw: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8)
            .collect();
        for level in [1, 6, 9] {
            let gz = crate::goflate::gzip(&raw, level).unwrap();
            assert_eq!(inflate(&gz, raw.len() as u64 - 1), None, "over the limit");
            let back = inflate(&gz, 1 << 30).unwrap();
            assert_eq!(back, raw);
            let r = identify(&gz, &back).expect("identified");
            assert_eq!(r.producer, Producer::Go { level });
            assert_eq!(rebuild(&back, &r).unwrap(), gz);
        }
        // zlib's, at the level its XFL suggests or any other.
        for level in [1, 6, 9, 3] {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            std::io::Write::write_all(&mut z, &raw).unwrap();
            let gz = z.finish().unwrap();
            let r = identify(&gz, &raw).expect("zlib identified");
            assert_eq!(
                r.producer,
                Producer::Zlib {
                    level: level as i32
                }
            );
        }
        // A stream by another encoder is not claimed: Go's level 6 deflate under a header
        // Go never writes (OS 3, GNU gzip's), so no candidate matches.
        let mut gz = crate::goflate::gzip(&raw, 6).unwrap();
        gz[9] = 3;
        assert_eq!(identify(&gz, &raw), None);
        // GNU gzip's, at the level its XFL suggests or any other.
        for level in [1, 6, 9, 3] {
            let gz = crate::gnuflate::gzip(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("GNU gzip identified");
            assert!(matches!(r.producer, Producer::Gnu { .. }), "{level}");
            assert_eq!(rebuild(&raw, &r).unwrap(), gz);
        }
    }

    #[test]
    fn go_1_27_and_pgzip_streams_are_identified_and_rebuilt() {
        // Three pgzip blocks and some: each block primed by the one before.
        let raw: Vec<u8> = (0..3_300_000u32)
            .map(|i| (i * 13 % 241) as u8 ^ (i >> 10) as u8)
            .collect();
        for level in [1, 6, 9, -2] {
            let gz = crate::kpflate::gzip(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("Go 1.27 identified");
            assert_eq!(r.producer, Producer::Go127 { level });
        }
        for level in [-1, 1, 4] {
            let gz = crate::kpflate::pgzip(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("pgzip identified");
            // Levels may agree on an input; the first that rebuilds it is recorded.
            assert!(matches!(r.producer, Producer::Pgzip { .. }), "{level}");
            assert_eq!(rebuild(&raw, &r).unwrap(), gz);
        }
        // pgzip's deflate under Go's header is neither Go's nor pgzip's.
        let mut gz = crate::kpflate::pgzip(&raw, -1).unwrap();
        gz[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(identify(&gz, &raw), None);
    }

    #[test]
    fn a_recipe_from_a_bundle_is_checked() {
        let go = Producer::Go { level: 6 };
        let header = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        assert!(Recipe::new(go, header.clone()).is_some());
        assert!(Recipe::new(go, header[..9].to_vec()).is_none(), "short");
        let mut longer = header.clone();
        longer.push(0);
        assert!(Recipe::new(go, longer).is_none(), "a byte after the header");
        let mut named = header.clone();
        named[3] = 8;
        named.extend_from_slice(b"layer.tar\0");
        assert!(Recipe::new(go, named).is_some(), "a name is a header field");
        for bad in [
            ("go1.8", 10),
            ("go1.8", -1),
            ("zlib", 0),
            ("zlib", 10),
            ("gnu", 0),
            ("gnu", 10),
            ("go1.27", 10),
            ("pgzip", 0),
            ("pgzip", 7),
        ] {
            assert_eq!(Producer::from_id(bad.0, bad.1), None, "{bad:?}");
        }
        assert_eq!(
            Producer::from_id("go1.8", -2),
            Some(Producer::Go { level: -2 })
        );
    }
}
