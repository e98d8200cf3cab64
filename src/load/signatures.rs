//! `load --verify-images`: before anything is written, each image chosen must carry, in the
//! bundle, a cosign signature by the key given whose payload names its top digest.

use crate::cosign::{signature_tag, CosignKey, MAX_PAYLOAD};
use crate::format::reader::BundleReader;
use crate::manifest::Descriptor;
use crate::select::PlannedImage;
use crate::verify::{Checked, VerifyError};
use std::io::Read;

pub fn check_images(
    plan: &[PlannedImage],
    checked: &Checked,
    reader: &BundleReader,
    key: &CosignKey,
    name: &str,
) -> Result<(), VerifyError> {
    for img in plan {
        check_image(img, checked, reader, key).map_err(|reason| VerifyError::ImageSignature {
            path: name.to_string(),
            image: img.record.reference.clone(),
            key: key.name.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn check_image(
    img: &PlannedImage,
    checked: &Checked,
    reader: &BundleReader,
    key: &CosignKey,
) -> Result<(), String> {
    let top = &img.record.digest;
    let tag = signature_tag(top);
    let Some((sig, _)) = img
        .referrers
        .iter()
        .find(|(r, _)| r.tag.as_deref() == Some(tag.as_str()))
    else {
        return Err(format!(
            "the bundle carries no cosign signature for it (no {tag}; was it created with --referrers none?)"
        ));
    };
    // A layer's bytes from the bundle; `check` compares them with the digest.
    let payload = |d: &Descriptor| -> Result<Vec<u8>, String> {
        let rec = img
            .referrer_blobs
            .iter()
            .find(|b| b.digest == d.digest)
            .ok_or_else(|| format!("its signature's payload {} is not in the bundle", d.digest))?;
        let mut bytes = Vec::new();
        reader
            .open_blob(rec)
            .map_err(|e| e.to_string())?
            .take(MAX_PAYLOAD)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading payload {}: {e}", d.digest))?;
        Ok(bytes)
    };
    key.check(&checked.metadata[&sig.digest], top, &payload)
}
