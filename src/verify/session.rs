//! The streaming check of one bundle, front to back: bundle.json and its signature, the layout
//! files and every manifest first (`open`), then each config and layer as the caller reads it,
//! then the seek index and the hash of every byte (`finish`).

use super::checked::Checked;
use super::error::VerifyError;
use super::references::{check_references, images_using};
use super::trust::{check_signature, TrustedKey};
use crate::digest::{Digest, HashingWriter};
use crate::format::reader::MAX_METADATA_BYTES;
use crate::format::stream::{Member, StreamReader};
use crate::format::{
    BlobRecord, BundleManifest, FormatError, INDEX_JSON_PATH, LAYOUT_PATH, MANIFEST_PATH,
    OCI_LAYOUT_CONTENT, SIGNATURE_PATH,
};
use crate::manifest;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

/// Manifests and indexes are held in memory; registries refuse larger ones anyway.
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;

/// A bundle being read front to back with every check applied.
pub struct Session<R> {
    stream: StreamReader<R>,
    name: String,
    pub checked: Checked,
    records: HashMap<Digest, BlobRecord>,
    seen: HashSet<Digest>,
    /// The `tools/` members read and checked so far.
    tools_seen: HashSet<String>,
    pending: Option<Member>,
    defer_rebuilds: bool,
    /// The reference tars of layers carried as patches (`set_references`).
    references: Option<std::sync::Arc<dyn crate::format::References>>,
}

impl<R: Read> Session<R> {
    /// Read and check the signature, bundle.json, the layout files and every manifest. Nothing
    /// else is trusted before this returns.
    pub fn open(
        src: R,
        name: &str,
        keys: &[TrustedKey],
        allow_unsigned: bool,
    ) -> Result<Self, VerifyError> {
        let mut stream = StreamReader::new(src, name)?;
        let Signed {
            bundle_json,
            signature,
            next: m,
        } = read_signed(&mut stream, name)?;
        let signer = check_signature(
            &bundle_json,
            signature.as_deref(),
            keys,
            allow_unsigned,
            name,
        )?;
        let doc = BundleManifest::parse(&bundle_json, name)?;
        let (index_json, m) = read_layout_files(&mut stream, &doc, name, m)?;
        let records = doc
            .blobs
            .iter()
            .map(|b| (b.digest.clone(), b.clone()))
            .collect();
        let mut session = Session {
            stream,
            name: name.to_string(),
            checked: Checked {
                bundle_json: crate::digest::Digest::of(&bundle_json),
                doc,
                signer,
                index_json,
                metadata: HashMap::new(),
                unproven: Vec::new(),
            },
            records,
            seen: HashSet::new(),
            tools_seen: HashSet::new(),
            pending: None,
            defer_rebuilds: false,
            references: None,
        };
        session.read_manifests(m)?;
        check_references(&session.checked, &session.records, name)?;
        Ok(session)
    }

    /// Manifests and indexes come first (docs/FORMAT.md): read them all into memory, verified.
    /// The first config or layer is left pending.
    fn read_manifests(&mut self, first: Member) -> Result<(), VerifyError> {
        let mut current = Some(first);
        while let Some(m) = current.take() {
            let rec = self.record_for(&m)?;
            if !manifest::is_index(&rec.media_type) && !manifest::is_manifest(&rec.media_type) {
                self.pending = Some(m);
                break;
            }
            if rec.size > MAX_MANIFEST {
                return Err(VerifyError::Inconsistent {
                    path: self.name.clone(),
                    detail: format!(
                        "manifest {} is larger than {MAX_MANIFEST} bytes",
                        rec.digest
                    ),
                });
            }
            let mut buf = Vec::with_capacity(rec.size as usize);
            self.read_verified(&m, &rec, &mut buf)?;
            self.checked.metadata.insert(rec.digest.clone(), buf);
            current = self.stream.next_member()?;
        }
        Ok(())
    }

