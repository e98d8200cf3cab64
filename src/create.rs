//! `bundle create`: resolve every image, download each distinct blob once (in parallel, into the
//! cache), then write one signed bundle to `FILE.partial` and rename it into place.

use crate::cache::BlobCache;
use crate::digest::{Digest, HashingWriter};
use crate::format::parts::PartsWriter;
use crate::format::writer::{BundleWriter, Packing, LEVEL_DATA, LEVEL_METADATA};
use crate::format::{
    BlobRecord, BundleManifest, FileRecord, ImageRecord, Signer, ENCODING_ZSTD_FRAME,
    FORMAT_VERSION, INDEX_JSON_PATH, LAYOUT_PATH, MANIFEST_PATH, OCI_LAYOUT_CONTENT,
    SIGNATURE_PATH,
};
use crate::imagelist::{self, ImageList};
use crate::manifest;
use crate::platform::Platform;
use crate::progress::{Mode, Progress};
use crate::registry::{GlobalOptions, Registries};
use crate::resolve::{self, ResolvedImage};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::HumanBytes;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

pub struct CreateOptions {
    pub list: PathBuf,
    pub output: PathBuf,
    /// None: unsigned (the user said --unsigned).
    pub key: Option<PathBuf>,
    /// Overrides the list's default `platforms:`.
    pub platforms: Vec<Platform>,
    pub jobs: usize,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    pub keep_going: bool,
    /// Unix seconds.
    pub created: u64,
    pub registry: GlobalOptions,
    pub progress: Mode,
    /// A delta: leave out the layers this earlier bundle or inventory says the other side has.
    pub since: Option<PathBuf>,
    /// Write FILE.part001, FILE.part002, ... of at most this many bytes, and FILE.parts.json.
    pub split: Option<u64>,
}

#[derive(Debug, Default)]
pub struct CreateSummary {
    pub images: usize,
    pub platforms: usize,
    pub blobs: usize,
    pub distinct_bytes: u64,
    pub bytes_pulled: u64,
    pub bytes_cached: u64,
    pub bytes_saved_by_dedup: u64,
    pub bundle_size: u64,
    pub sha256: String,
    pub seconds: f64,
    pub failed: Vec<(String, String)>,
    pub signer: Option<String>,
}

impl std::fmt::Display for CreateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "images:          {}", self.images)?;
        writeln!(f, "platforms:       {}", self.platforms)?;
        writeln!(
            f,
            "blobs:           {} ({} distinct)",
            self.blobs,
            HumanBytes(self.distinct_bytes)
        )?;
        writeln!(f, "pulled:          {}", HumanBytes(self.bytes_pulled))?;
        writeln!(f, "from cache:      {}", HumanBytes(self.bytes_cached))?;
        writeln!(
            f,
            "saved by dedup:  {}",
            HumanBytes(self.bytes_saved_by_dedup)
        )?;
        writeln!(
            f,
            "bundle size:     {} ({} bytes)",
            HumanBytes(self.bundle_size),
            self.bundle_size
        )?;
        writeln!(f, "sha256:          {}", self.sha256)?;
        writeln!(
            f,
            "signed by:       {}",
            self.signer.as_deref().unwrap_or("nobody (unsigned)")
        )?;
        write!(f, "time:            {:.2}s", self.seconds)?;
        for (img, why) in &self.failed {
            write!(f, "\nFAILED {img}: {why}")?;
        }
        Ok(())
    }
}

/// A distinct blob and the image that first needed it (for downloading and for messages).
struct Need {
    digest: Digest,
    size: u64,
    media_type: String,
    registry: String,
    repository: String,
    images: Vec<usize>,
}

