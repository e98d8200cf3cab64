//! Which producer made a gzip stream, proven by making it again: the candidates its header
//! allows are tried on the first MiB, and the one that matches is run over all of it.

use crate::go::deflate;
use crate::gzip::header_len;
use crate::klauspost::Flate;
use crate::rebuild::Rebuilder;
use crate::recipe::{Producer, Recipe, MAX_HEADER, PGZIP_KINDS};

/// How far into the uncompressed bytes a candidate is tried before it is run on all of them.
pub const PREFIX: usize = 1 << 20;

/// How many bytes of a gzip stream `guess` needs to see: the header and the deflate output of
/// `PREFIX` bytes at worst (stored blocks).
pub const HEAD: usize = MAX_HEADER + PREFIX + PREFIX / 8;

/// How far a layer may inflate (tar bytes per gzip byte) for create to carry it rebuilt; a
/// reader refuses a record claiming more (a bomb declared under a small layer).
pub const MAX_INFLATION: u64 = 100;

/// The most tar a `size`-byte gzip layer may declare (see `MAX_INFLATION`; small layers may
/// always claim up to `PREFIX`).
pub fn max_raw_size(size: u64) -> u64 {
    size.saturating_mul(MAX_INFLATION).max(PREFIX as u64)
}

/// Go levels worth trying for a header: those whose XFL (`gzip::xfl`) it carries, BestSpeed
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

/// pgzip levels worth trying for a header's XFL: its default (5) first, each as every
/// klauspost/compress and block size writes it (1.18.0 differs from 1.15 only at level 4).
fn pgzip_candidates(xfl: u8) -> Vec<Producer> {
    let levels: &[i32] = match xfl {
        4 => &[1],
        0 => &[5, 6, 4, 3, 2],
        _ => &[],
    };
    let kinds = |level| {
        PGZIP_KINDS
            .iter()
            .filter(move |(_, k)| k.flate != Flate::V1_18_0 || level == 4)
            .map(move |&(_, kind)| Producer::Pgzip { level, kind })
    };
    levels.iter().flat_map(|&level| kinds(level)).collect()
}

/// GNU gzip levels worth trying for a header's XFL: its default (6) first.
fn gnu_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        _ => &[6, 5, 4, 3, 2, 7, 8],
    }
}

/// pigz levels worth trying for a header's XFL (gzip's): its default (6) first.
fn pigz_candidates(xfl: u8) -> &'static [i32] {
    match xfl {
        4 => &[1],
        2 => &[9],
        _ => &[6, 5, 4, 3, 2, 7, 8],
    }
}

