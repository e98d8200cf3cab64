//! Every command's `--json`, one type each, so a key is spelled once and means the same in
//! every command (docs/CLI.md has the table, and a test holds the output to it).

use crate::create::cache::Pruned;
use crate::create::CreateSummary;
use crate::format::{Carriage, Contents, ReferrerCounts};
use crate::load::LoadReport;
use crate::verify::Report as VerifyReport;
use serde::Serialize;
use std::path::Path;

/// `create --json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created<'a> {
    file: String,
    written: bool,
    dry_run: bool,
    split: bool,
    parts: usize,
    images: usize,
    platforms: usize,
    #[serde(flatten)]
    contents: Contents,
    blobs_left_out: usize,
    bytes_left_out: u64,
    bytes_pulled: u64,
    bytes_cached: u64,
    bytes_saved_by_dedup: u64,
    bundle_size: u64,
    sha256: &'a str,
    signer: Option<&'a str>,
    seconds: f64,
    failed: Vec<FailedImage<'a>>,
    layers: &'a [Carriage],
    referrers: &'a ReferrerCounts,
    carried: &'a [crate::create::CarriedItem],
    cpu_seconds: crate::cpu::Seconds,
}

#[derive(Serialize)]
pub struct FailedImage<'a> {
    image: &'a str,
    error: &'a str,
}

impl<'a> Created<'a> {
    pub fn new(output: &Path, s: &'a CreateSummary) -> Self {
        Created {
            file: output.display().to_string(),
            written: !s.dry_run,
            dry_run: s.dry_run,
            split: s.parts > 0,
            parts: s.parts,
            images: s.images,
            platforms: s.platforms,
            contents: s.contents,
            blobs_left_out: s.blobs_left_out,
            bytes_left_out: s.bytes_left_out,
            bytes_pulled: s.bytes_pulled,
            bytes_cached: s.bytes_cached,
            bytes_saved_by_dedup: s.bytes_saved_by_dedup,
            bundle_size: s.bundle_size,
            sha256: &s.sha256,
            signer: s.signer.as_deref(),
            seconds: s.seconds,
            failed: s
                .failed
                .iter()
                .map(|(image, error)| FailedImage { image, error })
                .collect(),
            layers: &s.carriage,
            referrers: &s.referrer_counts,
            carried: &s.carried,
            cpu_seconds: crate::cpu::Seconds::of(crate::cpu::CREATE, crate::cpu::Stage::Prove),
        }
    }
}

/// `create --json` and `load --json` when the command failed (`written` or `loaded` false),
/// as `verify --json` says `"verified": false`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    pub error: String,
    pub exit_code: i32,
}

/// `verify --json` when the bundle verified.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified<'a> {
    file: String,
    verified: bool,
    signer: Option<&'a str>,
    images: usize,
    #[serde(flatten)]
    contents: Contents,
    file_bytes: u64,
    deltas_not_rebuilt: usize,
}

impl<'a> Verified<'a> {
    pub fn new(file: &Path, r: &'a VerifyReport) -> Self {
        Verified {
            file: file.display().to_string(),
            verified: true,
            signer: r.signer.as_deref(),
            images: r.images,
            contents: r.contents,
            file_bytes: r.file_bytes,
            deltas_not_rebuilt: r.deltas_unrebuilt,
        }
    }
}

/// `load --json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Loaded<'a> {
    loaded: bool,
    signer: Option<&'a str>,
    targets: Vec<LoadedTarget<'a>>,
    partial: &'a [String],
    seconds: f64,
    cpu_seconds: crate::cpu::Seconds,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedTarget<'a> {
    target: &'a str,
    images: &'a [String],
    blobs_sent: u64,
    blobs_present: u64,
    blobs_mounted: u64,
    bytes_sent: u64,
}

impl<'a> Loaded<'a> {
    pub fn new(r: &'a LoadReport) -> Self {
        Loaded {
            loaded: true,
            signer: r.signer.as_deref(),
            targets: r
                .targets
                .iter()
                .map(|t| LoadedTarget {
                    target: &t.target,
                    images: &t.names,
                    blobs_sent: t.blobs.sent,
                    blobs_present: t.blobs.present,
                    blobs_mounted: t.blobs.mounted,
                    bytes_sent: t.blobs.bytes,
                })
                .collect(),
            partial: &r.partial,
            seconds: r.seconds,
            cpu_seconds: crate::cpu::Seconds::of(crate::cpu::LOAD, crate::cpu::Stage::Rebuild),
        }
    }
}

/// `cache --prune --json`: what went and what stayed, and where.
#[derive(Serialize)]
pub struct PrunedAt<'a> {
    root: String,
    #[serde(flatten)]
    pruned: &'a Pruned,
}

impl<'a> PrunedAt<'a> {
    pub fn new(root: &Path, pruned: &'a Pruned) -> Self {
        PrunedAt {
            root: root.display().to_string(),
            pruned,
        }
    }
}
