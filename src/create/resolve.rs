//! Resolve the image list against the registries: fetch every manifest (and the chosen children
//! of indexes) and collect the blobs they reference.

use super::referrers::Policy;
use crate::create::cache::BlobCache;
use crate::digest::Digest;
use crate::imagelist::ImageEntry;
use crate::local::{self, Origin};
use crate::manifest::MAX_MANIFEST_BYTES_PER_IMAGE;
use crate::manifest::{self, Descriptor};
use crate::platform::Platform;
use crate::registry::{Manifest, Registries, RegistryError};

/// One manifest or index the bundle carries, bytes as served.
pub struct Carried {
    pub manifest: Manifest,
}

/// A blob to download, and where it can be fetched from.
#[derive(Clone, Debug)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

pub struct ResolvedImage {
    pub entry: ImageEntry,
    pub top: Manifest,
    /// Platform manifests carried (just the top one for a plain manifest).
    pub children: Vec<Carried>,
    /// Nested indexes carried under the top index.
    pub nested_indexes: Vec<Carried>,
    pub platforms: Vec<String>,
    pub complete: bool,
    /// Layers and configs, in manifest order, per carried manifest (referrers' last).
    pub blobs: Vec<(Digest, Vec<BlobRef>)>,
    /// Signatures, attestations, SBOMs: what refers to the manifests carried.
    pub referrers: Vec<super::referrers::Found>,
    /// A chart, a file, or where an image the list does not name was found.
    pub carries: crate::format::Carries,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{image}: no valid cosign signature by {key}: {reason}")]
    Unsigned {
        image: String,
        key: String,
        reason: String,
    },
    #[error("{image}: no platform matches {wanted} (the image has {available})")]
    NoPlatform {
        image: String,
        wanted: String,
        available: String,
    },
}

/// A single manifest made here (a chart or file artifact) whose blobs are in the cache.
pub fn artifact(
    entry: ImageEntry,
    manifest: Manifest,
    blobs: Vec<BlobRef>,
    carries: crate::format::Carries,
) -> ResolvedImage {
    ResolvedImage {
        entry,
        top: manifest.clone(),
        children: vec![Carried {
            manifest: manifest.clone(),
        }],
        nested_indexes: Vec::new(),
        platforms: Vec::new(),
        complete: true,
        blobs: vec![(manifest.digest, blobs)],
        referrers: Vec::new(),
        carries,
    }
}

pub fn resolve(
    entry: &ImageEntry,
    registries: &Registries,
    policy: &Policy,
    verify: Option<&crate::cosign::CosignKey>,
    cache: &BlobCache,
) -> Result<ResolvedImage, ResolveError> {
    if *entry.origin != Origin::Registry {
        return resolve_local(entry, cache, verify.is_some());
    }
    let r = &entry.reference;
    let client = registries.client(&r.registry)?;
    let top = client.get_manifest(&r.repository, &r.manifest_ref())?;
    let mut out = walk(entry, top, &Source::Registry(&client))?;
    add_referrers(&mut out, &client, policy)?;
    if let Some(key) = verify {
        check_signature(&out, &client, key)?;
    }
    Ok(out)
}

/// A local source: read (a docker archive's layers gzipped into the cache meanwhile), walked as
/// a registry image is, and every blob it needs copied into the cache, checked, so that `fetch`
/// finds them all there.
fn resolve_local(
    entry: &ImageEntry,
    cache: &BlobCache,
    verify: bool,
) -> Result<ResolvedImage, ResolveError> {
    if verify {
        return Err(invalid(entry, "--verify-images checks cosign signatures in a registry, and a local image has none there; push and sign it first, or leave --verify-images out".into()));
    }
    let local_error = |e: local::LocalError| invalid(entry, e.to_string());
    let img = local::open(&entry.origin, cache).map_err(local_error)?;
    let mut named = entry.clone();
    named.reference = local::name(&entry.origin, &entry.reference, &img).map_err(local_error)?;
    let out = walk(
        &named,
        carried(img.top.clone()),
        &Source::Local(&img, cache),
    )?;
    for b in out.blobs.iter().flat_map(|(_, b)| b) {
        local::copy_blob(&img, &b.digest, b.size, cache).map_err(local_error)?;
    }
    Ok(out)
}

