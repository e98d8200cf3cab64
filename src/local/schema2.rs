//! The registry form of an image that has none (a docker archive): its layers gzipped and a
//! Docker schema 2 manifest, both as skopeo makes them when it copies `docker-archive:` to
//! `docker://`. containers/image compresses with klauspost's pgzip at its default level (here
//! with klauspost/compress 1.15, Debian 12's skopeo's: `PgzipKind::DEFAULT`), an encoder
//! `gzip-exact` rebuilds (so `--compact` carries these layers as tars), and marshals the
//! manifest with Go's encoding/json. Pure.

use crate::digest::Digest;
use gzip_exact::klauspost::{tail_of, PgzipKind, PGZIP_BLOCK};
use gzip_exact::Encoder;
use std::io::{self, Write};

pub const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// pgzip.NewWriter's level (DefaultCompression), as containers/image calls it.
const PGZIP_DEFAULT: i32 = -1;
/// What pgzip makes of DefaultCompression.
const PGZIP_DEFAULT_IS: i32 = 5;

/// The manifest, byte for byte as Go marshals containers/image's `manifest.Schema2`: fields in
/// struct order, no spaces (nothing here needs Go's HTML escaping: digests and media types).
pub fn manifest(config: (&Digest, u64), layers: &[(Digest, u64)]) -> Vec<u8> {
    let desc = |t: &str, d: &Digest, size: u64| {
        format!(r#"{{"mediaType":"{t}","size":{size},"digest":"{d}"}}"#)
    };
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, size)| desc(LAYER_TYPE, d, *size))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
        crate::manifest::DOCKER_MANIFEST,
        desc(CONFIG_TYPE, config.0, config.1),
        layers.join(",")
    )
    .into_bytes()
}

/// A gzip stream as pgzip writes it at its default level (no name; Go's zero time as mtime).
/// pgzip's blocks depend only on the 16 KiB of input before them, so a batch of blocks is
/// compressed on every core, as pgzip itself does, and written in order.
pub struct PgzipWriter<W: Write> {
    out: W,
    /// Input not compressed yet: less than a batch.
    pending: Vec<u8>,
    /// The end of the last block compressed, which primes the next.
    tail: Option<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// Whole blocks compressed at once.
fn batch() -> usize {
    PGZIP_BLOCK * rayon::current_num_threads().clamp(1, 16)
}

impl<W: Write> PgzipWriter<W> {
    pub fn new(mut out: W) -> io::Result<PgzipWriter<W>> {
        out.write_all(&[0x1f, 0x8b, 8, 0])?;
        out.write_all(&gzip_exact::klauspost::PGZIP_MTIME)?;
        out.write_all(&[gzip_exact::gzip::xfl(PGZIP_DEFAULT), 255])?;
        Ok(PgzipWriter {
            out,
            pending: Vec::new(),
            tail: None,
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    /// Compress the whole blocks of `pending` (never the last block of the stream: a whole
    /// block is compressed unclosed, and the stream ends with the block after it, perhaps
    /// empty, as pgzip's Close does).
    fn compress_whole_blocks(&mut self) -> io::Result<()> {
        use rayon::prelude::*;
        let whole = self.pending.len() / PGZIP_BLOCK * PGZIP_BLOCK;
        if whole == 0 {
            return Ok(());
        }
        let blocks: Vec<&[u8]> = self.pending[..whole].chunks(PGZIP_BLOCK).collect();
        let first_tail = self.tail.take();
        let outputs: Vec<Vec<u8>> = (0..blocks.len())
            .into_par_iter()
            .map(|i| {
                let tail = match i {
                    0 => first_tail.clone(),
                    _ => tail_of(blocks[i - 1]),
                };
                let mut out = Vec::new();
                encoder(tail)?.write(blocks[i], &mut out);
                Ok(out)
            })
            .collect::<io::Result<_>>()?;
        for o in outputs {
            self.out.write_all(&o)?;
        }
        self.tail = tail_of(&self.pending[whole - PGZIP_BLOCK..whole]);
        self.pending.drain(..whole);
        Ok(())
    }

    /// Ends the stream (last block, CRC-32 and size) and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.compress_whole_blocks()?;
        let mut last = encoder(self.tail.take())?;
        let mut out = Vec::new();
        last.write(&self.pending, &mut out);
        last.finish(&mut out);
        self.out.write_all(&out)?;
        self.out
            .write_all(&self.crc.clone().finalize().to_le_bytes())?;
        // The gzip trailer holds the size modulo 2^32.
        self.out.write_all(&(self.len as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

/// pgzip's encoder for one block, primed with the end of the block before.
fn encoder(tail: Option<Vec<u8>>) -> io::Result<gzip_exact::klauspost::Pgzip> {
    gzip_exact::klauspost::Pgzip::resume(PGZIP_DEFAULT_IS, PgzipKind::DEFAULT, tail)
        .ok_or_else(|| io::Error::other("pgzip's default level has no encoder"))
}

impl<W: Write> Write for PgzipWriter<W> {
    fn write(&mut self, raw: &[u8]) -> io::Result<usize> {
        self.crc.update(raw);
        self.len += raw.len() as u64;
        self.pending.extend_from_slice(raw);
        if self.pending.len() >= batch() {
            self.compress_whole_blocks()?;
        }
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
    fn the_stream_is_pgzips_however_it_is_written() {
        let all: Vec<u8> = (0..3_500_000u32)
            .map(|i| ((i % 251) ^ (i / 7)) as u8)
            .collect();
        // Within a block, a whole block (the stream then ends with an empty one), several.
        for size in [0, 70_000, PGZIP_BLOCK, 2 * PGZIP_BLOCK + 5, all.len()] {
            let raw = &all[..size];
            let mut w = PgzipWriter::new(Vec::new()).unwrap();
            for piece in raw.chunks(70_000) {
                w.write_all(piece).unwrap();
            }
            let gz = w.finish().unwrap();
            let pgzip = gzip_exact::klauspost::pgzip(raw, -1, PgzipKind::DEFAULT).unwrap();
            assert_eq!(gz, pgzip, "{size}");
            assert_eq!(gzip_exact::inflate(&gz, 1 << 30).unwrap(), raw);
        }
    }

    #[test]
    fn the_manifest_is_gos_marshalling() {
        let c = Digest::of(b"c");
        let l = Digest::of(b"l");
        let m = String::from_utf8(manifest((&c, 3), &[(l.clone(), 9)])).unwrap();
        assert_eq!(
            m,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":3,"digest":"{c}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"{l}"}}]}}"#
            )
        );
    }
}
