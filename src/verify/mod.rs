//! Checking a bundle: the signature over `bundle.json` against trusted keys (`trust`), then every
//! member against what `bundle.json` lists (`session`), every manifest's references
//! (`references`), then the seek index and the hash of every byte. `bundle verify` runs it over
//! the whole file; `bundle load` and `bundle serve` drive the same session (opened by `open`).

mod checked;
mod error;
mod open;
mod references;
mod session;
mod trust;

pub use checked::Checked;
pub use error::VerifyError;
pub use open::{Opened, PartsInfo};
pub use references::images_using;
pub use session::Session;
pub use trust::{check_signature, load_keys, TrustedKey};

use crate::digest::{hash_reader, Digest};
use crate::format::reader::BundleReader;
use crate::format::{BlobRecord, FormatError};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::Path;

pub struct Report {
    pub signer: Option<String>,
    pub images: usize,
    pub contents: crate::format::Contents,
    pub file_bytes: u64,
    pub seconds: f64,
    /// Layers carried as patches whose reference was not at hand: their bytes were checked
    /// against bundle.json, their rebuild was not tried.
    pub deltas_unrebuilt: usize,
}

/// `bundle verify`: the whole file, every byte.
pub fn verify_file(
    path: &Path,
    keys: &[TrustedKey],
    allow_unsigned: bool,
    base: Option<&Path>,
) -> Result<Report, VerifyError> {
    let started = std::time::Instant::now();
    // The seek index is checked too (structure, bounds), as inspect and serve rely on it.
    let Opened {
        name,
        mut reader,
        stream,
        parts,
    } = Opened::open(path, keys, allow_unsigned)?;
    reader.set_references(references(path, base)?);
    // Layers carried as tars are rebuilt after the pass over the file, a core each, rather
    // than one after another as the pass meets them.
    let checked = Session::open(stream, &name, keys, allow_unsigned)
        .and_then(|mut s| {
            s.defer_rebuilds();
            s.finish()
        })
        .and_then(|c| {
            let left: HashSet<Digest> = c
                .unproven
                .iter()
                .filter(|b| !rebuildable(b, &c, base))
                .map(|b| b.digest.clone())
                .collect();
            prove_rebuilt(&c, &left, &reader).map(|()| c)
        })
        .map_err(|e| parts.explain(e))?;
    let deltas_unrebuilt = match base {
        Some(_) => 0,
        None => checked
            .unproven
            .iter()
            .filter(|b| !rebuildable(b, &checked, base))
            .count(),
    };
    Ok(Report {
        deltas_unrebuilt,
        signer: checked.signer,
        images: checked.doc.images.len(),
        contents: checked.doc.contents(),
        file_bytes: reader.len,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whether `verify` can rebuild a layer: any but a delta whose reference is neither in the
/// bundle nor in the `--base` given (such a delta was checked by its own digest in the session).
fn rebuildable(b: &BlobRecord, checked: &Checked, base: Option<&Path>) -> bool {
    match b.rebuild.as_ref().and_then(|r| r.reference.as_ref()) {
        None => true,
        Some(r) => base.is_some() || checked.doc.blobs.iter().any(|o| o.digest == r.layer),
    }
}

/// The reference tars of patches: from the bundle itself, then from `base`.
fn references(
    path: &Path,
    base: Option<&Path>,
) -> Result<std::sync::Arc<dyn crate::format::References>, VerifyError> {
    let mut tars = crate::reference_tars::ReferenceTars::new();
    let given = base.map(|b| (format!("--base {}", b.display()), b));
    for (name, p) in std::iter::once((path.display().to_string(), path)).chain(given) {
        let reader = BundleReader::open(p)?;
        // A bundle.json that cannot be read says which file itself: said once, not "X: X: ...".
        let source = crate::reference_tars::ReferenceTars::bundle_source(reader).map_err(|e| {
            match e.downcast::<crate::format::FormatError>() {
                Ok(e) => VerifyError::Format(e),
                Err(e) => VerifyError::inconsistent(&name, crate::causes::flatten(e.chain())),
            }
        })?;
        tars.add(name, source);
    }
    Ok(std::sync::Arc::new(tars))
}

/// The layers carried as tars that the session left unproven, except those in `proven`:
/// rebuilt from `reader` and checked against their digests, a core each (each rebuild holds a
/// zstd window of up to 128 MiB, so no more at once than there are cores).
pub fn prove_rebuilt(
    checked: &Checked,
    proven: &HashSet<Digest>,
    reader: &BundleReader,
) -> Result<(), VerifyError> {
    let left: Vec<&BlobRecord> = checked
        .unproven
        .iter()
        .filter(|b| !proven.contains(&b.digest))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let pool = crate::workers::pool(crate::workers::cores(), "verify")
        .map_err(|e| VerifyError::inconsistent(reader.path(), e.to_string()))?;
    pool.install(|| {
        left.par_iter().try_for_each(|b| {
            let io = |source| FormatError::Io {
                path: reader.path().to_string(),
                source,
            };
            let (found, _) = hash_reader(reader.open_blob(b)?).map_err(io)?;
            if found != b.digest {
                return Err(VerifyError::DigestMismatch {
                    path: reader.path().to_string(),
                    what: format!("blob {}", b.digest),
                    expected: b.digest.to_string(),
                    found: found.to_string(),
                    images: images_using(checked, &b.digest),
                });
            }
            Ok(())
        })
    })
}