fn carried(m: local::Found) -> Manifest {
    Manifest {
        bytes: m.bytes,
        media_type: m.media_type,
        digest: m.digest,
    }
}

/// Where an image's manifests, and the configs a platform filter reads, come from.
enum Source<'a> {
    Registry(&'a crate::registry::RegistryClient),
    Local(&'a local::LocalImage, &'a BlobCache),
}

impl Source<'_> {
    fn manifest(&self, entry: &ImageEntry, d: &Digest) -> Result<Manifest, ResolveError> {
        match self {
            Source::Registry(c) => Ok(c.get_manifest(&entry.reference.repository, &d.to_string())?),
            Source::Local(img, _) => local::manifest(img, d)
                .map(carried)
                .map_err(|e| invalid(entry, e.to_string())),
        }
    }

    fn small_blob(
        &self,
        entry: &ImageEntry,
        d: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, ResolveError> {
        match self {
            Source::Registry(c) => fetch_small(entry, c, d, size),
            Source::Local(img, cache) => {
                local::copy_blob(img, d, size, *cache)
                    .map_err(|e| invalid(entry, e.to_string()))?;
                std::fs::read(cache.path(d))
                    .map_err(|e| invalid(entry, format!("reading blob {d} back: {e}")))
            }
        }
    }
}

/// The image's manifests from its top one down: the children an index's platforms select,
/// and every blob they list.
fn walk(entry: &ImageEntry, top: Manifest, src: &Source) -> Result<ResolvedImage, ResolveError> {
    let mut out = ResolvedImage {
        entry: entry.clone(),
        top: Manifest {
            bytes: Vec::new(),
            media_type: String::new(),
            digest: top.digest.clone(),
        },
        children: Vec::new(),
        nested_indexes: Vec::new(),
        platforms: Vec::new(),
        complete: true,
        blobs: Vec::new(),
        referrers: Vec::new(),
        carries: crate::format::Carries {
            found: entry.found.clone(),
            ..Default::default()
        },
    };
    if manifest::is_index(&top.media_type) {
        let mut walk = Walk::new(top.bytes.len());
        walk_index(&top, entry, src, 0, &mut out, &mut walk)?;
        if let Some(w) = &entry.platforms {
            if !walk.wanted_seen {
                let idx =
                    manifest::parse_index(&top.bytes).map_err(|reason| invalid(entry, reason))?;
                let available: Vec<String> = idx
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_platform().to_string()))
                    .collect();
                return Err(ResolveError::NoPlatform {
                    image: entry.source.clone(),
                    wanted: join(w.iter().map(|p| p.to_string())),
                    available: join(available.into_iter()),
                });
            }
        }
    } else {
        let blobs = manifest_blobs(&top.bytes, entry)?;
        if let Some(wanted) = &entry.platforms {
            check_plain_platform(entry, src, &blobs, wanted)?;
        }
        out.blobs.push((top.digest.clone(), blobs));
        out.children.push(Carried {
            manifest: Manifest {
                bytes: top.bytes.clone(),
                media_type: top.media_type.clone(),
                digest: top.digest.clone(),
            },
        });
    }
    out.platforms.retain(|p| !p.is_empty());
    out.platforms.dedup();
    out.top = top;
    Ok(out)
}

/// The referrers of the top manifest and the platform manifests, with their blobs.
fn add_referrers(
    img: &mut ResolvedImage,
    client: &crate::registry::RegistryClient,
    policy: &Policy,
) -> Result<(), ResolveError> {
    let mut subjects = vec![img.top.digest.clone()];
    for c in &img.children {
        if !subjects.contains(&c.manifest.digest) {
            subjects.push(c.manifest.digest.clone());
        }
    }
    let repo = &img.entry.reference.repository;
    // Referrers share the image's manifest budget with its own manifests.
    let own: u64 = std::iter::once(&img.top)
        .chain(img.children.iter().map(|c| &c.manifest))
        .chain(img.nested_indexes.iter().map(|c| &c.manifest))
        .map(|m| m.bytes.len() as u64)
        .sum();
    let budget = MAX_MANIFEST_BYTES_PER_IMAGE.saturating_sub(own);
    img.referrers =
        super::referrers::discover(client, repo, &subjects, policy, budget).map_err(|e| {
            invalid(
                &img.entry,
                format!(
                    "looking for its signatures and other referrers: {e}; pass --referrers none to bundle images without them"
                ),
            )
        })?;
    for r in &img.referrers {
        let blobs = manifest_blobs(&r.manifest.bytes, &img.entry)?;
        img.blobs.push((r.manifest.digest.clone(), blobs));
    }
    Ok(())
}

