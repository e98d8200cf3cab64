//! Writing the bundle: bundle.json and its signature, the layout files, the manifests, then each
//! config and layer from the cache as soon as it has arrived; one file, or parts for removable
//! media with a signed parts list. Everything goes through `PartialFile`, so nothing appears
//! under the output's name until it is complete.

use super::compact::Packed;
use super::describe::{manifests_of, Described, Member};
use super::fetch::{Abandoned, Ready};
use super::resolve::ResolvedImage;
use crate::create::cache::BlobCache;
use crate::digest::{Digest, HashingReader};
use crate::format::parts::{
    manifest_path, signature_path, PartsManifest, PartsWriter, PARTS_VERSION,
};
use crate::format::writer::{BundleWriter, Packing, LEVEL_DATA, LEVEL_METADATA};
use crate::format::{
    INDEX_JSON_PATH, LAYOUT_PATH, MANIFEST_PATH, OCI_LAYOUT_CONTENT, SIGNATURE_PATH,
};
use crate::fsutil::PartialFile;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::Path;

/// Where and how the bundle is written.
pub struct Output<'a> {
    pub path: &'a Path,
    /// Unix seconds, for the tar headers.
    pub created: u64,
    /// Parts of at most this many bytes, instead of one file.
    pub split: Option<u64>,
    /// Flush to disk before renaming into place.
    pub sync: bool,
    pub signing: Option<&'a SigningKey>,
    pub cache: &'a BlobCache,
    /// `--include-tool`: written after the blobs.
    pub tool: Option<&'a super::tool::Tool>,
}

/// The bundle's size and sha256 (of the whole file, or of all parts in order).
pub struct Written {
    pub size: u64,
    pub sha256: String,
    /// With `--split`, how many parts were written (0: one file).
    pub parts: usize,
}

impl Output<'_> {
    /// Sign and write the described bundle (or its parts) under a temp name, then rename.
    pub fn write(
        &self,
        described: &Described,
        images: &[ResolvedImage],
        ready: Ready,
        writing: &Progress,
        packed: &HashMap<Digest, Packed>,
    ) -> Result<Written> {
        let bundle_json = serde_json::to_vec_pretty(&described.doc)?;
        let signature = self.signing.map(|k| crate::keys::sign(k, &bundle_json));
        let content = Content {
            bundle_json: &bundle_json,
            signature: signature.as_ref(),
            described,
            manifests: images
                .iter()
                .flat_map(manifests_of)
                .map(|m| (&m.digest, m.bytes.as_slice()))
                .collect(),
            ready,
            tool: self.tool,
            packed,
        };
        writing.start_bytes(described.doc.blobs.iter().map(|b| b.size).sum(), 0);
        let result = match self.split {
            None => self.write_one(&content, writing),
            Some(part_size) => self.write_parts(&content, part_size, writing),
        };
        result.map_err(|e| match e.is::<Abandoned>() {
            true => e,
            false => e.context(format!("writing {}", self.path.display())),
        })
    }

    fn write_one(&self, content: &Content, writing: &Progress) -> Result<Written> {
        let file = PartialFile::create(self.path).with_context(|| {
            format!(
                "creating {}",
                crate::fsutil::partial_path(self.path).display()
            )
        })?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let (out, sha256) = content.write_to(out, self.created, self.cache, writing)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        let size = file.file().metadata()?.len();
        file.commit(self.sync)?;
        Ok(Written {
            size,
            sha256,
            parts: 0,
        })
    }

    fn write_parts(
        &self,
        content: &Content,
        part_size: u64,
        writing: &Progress,
    ) -> Result<Written> {
        let parts = PartsWriter::new(self.path, part_size, self.sync);
        let (parts, sha256) = content.write_to(parts, self.created, self.cache, writing)?;
        let parts = parts.finish()?;
        let size = parts.iter().map(|p| p.size).sum();
        let count = parts.len();
        let doc = PartsManifest {
            parts_version: PARTS_VERSION,
            bundle: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            bundle_json: Digest::of(content.bundle_json),
            part_size,
            size,
            sha256: sha256.clone(),
            parts,
        };
        let bytes = serde_json::to_vec_pretty(&doc)?;
        if let Some(k) = self.signing {
            let sig = crate::keys::sign(k, &bytes);
            crate::fsutil::write_file(&signature_path(self.path), &sig, self.sync)?;
        }
        crate::fsutil::write_file(&manifest_path(self.path), &bytes, self.sync)?;
        Ok(Written {
            size,
            sha256,
            parts: count,
        })
    }
}

