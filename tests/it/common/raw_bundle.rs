//! A small bundle writer that follows docs/FORMAT.md on its own, independent of `src/`, so that
//! anything can be put in a bundle: hostile tar entries, lying sizes, forged seek indexes. Used by
//! tests/hostile.rs and by the fuzz targets (`fuzz/src/lib.rs`).

// Each includer uses part of it.
#![allow(dead_code)]

use sha2::{Digest as _, Sha256};

pub fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The bytes of one zstd frame holding `content`.
pub fn frame(content: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(content, 1).expect("zstd compresses memory")
}

/// A ustar header, written byte by byte so that anything (`../`, links, sizes past 8 GiB) can be
/// put in it. A path longer than the 100-byte name field is cut.
pub fn tar_header(path: &[u8], size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = path.len().min(100);
    h[..n].copy_from_slice(&path[..n]);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    if size < 8u64.pow(11) {
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    } else {
        // GNU base-256: a set high bit, then the size big-endian.
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

pub struct Raw {
    out: Vec<u8>,
    members: Vec<serde_json::Value>,
}

impl Default for Raw {
    fn default() -> Self {
        Self::new()
    }
}

impl Raw {
    pub fn new() -> Raw {
        let mut out = Vec::new();
        out.extend_from_slice(&0x184D_2A5Au32.to_le_bytes());
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(b"OCIBNDL\x01");
        Raw {
            out,
            members: Vec::new(),
        }
    }

    /// A member whose header says `declared` bytes and whose data frame holds `data` (padded to
    /// 512 unless it is already longer than declared).
    pub fn member(&mut self, path: impl AsRef<[u8]>, declared: u64, kind: u8, data: &[u8]) {
        let path = path.as_ref();
        let h_off = self.out.len() as u64;
        let h = frame(&tar_header(path, declared, kind));
        self.out.extend_from_slice(&h);
        let name = String::from_utf8_lossy(&path[..path.len().min(100)]).into_owned();
        let mut entry = serde_json::json!({
            "path": name, "size": declared, "header": {"offset": h_off, "length": h.len()},
        });
        // An empty member has no data frame (docs/FORMAT.md).
        if !data.is_empty() {
            let mut padded = data.to_vec();
            padded.resize(data.len().div_ceil(512) * 512, 0);
            let d_off = self.out.len() as u64;
            let d = frame(&padded);
            self.out.extend_from_slice(&d);
            entry["data"] = serde_json::json!({"offset": d_off, "length": d.len()});
        }
        self.members.push(entry);
    }

    pub fn file(&mut self, path: &str, data: &[u8]) {
        self.member(path, data.len() as u64, b'0', data);
    }

    /// The end frame and a seek index that describes what was written, changed by `edit` (its
    /// checksum still matches, so only the reader's own checks stand in the way).
    pub fn finish_with(mut self, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        self.out.extend_from_slice(&frame(&[0u8; 1024]));
        let body = sha(&self.out);
        let mut index = serde_json::json!({
            "formatVersion": 1, "bodySha256": body, "members": self.members,
        });
        edit(&mut index);
        let index = serde_json::to_vec(&index).expect("json");
        let mut payload = index.clone();
        payload.extend_from_slice(&Sha256::digest(&index));
        payload.extend_from_slice(&(index.len() as u64).to_le_bytes());
        payload.extend_from_slice(b"BUNDLEIX");
        self.out.extend_from_slice(&0x184D_2A5Eu32.to_le_bytes());
        self.out
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&payload);
        self.out
    }
}
