//! `--base FILE` (repeatable): the bundles a site already holds — the full release and the
//! deltas made over it. A delta's left-out layers are read from them for a target that does
//! not hold those layers (a new `oci:` layout, `docker-archive:`, containerd), and the reference
//! layers of patches are unpacked from them. Each base's signature is checked with the
//! keys that check the bundle: what a base gives a target is checked against its digest there,
//! but an unsigned base would still be an untrusted file fed to the decoders.

use crate::digest::Digest;
use crate::format::reader::BundleReader;
use crate::format::BlobRecord;
use crate::verify::{Opened, TrustedKey};
use anyhow::Result;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

/// Left-out layers sent from a base, by digest: which base (its index) and its record there.
pub(super) type FromBase =
    std::collections::HashMap<crate::digest::Digest, (usize, crate::format::BlobRecord)>;

pub struct Base {
    pub path: PathBuf,
    reader: BundleReader,
    blobs: HashMap<Digest, BlobRecord>,
}

#[derive(Default)]
pub struct Bases(Vec<Base>);

impl Bases {
    /// Each base opened and its signature checked; a base that fails is named.
    pub fn open(paths: &[PathBuf], keys: &[TrustedKey], allow_unsigned: bool) -> Result<Bases> {
        paths
            .iter()
            // Every error of these names the file already.
            .map(|p| Base::open(p, keys, allow_unsigned))
            .collect::<Result<Vec<_>>>()
            .map(Bases)
    }

    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.0.iter().map(|b| &b.path)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first base that carries `d` (left out by no delta of its own): its index and record.
    pub fn find(&self, d: &Digest) -> Option<(usize, &BlobRecord)> {
        self.0
            .iter()
            .enumerate()
            .find_map(|(i, b)| Some((i, b.blobs.get(d)?)))
    }

    pub fn get(&self, i: usize) -> &Base {
        &self.0[i]
    }

    /// Readers of every base, for the reference tars of patches.
    pub fn readers(&self) -> Result<Vec<(String, BundleReader)>> {
        self.0
            .iter()
            .map(|b| Ok((format!("--base {}", b.path.display()), reopen(&b.path)?)))
            .collect()
    }

    pub fn set_references(&mut self, refs: std::sync::Arc<crate::reference_tars::ReferenceTars>) {
        for b in &mut self.0 {
            b.reader.set_references(refs.clone());
        }
    }
}

impl Base {
    fn open(path: &std::path::Path, keys: &[TrustedKey], allow_unsigned: bool) -> Result<Base> {
        let reader = Opened::open(path, keys, allow_unsigned)?.reader;
        let (doc, bytes) = reader.bundle_manifest()?;
        let sig = reader
            .member(crate::format::SIGNATURE_PATH)
            .map(|_| reader.read_member(crate::format::SIGNATURE_PATH))
            .transpose()?;
        let name = path.display().to_string();
        crate::verify::check_signature(&bytes, sig.as_deref(), keys, allow_unsigned, &name)?;
        let blobs = doc
            .blobs
            .into_iter()
            .map(|b| (b.digest.clone(), b))
            .collect();
        Ok(Base {
            path: path.to_path_buf(),
            reader,
            blobs,
        })
    }

    /// The blob's bytes as this base carries them (rebuilt, for a compact layer); the target
    /// checks them against the digest.
    pub fn open_blob(&self, record: &BlobRecord) -> Result<Box<dyn Read + Send>> {
        Ok(self.reader.open_blob(record)?)
    }
}

/// A second reader of a base already checked (`Base::open`): one file or its parts.
fn reopen(path: &std::path::Path) -> Result<BundleReader> {
    Ok(BundleReader::open(path)?)
}
