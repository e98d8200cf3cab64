//! Content digests. Only `sha256` is accepted: it is the only algorithm registries use in
//! practice, and a digest is later used as a file name, so it must be validated strictly.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::str::FromStr;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
pub struct DigestError(pub String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest {
            hex: hex::encode(hash),
        }
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The 32 bytes of the hash.
    pub fn sha256(&self) -> [u8; 32] {
        let mut out = [0; 32];
        hex::decode_to_slice(&self.hex, &mut out).expect("a checked digest");
        out
    }

    /// Path of the blob inside an OCI image layout.
    pub fn layout_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestError(s.to_string()))?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError(s.to_string()));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The sha256 and the length of the bytes seen so far.
#[derive(Clone, Default)]
struct Tally {
    hasher: Sha256,
    count: u64,
}

impl Tally {
    fn add(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.count += bytes.len() as u64;
    }

    fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().into())
    }

    fn finish(self) -> (Digest, u64) {
        (
            Digest::from_sha256(self.hasher.finalize().into()),
            self.count,
        )
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    tally: Tally,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self::resume(inner, Sha256::new(), 0)
    }

    /// Continue hashing from bytes already written (resume of a partial download).
    pub fn resume(inner: W, hasher: Sha256, count: u64) -> Self {
        HashingWriter {
            inner,
            tally: Tally { hasher, count },
        }
    }

    pub fn count(&self) -> u64 {
        self.tally.count
    }

    /// The digest of what has passed so far; writing may go on.
    pub fn digest(&self) -> Digest {
        self.tally.digest()
    }

    pub fn finish(self) -> (W, Digest, u64) {
        let (d, n) = self.tally.finish();
        (self.inner, d, n)
    }

    pub fn into_hasher(self) -> Sha256 {
        self.tally.hasher
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts exactly the bytes taken from it, through `read` or, over a
/// `BufReader`, through `consume`.
pub struct HashingReader<R> {
    inner: R,
    tally: Tally,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            tally: Tally::default(),
        }
    }

    pub fn count(&self) -> u64 {
        self.tally.count
    }

    /// The digest of what was taken so far; reading may go on.
    pub fn digest(&self) -> Digest {
        self.tally.digest()
    }

    pub fn finish(self) -> (R, Digest, u64) {
        let (d, n) = self.tally.finish();
        (self.inner, d, n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> BufRead for HashingReader<BufReader<R>> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.tally.add(&self.inner.buffer()[..n]);
        self.inner.consume(n);
    }
}

/// Hash a whole reader, returning its digest and length.
pub fn hash_reader(r: impl Read) -> io::Result<(Digest, u64)> {
    let mut h = HashingReader::new(r);
    io::copy(&mut h, &mut io::sink())?;
    let (_, d, n) = h.finish();
    Ok((d, n))
}

/// A sha256 state primed with the bytes of an existing file, for resuming a download.
pub fn hasher_for_prefix(r: impl Read) -> io::Result<(Sha256, u64)> {
    let mut h = HashingReader::new(r);
    io::copy(&mut h, &mut io::sink())?;
    Ok((h.tally.hasher, h.tally.count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "sha256:../../etc/passwd",
            "sha512:e3b0",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} accepted");
        }
    }
}
