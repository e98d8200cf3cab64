//! `bundle create`: resolve every image, download each distinct blob once (in parallel, into the
//! cache) while one signed bundle is written behind the downloads to `FILE.partial`, then rename
//! it into place.

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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
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
    /// Flush the bundle to disk before renaming it into place.
    pub sync: bool,
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

    // 2. Download each distinct blob once (for a delta: but the layers the other side has),
    // and write the bundle behind the downloads. Configs come first (describing the bundle
    // needs them), then the rest in bundle order, and the writer appends each blob as soon as
    // it is in the cache: written after all downloads, the bundle took a third of the run
    // with one core idle.
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
    let arrivals = Arrivals::default();
    let mut order: Vec<&Need> = Vec::new();
    for n in needs
        .iter()
        .filter(|n| is_config(n))
        .chain(needs.iter().filter(|n| !is_config(n)))
    {
        if cache.has(&n.digest, n.size) {
            arrivals.set(&n.digest, Arrival::Cached);
        } else {
            order.push(n);
        }
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let output = Output {
        opts,
        base: base.as_ref(),
        omit: &omit,
        signing: signing.as_ref(),
        cache: &cache,
    };
    let streamed: Option<Result<Written>> = std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(n) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    match download(n, &cache, &registries, &progress, &pulled) {
                        Ok(fresh) => arrivals.set(
                            &n.digest,
                            if fresh {
                                Arrival::Fresh
                            } else {
                                Arrival::Cached
                            },
                        ),
                        Err(e) => {
                            let mut errs = blob_errors.lock().unwrap();
                            for &i in &n.images {
                                errs.push((i, format!("{e:#}")));
                            }
                            drop(errs);
                            arrivals.set(&n.digest, Arrival::Failed);
                        }
                    }
                }
            });
        }
        // The writer, on this thread, as long as every download succeeds.
        if needs
            .iter()
            .filter(|n| is_config(n))
            .any(|n| arrivals.wait(&n.digest) == Arrival::Failed)
        {
            return None;
        }
        fill_platforms(&mut images, &cache);
        progress.line(&format!("writing {}", opts.output.display()));
        let ready = |d: &Digest| match arrivals.wait(d) {
            Arrival::Fresh => Ok(true),
            Arrival::Cached => Ok(false),
            Arrival::Failed => Err(anyhow!(Abandoned)),
        };
        let r = output.write(
            &images,
            &needs,
            &ready,
            &Progress::new(Mode::Quiet, "written"),
        );
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        Some(r)
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
    let written = match streamed {
        Some(Ok(w)) => w,
        Some(Err(e)) if !e.is::<Abandoned>() => return Err(e),
        _ => {
            // --keep-going and a download failed: bundle the complete images from the cache.
            images = images
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !bad_images.contains_key(i))
                .map(|(_, img)| img)
                .collect();
            if images.is_empty() {
                return Err(
                    failure_report(&opts.list, &failed).context("no image could be bundled")
                );
            }
            let omit = omitted_by(&images, base.as_ref());
            let needs = without(plan(&images)?, &omit);
            fill_platforms(&mut images, &cache);
            let fresh = arrivals.fresh();
            let ready = |d: &Digest| Ok(fresh.contains(d));
            let writing = Progress::new(opts.progress, "written");
            writing.line(&format!("writing {}", opts.output.display()));
            let output = Output {
                omit: &omit,
                ..output
            };
            let w = output.write(&images, &needs, &ready, &writing);
            writing.finish();
            w?
        }
    };
    let Written {
        doc: manifest_doc,
        size,
        sha256,
    } = written;
    let needs = without(plan(&images)?, &omitted_by(&images, base.as_ref()));
    let signer_fp = signing
        .as_ref()
        .map(|k| crate::keys::fingerprint(&k.verifying_key()));

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