pub fn create(opts: &CreateOptions) -> Result<CreateSummary> {
    let started = Instant::now();
    let mut list: ImageList = imagelist::load(&opts.list)?;
    if !opts.platforms.is_empty() {
        // --platform replaces the list's default; an image's own `platforms:` still wins.
        for img in list.images.iter_mut().filter(|i| !i.own_platforms) {
            img.platforms = Some(opts.platforms.clone());
        }
    }
    let signing = match &opts.key {
        Some(k) => Some(crate::keys::load_private(k)?),
        None => None,
    };
    let base = match &opts.since {
        Some(p) => Some(crate::delta::load_base(p)?),
        None => None,
    };
    let output_dir = match opts.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !output_dir.is_dir() {
        bail!("output directory {} does not exist", output_dir.display());
    }
    let cache = if opts.no_cache {
        BlobCache::temporary(&output_dir)?
    } else {
        BlobCache::open(
            &opts
                .cache_dir
                .clone()
                .unwrap_or_else(BlobCache::default_root),
        )?
    };
    let progress = Progress::new(opts.progress, "downloaded");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .context("starting worker threads")?;
    let registries = Registries::new(list.registries.clone(), opts.registry.clone());

    // 1. Resolve all images in parallel; report every failure, not just the first.
    let results: Vec<Result<ResolvedImage, resolve::ResolveError>> = pool.install(|| {
        list.images
            .par_iter()
            .map(|e| {
                let r = resolve::resolve(e, &registries);
                if let Ok(img) = &r {
                    progress.line(&format!(
                        "resolved {} -> {}{}",
                        e.reference,
                        img.top.digest,
                        if img.platforms.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", img.platforms.join(", "))
                        }
                    ));
                }
                r
            })
            .collect()
    });
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut images: Vec<ResolvedImage> = Vec::new();
    let mut seen_refs = HashSet::new();
    for (entry, r) in list.images.iter().zip(results) {
        match r {
            Ok(img) => {
                if seen_refs.insert(img.entry.reference.to_string()) {
                    images.push(img)
                }
            }
            Err(e) => failed.push((
                format!("{} (line {})", entry.source, entry.line),
                e.to_string(),
            )),
        }
    }
    if !failed.is_empty() && !opts.keep_going {
        progress.finish();
        return Err(failure_report(&opts.list, &failed));
    }

    // 2. Download each distinct blob once (for a delta: but the layers the other side has).
    let omit = omitted_by(&images, base.as_ref());
    let needs = without(plan(&images)?, &omit);
    let total: u64 = needs.iter().map(|n| n.size).sum();
    let cached: u64 = needs
        .iter()
        .filter(|n| cache.has(&n.digest, n.size))
        .map(|n| n.size)
        .sum();
    progress.line(&format!(
        "{} images, {} distinct blobs, {} ({} already cached)",
        images.len(),
        needs.len(),
        HumanBytes(total),
        HumanBytes(cached)
    ));
    progress.start_bytes(total, cached);
    let pulled = std::sync::atomic::AtomicU64::new(0);
    let blob_errors: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    // Blobs this run downloaded and verified itself: no need to hash them again when bundling.
    let fresh: Mutex<HashSet<Digest>> = Mutex::new(HashSet::new());
    pool.install(|| {
        needs.par_iter().for_each(|n| {
            if cache.has(&n.digest, n.size) {
                return;
            }
            let r = download(n, &cache, &registries, &progress, &pulled);
            if let Ok(true) = r {
                fresh.lock().unwrap().insert(n.digest.clone());
            }
            if let Err(e) = r {
                let mut errs = blob_errors.lock().unwrap();
                for &i in &n.images {
                    errs.push((i, format!("{e:#}")));
                }
            }
        })
    });
    progress.finish();
    let mut bad_images: BTreeMap<usize, String> = BTreeMap::new();
    for (i, e) in blob_errors.into_inner().unwrap() {
        bad_images.entry(i).or_insert(e);
    }
    for (&i, e) in &bad_images {
        let entry = &images[i].entry;
        failed.push((format!("{} (line {})", entry.source, entry.line), e.clone()));
    }
    if !failed.is_empty() && !opts.keep_going {
        return Err(failure_report(&opts.list, &failed));
    }
    let mut images: Vec<ResolvedImage> = images
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !bad_images.contains_key(i))
        .map(|(_, img)| img)
        .collect();
    if images.is_empty() {
        return Err(failure_report(&opts.list, &failed).context("no image could be bundled"));
    }
    let omit = omitted_by(&images, base.as_ref());
    let needs = without(plan(&images)?, &omit);
    for img in images
        .iter_mut()
        .filter(|i| i.platforms.is_empty() && i.children.len() == 1)
    {
        img.platforms = platform_from_config(img, &cache).into_iter().collect();
    }

    // 3. Write the bundle.
    let signer_fp = signing
        .as_ref()
        .map(|k| crate::keys::fingerprint(&k.verifying_key()));
    let (mut manifest_doc, members, index_json) =
        describe(&images, &needs, opts.created, signer_fp.clone())?;
    if let Some(b) = &base {
        let mut omitted: Vec<BlobRecord> = Vec::new();
        for r in images
            .iter()
            .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b))
        {
            if omit.contains(&r.digest) && !omitted.iter().any(|o| o.digest == r.digest) {
                omitted.push(record(&r.digest, r.size, &r.media_type));
            }
        }
        manifest_doc.base = Some(crate::format::DeltaBase {
            kind: b.kind.into(),
            digest: b.digest.clone(),
            name: b.name.clone(),
            omitted,
        });
    }
    let bundle_json = serde_json::to_vec_pretty(&manifest_doc)?;
    let signature = signing.as_ref().map(|k| crate::keys::sign(k, &bundle_json));
    let partial = partial_path(&opts.output);
    let _interrupt = crate::interrupt::PartialGuard::new(&partial);
    let fresh = fresh.into_inner().unwrap();
    let content = Content {
        bundle_json: &bundle_json,
        index_json: &index_json,
        signature: signature.as_ref(),
        members: &members,
        verified: &fresh,
    };
    let writing = Progress::new(opts.progress, "written");
    writing.line(&format!("writing {}", opts.output.display()));
    writing.start_bytes(manifest_doc.blobs.iter().map(|b| b.size).sum(), 0);
    let (size, sha256) = match opts.split {
        None => {
            let result = File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))
                .and_then(|f| {
                    write_bundle(
                        BufWriter::with_capacity(1 << 20, f),
                        opts.created,
                        &content,
                        &images,
                        &cache,
                        &writing,
                    )
                })
                .and_then(|(buf, sha)| {
                    let file = buf.into_inner().map_err(|e| e.into_error())?;
                    file.sync_all()?;
                    Ok((file.metadata()?.len(), sha))
                });
            writing.finish();
            let v = match result {
                Ok(v) => v,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.context(format!("writing {}", opts.output.display())));
                }
            };
            std::fs::rename(&partial, &opts.output).with_context(|| {
                format!(
                    "renaming {} to {}",
                    partial.display(),
                    opts.output.display()
                )
            })?;
            v
        }
        Some(part_size) => {
            let parts = PartsWriter::new(&opts.output, part_size);
            let result = write_bundle(parts, opts.created, &content, &images, &cache, &writing)
                .and_then(|(parts, sha)| Ok((parts.finish()?, sha)));
            writing.finish();
            let (parts, sha) = result
                .with_context(|| format!("writing the parts of {}", opts.output.display()))?;
            write_parts_manifest(opts, &bundle_json, signing.as_ref(), part_size, parts, &sha)?
        }
    };

    let referenced: u64 = images
        .iter()
        .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b.iter().map(|b| b.size)))
        .sum();
    let distinct_layer_bytes: u64 = needs.iter().map(|n| n.size).sum();
    let platforms: HashSet<&String> = images.iter().flat_map(|i| i.platforms.iter()).collect();
    Ok(CreateSummary {
        images: images.len(),
        platforms: platforms.len(),
        blobs: manifest_doc.blobs.len(),
        distinct_bytes: manifest_doc.blobs.iter().map(|b| b.size).sum(),
        bytes_pulled: pulled.into_inner(),
        bytes_cached: cached,
        bytes_saved_by_dedup: referenced.saturating_sub(distinct_layer_bytes),
        bundle_size: size,
        sha256,
        seconds: started.elapsed().as_secs_f64(),
        failed,
        signer: signer_fp,
    })
}

