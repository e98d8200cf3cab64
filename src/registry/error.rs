//! What can go wrong talking to a registry, and how an HTTP status becomes one of these.

use crate::digest::Digest;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `hint` is empty, or starts with "; " and says what to check.
    #[error("{registry}: cannot connect ({reason}){hint}")]
    Connect {
        registry: String,
        reason: String,
        hint: String,
    },
    /// The registry is reachable but not as we speak to it (plain HTTP against HTTPS, an
    /// untrusted certificate): no retry helps, `hint` says what to set.
    #[error("{registry}: cannot connect ({reason}); {hint}")]
    Mismatch {
        registry: String,
        reason: String,
        hint: String,
    },
    #[error("{what}: not found on {registry} (HTTP 404); check the name and tag")]
    NotFound { registry: String, what: String },
    #[error("{what}: {registry} refused access (HTTP {status}); {hint}")]
    Unauthorized {
        registry: String,
        what: String,
        status: u16,
        hint: String,
    },
    #[error("{what}: {registry} answered HTTP {status}{detail}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: {registry} sent content whose sha256 is {found}, not the expected {expected}; the registry or something between us and it corrupted the data")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: Digest,
        found: Digest,
    },
    #[error("{what}: {registry} sent {found} bytes, expected {expected}")]
    SizeMismatch {
        registry: String,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{what}: {reason}")]
    Protocol { what: String, reason: String },
    #[error("{what}: writing {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{registry}: TLS setup failed: {reason}")]
    Tls { registry: String, reason: String },
}

impl RegistryError {
    /// A connection that broke, with no advice to give.
    pub fn connect(registry: &str, reason: String) -> RegistryError {
        RegistryError::Connect {
            registry: registry.to_string(),
            reason,
            hint: String::new(),
        }
    }

    /// The error for an unexpected HTTP status; `body` is the start of the answer's body, and
    /// `has_credential` says whether we sent credentials (for the hint on 401/403).
    pub fn of_status(
        registry: &str,
        has_credential: bool,
        hints: &super::hints::Hints,
        status: u16,
        body: &str,
        what: &str,
    ) -> RegistryError {
        let registry = registry.to_string();
        let what = what.to_string();
        match status {
            404 => RegistryError::NotFound { registry, what },
            401 | 403 => RegistryError::Unauthorized {
                registry,
                what,
                status,
                hint: if has_credential {
                    "the credentials were rejected or lack access to this repository".into()
                } else {
                    format!("no credentials found: {}", hints.credentials)
                },
            },
            _ => {
                // Registries explain errors in a small JSON body; show a bounded excerpt.
                let body = body.trim();
                let detail = if body.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::console::printable(body))
                };
                RegistryError::Status {
                    registry,
                    what,
                    status,
                    detail,
                }
            }
        }
    }

    /// Worth trying again: the connection failed, or the registry said it is busy or broken
    /// for now (429, 500, 502, 503, 504).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { .. } => true,
            RegistryError::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }
}

pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}
