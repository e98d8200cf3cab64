//! Checking a bundle: the signature over `bundle.json` against trusted keys, then every member
//! against what `bundle.json` lists, then the seek index and the hash of every byte. `bundle
//! verify` runs it over the whole file; `bundle load` drives the same session while loading.

use crate::digest::{Digest, HashingWriter};
use crate::format::parts::PartSet;
use crate::format::reader::BundleReader;
use crate::format::stream::{Member, StreamReader};
use crate::format::{
    BlobRecord, BundleManifest, FormatError, ENCODING_ZSTD_FRAME, FORMAT_VERSION, INDEX_JSON_PATH,
    LAYOUT_PATH, MANIFEST_PATH, OCI_LAYOUT_CONTENT, SIGNATURE_PATH,
};
use crate::manifest;
use ed25519_dalek::VerifyingKey;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Manifests and indexes are held in memory; registries refuse larger ones anyway.
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
const MAX_BUNDLE_JSON: u64 = 64 * 1024 * 1024;

pub struct TrustedKey {
    pub key: VerifyingKey,
    pub fingerprint: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(
        "{path}: the bundle is not signed; pass --allow-unsigned to accept an unsigned bundle"
    )]
    Unsigned { path: String },
    #[error("{path}: signed by key {claimed}, which is not among the {count} trusted key(s) given with --key")]
    UnknownKey {
        path: String,
        claimed: String,
        count: usize,
    },
    #[error("{path}: the signature does not match bundle.json for any trusted key: the bundle was altered or signed by another key")]
    BadSignature { path: String },
    #[error("{path}: {what} has sha256 {found}, but bundle.json says {expected}: the bundle was altered{images}")]
    DigestMismatch {
        path: String,
        what: String,
        expected: String,
        found: String,
        images: String,
    },
    #[error("{path}: blob {digest} is damaged ({detail}){images}; the bundle was altered or corrupted in transit")]
    Damaged {
        path: String,
        digest: String,
        detail: String,
        images: String,
    },
    #[error("{path}: {detail}")]
    Inconsistent { path: String, detail: String },
    #[error("cannot read key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// A key file that cannot be read or is not a public key (the message names the file).
    #[error(transparent)]
    KeyFile(#[from] crate::keys::KeyError),
    /// A split bundle with a missing, cut or corrupt part, or a parts list that does not check.
    #[error("{path}: {detail}")]
    Part { path: String, detail: String },
}

impl VerifyError {
    /// 3 for "this bundle must not be trusted", 1 for "this is not something we can check".
    pub fn exit_code(&self) -> i32 {
        use crate::exit_codes::{ERROR, VERIFICATION_FAILED};
        match self {
            VerifyError::Format(
                FormatError::NotABundle { .. }
                | FormatError::NewerVersion { .. }
                | FormatError::UnknownEncoding { .. }
                | FormatError::Io { .. },
            )
            | VerifyError::Key { .. }
            | VerifyError::KeyFile(_) => ERROR,
            _ => VERIFICATION_FAILED,
        }
    }
}

/// `--key FILE` and `--key DIR` (every `*.pub` in it).
pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, VerifyError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| VerifyError::Key {
                    path: p.clone(),
                    reason: e.to_string(),
                })?
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "pub"))
                .collect();
            if found.is_empty() {
                return Err(VerifyError::Key {
                    path: p.clone(),
                    reason: "the directory holds no *.pub file".into(),
                });
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
        .into_iter()
        .map(|f| {
            let key = crate::keys::load_public(&f)?;
            Ok(TrustedKey {
                fingerprint: crate::keys::fingerprint(&key),
                key,
                path: f,
            })
        })
        .collect()
}

/// What the signed part of a bundle says, once checked.
pub struct Checked {
    pub doc: BundleManifest,
    /// Fingerprint of the trusted key that verified the signature; None if unsigned and allowed.
    pub signer: Option<String>,
    pub index_json: Vec<u8>,
    /// Every manifest and index, by digest, bytes verified.
    pub metadata: HashMap<Digest, Vec<u8>>,
}

