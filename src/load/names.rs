//! How a load names images and blobs in its messages and progress bars.

use crate::format::BlobRecord;
use crate::select::PlannedImage;

/// A blob's bar names the (first) image it belongs to, then the blob: `team/app1:1.0 7321c1cd8f81`.
pub(super) fn bar_label(blob: &BlobRecord, imgs: &[&PlannedImage]) -> String {
    let image = imgs.first().map_or("", |i| i.record.reference.as_str());
    let more = if imgs.len() > 1 { " +" } else { "" };
    format!("{image}{more} {}", &blob.digest.hex()[..12])
}

pub(super) fn names_of(imgs: &[&PlannedImage]) -> String {
    imgs.iter()
        .map(|i| i.record.reference.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