/// The most manifests (indexes included) one image may hold, and their total bytes: far beyond
/// any real image (tens of platforms and attestations, kilobytes each), and a bound on what a
/// hostile index can make us fetch and hold.
const MAX_MANIFESTS_PER_IMAGE: usize = 1000;

/// What a walk through an image's indexes has met so far. A digest is fetched and carried once,
/// however many times (and at whatever depth) indexes list it.
struct Walk {
    seen: std::collections::HashSet<Digest>,
    bytes: u64,
    wanted_seen: bool,
}

impl Walk {
    fn new(top_bytes: usize) -> Walk {
        Walk {
            seen: std::collections::HashSet::new(),
            bytes: top_bytes as u64,
            wanted_seen: false,
        }
    }

    /// Whether `d` is new (to be fetched), or an error once the image outgrows the bounds.
    fn first_time(&mut self, d: &Descriptor) -> Result<bool, String> {
        if self.seen.contains(&d.digest) {
            return Ok(false);
        }
        self.seen.insert(d.digest.clone());
        self.bytes = self.bytes.saturating_add(d.size);
        if self.seen.len() > MAX_MANIFESTS_PER_IMAGE {
            return Err(format!(
                "its indexes list more than {MAX_MANIFESTS_PER_IMAGE} different manifests; no real image has that many, so it was not fetched"
            ));
        }
        if self.bytes > MAX_MANIFEST_BYTES_PER_IMAGE {
            return Err(format!(
                "its manifests add up to more than {} MiB; no real image's do, so it was not fetched",
                MAX_MANIFEST_BYTES_PER_IMAGE >> 20
            ));
        }
        Ok(true)
    }
}

fn walk_index(
    index_manifest: &Manifest,
    entry: &ImageEntry,
    src: &Source,
    depth: u32,
    out: &mut ResolvedImage,
    walk: &mut Walk,
) -> Result<(), ResolveError> {
    if depth > 3 {
        return Err(invalid(entry, "indexes nested more than 3 deep".into()));
    }
    let index =
        manifest::parse_index(&index_manifest.bytes).map_err(|reason| invalid(entry, reason))?;
    let wanted: Option<&[Platform]> = entry.platforms.as_deref();
    let chosen = manifest::select_children(&index, wanted);
    if chosen.len() != index.manifests.len() {
        out.complete = false;
    }
    for child in chosen {
        if !walk
            .first_time(child)
            .map_err(|reason| invalid(entry, reason))?
        {
            continue;
        }
        let m = src.manifest(entry, &child.digest)?;
        check_descriptor(entry, child, &m)?;
        if manifest::is_index(&m.media_type) {
            walk_index(&m, entry, src, depth + 1, out, walk)?;
            out.nested_indexes.push(Carried { manifest: m });
            continue;
        }
        if let Some(p) = &child.platform {
            let p = p.to_platform();
            if wanted.is_some_and(|w| w.iter().any(|w| w.matches(&p))) {
                walk.wanted_seen = true;
            }
            if p.os != "unknown" {
                out.platforms.push(p.to_string());
            }
        }
        let blobs = manifest_blobs(&m.bytes, entry)?;
        out.blobs.push((m.digest.clone(), blobs));
        out.children.push(Carried { manifest: m });
    }
    Ok(())
}

fn check_descriptor(entry: &ImageEntry, d: &Descriptor, m: &Manifest) -> Result<(), ResolveError> {
    if d.size != m.bytes.len() as u64 {
        return Err(invalid(
            entry,
            format!(
                "manifest {} is {} bytes but its index says {}",
                d.digest,
                m.bytes.len(),
                d.size
            ),
        ));
    }
    Ok(())
}

fn manifest_blobs(bytes: &[u8], entry: &ImageEntry) -> Result<Vec<BlobRef>, ResolveError> {
    let m = manifest::parse_manifest(bytes).map_err(|reason| invalid(entry, reason))?;
    Ok(std::iter::once(&m.config)
        .chain(m.layers.iter())
        .map(|d| BlobRef {
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
        })
        .collect())
}

