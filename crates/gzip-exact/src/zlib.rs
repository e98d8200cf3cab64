//! zlib's own deflate (1.2.x–1.3.x, built from libz-sys's bundled source) as gzip writers run
//! it: a 32 KiB window, memLevel 8, the default strategy, raw deflate (the gzip member is
//! framed around it).

use crate::encoder::Encoder;

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
