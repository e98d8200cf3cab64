//! `create --compact --since BASE.bundle`: a changed layer is encoded against the layer it
//! replaces in the base (`format::patch`), which the other side holds, so an update carries
//! little more than the files that changed. The reference is the same repository's layer at
//! the same position in the base's manifest that shares most layers with the new one (the
//! previous tag). A delta is kept only once it is proven: decoded against the reference and
//! rebuilt, it hashes to the layer's digest.

use super::compact::{Packed, Settings};
use super::resolve::ResolvedImage;
use crate::create::cache::BlobCache;
use crate::digest::{hash_reader, Digest, HashingWriter};
use crate::format::frames::{frame_reader, write_stored};
use crate::format::{padded, patch, ReferenceRecord};
use crate::fsutil::PartialFile;
use crate::held::Held;
use crate::reference_tars::{ReferenceTars, Spooled};
use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};

/// A layer to encode against a reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub layer: Digest,
    pub size: u64,
    pub reference: Digest,
    pub reference_size: u64,
    /// Where the new layer came from: an inventory base's references are fetched there.
    pub registry: String,
    pub repository: String,
}

/// A delta is kept when it is at most this share of the layer's own packed frame.
const WORTH: f64 = 0.9;

/// Which packed layers the base does not hold, and the base layer each replaces. Pure.
pub fn pick(images: &[ResolvedImage], base: &Held, packed: &HashMap<Digest, Packed>) -> Vec<Pick> {
    let mut picks = Vec::new();
    let mut seen = HashSet::new();
    for img in images {
        let repo = &img.entry.reference.repository;
        for (_, blobs) in &img.blobs {
            let layers: Vec<_> = blobs
                .iter()
                .filter(|b| !crate::manifest::is_config(&b.media_type))
                .collect();
            let digests: HashSet<&Digest> = layers.iter().map(|b| &b.digest).collect();
            let shared =
                |ls: &[(Digest, u64)]| ls.iter().filter(|d| digests.contains(&d.0)).count();
            // A site's repository may sit under a prefix (`load --to registry://HOST/PREFIX`).
            let same = |r: &str| r == repo || r.ends_with(&format!("/{repo}"));
            let Some((_, old)) = base
                .manifests
                .iter()
                .filter(|(r, _)| same(r))
                .max_by_key(|(_, ls)| shared(ls))
            else {
                continue;
            };
            for (i, l) in layers.iter().enumerate() {
                let new = !base.held.contains(&l.digest) && packed.contains_key(&l.digest);
                let Some((was, reference_size)) = old.get(i).or(old.last()) else {
                    continue;
                };
                // A base bundle's references are read from it: only those it carries.
                let at_hand = base.file.is_none() || base.carried.contains(was);
                if new && at_hand && seen.insert(l.digest.clone()) {
                    picks.push(Pick {
                        layer: l.digest.clone(),
                        size: l.size,
                        reference: was.clone(),
                        reference_size: *reference_size,
                        registry: img.entry.reference.registry.clone(),
                        repository: repo.clone(),
                    });
                }
            }
        }
    }
    picks
}