/// Configs are fetched before the layers: describing the bundle reads them (platforms).
fn is_config(n: &Need) -> bool {
    n.size < 1 << 20 && n.media_type.contains("config")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arrival {
    /// Downloaded and verified by this run.
    Fresh,
    /// In the cache from an earlier run (hashed again as it is bundled).
    Cached,
    Failed,
}

/// What the downloads have delivered, for the writer that follows them.
#[derive(Default)]
struct Arrivals {
    done: Mutex<HashMap<Digest, Arrival>>,
    changed: Condvar,
}

impl Arrivals {
    fn set(&self, d: &Digest, a: Arrival) {
        self.done.lock().unwrap().insert(d.clone(), a);
        self.changed.notify_all();
    }

    /// Block until the download of `d` has ended, one way or the other.
    fn wait(&self, d: &Digest) -> Arrival {
        let mut done = self.done.lock().unwrap();
        loop {
            if let Some(a) = done.get(d) {
                return *a;
            }
            done = self.changed.wait(done).unwrap();
        }
    }

    fn fresh(&self) -> HashSet<Digest> {
        let done = self.done.lock().unwrap();
        done.iter()
            .filter(|(_, a)| **a == Arrival::Fresh)
            .map(|(d, _)| d.clone())
            .collect()
    }
}

/// The writer met a blob whose download failed: this bundle is given up.
#[derive(Debug, thiserror::Error)]
#[error("a download failed; the bundle was not written")]
struct Abandoned;

/// Tells the writer a blob is in the cache (waiting for it if need be) and whether this run
/// verified it already (true) or it must be hashed as it is bundled (false).
type Ready<'a> = &'a (dyn Fn(&Digest) -> Result<bool> + Sync);

/// Where and how the bundle is written.
#[derive(Clone, Copy)]
struct Output<'a> {
    opts: &'a CreateOptions,
    base: Option<&'a crate::delta::Base>,
    omit: &'a HashSet<Digest>,
    signing: Option<&'a ed25519_dalek::SigningKey>,
    cache: &'a BlobCache,
}

struct Written {
    doc: BundleManifest,
    size: u64,
    sha256: String,
}

impl Output<'_> {
    /// Describe, sign and write the bundle (or its parts) under a temp name, then rename.
    fn write(
        &self,
        images: &[ResolvedImage],
        needs: &[Need],
        ready: Ready,
        writing: &Progress,
    ) -> Result<Written> {
        let opts = self.opts;
        let signer_fp = self
            .signing
            .map(|k| crate::keys::fingerprint(&k.verifying_key()));
        let (mut manifest_doc, members, index_json) =
            describe(images, needs, opts.created, signer_fp)?;
        if let Some(b) = self.base {
            let mut omitted: Vec<BlobRecord> = Vec::new();
            for r in images
                .iter()
                .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b))
            {
                if self.omit.contains(&r.digest) && !omitted.iter().any(|o| o.digest == r.digest) {
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
        let signature = self.signing.map(|k| crate::keys::sign(k, &bundle_json));
        let partial = partial_path(&opts.output);
        let _interrupt = crate::interrupt::PartialGuard::new(&partial);
        let content = Content {
            bundle_json: &bundle_json,
            index_json: &index_json,
            signature: signature.as_ref(),
            members: &members,
            ready,
        };
        writing.start_bytes(manifest_doc.blobs.iter().map(|b| b.size).sum(), 0);
        let cache = self.cache;
        let (size, sha256) = match opts.split {
            None => {
                let result = File::create(&partial)
                    .with_context(|| format!("creating {}", partial.display()))
                    .and_then(|f| {
                        write_bundle(
                            BufWriter::with_capacity(1 << 20, f),
                            opts.created,
                            &content,
                            images,
                            cache,
                            writing,
                        )
                    })
                    .and_then(|(buf, sha)| {
                        let file = buf.into_inner().map_err(|e| e.into_error())?;
                        if opts.sync {
                            file.sync_all()?;
                        }
                        Ok((file.metadata()?.len(), sha))
                    });
                let v = match result {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = std::fs::remove_file(&partial);
                        if e.is::<Abandoned>() {
                            return Err(e);
                        }
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
                let parts = PartsWriter::new(&opts.output, part_size, opts.sync);
                let result = write_bundle(parts, opts.created, &content, images, cache, writing)
                    .and_then(|(parts, sha)| Ok((parts.finish()?, sha)));
                let (parts, sha) = match result {
                    Ok(v) => v,
                    Err(e) if e.is::<Abandoned>() => return Err(e),
                    Err(e) => {
                        return Err(
                            e.context(format!("writing the parts of {}", opts.output.display()))
                        )
                    }
                };
                write_parts_manifest(opts, &bundle_json, self.signing, part_size, parts, &sha)?
            }
        };
        Ok(Written {
            doc: manifest_doc,
            size,
            sha256,
        })
    }
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

/// Platforms for the plain manifests, from their configs (which must be in the cache).
fn fill_platforms(images: &mut [ResolvedImage], cache: &BlobCache) {
    for img in images
        .iter_mut()
        .filter(|i| i.platforms.is_empty() && i.children.len() == 1)
    {
        img.platforms = platform_from_config(img, cache).into_iter().collect();
    }
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
    ready: Ready<'a>,
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
        ready,
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
                let verified = ready(digest)?;
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
                let check = !verified;
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
