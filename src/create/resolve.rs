//! Resolve the image list against the registries: fetch every manifest (and the chosen children
//! of indexes) and collect the blobs they reference.

use crate::cache::BlobCache;
use crate::digest::Digest;
use crate::imagelist::ImageEntry;
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
    /// Layers and configs, in manifest order, per carried manifest.
    pub blobs: Vec<(Digest, Vec<BlobRef>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{image}: no platform matches {wanted} (the image has {available})")]
    NoPlatform {
        image: String,
        wanted: String,
        available: String,
    },
}

pub fn resolve(entry: &ImageEntry, registries: &Registries) -> Result<ResolvedImage, ResolveError> {
    let r = &entry.reference;
    let client = registries.client(&r.registry)?;
    let top = client.get_manifest(&r.repository, &r.manifest_ref())?;
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
    };
    if manifest::is_index(&top.media_type) {
        let mut wanted_seen = false;
        walk_index(&top, entry, registries, 0, &mut out, &mut wanted_seen)?;
        if let Some(w) = &entry.platforms {
            if !wanted_seen {
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

fn walk_index(
    index_manifest: &Manifest,
    entry: &ImageEntry,
    registries: &Registries,
    depth: u32,
    out: &mut ResolvedImage,
    wanted_seen: &mut bool,
) -> Result<(), ResolveError> {
    if depth > 3 {
        return Err(invalid(entry, "indexes nested more than 3 deep".into()));
    }
    let r = &entry.reference;
    let client = registries.client(&r.registry)?;
    let index =
        manifest::parse_index(&index_manifest.bytes).map_err(|reason| invalid(entry, reason))?;
    let wanted: Option<&[Platform]> = entry.platforms.as_deref();
    let chosen = manifest::select_children(&index, wanted);
    if chosen.len() != index.manifests.len() {
        out.complete = false;
    }
    for child in chosen {
        let m = client.get_manifest(&r.repository, &child.digest.to_string())?;
        check_descriptor(entry, child, &m)?;
        if manifest::is_index(&m.media_type) {
            walk_index(&m, entry, registries, depth + 1, out, wanted_seen)?;
            out.nested_indexes.push(Carried { manifest: m });
            continue;
        }
        if let Some(p) = &child.platform {
            let p = p.to_platform();
            if wanted.is_some_and(|w| w.iter().any(|w| w.matches(&p))) {
                *wanted_seen = true;
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
    progress: &crate::progress::Progress,
) -> Result<Resolved, ResolveError> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| ResolveError::Invalid {
            what: "worker threads".into(),
            reason: e.to_string(),
        })?;
    let results: Vec<Result<ResolvedImage, ResolveError>> = pool.install(|| {
        entries
            .par_iter()
            .map(|e| {
                let r = resolve(e, registries);
                if let Ok(img) = &r {
                    progress.line(&format!(
                        "resolved {} -> {}{}",
                        e.reference,
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
    let mut seen = std::collections::HashSet::new();
    for (entry, r) in entries.iter().zip(results) {
        match r {
            Ok(img) if seen.insert(img.entry.reference.to_string()) => out.images.push(img),
            Ok(_) => {}
            Err(e) => out.failed.push((
                format!("{} (line {})", entry.source, entry.line),
                e.to_string(),
            )),
        }
    }
    Ok(out)
}

fn platform_note(img: &ResolvedImage) -> String {
    if img.platforms.is_empty() {
        String::new()
    } else {
        format!(" [{}]", img.platforms.join(", "))
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
        .filter(|b| b.size < 1 << 20 && manifest::is_config(&b.media_type))?;
    let bytes = std::fs::read(cache.path(&config.digest)).ok()?;
    let c: Config = serde_json::from_slice(&bytes).ok()?;
    let p = Platform {
        os: c.os?,
        architecture: c.architecture?,
        variant: c.variant,
    };
    Some(p.to_string())
}