/// Layers of this bundle to encode against another layer of it: the same repository's layer
/// at the same position in another image's manifest that shares most layers (another tag,
/// usually the previous release), met earlier in the bundle, itself carried as a plain tar
/// (chains stay one deep: a reference is never a delta, a delta never a reference). Pure.
pub fn pick_within(
    images: &[ResolvedImage],
    order: &[super::plan::Need],
    packed: &HashMap<Digest, Packed>,
) -> Vec<Pick> {
    let pos: HashMap<&Digest, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.digest, i))
        .collect();
    let plain = |d: &Digest| packed.get(d).is_some_and(|p| p.rebuild.reference.is_none());
    let manifests: Vec<(&String, Vec<&super::resolve::BlobRef>)> = images
        .iter()
        .flat_map(|img| {
            img.blobs.iter().map(move |(_, blobs)| {
                let layers = blobs
                    .iter()
                    .filter(|b| !crate::manifest::is_config(&b.media_type))
                    .collect();
                (&img.entry.reference.repository, layers)
            })
        })
        .collect();
    let mut wanted: Vec<(usize, Pick)> = Vec::new();
    for (repo, layers) in &manifests {
        let digests: HashSet<&Digest> = layers.iter().map(|b| &b.digest).collect();
        let shared = |ls: &[&super::resolve::BlobRef]| {
            ls.iter().filter(|b| digests.contains(&b.digest)).count()
        };
        let other = manifests
            .iter()
            .filter(|(r, ls)| {
                r == repo
                    && ls
                        .iter()
                        .map(|b| &b.digest)
                        .ne(layers.iter().map(|b| &b.digest))
            })
            .max_by_key(|(_, ls)| shared(ls));
        let Some((_, old)) = other else {
            continue;
        };
        for (i, l) in layers.iter().enumerate() {
            let Some(was) = old.get(i).or(old.last()) else {
                continue;
            };
            let (Some(&at), Some(&was_at)) = (pos.get(&l.digest), pos.get(&was.digest)) else {
                continue;
            };
            if was_at < at
                && plain(&l.digest)
                && plain(&was.digest)
                && !digests.contains(&was.digest)
            {
                wanted.push((
                    at,
                    Pick {
                        layer: l.digest.clone(),
                        size: l.size,
                        reference: was.digest.clone(),
                        reference_size: was.size,
                        registry: String::new(),
                        repository: (*repo).clone(),
                    },
                ));
            }
        }
    }
    // In bundle order, so a layer that became a delta is never taken as a reference after.
    wanted.sort_by_key(|(at, _)| *at);
    let (mut deltas, mut refs) = (HashSet::new(), HashSet::new());
    let mut picks = Vec::new();
    for (_, p) in wanted {
        if deltas.contains(&p.reference) || refs.contains(&p.layer) || deltas.contains(&p.layer) {
            continue;
        }
        deltas.insert(p.layer.clone());
        refs.insert(p.reference.clone());
        picks.push(p);
    }
    picks
}

/// The tars of this bundle's own layers that picks are encoded against, from their packed
/// frames.
pub fn spool_own(
    picks: &[Pick],
    packed: &HashMap<Digest, Packed>,
    refs: &ReferenceTars,
) -> Result<()> {
    let mut done = HashSet::new();
    for p in picks.iter().filter(|p| done.insert(p.reference.clone())) {
        let Some(r) = packed.get(&p.reference) else {
            continue;
        };
        let mut m = member(r, r.rebuild.tar_member_size())?;
        io::copy(
            &mut (&mut m).take(r.rebuild.side_size.unwrap_or(0)),
            &mut io::sink(),
        )?;
        // Our own packed frame: its record says the tar's size.
        refs.spool(&p.reference, Box::new(m), r.rebuild.raw_size)?;
    }
    Ok(())
}

/// An inventory base names the layers the site holds; their bytes come from the registry the
/// new layers come from (the site loaded them from there). One that cannot be fetched is
/// warned about by `encode_all`, and its layer carried whole.
pub fn fetch_references(
    picks: &[Pick],
    registries: &crate::registry::Registries,
    refs: &ReferenceTars,
    cache: &BlobCache,
) {
    let mut done = HashSet::new();
    for p in picks.iter().filter(|p| done.insert(p.reference.clone())) {
        let fetched = (|| -> Result<()> {
            let client = registries.client(&p.registry)?;
            let dir = cache.packed_dir("references")?;
            let spool = PartialFile::scratch(&dir, ".reference-")?;
            let mut file = spool.file().try_clone()?;
            client.fetch_blob(
                &p.repository,
                &p.reference,
                p.reference_size,
                &mut file,
                spool.temp_path(),
                &|_| {},
            )?;
            io::Seek::rewind(&mut file)?;
            // A registry's layer: no more tar than any layer inflates to.
            let most = gzip_exact::max_raw_size(p.reference_size);
            refs.spool(&p.reference, crate::reference_tars::gunzip(file), most)?;
            Ok(())
        })();
        if let Err(e) = fetched {
            crate::console::line(format!(
                "warning: reference layer {} of {}/{}: {}",
                p.reference,
                p.registry,
                p.repository,
                crate::causes::flatten(e.chain())
            ));
        }
    }
}

