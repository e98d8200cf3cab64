//! What `create` did (shown by `report`), and the error for images that failed.

use super::plan::Plan;
use super::resolve::ResolvedImage;
use super::write::Written;
use crate::format::{BundleManifest, ReferrerRecord};
use anyhow::anyhow;
use std::collections::HashSet;
use std::path::Path;

/// A written bundle: what its bundle.json says, and its size and hash.
pub struct WrittenBundle {
    pub doc: BundleManifest,
    pub written: Written,
}

impl CreateSummary {
    /// What the bundle holds; the caller adds what the run did (bytes pulled, time, failures).
    pub fn of(images: &[ResolvedImage], plan: &Plan, bundle: &WrittenBundle) -> CreateSummary {
        let doc = &bundle.doc;
        let referrers: Vec<_> = doc
            .images
            .iter()
            .flat_map(|i| i.referrers.iter().cloned())
            .collect();
        CreateSummary {
            contents: doc.contents(),
            bundle_size: bundle.written.size,
            parts: bundle.written.parts,
            sha256: bundle.written.sha256.clone(),
            carriage: doc.carriage(),
            ..CreateSummary::common(images, plan, &referrers)
        }
    }

    /// What a real run and a dry run say alike: images, platforms, referrers, and the config
    /// and layer bytes the images list (a shared blob once per use), which what dedup saved,
    /// what `--since` left out and the blobs carried add up to.
    fn common(
        images: &[ResolvedImage],
        plan: &Plan,
        referrers: &[ReferrerRecord],
    ) -> CreateSummary {
        let uses = images
            .iter()
            .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b));
        let referenced: u64 = uses.clone().map(|b| b.size).sum();
        let mut left_out: std::collections::HashMap<&crate::digest::Digest, u64> =
            Default::default();
        for b in uses.filter(|b| plan.omitted.contains(&b.digest)) {
            left_out.insert(&b.digest, b.size);
        }
        let left_out_bytes: u64 = left_out.values().sum();
        CreateSummary {
            carried: images.iter().map(CarriedItem::of).collect(),
            images: images.len(),
            platforms: images
                .iter()
                .flat_map(|i| i.platforms.iter())
                .collect::<HashSet<_>>()
                .len(),
            blobs_left_out: left_out.len(),
            bytes_left_out: left_out_bytes,
            bytes_saved_by_dedup: referenced.saturating_sub(plan.bytes() + left_out_bytes),
            referrers: crate::format::referrer_summary(referrers),
            referrer_counts: crate::format::referrer_counts(referrers),
            ..Default::default()
        }
    }
}

impl CreateSummary {
    /// `--dry-run`: what the bundle would hold, from the manifests alone. Its size is
    /// estimated as the blobs and manifests themselves (zstd gains little on gzip layers;
    /// `--compact` would make it smaller); with `--split`, the parts that would take.
    pub fn planned(
        images: &[ResolvedImage],
        plan: &Plan,
        split: Option<u64>,
        failed: Vec<(String, String)>,
    ) -> CreateSummary {
        let mut manifests: HashSet<&crate::digest::Digest> = HashSet::new();
        let mut manifest_bytes = 0;
        for m in images.iter().flat_map(super::describe::manifests_of) {
            if manifests.insert(&m.digest) {
                manifest_bytes += m.bytes.len() as u64;
            }
        }
        let referrers: Vec<_> = images
            .iter()
            .flat_map(|i| i.referrers.iter().map(|r| r.record.clone()))
            .collect();
        let estimate = plan.bytes() + manifest_bytes;
        CreateSummary {
            dry_run: true,
            contents: crate::format::Contents {
                manifests: manifests.len(),
                blobs: plan.needs.len(),
                blob_bytes: plan.bytes(),
            },
            bundle_size: estimate,
            parts: split.map_or(0, |p| estimate.div_ceil(p.max(1)) as usize),
            failed,
            ..CreateSummary::common(images, plan, &referrers)
        }
    }
}

/// One thing the bundle carries, and where it came from (what `--dry-run` lists).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CarriedItem {
    /// `image`, `chart` or `file`.
    pub kind: &'static str,
    pub reference: String,
    /// The top-level manifest's digest, as it will be at the other side.
    pub digest: String,
    /// `line 3` of the list, or where a chart names the image.
    pub found: String,
    /// Its configs and layers, each once.
    pub bytes: u64,
}

impl CarriedItem {
    fn of(img: &ResolvedImage) -> CarriedItem {
        let c = &img.carries;
        let kind = match (&c.chart, &c.file) {
            (Some(_), _) => "chart",
            (_, Some(_)) => "file",
            _ => "image",
        };
        let mut seen = HashSet::new();
        let bytes = img
            .blobs
            .iter()
            .flat_map(|(_, b)| b)
            .filter(|b| seen.insert(&b.digest))
            .map(|b| b.size)
            .sum();
        CarriedItem {
            kind,
            reference: img.entry.reference.to_string(),
            digest: img.top.digest.to_string(),
            found: img.entry.whence(),
            bytes,
        }
    }
}

#[derive(Debug, Default)]
pub struct CreateSummary {
    /// Each image, chart and file, in bundle order.
    pub carried: Vec<CarriedItem>,
    /// `--dry-run`: nothing was downloaded or written; `bundle_size` and `parts` are estimates.
    pub dry_run: bool,
    pub images: usize,
    pub platforms: usize,
    /// Manifests, and configs and layers (`blobs`), carried.
    pub contents: crate::format::Contents,
    /// Layers a delta (`--since`) leaves out: the other side holds them.
    pub blobs_left_out: usize,
    pub bytes_left_out: u64,
    /// Received from registries in this run.
    pub bytes_pulled: u64,
    /// Of the carried blobs' bytes, those already in the cache (with `bytes_pulled`, all of
    /// them, unless another process filled the cache meanwhile).
    pub bytes_cached: u64,
    pub bytes_saved_by_dedup: u64,
    pub bundle_size: u64,
    /// With `--split`, the parts written (0: one file).
    pub parts: usize,
    pub sha256: String,
    pub seconds: f64,
    pub failed: Vec<(String, String)>,
    pub signer: Option<String>,
    /// How the layers are carried (`--compact` rebuilds some).
    pub carriage: Vec<crate::format::Carriage>,
    /// "2 signatures, 1 SBOM": what refers to the images, over all of them.
    pub referrers: Option<String>,
    /// The same, counted by kind (`--json`).
    pub referrer_counts: crate::format::ReferrerCounts,
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
