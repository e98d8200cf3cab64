//! Where each file of a tar sits: its path and the byte range of its entry (extension headers,
//! header, data and padding). A release-2 layer is encoded against the entries of release 1
//! with the same path (`format::patch`); this is the cheap index that finds them. Pure: it
//! reads the headers and skips the data.

use std::io::{self, Read};

const BLOCK: u64 = 512;

/// One file of a tar.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    /// Where its first header (a PAX or GNU long-name header, if it has one) starts.
    pub start: u64,
    /// Where its data starts, and how many bytes of data it has (before padding).
    pub data_start: u64,
    pub data_len: u64,
}

impl Entry {
    /// The end of its padded data: where the next entry starts.
    pub fn end(&self) -> u64 {
        self.data_start + self.data_len.div_ceil(BLOCK) * BLOCK
    }
}

/// Every entry of the tar `r` reads, in order, until its end marker or its end. A tar that is
/// not one (a bad header checksum) ends the index there: what was found stays usable, since
/// an index only guides the encoder and never decides what a byte is.
pub fn index(r: impl Read) -> io::Result<Vec<Entry>> {
    let mut r = Counting { inner: r, at: 0 };
    let mut entries = Vec::new();
    let mut long_name: Option<String> = None;
    let mut start: Option<u64> = None;
    loop {
        let at = r.at;
        let mut block = [0u8; BLOCK as usize];
        if !read_block(&mut r, &mut block)? || block.iter().all(|b| *b == 0) {
            break;
        }
        let header = tar::Header::from_byte_slice(&block);
        if header.cksum().ok() != Some(checksum(&block)) {
            break;
        }
        let size = header.entry_size().unwrap_or(0);
        let padded = size.div_ceil(BLOCK) * BLOCK;
        start.get_or_insert(at);
        match header.entry_type() {
            // Extension headers name the entry that follows them.
            tar::EntryType::XHeader | tar::EntryType::GNULongName => {
                let mut data = Vec::new();
                (&mut r).take(padded.min(1 << 20)).read_to_end(&mut data)?;
                skip(&mut r, padded.saturating_sub(1 << 20))?;
                data.truncate(size as usize);
                if header.entry_type() == tar::EntryType::GNULongName {
                    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                    long_name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                } else if let Some(p) = pax_path(&data) {
                    long_name = Some(p);
                }
            }
            tar::EntryType::XGlobalHeader => {
                skip(&mut r, padded)?;
                start = None;
            }
            _ => {
                let path = long_name
                    .take()
                    .unwrap_or_else(|| String::from_utf8_lossy(&header.path_bytes()).into_owned());
                entries.push(Entry {
                    path,
                    start: start.take().unwrap_or(at),
                    data_start: r.at,
                    data_len: size,
                });
                skip(&mut r, padded)?;
            }
        }
    }
    Ok(entries)
}

/// The sum tar's header checksum field holds: the header's bytes with that field as spaces.
fn checksum(block: &[u8; 512]) -> u32 {
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    let field: u32 = block[148..156].iter().map(|b| u32::from(*b)).sum();
    sum - field + 8 * u32::from(b' ')
}

fn pax_path(data: &[u8]) -> Option<String> {
    tar::PaxExtensions::new(data)
        .flatten()
        .find(|e| e.key() == Ok("path"))
        .map(|e| String::from_utf8_lossy(e.value_bytes()).into_owned())
}

/// A whole block, or false at a clean end of input.
fn read_block(r: &mut impl Read, block: &mut [u8; 512]) -> io::Result<bool> {
    let mut got = 0;
    while got < block.len() {
        match r.read(&mut block[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(true)
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let skipped = io::copy(&mut r.take(n), &mut io::sink())?;
    match skipped == n {
        true => Ok(()),
        false => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

struct Counting<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_long_names_and_pax_paths_are_found_where_they_are() {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, data).unwrap();
        };
        add("etc/short", b"one");
        let long = format!("usr/{}/file", "d".repeat(150));
        add(&long, &[7u8; 1000]);
        add("empty", b"");
        let tar = b.into_inner().unwrap();
        let found = index(&tar[..]).unwrap();
        let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc/short", long.as_str(), "empty"]);
        assert_eq!(found[0].start, 0);
        assert_eq!(&tar[found[0].data_start as usize..][..3], b"one");
        // The long name's own header belongs to its entry.
        assert_eq!(found[1].start, found[0].end());
        assert!(found[1].data_start > found[1].start + 512);
        assert_eq!(found[1].data_len, 1000);
        assert_eq!(found[2].start, found[1].end());

        // PAX paths (as Go's archive/tar writes long names).
        let mut pax = Vec::new();
        let rec = format!("path={long}\n");
        let line = format!("{} {rec}", rec.len() + 4);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(line.len() as u64);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_cksum();
        pax.extend_from_slice(h.as_bytes());
        pax.extend_from_slice(line.as_bytes());
        pax.resize(pax.len().div_ceil(512) * 512, 0);
        let mut h = tar::Header::new_ustar();
        h.set_path("short-name").unwrap();
        h.set_size(2);
        h.set_cksum();
        pax.extend_from_slice(h.as_bytes());
        pax.extend_from_slice(b"hi");
        pax.resize(pax.len().div_ceil(512) * 512 + 1024, 0);
        let found = index(&pax[..]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, long);
        assert_eq!(found[0].start, 0);

        // Not a tar: nothing, and no error.
        assert!(index(&[0xffu8; 2048][..]).unwrap().is_empty());
    }
}