/// The layers (never configs, manifests or indexes: small, and what a loader plans and verifies
/// with) that the base already holds.
fn omitted_by(images: &[ResolvedImage], base: Option<&crate::delta::Base>) -> HashSet<Digest> {
    let Some(base) = base else {
        return HashSet::new();
    };
    let configs: HashSet<&Digest> = images
        .iter()
        .flat_map(|i| {
            i.blobs
                .iter()
                .filter_map(|(_, b)| b.first().map(|c| &c.digest))
        })
        .collect();
    images
        .iter()
        .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b.iter().skip(1)))
        .filter(|l| base.held.contains(&l.digest) && !configs.contains(&l.digest))
        .map(|l| l.digest.clone())
        .collect()
}

fn without(needs: Vec<Need>, omit: &HashSet<Digest>) -> Vec<Need> {
    needs
        .into_iter()
        .filter(|n| !omit.contains(&n.digest))
        .collect()
}

/// A plain manifest has no platform in the registry's answer; its config says which it is.
/// Artifacts have no such config, and get none.
fn platform_from_config(img: &ResolvedImage, cache: &BlobCache) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let (_, blobs) = img.blobs.first()?;
    let config = blobs
        .first()
        .filter(|b| b.size < 1 << 20 && b.media_type.contains("config"))?;
    let bytes = std::fs::read(cache.path(&config.digest)).ok()?;
    let c: Config = serde_json::from_slice(&bytes).ok()?;
    let p = Platform {
        os: c.os?,
        architecture: c.architecture?,
        variant: c.variant,
    };
    Some(p.to_string())
}

