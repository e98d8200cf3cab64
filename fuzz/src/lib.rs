//! Shared by the bundle fuzz targets: run a candidate bundle through every reader the loader
//! uses, and the structured input format of `bundle_members`.

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
                let got = format!("sha256:{}", hex(&sink.hash.finalize()));
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

/// A ustar header written byte by byte, so that anything (`../`, links, huge sizes) fits.
fn tar_header(path: &[u8], size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = path.len().min(100);
    h[..n].copy_from_slice(&path[..n]);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    if size < 8u64.pow(11) {
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn frame(content: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(content, 1).expect("zstd compresses memory")
}

/// A bundle that is well formed at the frame level (docs/FORMAT.md: header frame, a header and a
/// data frame per member, end frame, a seek index that matches), so that the fuzzer's mutations
/// reach the tar headers, bundle.json and the manifests instead of dying on a frame checksum.
pub fn build_bundle(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x184D_2A5Au32.to_le_bytes());
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(b"OCIBNDL\x01");
    let mut index = Vec::new();
    for m in members {
        let declared = m.declared.unwrap_or(m.data.len() as u64);
        let h_off = out.len();
        let h = frame(&tar_header(&m.path, declared, m.kind));
        out.extend_from_slice(&h);
        let path = String::from_utf8_lossy(&m.path[..m.path.len().min(100)]).into_owned();
        let mut entry = serde_json::json!({
            "path": path, "size": declared, "header": {"offset": h_off, "length": h.len()},
        });
        if !m.data.is_empty() {
            let mut padded = m.data.clone();
            padded.resize(m.data.len().div_ceil(512) * 512, 0);
            let d_off = out.len();
            let d = frame(&padded);
            out.extend_from_slice(&d);
            entry["data"] = serde_json::json!({"offset": d_off, "length": d.len()});
        }
        index.push(entry);
    }
    out.extend_from_slice(&frame(&[0u8; 1024]));
    let body = hex(&Sha256::digest(&out));
    let json = serde_json::to_vec(&serde_json::json!({
        "formatVersion": 1, "bodySha256": body, "members": index,
    }))
    .expect("json");
    let mut payload = json.clone();
    payload.extend_from_slice(&Sha256::digest(&json));
    payload.extend_from_slice(&(json.len() as u64).to_le_bytes());
    payload.extend_from_slice(b"BUNDLEIX");
    out.extend_from_slice(&0x184D_2A5Eu32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}