/// What goes into the bundle besides the cached blobs.
struct Content<'a> {
    bundle_json: &'a [u8],
    signature: Option<&'a [u8; 64]>,
    described: &'a Described,
    manifests: HashMap<&'a Digest, &'a [u8]>,
    ready: Ready<'a>,
    tool: Option<&'a super::tool::Tool>,
    packed: &'a HashMap<Digest, Packed>,
}

impl Content<'_> {
    fn write_to<W: Write>(
        &self,
        out: W,
        created: u64,
        cache: &BlobCache,
        progress: &Progress,
    ) -> Result<(W, String)> {
        let meta = Packing::Compressed(LEVEL_METADATA);
        let mut w = BundleWriter::new(out, created)?;
        w.add_bytes(MANIFEST_PATH, self.bundle_json, meta)?;
        if let Some(sig) = self.signature {
            w.add_bytes(SIGNATURE_PATH, sig, Packing::Stored)?;
        }
        w.add_bytes(LAYOUT_PATH, OCI_LAYOUT_CONTENT, meta)?;
        w.add_bytes(INDEX_JSON_PATH, &self.described.index_json, meta)?;
        for m in &self.described.members {
            match m {
                Member::Manifest { digest } => {
                    w.add_bytes(&digest.layout_path(), self.manifests[digest], meta)?
                }
                Member::Cached {
                    digest,
                    size,
                    media_type,
                } => {
                    let verified = (self.ready)(digest)?;
                    match self.packed.get(digest) {
                        Some(p) => add_packed(&mut w, digest, p)?,
                        None => add_cached(&mut w, cache, digest, *size, media_type, verified)?,
                    }
                    progress.add(*size);
                }
            }
        }
        if let Some(t) = self.tool {
            add_tool(&mut w, t)?;
        }
        Ok(w.finish()?)
    }
}

/// Append a blob from the cache. One from an earlier run is hashed while it is written: a
/// cache file damaged or changed since must not be bundled. Blobs this run verified are not
/// hashed twice.
fn add_cached<W: Write>(
    w: &mut BundleWriter<W>,
    cache: &BlobCache,
    digest: &Digest,
    size: u64,
    media_type: &str,
    verified: bool,
) -> Result<()> {
    let path = cache.path(digest);
    let mut f =
        File::open(&path).with_context(|| format!("opening cached blob {}", path.display()))?;
    let packing = packing_for(&mut f, media_type)?;
    if verified {
        return Ok(w.add(&digest.layout_path(), size, &mut f, packing)?);
    }
    let mut src = HashingReader::new(f);
    w.add(&digest.layout_path(), size, &mut src, packing)?;
    let (_, found, count) = src.finish();
    if &found != digest || count != size {
        bail!(
            "cached blob {} is damaged (sha256 {found}, {count} bytes); delete it from the cache and run again",
            path.display()
        );
    }
    Ok(())
}

/// Append a layer's uncompressed tar (after any side data) as `compact` packed and proved it.
fn add_packed<W: Write>(w: &mut BundleWriter<W>, digest: &Digest, p: &Packed) -> Result<()> {
    let mut f = File::open(&p.frame).with_context(|| format!("opening {}", p.frame.display()))?;
    let (path, size) = p.rebuild.member(digest);
    w.add_frame(&path, size, &mut f, p.frame_len)?;
    Ok(())
}

/// The tool, runnable once extracted, hashed again as it is written: it must be the file that
/// bundle.json (and so the signature) describes.
fn add_tool<W: Write>(w: &mut BundleWriter<W>, t: &super::tool::Tool) -> Result<()> {
    let f = File::open(&t.source).with_context(|| format!("opening {}", t.source.display()))?;
    let mut src = HashingReader::new(f);
    let r = &t.record;
    w.add_with_mode(
        &r.path,
        r.size,
        &mut src,
        Packing::Compressed(LEVEL_DATA),
        0o755,
    )?;
    let (_, found, count) = src.finish();
    if found != r.digest || count != r.size {
        bail!(
            "{} changed while the bundle was written",
            t.source.display()
        );
    }
    Ok(())
}

/// Compressed layers are stored as they are; JSON is squeezed hard, anything else lightly.
fn packing_for(f: &mut File, media_type: &str) -> Result<Packing> {
    let mut head = [0u8; 4];
    let n = f.read(&mut head)?;
    f.seek(std::io::SeekFrom::Start(0))?;
    Ok(
        if crate::manifest::is_precompressed(media_type, &head[..n]) {
            Packing::Stored
        } else if media_type.contains("json") {
            Packing::Compressed(LEVEL_METADATA)
        } else {
            Packing::Compressed(LEVEL_DATA)
        },
    )
}
