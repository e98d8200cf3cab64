//! Process exit codes, documented in docs/CLI.md.

pub const OK: i32 = 0;
/// Something failed (network, registry, file system, bad input).
pub const ERROR: i32 = 1;
/// The command line was wrong (clap uses 2 as well).
pub const USAGE: i32 = 2;
/// A signature or digest check failed: the bundle must not be trusted.
pub const VERIFICATION_FAILED: i32 = 3;

/// A value on the command line that cannot be right: exit code 2, as for clap's own errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