    fn record_for(&self, m: &Member) -> Result<BlobRecord, VerifyError> {
        let inconsistent = |detail: String| VerifyError::inconsistent(&self.name, detail);
        // A blob as it is, or a layer's uncompressed tar (`gzip-rebuild`).
        let digest = crate::format::member_digest(&m.path)
            .ok_or_else(|| inconsistent(format!("unexpected member {:?}", m.path)))?;
        let rec = self
            .records
            .get(&digest)
            .filter(|r| r.member_path() == m.path)
            .ok_or_else(|| {
                inconsistent(format!("member {} is not listed in bundle.json", m.path))
            })?;
        if self.seen.contains(&digest) {
            return Err(inconsistent(format!("blob {digest} appears twice")));
        }
        if rec.member_size() != m.size {
            return Err(inconsistent(format!(
                "member {} is {} bytes in the archive but {} in bundle.json",
                m.path,
                m.size,
                rec.member_size()
            )));
        }
        Ok(rec.clone())
    }

    /// A member that did not read back as written, named with the images that use it.
    fn damaged(&self, e: FormatError, rec: &BlobRecord) -> VerifyError {
        match e {
            FormatError::MemberCorrupt { detail, .. } => VerifyError::Damaged {
                path: self.name.clone(),
                digest: rec.digest.to_string(),
                detail,
                images: images_using(&self.checked, &rec.digest),
            },
            other => other.into(),
        }
    }

    /// Leave the rebuild of layers carried as tars to the caller, who rebuilds them anyway (load
    /// from a file sends each one, rebuilt and checked by its target): their frames are hashed
    /// with the file and their spans checked here, but decoded only by that rebuild
    /// (`BundleReader::open_blob`, which checks the whole frame), and `Checked::unproven` lists
    /// them for the caller to prove, every one. A delta's frame is decoded here, against its own
    /// digest, since its reference may not be at hand.
    pub fn defer_rebuilds(&mut self) {
        self.defer_rebuilds = true;
    }

    /// Where layers carried as patches get their reference tars, to be rebuilt on the way.
    pub fn set_references(&mut self, refs: std::sync::Arc<dyn crate::format::References>) {
        self.references = Some(refs);
    }

    /// Stream a member into `sink` while hashing it; error if it is not what bundle.json says.
    /// The sink sees the bytes before the verdict: it must not publish them until this returns Ok.
    fn read_verified(
        &mut self,
        m: &Member,
        rec: &BlobRecord,
        sink: &mut dyn Write,
    ) -> Result<(), VerifyError> {
        let delta = rec.rebuild.as_ref().and_then(|r| r.reference.as_ref());
        if self.defer_rebuilds && rec.rebuild.is_some() {
            // A delta's bytes are checked against the digest bundle.json gives them, so they
            // are proven authentic even where the reference tar is not at hand. A tar's own
            // bytes have no digest of their own to check: the caller's rebuild proves them.
            if let Some(d) = delta {
                let mut w = HashingWriter::new(std::io::sink());
                if let Err(e) = self.stream.read_data(m, &mut w) {
                    return Err(self.damaged(e, rec));
                }
                let (_, found, _) = w.finish();
                if d.delta_digest != found {
                    return Err(self.mismatch(rec, &d.delta_digest, &found));
                }
            } else if let Err(e) = self.stream.skip_data(m) {
                // Its frame is decoded once, by the caller's rebuild, which checks all of it.
                return Err(self.damaged(e, rec));
            }
            self.seen.insert(rec.digest.clone());
            self.checked.unproven.push(rec.clone());
            return Ok(());
        }
        if delta.is_some() {
            return self.read_delta(m, rec, sink);
        }
        let mut w = HashingWriter::new(sink);
        // A layer carried uncompressed is rebuilt on the way: what is hashed (and what the sink
        // gets) is the gzip stream the digest names.
        let read = match rec.recipe().and_then(|r| gzip_exact::Rebuilder::new(&r)) {
            Some(r) => {
                let mut rebuilt = gzip_exact::RebuildWriter::new(&mut w, r);
                self.stream.read_data(m, &mut rebuilt).and_then(|()| {
                    rebuilt.finish().map(drop).map_err(|e| FormatError::Io {
                        path: self.name.clone(),
                        source: e,
                    })
                })
            }
            None => self.stream.read_data(m, &mut w),
        };
        if let Err(e) = read {
            return Err(self.damaged(e, rec));
        }
        let (_, found, _) = w.finish();
        if found != rec.digest {
            return Err(self.mismatch(rec, &rec.digest, &found));
        }
        self.seen.insert(rec.digest.clone());
        Ok(())
    }