fn failure_report(list: &Path, failed: &[(String, String)]) -> anyhow::Error {
    let mut msg = format!(
        "{} of the images in {} failed:",
        failed.len(),
        list.display()
    );
    for (img, why) in failed {
        msg.push_str(&format!("\n  {img}: {why}"));
    }
    msg.push_str("\nno bundle was written; fix these or pass --keep-going to bundle the rest");
    anyhow!(msg)
}

pub fn partial_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Distinct config/layer blobs in bundle order (first appearance), with the images needing them.
fn plan(images: &[ResolvedImage]) -> Result<Vec<Need>> {
    let mut needs: Vec<Need> = Vec::new();
    let mut at: HashMap<Digest, usize> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        for (_, blobs) in &img.blobs {
            for b in blobs {
                match at.get(&b.digest) {
                    Some(&k) => {
                        if needs[k].size != b.size {
                            bail!(
                                "blob {} is listed with two sizes ({} and {}) by {} and another image; a manifest is wrong",
                                b.digest,
                                needs[k].size,
                                b.size,
                                img.entry.source
                            );
                        }
                        if !needs[k].images.contains(&i) {
                            needs[k].images.push(i);
                        }
                    }
                    None => {
                        at.insert(b.digest.clone(), needs.len());
                        needs.push(Need {
                            digest: b.digest.clone(),
                            size: b.size,
                            media_type: b.media_type.clone(),
                            registry: img.entry.reference.registry.clone(),
                            repository: img.entry.reference.repository.clone(),
                            images: vec![i],
                        });
                    }
                }
            }
        }
    }
    Ok(needs)
}

fn download(
    n: &Need,
    cache: &BlobCache,
    registries: &Registries,
    progress: &Progress,
    pulled: &std::sync::atomic::AtomicU64,
) -> Result<bool> {
    let Some(mut partial) = cache.begin(&n.digest, n.size)? else {
        // Another process finished it meanwhile: it will be verified when bundled.
        progress.add(n.size);
        return Ok(false);
    };
    let bar = progress.blob(&n.digest.hex()[..12], n.size);
    let client = registries.client(&n.registry)?;
    client.fetch_blob(
        &n.repository,
        &n.digest,
        n.size,
        &mut partial.file,
        &partial.path.clone(),
        &|k| {
            progress.add(k);
            bar.inc(k);
            pulled.fetch_add(k, std::sync::atomic::Ordering::Relaxed);
        },
    )?;
    cache.commit(partial)?;
    Ok(true)
}

/// A member of the bundle's OCI layout, in write order.
enum Member {
    /// A manifest or index, held in memory.
    Manifest { digest: Digest },
    /// A config or layer, read from the cache.
    Cached {
        digest: Digest,
        size: u64,
        media_type: String,
    },
}