fn invalid(entry: &ImageEntry, reason: String) -> ResolveError {
    ResolveError::Invalid {
        what: entry.source.clone(),
        reason,
    }
}

fn join(it: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = it.collect();
    if v.is_empty() {
        "no platforms".into()
    } else {
        v.join(", ")
    }
}

/// The resolved images (each reference once) and the entries that failed, with why.
pub struct Resolved {
    pub images: Vec<ResolvedImage>,
    pub failed: Vec<(String, String)>,
}

/// Resolve every entry of the list in parallel on `jobs` threads; every failure is reported,
/// not just the first.
pub fn resolve_all(
    entries: &[ImageEntry],
    registries: &Registries,
    jobs: usize,
    policy: &Policy,
    verify: Option<&crate::cosign::CosignKey>,
    cache: &BlobCache,
    progress: &crate::progress::Progress,
) -> Result<Resolved, ResolveError> {
    use rayon::prelude::*;
    let pool = crate::workers::pool(jobs, "resolve").map_err(|e| ResolveError::Invalid {
        what: "worker threads".into(),
        reason: e.to_string(),
    })?;
    let results: Vec<Result<ResolvedImage, ResolveError>> = pool.install(|| {
        entries
            .par_iter()
            .map(|e| {
                let r = resolve(e, registries, policy, verify, cache);
                if let Ok(img) = &r {
                    progress.line(&format!(
                        "resolved {} -> {}{}",
                        img.entry.reference,
                        img.top.digest,
                        platform_note(img)
                    ));
                }
                r
            })
            .collect()
    });
    let mut out = Resolved {
        images: Vec::new(),
        failed: Vec::new(),
    };
    // An image listed twice is carried once; two local images given one name are both kept,
    // for the name-clash check to name.
    let mut seen = std::collections::HashSet::new();
    for (entry, r) in entries.iter().zip(results) {
        match r {
            Ok(img) if seen.insert((img.entry.reference.to_string(), img.top.digest.clone())) => {
                out.images.push(img)
            }
            Ok(_) => {}
            Err(e) => out.failed.push((
                format!("{} ({})", entry.source, entry.whence()),
                e.to_string(),
            )),
        }
    }
    Ok(out)
}

/// For an index bundled with some platforms left out: what that means for a registry target,
/// said once per image with the digest people pin. A registry refuses an index whose children
/// are missing, so `load --to registry://` pushes the platform manifest under the tag instead.
pub fn partial_index_warning(img: &ResolvedImage) -> Option<String> {
    if img.complete || !manifest::is_index(&img.top.media_type) {
        return None;
    }
    Some(format!(
        "note: {}: only {} of the index {} are bundled; `load --to registry://` will tag the platform manifest, not the index (registries refuse an index whose children are missing), so references pinned to that digest will not resolve there; serve, oci: and containerd keep the index",
        img.entry.source,
        crate::console::printable(&img.platforms.join(", ")),
        img.top.digest,
    ))
}

fn platform_note(img: &ResolvedImage) -> String {
    if img.platforms.is_empty() {
        String::new()
    } else {
        // Platform strings are the registry's words.
        format!(
            " [{}]",
            crate::console::printable(&img.platforms.join(", "))
        )
    }
}

/// Platforms for the plain manifests, from their configs (which must be in the cache).
pub fn fill_platforms(images: &mut [ResolvedImage], cache: &BlobCache) {
    for img in images
        .iter_mut()
        .filter(|i| i.platforms.is_empty() && i.children.len() == 1)
    {
        img.platforms = platform_from_config(img, cache).into_iter().collect();
    }
}

/// A plain manifest under a platform filter: its config (a few KB, fetched here only when the
/// list filters platforms) must name a wanted platform, so an image that matches none is
/// refused before any layer is pulled. An artifact, with no image config, has no platform and
/// is kept.
fn check_plain_platform(
    entry: &ImageEntry,
    src: &Source,
    blobs: &[BlobRef],
    wanted: &[Platform],
) -> Result<(), ResolveError> {
    let Some(config) = blobs
        .first()
        .filter(|b| b.size < 1 << 20 && manifest::is_image_config(&b.media_type))
    else {
        return Ok(());
    };
    let bytes = src.small_blob(entry, &config.digest, config.size)?;
    let Some(p) = platform_of_config(&bytes) else {
        return Ok(());
    };
    if wanted.iter().any(|w| w.matches(&p)) {
        return Ok(());
    }
    Err(ResolveError::NoPlatform {
        image: entry.source.clone(),
        wanted: join(wanted.iter().map(|p| p.to_string())),
        available: p.to_string(),
    })
}

