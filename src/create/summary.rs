//! What `create` did, for people (`Display`), and the report of images that failed.

use anyhow::anyhow;
use indicatif::HumanBytes;
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

impl std::fmt::Display for CreateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "images:          {}", self.images)?;
        writeln!(f, "platforms:       {}", self.platforms)?;
        writeln!(
            f,
            "blobs:           {} ({} distinct)",
            self.blobs,
            HumanBytes(self.distinct_bytes)
        )?;
        writeln!(f, "pulled:          {}", HumanBytes(self.bytes_pulled))?;
        writeln!(f, "from cache:      {}", HumanBytes(self.bytes_cached))?;
        writeln!(
            f,
            "saved by dedup:  {}",
            HumanBytes(self.bytes_saved_by_dedup)
        )?;
        writeln!(
            f,
            "bundle size:     {} ({} bytes)",
            HumanBytes(self.bundle_size),
            self.bundle_size
        )?;
        writeln!(f, "sha256:          {}", self.sha256)?;
        writeln!(
            f,
            "signed by:       {}",
            self.signer.as_deref().unwrap_or("nobody (unsigned)")
        )?;
        write!(f, "time:            {:.2}s", self.seconds)?;
        for (img, why) in &self.failed {
            write!(f, "\nFAILED {img}: {why}")?;
        }
        Ok(())
    }
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