fn describe(
    images: &[ResolvedImage],
    needs: &[Need],
    created: u64,
    signer: Option<String>,
) -> Result<(BundleManifest, Vec<Member>, Vec<u8>)> {
    let need_at: HashMap<&Digest, &Need> = needs.iter().map(|n| (&n.digest, n)).collect();
    // Manifests and indexes first, so a streaming reader knows every image's plan before the
    // layers arrive (docs/FORMAT.md); then configs and layers in order of first use.
    let mut members = Vec::new();
    let mut blobs = Vec::new();
    let mut data_members = Vec::new();
    let mut data_blobs = Vec::new();
    let mut written: HashSet<Digest> = HashSet::new();
    let mut records = Vec::new();
    let mut index_entries = Vec::new();
    for img in images {
        let manifests = std::iter::once(&img.top)
            .chain(img.nested_indexes.iter().map(|c| &c.manifest))
            .chain(img.children.iter().map(|c| &c.manifest));
        for m in manifests {
            if written.insert(m.digest.clone()) {
                members.push(Member::Manifest {
                    digest: m.digest.clone(),
                });
                blobs.push(record(&m.digest, m.bytes.len() as u64, &m.media_type));
            }
        }
        for b in img.blobs.iter().flat_map(|(_, b)| b) {
            // Not in `needs`: a layer a delta leaves out.
            if !need_at.contains_key(&b.digest) {
                continue;
            }
            if written.insert(b.digest.clone()) {
                let n = need_at[&b.digest];
                data_members.push(Member::Cached {
                    digest: n.digest.clone(),
                    size: n.size,
                    media_type: n.media_type.clone(),
                });
                data_blobs.push(record(&n.digest, n.size, &n.media_type));
            }
        }
        let reference = &img.entry.reference;
        let (entry, _) = crate::format::layout_index_entry(
            reference,
            &img.top.media_type,
            &img.top.digest,
            img.top.bytes.len() as u64,
        );
        index_entries.push(entry);
        records.push(ImageRecord {
            source: img.entry.source.clone(),
            // A digest-only image keeps its digest in the name: parsed back at load time, a bare
            // `registry/repo` would mean `:latest` and get tagged as such.
            reference: reference
                .tagged_name()
                .unwrap_or_else(|| format!("{}@{}", reference.name(), img.top.digest)),
            digest: img.top.digest.clone(),
            media_type: img.top.media_type.clone(),
            platforms: img.platforms.clone(),
            manifests: img
                .children
                .iter()
                .map(|c| c.manifest.digest.clone())
                .collect(),
            complete: img.complete,
        });
    }
    members.append(&mut data_members);
    blobs.append(&mut data_blobs);
    let index_json = index_json_bytes(index_entries)?;
    let files = vec![
        FileRecord {
            path: LAYOUT_PATH.into(),
            digest: Digest::of(OCI_LAYOUT_CONTENT),
            size: OCI_LAYOUT_CONTENT.len() as u64,
        },
        FileRecord {
            path: INDEX_JSON_PATH.into(),
            digest: Digest::of(&index_json),
            size: index_json.len() as u64,
        },
    ];
    let doc = BundleManifest {
        format_version: FORMAT_VERSION,
        created: humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(created),
        )
        .to_string(),
        tool: concat!("bundle ", env!("CARGO_PKG_VERSION")).to_string(),
        signer: signer.map(|fingerprint| Signer {
            algorithm: "ed25519".into(),
            fingerprint,
        }),
        images: records,
        blobs,
        files,
        base: None,
    };
    Ok((doc, members, index_json))
}

pub fn index_json_bytes(entries: Vec<serde_json::Value>) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": entries,
    }))?)
}

fn record(d: &Digest, size: u64, media_type: &str) -> BlobRecord {
    BlobRecord {
        digest: d.clone(),
        size,
        media_type: media_type.to_string(),
        encoding: ENCODING_ZSTD_FRAME.into(),
    }
}

/// What goes into the bundle besides the cached blobs.
struct Content<'a> {
    bundle_json: &'a [u8],
    index_json: &'a [u8],
    signature: Option<&'a [u8; 64]>,
    members: &'a [Member],
    /// Cached blobs already verified by this run.
    verified: &'a HashSet<Digest>,
}

