//! What can be wrong with a bundle, and which exit code each failure means.

use crate::format::FormatError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(
        "{path}: the bundle is not signed; pass --allow-unsigned to accept an unsigned bundle"
    )]
    Unsigned { path: String },
    #[error("{path}: signed by key {claimed}, which is not among the {count} trusted key(s) given with --key")]
    UnknownKey {
        path: String,
        claimed: String,
        count: usize,
    },
    #[error("{path}: the signature does not match bundle.json for any trusted key: the bundle was altered or signed by another key")]
    BadSignature { path: String },
    #[error("{path}: {what} has sha256 {found}, but bundle.json says {expected}: the bundle was altered{images}")]
    DigestMismatch {
        path: String,
        what: String,
        expected: String,
        found: String,
        images: String,
    },
    #[error("{path}: blob {digest} is damaged ({detail}){images}; the bundle was altered or corrupted in transit")]
    Damaged {
        path: String,
        digest: String,
        detail: String,
        images: String,
    },
    #[error("{path}: {detail}")]
    Inconsistent { path: String, detail: String },
    /// `load --verify-images`: an image without a valid cosign signature by the key given.
    #[error("{path}: image {image} has no valid cosign signature by {key}: {reason}; nothing was loaded")]
    ImageSignature {
        path: String,
        image: String,
        key: String,
        reason: String,
    },
    #[error("cannot read key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// A key file that cannot be read or is not a public key (the message names the file).
    #[error(transparent)]
    KeyFile(#[from] crate::keys::KeyError),
    /// A split bundle with a missing, cut or corrupt part, or a parts list that does not check.
    #[error("{path}: {detail}")]
    Part { path: String, detail: String },
}

impl VerifyError {
    pub fn inconsistent(path: &str, detail: String) -> VerifyError {
        VerifyError::Inconsistent {
            path: path.to_string(),
            detail,
        }
    }

    /// 3 for "this bundle must not be trusted", 1 for "this is not something we can check".
    pub fn exit_code(&self) -> i32 {
        use crate::exit_codes::{ERROR, VERIFICATION_FAILED};
        match self {
            VerifyError::Format(
                FormatError::NotABundle { .. }
                | FormatError::NewerVersion { .. }
                | FormatError::UnknownEncoding { .. }
                | FormatError::Io { .. },
            )
            | VerifyError::Key { .. }
            | VerifyError::KeyFile(_) => ERROR,
            _ => VERIFICATION_FAILED,
        }
    }
}
