//! `bundle inspect`: what a bundle holds, read from its seek index and `bundle.json` only.

use crate::format::reader::BundleReader;
use crate::format::{FormatError, SIGNATURE_PATH};
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
    /// How the layers are carried (rebuilt by an encoder, or as they came).
    pub layers: Vec<crate::format::Carriage>,
    pub images: Vec<crate::format::ImageRecord>,
    /// A delta bundle's base and the layers it leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::format::DeltaBase>,
    /// Programs carried (`create --include-tool`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::format::FileRecord>,
}

pub fn inspect(path: &Path) -> Result<Inspection, FormatError> {
    let reader = BundleReader::open(path)?;
    let (doc, _) = reader.bundle_manifest()?;
    let signed = reader.member(SIGNATURE_PATH).is_some();
    let layers = doc.carriage();
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
        layers,
        images: doc.images,
        base: doc.base,
        tools: doc.tools,
    })
}
