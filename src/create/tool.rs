//! `create --include-tool`: the loader itself, carried in the bundle as `tools/NAME` so the
//! isolated side can get it out with `tar --zstd -xf FILE tools/NAME` before it has anything
//! else. Hashed here, listed in bundle.json (so the signature covers it), written after the
//! blobs and hashed again on the way.

use crate::digest::Digest;
use crate::format::FileRecord;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Tool {
    pub record: FileRecord,
    pub source: PathBuf,
}

/// Where the tool goes in the bundle: `tools/bundle-linux-x86_64` on an x86_64 Linux build.
pub fn path_in_bundle() -> String {
    format!(
        "tools/bundle-{}-{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Hash `source` (the running binary when the user named none) and record it.
pub fn prepare(source: Option<&Path>) -> Result<Tool> {
    let source = match source {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().context("finding the running bundle binary")?,
    };
    let (digest, size) = hash(&source)?;
    if let Some(note) = dynamic_note(&source) {
        crate::console::line(note);
    }
    Ok(Tool {
        record: FileRecord {
            path: path_in_bundle(),
            digest,
            size,
        },
        source,
    })
}

fn hash(path: &Path) -> Result<(Digest, u64)> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    crate::digest::hash_reader(f).with_context(|| format!("reading {}", path.display()))
}

/// A note when the binary needs a dynamic loader (an ELF `PT_INTERP` header): such a copy runs
/// only where the same libraries are, which the isolated side may not have.
fn dynamic_note(path: &Path) -> Option<String> {
    let head = std::fs::read(path).ok()?;
    let elf = head
        .get(..64)
        .filter(|h| h.starts_with(b"\x7fELF\x02\x01"))?;
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().ok()?) as usize;
    let (entsize, count) = (u16_at(54), u16_at(56));
    let interp = (0..count).any(|i| {
        let at = phoff + i * entsize;
        head.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    });
    interp.then(|| {
        format!(
            "note: {} is dynamically linked, so the copy in the bundle runs only where the same libraries are; `make dist` builds one that runs on any x86_64 Linux (pass it as --include-tool=PATH)",
            path.display()
        )
    })
}
