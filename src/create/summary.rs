//! What `create` did (shown by `report`), and the error for images that failed.

use anyhow::anyhow;
use std::path::Path;

#[derive(Debug, Default)]
pub struct CreateSummary {
    pub images: usize,
    pub platforms: usize,
    pub blobs: usize,
    pub distinct_bytes: u64,
    pub bytes_pulled: u64,
    pub bytes_cached: u64,
    pub bytes_saved_by_dedup: u64,
    pub bundle_size: u64,
    pub sha256: String,
    pub seconds: f64,
    pub failed: Vec<(String, String)>,
    pub signer: Option<String>,
}

/// Every failed image with its line in the list and why; the one error create returns for them.
pub fn failure_report(list: &Path, failed: &[(String, String)]) -> anyhow::Error {
    let mut msg = format!(
        "{} of the images in {} failed:",
        failed.len(),
        list.display()
    );
    for (img, why) in failed {
        msg.push_str(&format!("\n  {img}: {why}"));
    }
    msg.push_str("\nno bundle was written; fix these or pass --keep-going to bundle the rest");
    anyhow!(msg)
}