/// A bundle being read front to back with every check applied.
pub struct Session<R> {
    stream: StreamReader<R>,
    name: String,
    pub checked: Checked,
    records: HashMap<Digest, BlobRecord>,
    seen: HashSet<Digest>,
    pending: Option<Member>,
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
        let inconsistent = |detail: String| VerifyError::Inconsistent {
            path: name.to_string(),
            detail,
        };
        let next = |stream: &mut StreamReader<R>| -> Result<Member, VerifyError> {
            stream
                .next_member()?
                .ok_or_else(|| inconsistent("the archive ends before its first blob".into()))
        };
        let m = next(&mut stream)?;
        if m.path != MANIFEST_PATH || m.size > MAX_BUNDLE_JSON {
            return Err(inconsistent(format!(
                "the first member is {:?}, not {MANIFEST_PATH}",
                m.path
            )));
        }
        let bundle_json = read_small(&mut stream, &m)?;
        let mut m = next(&mut stream)?;
        let signature = if m.path == SIGNATURE_PATH {
            if m.size != 64 {
                return Err(VerifyError::BadSignature { path: name.into() });
            }
            let sig = read_small(&mut stream, &m)?;
            m = next(&mut stream)?;
            Some(sig)
        } else {
            None
        };
        // The signature first: nothing in bundle.json is believed before it checks out.
        let claimed = serde_json::from_slice::<serde_json::Value>(&bundle_json)
            .ok()
            .and_then(|v| v["signer"]["fingerprint"].as_str().map(str::to_string));
        let signer = match signature {
            None if allow_unsigned => None,
            None => return Err(VerifyError::Unsigned { path: name.into() }),
            Some(sig) => match keys
                .iter()
                .find(|k| crate::keys::verify(&k.key, &bundle_json, &sig))
            {
                Some(k) => Some(k.fingerprint.clone()),
                None => match claimed {
                    Some(c) if !keys.iter().any(|k| k.fingerprint == c) => {
                        return Err(VerifyError::UnknownKey {
                            path: name.into(),
                            claimed: c,
                            count: keys.len(),
                        })
                    }
                    _ => return Err(VerifyError::BadSignature { path: name.into() }),
                },
            },
        };
        let doc: BundleManifest = serde_json::from_slice(&bundle_json)
            .map_err(|e| inconsistent(format!("bundle.json is not a bundle manifest: {e}")))?;
        if doc.format_version > FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                path: name.into(),
                found: doc.format_version,
            }
            .into());
        }
        if let Some(b) = doc.blobs.iter().find(|b| b.encoding != ENCODING_ZSTD_FRAME) {
            return Err(FormatError::UnknownEncoding {
                path: name.into(),
                digest: b.digest.to_string(),
                encoding: b.encoding.clone(),
            }
            .into());
        }
        let mut records = HashMap::new();
        for b in &doc.blobs {
            if records.insert(b.digest.clone(), b.clone()).is_some() {
                return Err(inconsistent(format!(
                    "bundle.json lists blob {} twice",
                    b.digest
                )));
            }
        }
        if let Some(o) = doc
            .omitted()
            .iter()
            .find(|o| records.contains_key(&o.digest))
        {
            return Err(inconsistent(format!(
                "bundle.json lists blob {} as both carried and left out",
                o.digest
            )));
        }
        // The layout files, each checked against bundle.json.
        let mut index_json = Vec::new();
        for expected in [LAYOUT_PATH, INDEX_JSON_PATH] {
            if m.path != expected {
                return Err(inconsistent(format!(
                    "expected {expected}, found {:?}",
                    m.path
                )));
            }
            let bytes = read_small(&mut stream, &m)?;
            let rec = doc
                .files
                .iter()
                .find(|f| f.path == expected)
                .ok_or_else(|| inconsistent(format!("bundle.json does not list {expected}")))?;
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
                return Err(inconsistent("oci-layout is not version 1.0.0".into()));
            }
            if expected == INDEX_JSON_PATH {
                index_json = bytes;
            }
            m = next(&mut stream)?;
        }
        let mut session = Session {
            stream,
            name: name.to_string(),
            checked: Checked {
                doc,
                signer,
                index_json,
                metadata: HashMap::new(),
            },
            records,
            seen: HashSet::new(),
            pending: None,
        };
        // Manifests and indexes come first (docs/FORMAT.md); read them all into memory.
        let mut current = Some(m);
        while let Some(m) = current.take() {
            let rec = session.record_for(&m)?;
            if !manifest::is_index(&rec.media_type) && !is_manifest(&rec.media_type) {
                session.pending = Some(m);
                break;
            }
            if rec.size > MAX_MANIFEST {
                return Err(inconsistent(format!(
                    "manifest {} is larger than {MAX_MANIFEST} bytes",
                    rec.digest
                )));
            }
            let mut buf = Vec::with_capacity(rec.size as usize);
            session.read_verified(&m, &rec, &mut buf)?;
            session.checked.metadata.insert(rec.digest.clone(), buf);
            current = session.stream.next_member()?;
        }
        session.check_references()?;
        Ok(session)
    }

    fn record_for(&self, m: &Member) -> Result<BlobRecord, VerifyError> {
        let inconsistent = |detail: String| VerifyError::Inconsistent {
            path: self.name.clone(),
            detail,
        };
        let digest: Digest = m
            .path
            .strip_prefix("blobs/sha256/")
            .and_then(|h| format!("sha256:{h}").parse().ok())
            .ok_or_else(|| inconsistent(format!("unexpected member {:?}", m.path)))?;
        let rec = self.records.get(&digest).ok_or_else(|| {
            inconsistent(format!("member {} is not listed in bundle.json", m.path))
        })?;
        if self.seen.contains(&digest) {
            return Err(inconsistent(format!("blob {digest} appears twice")));
        }
        if rec.size != m.size {
            return Err(inconsistent(format!(
                "blob {digest} is {} bytes in the archive but {} in bundle.json",
                m.size, rec.size
            )));
        }
        Ok(rec.clone())
    }

    /// Stream a member into `sink` while hashing it; error if it is not what bundle.json says.
    /// The sink sees the bytes before the verdict: it must not publish them until this returns Ok.
    fn read_verified(
        &mut self,
        m: &Member,
        rec: &BlobRecord,
        sink: &mut dyn Write,
    ) -> Result<(), VerifyError> {
        let mut w = HashingWriter::new(sink);
        if let Err(e) = self.stream.read_data(m, &mut w) {
            return Err(match e {
                FormatError::MemberCorrupt { detail, .. } => VerifyError::Damaged {
                    path: self.name.clone(),
                    digest: rec.digest.to_string(),
                    detail,
                    images: self.images_using(&rec.digest),
                },
                other => other.into(),
            });
        }
        let (_, found, _) = w.finish();
        if found != rec.digest {
            return Err(VerifyError::DigestMismatch {
                path: self.name.clone(),
                what: format!("blob {}", rec.digest),
                expected: rec.digest.to_string(),
                found: found.to_string(),
                images: self.images_using(&rec.digest),
            });
        }
        self.seen.insert(rec.digest.clone());
        Ok(())
    }

    /// The next config or layer: its record. Read it with `read_blob` (or it is read and checked
    /// anyway when asking for the next one).
    pub fn next_blob(&mut self) -> Result<Option<BlobRecord>, VerifyError> {
        if self.pending.is_none() {
            self.pending = self.stream.next_member()?;
        }
        match &self.pending {
            None => Ok(None),
            Some(m) => Ok(Some(self.record_for(m)?)),
        }
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
                    self.images_using(&missing.digest)
                ),
            });
        }
        self.stream.finish()?;
        Ok(self.checked)
    }

    /// Every manifest parses, references only blobs the bundle holds (or, for a platform-filtered
    /// index, children it says it left out), and index.json names only bundled images.
    fn check_references(&self) -> Result<(), VerifyError> {
        let bad = |detail: String| VerifyError::Inconsistent {
            path: self.name.clone(),
            detail,
        };
        let doc = &self.checked.doc;
        let carried: HashSet<&Digest> =
            doc.images.iter().flat_map(|i| i.manifests.iter()).collect();
        for (digest, bytes) in &self.checked.metadata {
            let media_type = &self.records[digest].media_type;
            if manifest::is_index(media_type) {
                let idx = manifest::parse_index(bytes)
                    .map_err(|e| bad(format!("index {digest}: {e}")))?;
                for c in &idx.manifests {
                    let present = self.records.contains_key(&c.digest);
                    let partial = doc
                        .images
                        .iter()
                        .any(|i| !i.complete && i.digest == *digest);
                    // Absent is fine only for a child a platform filter deliberately left out.
                    let left_out = partial && !carried.contains(&c.digest);
                    if !present && !left_out {
                        return Err(bad(format!(
                            "index {digest} references {}, which is not in the bundle",
                            c.digest
                        )));
                    }
                }
            } else {
                let m = manifest::parse_manifest(bytes)
                    .map_err(|e| bad(format!("manifest {digest}: {e}")))?;
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    let omitted = doc.omitted().iter().find(|o| o.digest == b.digest);
                    match self.records.get(&b.digest).or(omitted) {
                        Some(r) if r.size == b.size => {}
                        _ => {
                            return Err(bad(format!(
                                "manifest {digest} references {}, which is not in the bundle",
                                b.digest
                            )))
                        }
                    }
                }
            }
        }
        for img in &doc.images {
            for d in std::iter::once(&img.digest).chain(&img.manifests) {
                if !self.checked.metadata.contains_key(d) {
                    return Err(bad(format!(
                        "image {} needs manifest {d}, which is not in the bundle",
                        img.reference
                    )));
                }
            }
        }
        let index: manifest::Index = serde_json::from_slice(&self.checked.index_json)
            .map_err(|e| bad(format!("index.json: {e}")))?;
        for d in &index.manifests {
            if !doc.images.iter().any(|i| i.digest == d.digest) {
                return Err(bad(format!(
                    "index.json names {}, which is not a bundled image",
                    d.digest
                )));
            }
        }
        Ok(())
    }

    fn images_using(&self, d: &Digest) -> String {
        let mut names: Vec<&str> = Vec::new();
        for img in &self.checked.doc.images {
            let uses = img.digest == *d
                || img.manifests.iter().any(|m| {
                    m == d
                        || self
                            .checked
                            .metadata
                            .get(m)
                            .and_then(|b| manifest::parse_manifest(b).ok())
                            .is_some_and(|man| {
                                man.config.digest == *d || man.layers.iter().any(|l| l.digest == *d)
                            })
                });
            if uses {
                names.push(&img.reference);
            }
        }
        if names.is_empty() {
            String::new()
        } else {
            format!(" (used by {})", names.join(", "))
        }
    }
}

