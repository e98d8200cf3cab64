//! `create --since`: what the other side already holds, from an earlier bundle (its own blobs
//! and those it left out itself) or from a `bundle inventory` file.

use crate::digest::Digest;
use crate::format::frames::SKIPPABLE_HEADER_MAGIC;
use crate::format::reader::BundleReader;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

pub struct Base {
    pub kind: &'static str,
    /// sha256 of the base's bundle.json, or of the inventory file.
    pub digest: Digest,
    pub name: String,
    pub held: HashSet<Digest>,
    /// A base bundle's image manifests: (repository, layers in order), what references for
    /// `--compact` deltas are chosen from. Empty for an inventory.
    pub manifests: Vec<(String, Vec<Digest>)>,
    /// A base bundle's file: where those reference layers are read from.
    pub file: Option<std::path::PathBuf>,
    /// The layers the base file itself carries (not those it left out).
    pub carried: HashSet<Digest>,
}

pub fn load_base(path: &Path) -> Result<Base> {
    let mut head = [0u8; 4];
    let is_bundle = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == SKIPPABLE_HEADER_MAGIC.to_le_bytes();
    let name = path.file_name().map_or(path.display().to_string(), |n| {
        n.to_string_lossy().to_string()
    });
    if is_bundle {
        let reader = BundleReader::open(path)?;
        let (doc, bytes) = reader.bundle_manifest()?;
        let held = doc
            .blobs
            .iter()
            .chain(doc.omitted())
            .map(|b| b.digest.clone())
            .collect();
        return Ok(Base {
            kind: "bundle",
            digest: Digest::of(&bytes),
            name,
            held,
            manifests: manifests_of(&reader, &doc),
            file: Some(path.to_path_buf()),
            carried: doc.blobs.iter().map(|b| b.digest.clone()).collect(),
        });
    }
    let (inv, bytes) = crate::inventory::read(path).with_context(|| {
        format!(
            "--since {}: neither a bundle nor an inventory",
            path.display()
        )
    })?;
    Ok(Base {
        kind: "inventory",
        digest: Digest::of(&bytes),
        name,
        held: inv.blobs.into_iter().collect(),
        manifests: Vec::new(),
        file: None,
        carried: HashSet::new(),
    })
}

/// Each platform manifest of the base's images: its repository and its layers. A manifest
/// that cannot be read only means fewer references to choose from.
fn manifests_of(
    reader: &BundleReader,
    doc: &crate::format::BundleManifest,
) -> Vec<(String, Vec<Digest>)> {
    let mut out = Vec::new();
    for img in &doc.images {
        let Ok(r) = crate::reference::Reference::parse(&img.reference) else {
            continue;
        };
        for m in &img.manifests {
            let layers = reader
                .read_member(&m.layout_path())
                .ok()
                .and_then(|b| crate::manifest::parse_manifest(&b).ok());
            if let Some(parsed) = layers {
                let digests = parsed.layers.into_iter().map(|l| l.digest).collect();
                out.push((r.repository.clone(), digests));
            }
        }
    }
    out
}

/// A reader of a layer's tar, or None when the source does not hold the layer.
pub type TarSource =
    Box<dyn Fn(&Digest) -> Option<std::io::Result<Box<dyn Read + Send>>> + Send + Sync>;

/// The reference tars that layers carried as deltas (`format::refdelta`) need: read from the
/// first source that holds each (a base bundle, a load target), checked against the digest the
/// delta names, and kept in scratch files for the run (read at random, never all in memory).
pub struct ReferenceTars {
    sources: Vec<(String, TarSource)>,
    scratch: std::sync::Mutex<Option<crate::fsutil::ScratchDir>>,
    spooled: std::sync::Mutex<
        std::collections::HashMap<Digest, std::sync::Arc<dyn crate::format::refdelta::Reference>>,
    >,
}

impl Default for ReferenceTars {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceTars {
    pub fn new() -> Self {
        ReferenceTars {
            sources: Vec::new(),
            scratch: Default::default(),
            spooled: Default::default(),
        }
    }

