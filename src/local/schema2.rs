//! The registry form of an image that has none (a docker archive): its layers gzipped and a
//! Docker schema 2 manifest, both as skopeo makes them when it copies `docker-archive:` to
//! `docker://`. containers/image compresses with klauspost's pgzip at its default level, an
//! encoder `gzip-exact` rebuilds (so `--compact` carries these layers as tars), and marshals
//! the manifest with Go's encoding/json. Pure.

use crate::digest::Digest;
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
pub struct PgzipWriter<W: Write> {
    out: W,
    encoder: gzip_exact::klauspost::Pgzip,
    crc: crc32fast::Hasher,
    len: u64,
    buf: Vec<u8>,
}

impl<W: Write> PgzipWriter<W> {
    pub fn new(mut out: W) -> io::Result<PgzipWriter<W>> {
        let encoder = gzip_exact::klauspost::Pgzip::new(PGZIP_DEFAULT_IS)
            .ok_or_else(|| io::Error::other("pgzip's default level has no encoder"))?;
        out.write_all(&[0x1f, 0x8b, 8, 0])?;
        out.write_all(&gzip_exact::klauspost::PGZIP_MTIME)?;
        out.write_all(&[gzip_exact::gzip::xfl(PGZIP_DEFAULT), 255])?;
        Ok(PgzipWriter {
            out,
            encoder,
            crc: crc32fast::Hasher::new(),
            len: 0,
            buf: Vec::new(),
        })
    }

    /// Ends the stream (last block, CRC-32 and size) and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.encoder.finish(&mut self.buf);
        self.out.write_all(&self.buf)?;
        self.out
            .write_all(&self.crc.clone().finalize().to_le_bytes())?;
        // The gzip trailer holds the size modulo 2^32.
        self.out.write_all(&(self.len as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for PgzipWriter<W> {
    fn write(&mut self, raw: &[u8]) -> io::Result<usize> {
        self.crc.update(raw);
        self.len += raw.len() as u64;
        self.encoder.write(raw, &mut self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
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
        let raw: Vec<u8> = (0..3_000_000u32).map(|i| ((i % 251) ^ (i / 7)) as u8).collect();
        let mut w = PgzipWriter::new(Vec::new()).unwrap();
        for piece in raw.chunks(70_000) {
            w.write_all(piece).unwrap();
        }
        let gz = w.finish().unwrap();
        assert_eq!(gz, gzip_exact::klauspost::pgzip(&raw, -1).unwrap());
        assert_eq!(gzip_exact::inflate(&gz, 1 << 30).unwrap(), raw);
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