    fn mismatch(&self, rec: &BlobRecord, expected: &Digest, found: &Digest) -> VerifyError {
        VerifyError::DigestMismatch {
            path: self.name.clone(),
            what: format!("blob {}", rec.digest),
            expected: expected.to_string(),
            found: found.to_string(),
            images: images_using(&self.checked, &rec.digest),
        }
    }

    /// A layer carried as a delta: its member spooled (it is read at the pace of the
    /// reference's chunks), then decoded against its reference and rebuilt into `sink`.
    fn read_delta(
        &mut self,
        m: &Member,
        rec: &BlobRecord,
        sink: &mut dyn Write,
    ) -> Result<(), VerifyError> {
        let io = |name: &str, source| FormatError::Io {
            path: name.to_string(),
            source,
        };
        let dir = std::env::temp_dir();
        let mut spool = crate::fsutil::PartialFile::scratch(&dir, ".bundle-spool-")
            .map_err(|e| io(&dir.display().to_string(), e))?;
        if let Err(e) = self.stream.read_data(m, &mut spool) {
            return Err(self.damaged(e, rec));
        }
        let spool = std::fs::File::open(spool.temp_path()).map_err(|e| io(&self.name, e))?;
        let mut w = HashingWriter::new(sink);
        let copied = rec
            .decoder(std::io::BufReader::new(spool), self.references.as_deref())
            .and_then(|mut r| std::io::copy(&mut r, &mut w));
        if let Err(e) = copied {
            return Err(self.damaged(io(&self.name, e), rec));
        }
        let (_, found, _) = w.finish();
        if found != rec.digest {
            return Err(self.mismatch(rec, &rec.digest, &found));
        }
        self.seen.insert(rec.digest.clone());
        Ok(())
    }

    /// The next config or layer: its record. Read it with `read_blob` (or it is read and checked
    /// anyway when asking for the next one).
    /// Tools (`create --include-tool`) follow the blobs: they are checked here on the way,
    /// never handed out as blobs.
    pub fn next_blob(&mut self) -> Result<Option<BlobRecord>, VerifyError> {
        loop {
            if self.pending.is_none() {
                self.pending = self.stream.next_member()?;
            }
            match self.pending.take() {
                None => return Ok(None),
                Some(m) if m.path.starts_with("tools/") => self.read_tool(&m)?,
                Some(m) => {
                    let rec = self.record_for(&m)?;
                    self.pending = Some(m);
                    return Ok(Some(rec));
                }
            }
        }
    }

    /// A tool member, checked against its record in bundle.json like a layout file.
    fn read_tool(&mut self, m: &Member) -> Result<(), VerifyError> {
        let inconsistent = |detail: String| VerifyError::inconsistent(&self.name, detail);
        let rec = self
            .checked
            .doc
            .tools
            .iter()
            .find(|t| t.path == m.path)
            .cloned()
            .ok_or_else(|| {
                inconsistent(format!("member {} is not listed in bundle.json", m.path))
            })?;
        if rec.size != m.size || !self.tools_seen.insert(rec.path.clone()) {
            return Err(inconsistent(format!(
                "tool {} is not as bundle.json lists it",
                m.path
            )));
        }
        let mut w = HashingWriter::new(std::io::sink());
        self.stream.read_data(m, &mut w)?;
        let (_, found, _) = w.finish();
        if found != rec.digest {
            return Err(VerifyError::DigestMismatch {
                path: self.name.clone(),
                what: rec.path,
                expected: rec.digest.to_string(),
                found: found.to_string(),
                images: String::new(),
            });
        }
        Ok(())
    }

    pub fn read_blob(&mut self, sink: &mut dyn Write) -> Result<(), VerifyError> {
        let m = self
            .pending
            .take()
            .ok_or_else(|| VerifyError::Inconsistent {
                path: self.name.clone(),
                detail: "no blob to read".into(),
            })?;
        let rec = self.record_for(&m)?;
        self.read_verified(&m, &rec, sink)
    }