/// The producers whose header `gz` starts with, the likeliest first (cheap: no compression
/// is tried). A header with pgzip's mtime is pgzip's; one with OS 3 (Unix) is GNU gzip's,
/// else pigz's, else zlib's; otherwise Go's default level (as Go 1.8–1.26 and then Go 1.27 write it),
/// then zlib's, then the rest.
pub fn candidates(gz: &[u8]) -> Vec<Producer> {
    let Some(_) = header_len(gz) else {
        return Vec::new();
    };
    let (flags, xfl, os) = (gz[3], gz[8], gz[9]);
    // Go and pgzip write exactly this header: no flags, their XFL, OS 255.
    let go_like = flags == 0 && os == 255;
    if go_like && gz[4..8] == crate::klauspost::PGZIP_MTIME {
        return pgzip_candidates(xfl);
    }
    let mut zlib = zlib_candidates(xfl)
        .iter()
        .map(|&level| Producer::Zlib { level });
    if os == 3 {
        let gnu = gnu_candidates(xfl)
            .iter()
            .map(|&level| Producer::Gnu { level });
        // pigz's blocks are zlib's deflate: a stream of one block is both pigz's and zlib's.
        let pigz = pigz_candidates(xfl)
            .iter()
            .map(|&level| Producer::Pigz { level });
        let serial = pigz_candidates(xfl)
            .iter()
            .filter(|&&level| level <= 3)
            .map(|&level| Producer::PigzSerial { level });
        return gnu.chain(pigz).chain(serial).chain(zlib).collect();
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
        let fits = match (whole, producer) {
            (true, _) => rebuild(raw_prefix, &recipe)? == head,
            // Block by block, so a stream pigz did not write is refused at its first block.
            (false, Producer::Pigz { level }) => {
                crate::pigz::begins(level, raw_prefix, &head[at..])
            }
            (false, Producer::PigzSerial { level }) => {
                crate::pigz::begins_serial(level, raw_prefix, &head[at..])
            }
            // Window by window: a MiB's output comes only when its block ends.
            (false, Producer::Pgzip { level, kind }) => {
                crate::klauspost::begins(level, kind, raw_prefix, &head[at..])
            }
            (false, _) => head[at..].starts_with(&prefix(producer, raw_prefix, PREFIX)?),
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

/// The deflate stream of the first `limit` bytes of `raw`, left unfinished: a prefix of
/// what this producer writes for any input that starts with them.
fn prefix(producer: Producer, raw: &[u8], limit: usize) -> Option<Vec<u8>> {
    let raw = &raw[..raw.len().min(limit)];
    match producer {
        Producer::Go { level } => deflate(raw, level, Some(limit)),
        Producer::Go127 { level } => crate::klauspost::deflate(raw, level, Some(limit)),
        Producer::Preflate { .. } => None,
        Producer::Zlib { .. }
        | Producer::Pgzip { .. }
        | Producer::Gnu { .. }
        | Producer::Pigz { .. }
        | Producer::PigzSerial { .. } => {
            let mut r = Rebuilder::new(&Recipe {
                producer,
                header: Vec::new(),
                restarts: Vec::new(),
            })?;
            Some(r.feed(raw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip::inflate;
    use crate::klauspost::PgzipKind;

    #[test]
    fn a_stream_go_wrote_is_identified_and_rebuilt() {
        let raw: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8)
            .collect();
        for level in [1, 6, 9] {
            let gz = crate::go::gzip(&raw, level).unwrap();
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
        let mut gz = crate::go::gzip(&raw, 6).unwrap();
        gz[9] = 3;
        assert_eq!(identify(&gz, &raw), None);
        // GNU gzip's, at the level its XFL suggests or any other.
        for level in [1, 6, 9, 3] {
            let gz = crate::gnu::gzip(&raw, level).unwrap();
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
            let gz = crate::klauspost::gzip(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("Go 1.27 identified");
            assert_eq!(r.producer, Producer::Go127 { level });
        }
        for (id, kind) in PGZIP_KINDS {
            for level in [-1, 1, 4] {
                let gz = crate::klauspost::pgzip(&raw, level, kind).unwrap();
                let r = identify(&gz, &raw).expect("pgzip identified");
                // Levels and kinds may agree on an input; the first that rebuilds it is
                // recorded.
                assert!(matches!(r.producer, Producer::Pgzip { .. }), "{id} {level}");
                assert_eq!(rebuild(&raw, &r).unwrap(), gz);
            }
        }
        // pgzip's deflate under Go's header is neither Go's nor pgzip's.
        let mut gz = crate::klauspost::pgzip(&raw, -1, PgzipKind::DEFAULT).unwrap();
        gz[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(identify(&gz, &raw), None);
    }

    #[test]
    fn a_pgzip_guess_is_proven_on_the_first_mib_not_taken_on_trust() {
        // Go's deflate under pgzip's header: every pgzip candidate must refuse it (a guess
        // that took the first candidate untried sent every non-default level to "differs").
        let raw: Vec<u8> = (0..(PREFIX as u32))
            .map(|i| (i * 13 % 241) as u8 ^ (i >> 10) as u8)
            .collect();
        let mut gz = crate::go::gzip(&raw, 6).unwrap();
        gz[4..8].copy_from_slice(&crate::klauspost::PGZIP_MTIME);
        assert_eq!(guess(&gz[..gz.len().min(HEAD)], &raw), None);
        // Level 6 in umoci's blocks: guessed as what writes the same bytes.
        let kind = PgzipKind {
            flate: Flate::V1_15,
            block: crate::klauspost::UMOCI_BLOCK,
        };
        let gz = crate::klauspost::pgzip(&raw, 6, kind).unwrap();
        let r = guess(&gz[..gz.len().min(HEAD)], &raw).expect("umoci's level 6");
        assert_eq!(rebuild(&raw, &r).unwrap(), gz);
    }

    #[test]
    fn pigz_streams_are_identified_and_rebuilt() {
        // Several 128 KiB blocks, each primed with the 32 KiB before it.
        let raw: Vec<u8> = (0..700_000u32)
            .map(|i| (i * 11 % 239) as u8 ^ (i >> 12) as u8)
            .collect();
        for level in [1, 6, 9, 4] {
            let gz = crate::pigz::pigz(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("pigz identified");
            assert!(matches!(r.producer, Producer::Pigz { .. }), "{level}");
            assert_eq!(rebuild(&raw, &r).unwrap(), gz);
        }
        for level in [1, 3] {
            let gz = crate::pigz::pigz_serial(&raw, level).unwrap();
            let r = identify(&gz, &raw).expect("pigz -p 1 identified");
            // Where the threads' blocks come out the same, `Pigz` is named first.
            let pigz = matches!(
                r.producer,
                Producer::PigzSerial { .. } | Producer::Pigz { .. }
            );
            assert!(pigz, "{level}");
            assert_eq!(rebuild(&raw, &r).unwrap(), gz);
        }
        // GNU gzip's stream under the same header is still GNU gzip's.
        let gz = crate::gnu::gzip(&raw, 6).unwrap();
        let r = identify(&gz, &raw).expect("GNU gzip identified");
        assert_eq!(r.producer, Producer::Gnu { level: 6 });
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
