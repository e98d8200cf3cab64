//! The last step of a load: manifests and tags, once every blob checked out.

use super::options::{LoadReport, TargetReport};
use super::prepare::Prepared;
use super::target::BlobOutcome;
use crate::verify;
use anyhow::{Context, Result};
use std::time::Instant;

/// Manifests and tags, last: only after every blob of the bundle checked out.
pub(super) fn commit(
    prepared: Prepared,
    checked: &verify::Checked,
    outcomes: Vec<BlobOutcome>,
    started: Instant,
) -> Result<LoadReport> {
    let Prepared { plan, targets, .. } = prepared;
    let mut reports = Vec::new();
    for (t, blobs) in targets.iter().zip(outcomes) {
        let names = t
            .commit(plan, checked)
            .with_context(|| format!("{}: writing manifests and tags", t.name()))?;
        reports.push(TargetReport {
            target: t.name(),
            names,
            blobs,
        });
    }
    Ok(LoadReport {
        signer: checked.signer.clone(),
        sources: plan.iter().map(|p| p.reference.clone()).collect(),
        bundle_json: checked.bundle_json.clone(),
        created: checked.doc.created.clone(),
        targets: reports,
        partial: plan
            .iter()
            .filter(|p| p.partial)
            .map(|p| p.record.reference.clone())
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}
