//! Opening a bundle for checking, shared by verify, load and serve: one file or the parts of a
//! split bundle, by position (the seek index) and as one stream.

use super::error::VerifyError;
use super::trust::TrustedKey;
use crate::digest::Digest;
use crate::format::parts::PartSet;
use crate::format::reader::BundleReader;
use crate::format::FormatError;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A bundle opened for reading: by position (through its seek index) and as one stream, from a
/// single file or from the parts of a split bundle.
pub struct Opened {
    pub name: String,
    pub reader: BundleReader,
    pub stream: Box<dyn Read + Send>,
    pub parts: PartsInfo,
}

/// Which part of a split bundle is being streamed, to name it when something fails.
pub struct PartsInfo(Option<(PartSet, Arc<AtomicUsize>, String)>);

impl Opened {
    /// For a split bundle: the parts list's signature, its link to bundle.json and every part's
    /// size are checked here, before any content is trusted.
    pub fn open(
        path: &Path,
        keys: &[TrustedKey],
        allow_unsigned: bool,
    ) -> Result<Opened, VerifyError> {
        let io = |source| {
            VerifyError::from(FormatError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let Some(set) = PartSet::find(path).map_err(io)? else {
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(io)?;
            // Positional reads leave the shared file offset alone, so one handle serves both.
            let reader = BundleReader::from_file(file.try_clone().map_err(io)?, &name)?;
            return Ok(Opened {
                name,
                reader,
                stream: Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
                parts: PartsInfo(None),
            });
        };
        let name = set.display_name();
        let part_err = |detail: String| VerifyError::Part {
            path: name.clone(),
            detail,
        };
        set.check_sizes().map_err(part_err)?;
        let positional = set.open_positional().map_err(io)?;
        let reader = BundleReader::from_source(Arc::new(positional), &name)?;
        if let Some((m, bytes)) = &set.manifest {
            // An ed25519 signature is 64 bytes.
            match crate::fsutil::read_bounded(&crate::format::parts::signature_path(&set.base), 64) {
                Ok(sig) => {
                    let sig: Option<[u8; 64]> = sig.try_into().ok();
                    if !sig.is_some_and(|s| keys.iter().any(|k| crate::keys::verify(&k.key, bytes, &s))) {
                        return Err(part_err("the signature of the parts list does not verify with any trusted key".into()));
                    }
                }
                Err(_) if allow_unsigned => {}
                Err(_) => {
                    return Err(part_err(
                        "the parts list is not signed (its .sig file is missing); pass --allow-unsigned to accept it".into(),
                    ))
                }
            }
            let bundle_json = reader.read_member(crate::format::MANIFEST_PATH)?;
            if Digest::of(&bundle_json) != m.bundle_json {
                return Err(part_err(
                    "the parts list belongs to another bundle (its bundle.json digest differs)"
                        .into(),
                ));
            }
        }
        let stream = set.open_stream().map_err(io)?;
        let position = stream.position.clone();
        Ok(Opened {
            name: name.clone(),
            reader,
            stream: Box::new(std::io::BufReader::with_capacity(1 << 20, stream)),
            parts: PartsInfo(Some((set, position, name))),
        })
    }
}

impl PartsInfo {
    /// A failure while streaming a split bundle: if the part being read does not match its
    /// signed sha256, say exactly that ("part 3 of 7 is corrupt").
    pub fn explain(&self, e: VerifyError) -> VerifyError {
        let Some((set, position, name)) = &self.0 else {
            return e;
        };
        // The stream reads ahead, so the damage may be in any part read so far: the failure
        // path can afford to hash them again.
        let last = position.load(Ordering::Relaxed);
        match (0..=last).find_map(|i| set.corrupt_part(i)) {
            Some(detail) => VerifyError::Part {
                path: name.clone(),
                detail,
            },
            None => e,
        }
    }
}
