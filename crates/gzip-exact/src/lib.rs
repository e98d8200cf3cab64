//! Gzip streams rebuilt byte for byte from their uncompressed bytes.
//!
//! A registry names a layer by the sha256 of its gzip bytes, so a tool that stores the layer
//! uncompressed must hand back exactly those bytes. Any valid deflate stream will not do: the
//! producer's own choices (hash chains, lazy matching, block boundaries, Huffman codes) must be
//! made again. This crate has encoders that make them as the producers do:
//!
//! - [`go`]: Go's compress/flate, Go 1.8–1.26 (BuildKit, containerd, moby, crane).
//! - [`klauspost`]: Go 1.27's compress/flate and klauspost/compress's pgzip (podman, buildah,
//!   skopeo).
//! - [`gnu`]: GNU gzip's deflate (`tar z`, `gzip`).
//! - [`pigz`]: pigz's blocks of zlib's deflate (`pigz`, `tar -I pigz`).
//! - zlib itself (Python's gzip, Java's GZIPOutputStream), and preflate-rs's side data for a
//!   stream none of these makes.
//!
//! [`identify`] finds which producer made a stream by making it again; [`Rebuilder`],
//! [`RebuildReader`] and [`RebuildWriter`] make it again from a [`Recipe`] in bounded memory,
//! on every core when the recipe has restart points. Each encoder is judged against its
//! producer itself (this crate's `tests/`).

#![warn(missing_docs)]

pub mod cpu;
mod deflate;
mod encoder;
pub mod gnu;
pub mod go;
pub mod gzip;
mod identify;
pub mod klauspost;
mod pieces;
pub mod pigz;
pub mod preflate;
mod rebuild;
mod recipe;
mod spacing;
pub mod zlib;

pub use encoder::Encoder;
pub use go::Restart;
pub use gzip::{header_len, inflate};
pub use identify::{
    candidates, guess, identify, max_raw_size, rebuild, HEAD, MAX_INFLATION, PREFIX,
};
pub use rebuild::{RebuildReader, RebuildWriter, Rebuilder};
pub use recipe::{
    Producer, Recipe, ENCODER_GNU, ENCODER_GO, ENCODER_GO127, ENCODER_PGZIP, ENCODER_PIGZ,
    ENCODER_PIGZ_SERIAL, ENCODER_PREFLATE, ENCODER_ZLIB, MAX_HEADER, PGZIP_KINDS,
};
pub use spacing::{spaced, MAX_RESTART_GAP, MIN_RESTART_GAP, RESTART_SPACING};

#[cfg(test)]
mod tests {
    /// The README's example.
    #[test]
    fn a_go_stream_is_identified_and_rebuilt() {
        use crate::{identify, inflate, rebuild};
        let gz = crate::go::gzip(b"a layer's tar bytes", 6).unwrap();
        let raw = inflate(&gz, 1 << 30).unwrap();
        let recipe = identify(&gz, &raw).unwrap();
        assert_eq!(rebuild(&raw, &recipe).unwrap(), gz);
    }
}