/// FILE.parts.json (and its signature): each part's size and sha256, bound to bundle.json.
fn write_parts_manifest(
    opts: &CreateOptions,
    bundle_json: &[u8],
    signing: Option<&ed25519_dalek::SigningKey>,
    part_size: u64,
    parts: Vec<crate::format::parts::PartRecord>,
    sha256: &str,
) -> Result<(u64, String)> {
    use crate::format::parts::{manifest_path, signature_path, PartsManifest, PARTS_VERSION};
    let size = parts.iter().map(|p| p.size).sum();
    let doc = PartsManifest {
        parts_version: PARTS_VERSION,
        bundle: opts
            .output
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        bundle_json: Digest::of(bundle_json),
        part_size,
        size,
        sha256: sha256.to_string(),
        parts,
    };
    let bytes = serde_json::to_vec_pretty(&doc)?;
    let write = |path: PathBuf, data: &[u8]| -> Result<()> {
        let partial = partial_path(&path);
        std::fs::write(&partial, data).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("renaming to {}", path.display()))
    };
    if let Some(k) = signing {
        write(signature_path(&opts.output), &crate::keys::sign(k, &bytes))?;
    }
    write(manifest_path(&opts.output), &bytes)?;
    Ok((size, sha256.to_string()))
}

fn write_bundle<W: Write>(
    out: W,
    created: u64,
    content: &Content,
    images: &[ResolvedImage],
    cache: &BlobCache,
    progress: &Progress,
) -> Result<(W, String)> {
    let Content {
        bundle_json,
        index_json,
        signature,
        members,
        verified,
    } = *content;
    let manifests: HashMap<&Digest, &[u8]> = images
        .iter()
        .flat_map(|i| {
            std::iter::once(&i.top)
                .chain(i.children.iter().map(|c| &c.manifest))
                .chain(i.nested_indexes.iter().map(|c| &c.manifest))
        })
        .map(|m| (&m.digest, m.bytes.as_slice()))
        .collect();
    let mut w = BundleWriter::new(out, created)?;
    w.add_bytes(
        MANIFEST_PATH,
        bundle_json,
        Packing::Compressed(LEVEL_METADATA),
    )?;
    if let Some(sig) = signature {
        w.add_bytes(SIGNATURE_PATH, sig, Packing::Stored)?;
    }
    w.add_bytes(
        LAYOUT_PATH,
        OCI_LAYOUT_CONTENT,
        Packing::Compressed(LEVEL_METADATA),
    )?;
    w.add_bytes(
        INDEX_JSON_PATH,
        index_json,
        Packing::Compressed(LEVEL_METADATA),
    )?;
    for m in members {
        match m {
            Member::Manifest { digest } => {
                w.add_bytes(
                    &digest.layout_path(),
                    manifests[digest],
                    Packing::Compressed(LEVEL_METADATA),
                )?;
            }
            Member::Cached {
                digest,
                size,
                media_type,
            } => {
                let path = cache.path(digest);
                let mut f = File::open(&path)
                    .with_context(|| format!("opening cached blob {}", path.display()))?;
                let mut head = [0u8; 4];
                let n = f.read(&mut head)?;
                let packing = if manifest::is_precompressed(media_type, &head[..n]) {
                    Packing::Stored
                } else if media_type.contains("json") {
                    Packing::Compressed(LEVEL_METADATA)
                } else {
                    Packing::Compressed(LEVEL_DATA)
                };
                f.seek(std::io::SeekFrom::Start(0))?;
                // Hash while writing a blob from an earlier run: a cache file damaged or changed
                // since must not be bundled. Blobs this run verified are not hashed twice.
                let mut src = HashingWriter::new(std::io::sink());
                let check = !verified.contains(digest);
                let mut tee = TeeReader {
                    inner: f,
                    hash: check.then_some(&mut src),
                    progress,
                };
                w.add(&digest.layout_path(), *size, &mut tee, packing)?;
                let (_, found, count) = src.finish();
                if check && (&found != digest || count != *size) {
                    bail!(
                        "cached blob {} is damaged (sha256 {found}, {count} bytes); delete it from the cache and run again",
                        path.display()
                    );
                }
            }
        }
    }
    Ok(w.finish()?)
}

struct TeeReader<'a, R> {
    inner: R,
    hash: Option<&'a mut HashingWriter<std::io::Sink>>,
    progress: &'a Progress,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hash.as_mut() {
            h.write_all(&buf[..n])?;
        }
        self.progress.add(n as u64);
        Ok(n)
    }
}