fn is_manifest(media_type: &str) -> bool {
    media_type == manifest::OCI_MANIFEST || media_type == manifest::DOCKER_MANIFEST
}

fn read_small<R: Read>(stream: &mut StreamReader<R>, m: &Member) -> Result<Vec<u8>, VerifyError> {
    // The size is not trusted yet: start small and grow with the data.
    let mut buf = Vec::with_capacity(m.size.min(1 << 20) as usize);
    stream.read_data(m, &mut buf)?;
    Ok(buf)
}

pub struct Report {
    pub signer: Option<String>,
    pub images: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub file_bytes: u64,
    pub seconds: f64,
}

/// A bundle opened for reading: by position (through its seek index) and as one stream, from a
/// single file or from the parts of a split bundle.
pub struct Opened {
    pub name: String,
    pub reader: BundleReader,
    pub stream: Box<dyn Read + Send>,
    pub parts: PartsInfo,
}

/// Which part of a split bundle is being streamed, to name it when something fails.
pub struct PartsInfo(Option<(PartSet, Arc<AtomicUsize>, String)>);

impl Opened {
    /// For a split bundle: the parts list's signature, its link to bundle.json and every part's
    /// size are checked here, before any content is trusted.
    pub fn open(
        path: &Path,
        keys: &[TrustedKey],
        allow_unsigned: bool,
    ) -> Result<Opened, VerifyError> {
        let io = |source| {
            VerifyError::from(FormatError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let Some(set) = PartSet::find(path).map_err(io)? else {
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(io)?;
            // Positional reads leave the shared file offset alone, so one handle serves both.
            let reader = BundleReader::from_file(file.try_clone().map_err(io)?, &name)?;
            return Ok(Opened {
                name,
                reader,
                stream: Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
                parts: PartsInfo(None),
            });
        };
        let name = set.display_name();
        let part_err = |detail: String| VerifyError::Part {
            path: name.clone(),
            detail,
        };
        set.check_sizes().map_err(part_err)?;
        let positional = set.open_positional().map_err(io)?;
        let reader = BundleReader::from_source(Arc::new(positional), &name)?;
        if let Some((m, bytes)) = &set.manifest {
            match std::fs::read(crate::format::parts::signature_path(&set.base)) {
                Ok(sig) => {
                    let sig: Option<[u8; 64]> = sig.try_into().ok();
                    if !sig.is_some_and(|s| keys.iter().any(|k| crate::keys::verify(&k.key, bytes, &s))) {
                        return Err(part_err("the signature of the parts list does not verify with any trusted key".into()));
                    }
                }
                Err(_) if allow_unsigned => {}
                Err(_) => {
                    return Err(part_err(
                        "the parts list is not signed (its .sig file is missing); pass --allow-unsigned to accept it".into(),
                    ))
                }
            }
            let bundle_json = reader.read_member(crate::format::MANIFEST_PATH)?;
            if Digest::of(&bundle_json) != m.bundle_json {
                return Err(part_err(
                    "the parts list belongs to another bundle (its bundle.json digest differs)"
                        .into(),
                ));
            }
        }
        let stream = set.open_stream().map_err(io)?;
        let position = stream.position.clone();
        Ok(Opened {
            name: name.clone(),
            reader,
            stream: Box::new(std::io::BufReader::with_capacity(1 << 20, stream)),
            parts: PartsInfo(Some((set, position, name))),
        })
    }
}

impl PartsInfo {
    /// A failure while streaming a split bundle: if the part being read does not match its
    /// signed sha256, say exactly that ("part 3 of 7 is corrupt").
    pub fn explain(&self, e: VerifyError) -> VerifyError {
        let Some((set, position, name)) = &self.0 else {
            return e;
        };
        // The stream reads ahead, so the damage may be in any part read so far: the failure
        // path can afford to hash them again.
        let last = position.load(Ordering::Relaxed);
        match (0..=last).find_map(|i| set.corrupt_part(i)) {
            Some(detail) => VerifyError::Part {
                path: name.clone(),
                detail,
            },
            None => e,
        }
    }
}

/// `bundle verify`: the whole file, every byte.
pub fn verify_file(
    path: &Path,
    keys: &[TrustedKey],
    allow_unsigned: bool,
) -> Result<Report, VerifyError> {
    let started = std::time::Instant::now();
    // The seek index is checked too (structure, bounds), as inspect and serve rely on it.
    let Opened {
        name,
        reader,
        stream,
        parts,
    } = Opened::open(path, keys, allow_unsigned)?;
    let checked = Session::open(stream, &name, keys, allow_unsigned)
        .and_then(|s| s.finish())
        .map_err(|e| parts.explain(e))?;
    Ok(Report {
        signer: checked.signer,
        images: checked.doc.images.len(),
        blobs: checked.doc.blobs.len(),
        bytes: checked.doc.blobs.iter().map(|b| b.size).sum(),
        file_bytes: reader.len,
        seconds: started.elapsed().as_secs_f64(),
    })
}
