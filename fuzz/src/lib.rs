//! Shared by the bundle fuzz targets: run a candidate bundle through every reader the loader
//! uses, and the structured input format of `bundle_members`.

#[path = "../../tests/it/common/raw_bundle.rs"]
mod raw_bundle;

use raw_bundle::Raw;
use sha2::{Digest as _, Sha256};
use std::io::{self, Cursor, Seek, Write};

/// Counts and hashes what the verifier lets through, so a target can check that whatever it
/// accepted really has the digest it claimed.
struct HashSink {
    hash: Sha256,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hash.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything `bundle verify` and `bundle load` do with untrusted bytes: the seek index through
/// a file, then the whole stream through the verifying session. Errors are fine; panics, hangs
/// and unbounded memory are what the fuzzer looks for, and an accepted blob with the wrong bytes
/// is a failed assertion.
pub fn check_bundle(data: &[u8]) {
    if let Ok(mut f) = tempfile::tempfile() {
        if f.write_all(data).is_ok() && f.rewind().is_ok() {
            if let Ok(reader) = bundle::format::reader::BundleReader::from_file(f, "fuzz.bundle") {
                for m in reader.index.members.clone() {
                    if m.size <= 1 << 20 {
                        let _ = reader.read_member(&m.path);
                    }
                }
            }
        }
    }
    let Ok(mut session) =
        bundle::verify::Session::open(Cursor::new(data), "fuzz.bundle", &[], true)
    else {
        return;
    };
    loop {
        match session.next_blob() {
            Ok(Some(rec)) => {
                let mut sink = HashSink {
                    hash: Sha256::new(),
                };
                if session.read_blob(&mut sink).is_err() {
                    return;
                }
                let got =
                    bundle::digest::Digest::from_sha256(sink.hash.finalize().into()).to_string();
                assert_eq!(
                    got,
                    rec.digest.to_string(),
                    "accepted a blob with other bytes"
                );
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    }
    if let Err(e) = session.finish() {
        let _ = e.to_string();
    }
}

/// One tar member as the structured target sees it: any path and type, content, and a declared
/// size that may lie.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub kind: u8,
    pub path: Vec<u8>,
    pub data: Vec<u8>,
    pub declared: Option<u64>,
}

/// `[kind][flags][path len u8][path][data len u32 LE][data]([declared u64 LE] if flags & 1)`,
/// repeated; a truncated record ends the list. Simple enough for mutations to stay meaningful.
pub fn decode_members(mut b: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let take = |n: usize, b: &mut &[u8]| -> Option<Vec<u8>> {
        if b.len() < n {
            return None;
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Some(h.to_vec())
    };
    while let Some(head) = take(3, &mut b) {
        let Some(path) = take(usize::from(head[2]), &mut b) else {
            break;
        };
        let Some(len) = take(4, &mut b) else { break };
        let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
        let Some(data) = take(len.min(b.len()), &mut b) else {
            break;
        };
        let declared = if head[1] & 1 == 1 {
            match take(8, &mut b) {
                Some(d) => Some(u64::from_le_bytes(d.try_into().unwrap())),
                None => break,
            }
        } else {
            None
        };
        out.push(Member {
            kind: head[0],
            path,
            data,
            declared,
        });
    }
    out
}

pub fn encode_members(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        out.push(m.kind);
        out.push(u8::from(m.declared.is_some()));
        out.push(m.path.len() as u8);
        out.extend_from_slice(&m.path);
        out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&m.data);
        if let Some(d) = m.declared {
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
    out
}

/// A bundle that is well formed at the frame level (docs/FORMAT.md: header frame, a header and a
/// data frame per member, end frame, a seek index that matches), so that the fuzzer's mutations
/// reach the tar headers, bundle.json and the manifests instead of dying on a frame checksum.
pub fn build_bundle(members: &[Member]) -> Vec<u8> {
    let mut r = Raw::new();
    for m in members {
        let declared = m.declared.unwrap_or(m.data.len() as u64);
        r.member(&m.path, declared, m.kind, &m.data);
    }
    r.finish_with(|_| {})
}