/// Encode each pick against its reference, one at a time (each holds a chunk, its dictionary
/// and a zstd window: about 150 MB); the packed record of each layer whose delta proves
/// and pays is replaced by its delta. Returns a line for the summary.
pub fn encode_all(
    picks: &[Pick],
    refs: &ReferenceTars,
    packed: &mut HashMap<Digest, Packed>,
    cache: &BlobCache,
    s: Settings,
    against: &str,
) -> Result<String> {
    let (mut done, mut bytes, mut raw) = (0, 0u64, 0u64);
    for p in picks {
        let Some(plain) = packed.get(&p.layer) else {
            continue;
        };
        let reference = match refs.fetch(&p.reference, gzip_exact::max_raw_size(p.reference_size)) {
            Ok(r) => r,
            Err(why) => {
                crate::console::line(format!(
                    "warning: {why}; layer {} is carried whole",
                    p.layer
                ));
                continue;
            }
        };
        let delta = encode(p, plain, &reference, cache, s)
            .with_context(|| format!("encoding layer {} against {}", p.layer, p.reference))?;
        if let Some(d) = delta {
            done += 1;
            bytes += d.frame_len;
            raw += d.rebuild.raw_size;
            packed.insert(p.layer.clone(), d);
        }
    }
    Ok(format!(
        "{done} of {} layers encoded against {against}: {} for {} of tar",
        picks.len(),
        indicatif::HumanBytes(bytes),
        indicatif::HumanBytes(raw)
    ))
}

/// The layer's member (side data, then its tar), from its proven frame.
fn member(plain: &Packed, member_size: u64) -> io::Result<impl Read + Send + 'static> {
    let f = BufReader::with_capacity(1 << 20, File::open(&plain.frame)?);
    Ok(frame_reader(f, padded(member_size))?.take(member_size))
}

fn encode(
    p: &Pick,
    plain: &Packed,
    reference: &Spooled,
    cache: &BlobCache,
    s: Settings,
) -> Result<Option<Packed>> {
    let rebuild = &plain.rebuild;
    let size = rebuild.tar_member_size();
    let side = rebuild.side_size.unwrap_or(0);
    let old = crate::tarindex::index(patch::reader(reference.tar.as_ref()))?;
    let mut m = member(plain, size)?;
    io::copy(&mut (&mut m).take(side), &mut io::sink())?;
    let new = crate::tarindex::index(m)?;
    let chunks = patch::plan(size, side, &new, &old);

    let dir = cache.packed_dir(&s.kind())?;
    let delta = PartialFile::scratch(&dir, ".delta-")?;
    let mut out = HashingWriter::new(io::BufWriter::new(delta.file()));
    patch::encode(
        &mut member(plain, size)?,
        &chunks,
        reference.tar.as_ref(),
        s.level,
        &mut out,
    )?;
    let (w, delta_digest, delta_size) = out.finish();
    w.into_inner().map_err(|e| e.into_error())?;
    if delta_size as f64 > plain.frame_len as f64 * WORTH
        || !proven(p, plain, delta.temp_path(), reference)?
    {
        return Ok(None);
    }
    let frame_path = dir.join(format!(
        "{}.against-{}.zst",
        p.layer.hex(),
        p.reference.hex()
    ));
    let frame = PartialFile::unique(&frame_path)?;
    let mut content =
        File::open(delta.temp_path())?.chain(io::repeat(0).take(padded(delta_size) - delta_size));
    write_stored(
        &mut io::BufWriter::new(frame.file()),
        &mut content,
        padded(delta_size),
    )?;
    let frame_len = frame.file().metadata()?.len();
    frame.commit(false)?;
    let mut record = rebuild.clone();
    record.reference = Some(ReferenceRecord {
        layer: p.reference.clone(),
        layer_size: p.reference_size,
        raw_size: reference.size,
        raw_digest: reference.digest.clone(),
        delta_size,
        delta_digest,
    });
    Ok(Some(Packed {
        rebuild: record,
        frame: frame_path,
        frame_len,
    }))
}

/// Does the delta, decoded against the reference and rebuilt, give exactly the layer?
fn proven(p: &Pick, plain: &Packed, delta: &std::path::Path, reference: &Spooled) -> Result<bool> {
    let Some(rebuilder) = plain
        .rebuild
        .recipe()
        .and_then(|r| gzip_exact::Rebuilder::new(&r))
    else {
        return Ok(false);
    };
    let src = BufReader::with_capacity(1 << 20, File::open(delta)?);
    let tars = patch::Decoder::new(src, reference.tar.clone(), plain.rebuild.tar_member_size());
    Ok(hash_reader(gzip_exact::RebuildReader::new(tars, rebuilder))
        .is_ok_and(|(found, count)| found == p.layer && count == p.size))
}
