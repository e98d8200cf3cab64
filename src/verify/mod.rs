//! Checking a bundle: the signature over `bundle.json` against trusted keys (`trust`), then every
//! member against what `bundle.json` lists (`session`), every manifest's references
//! (`references`), then the seek index and the hash of every byte. `bundle verify` runs it over
//! the whole file; `bundle load` and `bundle serve` drive the same session (opened by `open`).

mod error;
mod open;
mod references;
mod session;
mod trust;

pub use error::VerifyError;
pub use open::{Opened, PartsInfo};
pub use references::images_using;
pub use session::{Checked, Session};
pub use trust::{check_signature, load_keys, TrustedKey};

use std::path::Path;

pub struct Report {
    pub signer: Option<String>,
    pub images: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub file_bytes: u64,
    pub seconds: f64,
}

/// `bundle verify`: the whole file, every byte.
pub fn verify_file(
    path: &Path,
    keys: &[TrustedKey],
    allow_unsigned: bool,
) -> Result<Report, VerifyError> {
    let started = std::time::Instant::now();
    // The seek index is checked too (structure, bounds), as inspect and serve rely on it.
    let Opened {
        name,
        reader,
        stream,
        parts,
    } = Opened::open(path, keys, allow_unsigned)?;
    let checked = Session::open(stream, &name, keys, allow_unsigned)
        .and_then(|s| s.finish())
        .map_err(|e| parts.explain(e))?;
    Ok(Report {
        signer: checked.signer,
        images: checked.doc.images.len(),
        blobs: checked.doc.blobs.len(),
        bytes: checked.doc.blobs.iter().map(|b| b.size).sum(),
        file_bytes: reader.len,
        seconds: started.elapsed().as_secs_f64(),
    })
}
