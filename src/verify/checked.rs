//! What a verified bundle's signed part says: the product of a `Session`, read by the
//! reference checks and by every command that loads or serves a bundle.

use crate::digest::Digest;
use crate::format::{BlobRecord, BundleManifest};
use std::collections::HashMap;

/// What the signed part of a bundle says, once checked.
pub struct Checked {
    pub doc: BundleManifest,
    /// sha256 of bundle.json's bytes: what names this bundle (as a delta's base names it).
    pub bundle_json: Digest,
    /// Fingerprint of the trusted key that verified the signature; None if unsigned and allowed.
    pub signer: Option<String>,
    pub index_json: Vec<u8>,
    /// Every manifest and index, by digest, bytes verified.
    pub metadata: HashMap<Digest, Vec<u8>>,
    /// Layers carried as tars whose rebuild this session left to its caller
    /// (`Session::defer_rebuilds`): their frames were hashed with the file, their content (but a
    /// delta's) not yet decoded, their digests not yet checked.
    pub unproven: Vec<BlobRecord>,
}
