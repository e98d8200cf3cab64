//! `bundle inspect`: what a bundle holds, read from its seek index and `bundle.json` only.

use crate::format::reader::BundleReader;
use crate::format::{FormatError, SIGNATURE_PATH};
use indicatif::HumanBytes;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub file: String,
    pub format_version: u32,
    pub created: String,
    pub tool: String,
    pub signed: bool,
    pub signer: Option<String>,
    pub file_size: u64,
    pub blob_count: usize,
    pub blob_bytes: u64,
    pub images: Vec<crate::format::ImageRecord>,
    /// A delta bundle's base and the layers it leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::format::DeltaBase>,
}

pub fn inspect(path: &Path) -> Result<Inspection, FormatError> {
    let reader = BundleReader::open(path)?;
    let (doc, _) = reader.bundle_manifest()?;
    let signed = reader.member(SIGNATURE_PATH).is_some();
    Ok(Inspection {
        file: path.display().to_string(),
        format_version: doc.format_version,
        created: doc.created,
        tool: doc.tool,
        signed,
        signer: doc
            .signer
            .map(|s| format!("{} {}", s.algorithm, s.fingerprint)),
        file_size: reader.len,
        blob_count: doc.blobs.len(),
        blob_bytes: doc.blobs.iter().map(|b| b.size).sum(),
        images: doc.images,
        base: doc.base,
    })
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "bundle:   {} (format {})",
            self.file, self.format_version
        )?;
        writeln!(f, "created:  {} by {}", self.created, self.tool)?;
        match (&self.signer, self.signed) {
            (Some(s), true) => {
                writeln!(f, "signer:   {s} (not checked here; run `bundle verify`)")?
            }
            _ => writeln!(f, "signer:   none (unsigned bundle)")?,
        }
        writeln!(
            f,
            "size:     {} file, {} blobs totalling {}",
            HumanBytes(self.file_size),
            self.blob_count,
            HumanBytes(self.blob_bytes)
        )?;
        if let Some(b) = &self.base {
            writeln!(
                f,
                "delta:    over {} {} ({}); {} layers ({}) left out, to be found at the target",
                b.kind,
                b.name,
                b.digest,
                b.omitted.len(),
                HumanBytes(b.omitted.iter().map(|o| o.size).sum())
            )?;
        }
        writeln!(f, "images:   {}", self.images.len())?;
        for i in &self.images {
            let plats = if i.platforms.is_empty() {
                "-".to_string()
            } else {
                i.platforms.join(",")
            };
            let partial = if i.complete {
                ""
            } else {
                " (some platforms left out)"
            };
            writeln!(f, "  {}\n    {} {}{partial}", i.reference, i.digest, plats)?;
        }
        Ok(())
    }
}