    /// The end: every listed blob was present and the file is exactly as written.
    pub fn finish(mut self) -> Result<Checked, VerifyError> {
        while self.next_blob()?.is_some() {
            self.read_blob(&mut std::io::sink())?;
        }
        if let Some(missing) = self
            .checked
            .doc
            .blobs
            .iter()
            .find(|b| !self.seen.contains(&b.digest))
        {
            return Err(VerifyError::Inconsistent {
                path: self.name.clone(),
                detail: format!(
                    "blob {} listed in bundle.json is missing{}",
                    missing.digest,
                    images_using(&self.checked, &missing.digest)
                ),
            });
        }
        if let Some(t) = self
            .checked
            .doc
            .tools
            .iter()
            .find(|t| !self.tools_seen.contains(&t.path))
        {
            return Err(VerifyError::Inconsistent {
                path: self.name.clone(),
                detail: format!("tool {} listed in bundle.json is missing", t.path),
            });
        }
        self.stream.finish()?;
        Ok(self.checked)
    }
}

fn next_member<R: Read>(stream: &mut StreamReader<R>, name: &str) -> Result<Member, VerifyError> {
    stream.next_member()?.ok_or_else(|| {
        VerifyError::inconsistent(name, "the archive ends before its first blob".into())
    })
}

/// The first members: bundle.json and, when the bundle is signed, its signature.
struct Signed {
    bundle_json: Vec<u8>,
    signature: Option<Vec<u8>>,
    /// The member after them.
    next: Member,
}

fn read_signed<R: Read>(stream: &mut StreamReader<R>, name: &str) -> Result<Signed, VerifyError> {
    let m = next_member(stream, name)?;
    if m.path != MANIFEST_PATH || m.size > MAX_METADATA_BYTES {
        return Err(VerifyError::inconsistent(
            name,
            format!("the first member is {:?}, not {MANIFEST_PATH}", m.path),
        ));
    }
    let bundle_json = read_small(stream, &m)?;
    let m = next_member(stream, name)?;
    if m.path != SIGNATURE_PATH {
        return Ok(Signed {
            bundle_json,
            signature: None,
            next: m,
        });
    }
    if m.size != 64 {
        return Err(VerifyError::BadSignature { path: name.into() });
    }
    let signature = read_small(stream, &m)?;
    Ok(Signed {
        bundle_json,
        signature: Some(signature),
        next: next_member(stream, name)?,
    })
}

/// `oci-layout` and `index.json` (from `m` on), each checked against bundle.json; returns
/// index.json and the member that follows.
fn read_layout_files<R: Read>(
    stream: &mut StreamReader<R>,
    doc: &BundleManifest,
    name: &str,
    mut m: Member,
) -> Result<(Vec<u8>, Member), VerifyError> {
    let mut index_json = Vec::new();
    for expected in [LAYOUT_PATH, INDEX_JSON_PATH] {
        if m.path != expected {
            return Err(VerifyError::inconsistent(
                name,
                format!("expected {expected}, found {:?}", m.path),
            ));
        }
        let bytes = read_small(stream, &m)?;
        let rec = doc
            .files
            .iter()
            .find(|f| f.path == expected)
            .ok_or_else(|| {
                VerifyError::inconsistent(name, format!("bundle.json does not list {expected}"))
            })?;
        let found = Digest::of(&bytes);
        if found != rec.digest || bytes.len() as u64 != rec.size {
            return Err(VerifyError::DigestMismatch {
                path: name.into(),
                what: expected.into(),
                expected: rec.digest.to_string(),
                found: found.to_string(),
                images: String::new(),
            });
        }
        if expected == LAYOUT_PATH && bytes != OCI_LAYOUT_CONTENT {
            return Err(VerifyError::inconsistent(
                name,
                "oci-layout is not version 1.0.0".into(),
            ));
        }
        index_json = bytes;
        m = next_member(stream, name)?;
    }
    Ok((index_json, m))
}

fn read_small<R: Read>(stream: &mut StreamReader<R>, m: &Member) -> Result<Vec<u8>, VerifyError> {
    // The size is not trusted yet: start small and grow with the data.
    let mut buf = Vec::with_capacity(m.size.min(1 << 20) as usize);
    stream.read_data(m, &mut buf)?;
    Ok(buf)
}