    /// Look in `source` (called `name` in messages) after the sources added before.
    pub fn add(&mut self, name: String, source: TarSource) {
        self.sources.push((name, source));
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The tars of the layers a bundle file carries: a compact layer's tar straight from its
    /// member, any other gzip layer inflated.
    pub fn bundle_source(reader: BundleReader) -> Result<TarSource> {
        let (doc, _) = reader.bundle_manifest()?;
        let records: std::collections::HashMap<Digest, crate::format::BlobRecord> = doc
            .blobs
            .into_iter()
            .map(|b| (b.digest.clone(), b))
            .collect();
        Ok(Box::new(move |digest: &Digest| {
            let rec = records.get(digest)?;
            let io = |e: crate::format::FormatError| std::io::Error::other(e.to_string());
            Some(match &rec.rebuild {
                Some(r) if r.reference.is_none() => {
                    let path = rec.member_path();
                    let m = reader.member(&path)?;
                    let side = r.side_size.unwrap_or(0);
                    reader.open_member(m).map_err(io).and_then(|mut member| {
                        std::io::copy(&mut (&mut member).take(side), &mut std::io::sink())?;
                        Ok(Box::new(member.take(r.raw_size)) as Box<dyn Read + Send>)
                    })
                }
                Some(_) => return None,
                None => reader
                    .open_blob(rec)
                    .map(|gz| gunzip(gz))
                    .map_err(io),
            })
        }))
    }

    /// Spool the tar of `r.layer` from the first source that has it and check it.
    fn spool(
        &self,
        r: &crate::format::ReferenceRecord,
    ) -> Result<std::sync::Arc<dyn crate::format::refdelta::Reference>, String> {
        let mut tried = Vec::new();
        for (name, source) in &self.sources {
            let Some(opened) = source(&r.layer) else {
                continue;
            };
            match opened.map_err(anyhow::Error::from).and_then(|tar| self.spool_from(tar, r)) {
                Ok(file) => return Ok(std::sync::Arc::new(file)),
                Err(e) => tried.push(format!("{name}: {}", crate::causes::flatten(e.chain()))),
            }
        }
        Err(match tried.is_empty() {
            true => format!(
                "layer {} is needed as the reference of a delta, and {} does not hold it; load the release it came with first, or give the bundle that carries it with --base",
                r.layer,
                self.names()
            ),
            false => format!("reference layer {}: {}", r.layer, tried.join("; ")),
        })
    }

    fn names(&self) -> String {
        match self.sources.is_empty() {
            true => "nothing here".into(),
            false => {
                let names: Vec<&str> = self.sources.iter().map(|(n, _)| n.as_str()).collect();
                names.join(" nor ")
            }
        }
    }

    fn spool_from(
        &self,
        mut tar: Box<dyn Read + Send>,
        r: &crate::format::ReferenceRecord,
    ) -> Result<std::fs::File> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if scratch.is_none() {
            *scratch = Some(crate::fsutil::ScratchDir::new(".bundle-refs-")?);
        }
        let dir = scratch.as_ref().expect("made above").path();
        let path = dir.join(r.layer.hex());
        let mut out = crate::digest::HashingWriter::new(std::io::BufWriter::new(
            std::fs::File::create(&path)?,
        ));
        std::io::copy(&mut (&mut tar).take(r.raw_size + 1), &mut out)?;
        let (w, found, size) = out.finish();
        w.into_inner().map_err(|e| e.into_error())?;
        if found != r.raw_digest || size != r.raw_size {
            anyhow::bail!(
                "its tar is {found} ({size} bytes), not {} as the delta was made against",
                r.raw_digest
            );
        }
        Ok(std::fs::File::open(&path)?)
    }
}

impl crate::format::References for ReferenceTars {
    fn get(
        &self,
        r: &crate::format::ReferenceRecord,
    ) -> Result<std::sync::Arc<dyn crate::format::refdelta::Reference>, String> {
        let mut spooled = self.spooled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = spooled.get(&r.layer) {
            return Ok(f.clone());
        }
        let f = self.spool(r)?;
        spooled.insert(r.layer.clone(), f.clone());
        Ok(f)
    }
}

/// The tar inside a gzip layer (all its members).
pub fn gunzip(gz: impl Read + Send + 'static) -> Box<dyn Read + Send> {
    Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(gz)))
}
