//! Reading a bundle by position: from one file, or from the parts of a split bundle.

use std::fs::File;

/// Something read by position from any number of threads at once: a file, or the parts of a
/// split bundle.
pub trait Source: Send + Sync {
    fn size(&self) -> std::io::Result<u64>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl Source for File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

pub fn read_exact_at(src: &dyn Source, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match src.read_at(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