/// A small blob of the image's repository (a config, a signature's payload), checked against
/// its digest as every download is.
fn fetch_small(
    entry: &ImageEntry,
    client: &crate::registry::RegistryClient,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, ResolveError> {
    let scratch = crate::fsutil::PartialFile::scratch(&std::env::temp_dir(), ".bundle-small-")
        .map_err(|e| invalid(entry, format!("a scratch file for blob {digest}: {e}")))?;
    let repo = &entry.reference.repository;
    let mut file = scratch
        .file()
        .try_clone()
        .map_err(|e| invalid(entry, format!("a scratch file for blob {digest}: {e}")))?;
    let at = scratch.temp_path();
    client.fetch_blob(repo, digest, size, &mut file, at, &|_| {})?;
    std::fs::read(scratch.temp_path())
        .map_err(|e| invalid(entry, format!("reading blob {digest} back: {e}")))
}

/// `--verify-images`: the image's top manifest carries a cosign signature by `key` (its
/// payload fetched from the registry and checked here, before any layer is pulled).
fn check_signature(
    img: &ResolvedImage,
    client: &crate::registry::RegistryClient,
    key: &crate::cosign::CosignKey,
) -> Result<(), ResolveError> {
    let unsigned = |reason: String| ResolveError::Unsigned {
        image: img.entry.source.clone(),
        key: key.name.clone(),
        reason,
    };
    let tag = crate::cosign::signature_tag(&img.top.digest);
    let Some(sig) = img
        .referrers
        .iter()
        .find(|r| r.record.tag.as_deref() == Some(tag.as_str()))
    else {
        return Err(unsigned(format!(
            "it has no cosign signature (no tag {tag})"
        )));
    };
    let payload = |d: &Descriptor| {
        fetch_small(&img.entry, client, &d.digest, d.size).map_err(|e| e.to_string())
    };
    key.check(&sig.manifest.bytes, &img.top.digest, &payload)
        .map_err(unsigned)
}

/// The platform an image config names, if it names one.
fn platform_of_config(bytes: &[u8]) -> Option<Platform> {
    #[derive(serde::Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let c: Config = serde_json::from_slice(bytes).ok()?;
    Some(Platform {
        os: c.os?,
        architecture: c.architecture?,
        variant: c.variant,
    })
}

/// A plain manifest has no platform in the registry's answer; its config says which it is.
/// Artifacts have no such config, and get none.
fn platform_from_config(img: &ResolvedImage, cache: &BlobCache) -> Option<String> {
    let (_, blobs) = img.blobs.first()?;
    let config = blobs
        .first()
        .filter(|b| b.size < 1 << 20 && manifest::is_config(&b.media_type))?;
    let bytes = std::fs::read(cache.path(&config.digest)).ok()?;
    platform_of_config(&bytes).map(|p| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(n: usize, size: u64) -> Descriptor {
        Descriptor {
            media_type: String::new(),
            digest: Digest::of(n.to_string().as_bytes()),
            size,
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        }
    }

    #[test]
    fn a_walk_meets_each_digest_once_and_stops_at_its_bounds() {
        let mut w = Walk::new(100);
        assert_eq!(w.first_time(&desc(1, 10)), Ok(true));
        assert_eq!(w.first_time(&desc(1, 10)), Ok(false));
        for n in 2..=MAX_MANIFESTS_PER_IMAGE {
            assert_eq!(w.first_time(&desc(n, 10)), Ok(true));
        }
        let e = w.first_time(&desc(0, 10)).unwrap_err();
        assert!(e.contains("more than 1000 different manifests"), "{e}");
        let mut w = Walk::new(100);
        let e = w
            .first_time(&desc(1, MAX_MANIFEST_BYTES_PER_IMAGE))
            .unwrap_err();
        assert!(e.contains("more than 32 MiB"), "{e}");
    }
}
