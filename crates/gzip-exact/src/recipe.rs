//! What a rebuild needs besides the uncompressed bytes: the producer (an encoder and its
//! level, or preflate-rs's side data), the gzip header as it was, and where the stream can be
//! taken up again. Bundles record it (`Producer::id`), so everything read back is checked.

use crate::go::Restart;
use crate::gzip::header_len;
use crate::klauspost::{Flate, Pgzip, PgzipKind, PGZIP_BLOCK, UMOCI_BLOCK};
use crate::preflate;
use crate::spacing::MAX_RESTART_GAP;

/// An encoder this module can run again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Producer {
    /// Go's compress/gzip, Go 1.8–1.26, at a Go level (-2 HuffmanOnly … 9).
    Go {
        /// The level.
        level: i32,
    },
    /// zlib's deflate (1.2.x–1.3.x) at a level 1–9, with the parameters gzip writers pass it:
    /// a 32 KiB window, memLevel 8, the default strategy (Python's gzip, Java's
    /// GZIPOutputStream).
    Zlib {
        /// The level.
        level: i32,
    },
    /// Go's compress/gzip from Go 1.27 on (a new encoder), at a Go level (-2 … 9).
    Go127 {
        /// The level.
        level: i32,
    },
    /// klauspost's pgzip as containers/image (podman, buildah, skopeo) and umoci run it,
    /// levels 1–6.
    Pgzip {
        /// The level.
        level: i32,
        /// Which klauspost/compress, and the block size.
        kind: PgzipKind,
    },
    /// GNU gzip's own deflate, `gzip -1` … `-9`: tarballs made with `tar z` or `gzip`.
    Gnu {
        /// The level.
        level: i32,
    },
    /// pigz 2.x (zlib's deflate in 128 KiB blocks, each primed with the 32 KiB before it),
    /// `pigz -1` … `-9` with any number of threads (`-p`).
    Pigz {
        /// The level.
        level: i32,
    },
    /// pigz without threads (`pigz -p 1`) at levels 1–3, where its one zlib stream through
    /// all the blocks differs from the threads' blocks (at 4–9 it does not: `Pigz`).
    PigzSerial {
        /// The level.
        level: i32,
    },
    /// Any other deflate stream preflate-rs can describe: rebuilt from `side` bytes of side
    /// data, which come before the uncompressed bytes (`preflate`), and are used only if their
    /// sha256 is `sha256`. Never guessed.
    Preflate {
        /// How many bytes of side data lead the uncompressed bytes.
        side: u64,
        /// Their sha256.
        sha256: [u8; 32],
    },
}

/// The ids `Producer::id` gives, stable across versions (a store may record them): Go 1.8–1.26.
pub const ENCODER_GO: &str = "go1.8";
/// zlib.
pub const ENCODER_ZLIB: &str = "zlib";
/// Go 1.27 and later.
pub const ENCODER_GO127: &str = "go1.27";
/// klauspost's pgzip with klauspost/compress 1.15–1.17, in 1 MiB blocks.
pub const ENCODER_PGZIP: &str = "pgzip";
/// Each pgzip kind's id (`ENCODER_PGZIP` the first): the klauspost/compress it names is the
/// first whose bytes differ from the one before, and `-256k` is umoci's block size.
pub const PGZIP_KINDS: [(&str, PgzipKind); 6] = [
    (ENCODER_PGZIP, kind(Flate::V1_15, PGZIP_BLOCK)),
    ("pgzip-256k", kind(Flate::V1_15, UMOCI_BLOCK)),
    ("pgzip1.18.0", kind(Flate::V1_18_0, PGZIP_BLOCK)),
    ("pgzip1.18.0-256k", kind(Flate::V1_18_0, UMOCI_BLOCK)),
    ("pgzip1.18.1", kind(Flate::V1_18_1, PGZIP_BLOCK)),
    ("pgzip1.18.1-256k", kind(Flate::V1_18_1, UMOCI_BLOCK)),
];

const fn kind(flate: Flate, block: usize) -> PgzipKind {
    PgzipKind { flate, block }
}
/// GNU gzip.
pub const ENCODER_GNU: &str = "gnu";
/// pigz.
pub const ENCODER_PIGZ: &str = "pigz";
/// pigz without threads, levels 1–3.
pub const ENCODER_PIGZ_SERIAL: &str = "pigz-p1";
/// Side data is what preflate-rs 0.7.6 writes; another version may read it otherwise.
pub const ENCODER_PREFLATE: &str = "preflate-rs0.7.6";

impl Producer {
    /// The id recorded in `bundle.json`, and the level.
    pub fn id(&self) -> (&'static str, i32) {
        match *self {
            Producer::Go { level } => (ENCODER_GO, level),
            Producer::Zlib { level } => (ENCODER_ZLIB, level),
            Producer::Go127 { level } => (ENCODER_GO127, level),
            Producer::Pgzip { level, kind } => (pgzip_id(kind), level),
            Producer::Gnu { level } => (ENCODER_GNU, level),
            Producer::Pigz { level } => (ENCODER_PIGZ, level),
            Producer::PigzSerial { level } => (ENCODER_PIGZ_SERIAL, level),
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
            ENCODER_GO if crate::go::Deflater::new(level).is_some() && level != -1 => {
                Some(Producer::Go { level })
            }
            ENCODER_ZLIB if (1..=9).contains(&level) => Some(Producer::Zlib { level }),
            ENCODER_GO127 if crate::klauspost::Deflater::new(level).is_some() => {
                Some(Producer::Go127 { level })
            }
            ENCODER_GNU if (1..=9).contains(&level) => Some(Producer::Gnu { level }),
            ENCODER_PIGZ if (1..=9).contains(&level) => Some(Producer::Pigz { level }),
            ENCODER_PIGZ_SERIAL if (1..=3).contains(&level) => Some(Producer::PigzSerial { level }),
            _ => PGZIP_KINDS
                .iter()
                .find(|(id, _)| *id == encoder)
                .filter(|(_, kind)| Pgzip::new(level, *kind).is_some())
                .map(|&(_, kind)| Producer::Pgzip { level, kind }),
        }
    }
}

fn pgzip_id(kind: PgzipKind) -> &'static str {
    PGZIP_KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(ENCODER_PGZIP, |(id, _)| id)
}

/// What rebuilds a stream: its producer and its header bytes as they were (mtime, OS, name).
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// The encoder and its level (or side data).
    pub producer: Producer,
    /// The gzip member header, byte for byte.
    pub header: Vec<u8>,
    /// Where the stream can be taken up again (Go's, zlib's and GNU gzip's lazy levels): with
    /// these, its pieces are rebuilt on every core at once.
    pub restarts: Vec<Restart>,
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
        let trusted = match self.producer {
            Producer::Go { level } => {
                crate::go::Deflater::restartable(level)
                    && Restart::plausible(&restarts, raw_size, MAX_RESTART_GAP)
            }
            Producer::Zlib { level } => {
                crate::zlib::restartable(level)
                    && crate::zlib::plausible(&restarts, raw_size, MAX_RESTART_GAP)
            }
            Producer::Gnu { level } => {
                crate::gnu::restartable(level)
                    && crate::gnu::plausible(&restarts, raw_size, MAX_RESTART_GAP)
            }
            _ => false,
        };
        if !(restarts.is_empty() || trusted) {
            return None;
        }
        self.restarts = restarts;
        Some(self)
    }

    /// Whether its rebuild keeps every core busy: a producer whose blocks stand alone (pgzip,
    /// pigz with threads) or a stream with restart points. The others run on one core, so
    /// whoever has several streams to rebuild starts those first.
    pub fn on_every_core(&self) -> bool {
        !self.restarts.is_empty()
            || matches!(
                self.producer,
                Producer::Pgzip { .. } | Producer::Pigz { .. }
            )
    }
}

/// A header carrying a long name or comment is possible, but no layer producer writes one.
pub const MAX_HEADER: usize = 4096;
