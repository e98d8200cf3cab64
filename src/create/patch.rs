//! `create --compact --since BASE.bundle`: a changed layer is encoded against the layer it
//! replaces in the base (`format::patch`), which the other side holds, so an update carries
//! little more than the files that changed. The reference is the same repository's layer at
//! the same position in the base's manifest that shares most layers with the new one (the
//! previous tag). A delta is kept only once it is proven: decoded against the reference, it
//! gives the member the layer's own packed frame was proven to rebuild the layer from.

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

/// Why a pick's layer is carried as its own packed frame, not as a delta.
#[derive(Debug, Clone, Copy)]
enum NotKept {
    /// The reference's bytes could not be had (warned about as it happened).
    NoReference,
    /// The delta came to more than `WORTH` of the layer's own frame.
    NotWorth,
    /// The delta, decoded, did not give the member the layer was proven with.
    NotProven,
}

impl NotKept {
    fn says(self) -> String {
        match self {
            NotKept::NoReference => "with their reference not at hand".into(),
            NotKept::NotWorth => format!("with a delta over {}% of their own frame", WORTH * 100.0),
            NotKept::NotProven => "whose delta did not decode to their tar".into(),
        }
    }
}

/// Encode each pick against its reference, a pick per core, largest first (each holds a
/// chunk, its dictionary and zstd's tables: about 80 MB); the packed record of each layer
/// whose patch proves and pays is replaced by its patch. Returns a line for the summary.
pub fn encode_all(
    picks: &[Pick],
    refs: &ReferenceTars,
    packed: &mut HashMap<Digest, Packed>,
    cache: &BlobCache,
    s: Settings,
    against: &str,
) -> Result<String> {
    use rayon::prelude::*;
    let mut order: Vec<&Pick> = picks.iter().collect();
    order.sort_by_key(|p| std::cmp::Reverse(p.size));
    let plain = &*packed;
    let pool = crate::workers::pool(crate::workers::cores(), "deltas")?;
    // Picks never share a layer, nor take a delta for a reference (`pick`, `pick_within`), so
    // each reads only its own plain record.
    let done: Vec<(Digest, Result<Packed, NotKept>)> = pool.install(|| {
        order
            .into_iter()
            .par_bridge()
            .filter_map(|p| Some(p).zip(plain.get(&p.layer)))
            .map(|(p, plain)| Ok((p.layer.clone(), encode_one(p, plain, refs, cache, s)?)))
            .collect::<Result<_>>()
    })?;
    let mut deltas = Vec::new();
    let mut not_kept = Vec::new();
    for (layer, d) in done {
        match d {
            Ok(d) => deltas.push((layer, d)),
            Err(why) => not_kept.push(why),
        }
    }
    let line = encoded_line(&deltas, picks.len(), &not_kept, against);
    packed.extend(deltas);
    Ok(line)
}

/// The summary's line: how many picks became deltas, their bytes, and why the others did not.
fn encoded_line(
    deltas: &[(Digest, Packed)],
    picks: usize,
    not_kept: &[NotKept],
    against: &str,
) -> String {
    let bytes: u64 = deltas.iter().map(|(_, d)| d.frame_len).sum();
    let raw: u64 = deltas.iter().map(|(_, d)| d.rebuild.raw_size).sum();
    let mut line = format!(
        "{} of {picks} layers encoded against {against}: {} for {} of tar",
        deltas.len(),
        indicatif::HumanBytes(bytes),
        indicatif::HumanBytes(raw)
    );
    if !not_kept.is_empty() {
        let why = super::compact::counted(not_kept.iter().map(|k| k.says()));
        line += &format!("; the other {} carried on their own: {why}", not_kept.len());
    }
    line
}

/// One pick's delta if it proves and pays; a reference that cannot be had is warned about
/// and the layer carried whole.
fn encode_one(
    p: &Pick,
    plain: &Packed,
    refs: &ReferenceTars,
    cache: &BlobCache,
    s: Settings,
) -> Result<Result<Packed, NotKept>> {
    let _in = crate::cpu::enter(crate::cpu::Stage::Deltas);
    let reference = match refs.fetch(&p.reference, gzip_exact::max_raw_size(p.reference_size)) {
        Ok(r) => r,
        Err(why) => {
            crate::console::line(format!(
                "warning: {why}; layer {} is carried whole",
                p.layer
            ));
            return Ok(Err(NotKept::NoReference));
        }
    };
    encode(p, plain, &reference, cache, s)
        .with_context(|| format!("encoding layer {} against {}", p.layer, p.reference))
}

/// The layer's member (side data, then its tar), from its proven frame.
fn member(plain: &Packed, member_size: u64) -> io::Result<impl Read + Send + 'static> {
    let f = BufReader::with_capacity(1 << 20, File::open(&plain.frame)?);
    Ok(frame_reader(f, padded(member_size))?.take(member_size))
}

/// The layer's member in a scratch file, read twice after: decoding its frame holds zstd's
/// window (64 MiB), which a pick per core should not hold while it encodes as well.
fn spool_member(plain: &Packed, size: u64, dir: &std::path::Path) -> Result<PartialFile> {
    let spool = PartialFile::scratch(dir, ".member-")?;
    let mut w = io::BufWriter::new(spool.file());
    io::copy(&mut member(plain, size)?, &mut w)?;
    w.into_inner().map_err(|e| e.into_error())?;
    Ok(spool)
}

/// The spooled member from byte `from` on.
fn read_member(spool: &PartialFile, from: u64) -> io::Result<impl Read> {
    let mut f = File::open(spool.temp_path())?;
    io::Seek::seek(&mut f, io::SeekFrom::Start(from))?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

fn encode(
    p: &Pick,
    plain: &Packed,
    reference: &Spooled,
    cache: &BlobCache,
    s: Settings,
) -> Result<Result<Packed, NotKept>> {
    let rebuild = &plain.rebuild;
    let size = rebuild.tar_member_size();
    let side = rebuild.side_size.unwrap_or(0);
    let dir = cache.packed_dir(&s.kind())?;
    let member = spool_member(plain, size, &dir)?;
    let old = crate::tarindex::index(patch::reader(reference.tar.as_ref()))?;
    let new = crate::tarindex::index(read_member(&member, side)?)?;
    let chunks = patch::plan(size, side, &new, &old);

    let delta = PartialFile::scratch(&dir, ".delta-")?;
    let mut out = HashingWriter::new(io::BufWriter::new(delta.file()));
    patch::encode(
        &mut read_member(&member, 0)?,
        &chunks,
        reference.tar.as_ref(),
        s.level,
        &mut out,
    )?;
    let (w, delta_digest, delta_size) = out.finish();
    w.into_inner().map_err(|e| e.into_error())?;
    if delta_size as f64 > plain.frame_len as f64 * WORTH {
        return Ok(Err(NotKept::NotWorth));
    }
    if !proven(plain, delta.temp_path(), reference)? {
        return Ok(Err(NotKept::NotProven));
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
    Ok(Ok(Packed {
        rebuild: record,
        frame: frame_path,
        frame_len,
    }))
}

/// Does the patch, decoded against the reference, give exactly the member the layer's own
/// frame was proven with (its side data and its tar, by their sha256)? The gzip rebuild is a
/// function of the member's bytes and the recipe, both as proven then: running it again on
/// the same bytes would prove nothing more, at the producers' cost a second time.
fn proven(plain: &Packed, delta: &std::path::Path, reference: &Spooled) -> Result<bool> {
    let _in = crate::cpu::enter(crate::cpu::Stage::Deltas);
    let r = &plain.rebuild;
    let src = BufReader::with_capacity(1 << 20, File::open(delta)?);
    let mut member = patch::Decoder::new(src, reference.tar.clone(), r.tar_member_size());
    if let (Some(size), Some(digest)) = (r.side_size, &r.side_digest) {
        let side = hash_reader((&mut member).take(size));
        if !side.is_ok_and(|(found, count)| &found == digest && count == size) {
            return Ok(false);
        }
    }
    Ok(
        hash_reader(member)
            .is_ok_and(|(found, count)| found == r.raw_digest && count == r.raw_size),
    )
}

#[cfg(test)]
mod tests {
    use super::super::plan::Plan;
    use super::super::resolve::{BlobRef, Carried};
    use super::*;
    use crate::format::RebuildRecord;
    use crate::imagelist::ImageEntry;
    use crate::reference::Reference;
    use crate::registry::Manifest;

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// A layer stands for the bytes of its name.
    fn d(name: &str) -> Digest {
        Digest::of(name.as_bytes())
    }

    /// An image of one manifest: its config, then these layers.
    fn image(source: &str, layers: &[&str]) -> ResolvedImage {
        let config = format!("{source} config");
        let blobs = std::iter::once(BlobRef {
            digest: d(&config),
            size: config.len() as u64,
            media_type: CONFIG.into(),
        })
        .chain(layers.iter().map(|l| BlobRef {
            digest: d(l),
            size: l.len() as u64,
            media_type: LAYER.into(),
        }))
        .collect();
        let top = Manifest {
            bytes: Vec::new(),
            media_type: crate::manifest::OCI_MANIFEST.into(),
            digest: d(source),
        };
        ResolvedImage {
            entry: ImageEntry {
                source: source.into(),
                reference: Reference::parse(source).unwrap(),
                origin: Default::default(),
                platforms: None,
                own_platforms: false,
                line: 1,
                found: None,
            },
            top: top.clone(),
            children: vec![Carried { manifest: top }],
            nested_indexes: Vec::new(),
            platforms: Vec::new(),
            complete: true,
            blobs: vec![(d(source), blobs)],
            referrers: Vec::new(),
            carries: Default::default(),
        }
    }

    fn rebuild(layer: &str) -> RebuildRecord {
        RebuildRecord {
            encoder: "go1.8".into(),
            level: 6,
            header: "1f8b08000000000000ff".into(),
            raw_size: 10 * layer.len() as u64,
            raw_digest: d(&format!("{layer} tar")),
            side_size: None,
            side_digest: None,
            reference: None,
            restarts: Vec::new(),
        }
    }

    fn plain(layer: &str) -> Packed {
        Packed {
            rebuild: rebuild(layer),
            frame: format!("{layer}.zst").into(),
            frame_len: 100,
        }
    }

    /// Every layer of the images packed as a plain tar.
    fn packed_all(images: &[ResolvedImage]) -> HashMap<Digest, Packed> {
        images
            .iter()
            .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b.iter().skip(1)))
            .map(|b| (b.digest.clone(), plain(b.digest.hex())))
            .collect()
    }

    fn within(images: &[ResolvedImage], packed: &HashMap<Digest, Packed>) -> Vec<(Digest, Digest)> {
        let plan = Plan::new(images, None).unwrap();
        pick_within(images, &plan.needs, packed)
            .into_iter()
            .map(|p| (p.layer, p.reference))
            .collect()
    }

    fn pair(layer: &str, reference: &str) -> (Digest, Digest) {
        (d(layer), d(reference))
    }

    #[test]
    fn a_layer_is_encoded_against_the_same_position_in_an_earlier_tag_of_its_repository() {
        let images = [
            image("r.test/app:1", &["base", "lib 1", "app 1"]),
            image("r.test/app:2", &["base", "lib 2", "app 2", "extra 2"]),
        ];
        let packed = packed_all(&images);
        let plan = Plan::new(&images, None).unwrap();
        let picks = pick_within(&images, &plan.needs, &packed);
        // The shared base is no patch; a layer past the other's end takes its last layer.
        let pairs: Vec<(Digest, Digest)> = picks
            .iter()
            .map(|p| (p.layer.clone(), p.reference.clone()))
            .collect();
        assert_eq!(
            pairs,
            [
                pair("lib 2", "lib 1"),
                pair("app 2", "app 1"),
                pair("extra 2", "app 1")
            ]
        );
        assert_eq!(
            picks[0],
            Pick {
                layer: d("lib 2"),
                size: 5,
                reference: d("lib 1"),
                reference_size: 5,
                registry: String::new(),
                repository: "app".into(),
            }
        );
    }

    #[test]
    fn the_reference_is_the_earlier_manifest_of_the_same_repository_sharing_most_layers() {
        let images = [
            image("r.test/app:1", &["x", "app 1"]),
            image("r.test/app:2", &["base", "app 2"]),
            image("r.test/app:3", &["y", "app 3"]),
            image("r.test/other:1", &["base", "other 1"]),
            image("r.test/app:4", &["base", "app 4"]),
        ];
        let picks = within(&images, &packed_all(&images));
        // app:4 shares its base with app:2 (and with other:1, another repository): neither the
        // first tag nor the last before it, but the closest.
        let app4: Vec<&Digest> = picks
            .iter()
            .filter(|(l, _)| *l == d("app 4"))
            .map(|(_, r)| r)
            .collect();
        assert_eq!(app4, [&d("app 2")], "{picks:?}");
        // other:1 has no other tag to be encoded against, nor is it anyone's reference.
        let other = [d("other 1")];
        assert!(
            !picks
                .iter()
                .any(|(l, r)| other.contains(l) || other.contains(r)),
            "{picks:?}"
        );
    }

    #[test]
    fn only_plain_packed_layers_are_encoded_or_taken_as_references() {
        let images = [
            image("r.test/app:1", &["base", "kept 1", "lib 1", "app 1"]),
            image("r.test/app:2", &["base", "kept 2", "lib 2", "app 2"]),
        ];
        let mut packed = packed_all(&images);
        // A layer carried as it came is neither a delta nor a reference.
        packed.remove(&d("kept 1"));
        // Nor is one already encoded against another (against a --since base).
        let mut delta = plain("lib 1");
        delta.rebuild.reference = Some(crate::format::ReferenceRecord {
            layer: d("elsewhere"),
            layer_size: 9,
            raw_size: 90,
            raw_digest: d("elsewhere tar"),
            delta_size: 3,
            delta_digest: d("delta"),
        });
        packed.insert(d("lib 1"), delta);
        // And a layer not packed has no tar to encode.
        packed.remove(&d("app 2"));
        assert_eq!(within(&images, &packed), []);
        // Each of the three was what stood in the way.
        assert_eq!(within(&images, &packed_all(&images)).len(), 3);
    }

    #[test]
    fn a_layer_made_a_delta_is_never_a_reference_after() {
        // app:2 is closest to app:1 (two layers shared), app:3 to app:2 (one shared).
        let images = [
            image("r.test/app:1", &["a", "b", "lib 1", "e"]),
            image("r.test/app:2", &["a", "b", "lib 2", "f"]),
            image("r.test/app:3", &["c", "d", "lib 3", "f"]),
        ];
        let picks = within(&images, &packed_all(&images));
        // lib 3 would be encoded against lib 2, itself a delta: chains stay one deep.
        assert_eq!(
            picks,
            [
                pair("lib 2", "lib 1"),
                pair("f", "e"),
                pair("c", "a"),
                pair("d", "b")
            ]
        );
    }

    fn base(manifests: &[(&str, &[&str])], held: &[&str]) -> Held {
        Held {
            kind: "inventory",
            digest: d("site.json"),
            name: "site.json".into(),
            held: held.iter().map(|h| d(h)).collect(),
            manifests: manifests
                .iter()
                .map(|(repo, layers)| {
                    let layers = layers.iter().map(|l| (d(l), l.len() as u64)).collect();
                    (repo.to_string(), layers)
                })
                .collect(),
            file: None,
            carried: HashSet::new(),
        }
    }

    fn picked(picks: &[Pick]) -> Vec<(Digest, Digest)> {
        picks
            .iter()
            .map(|p| (p.layer.clone(), p.reference.clone()))
            .collect()
    }

    #[test]
    fn against_a_base_a_new_layer_takes_the_layer_at_its_place_in_the_closest_manifest() {
        let images = [image(
            "r.test/app:2",
            &["base", "lib 2", "app 2", "extra 2"],
        )];
        let base = base(
            &[
                ("app", &["old base", "lib 0", "app 0"]),
                ("app", &["base", "lib 1", "app 1"]),
                ("other", &["base", "other lib", "other app"]),
            ],
            &["base", "lib 1", "app 1", "old base", "lib 0", "app 0"],
        );
        let picks = pick(&images, &base, &packed_all(&images));
        assert_eq!(
            picked(&picks),
            [
                pair("lib 2", "lib 1"),
                pair("app 2", "app 1"),
                pair("extra 2", "app 1")
            ]
        );
        // An inventory's references are fetched from where the new layer comes from.
        assert_eq!(
            (picks[0].registry.as_str(), picks[0].repository.as_str()),
            ("r.test", "app")
        );
        assert_eq!(picks[0].reference_size, 5);
    }

    #[test]
    fn against_a_base_only_what_it_lacks_is_encoded_and_only_against_what_a_base_bundle_carries() {
        let images = [image("r.test/app:2", &["base", "lib 2", "app 2"])];
        // The site loaded the image under a prefix: `site/app` is the same repository.
        let mut b = base(&[("site/app", &["base", "lib 1", "app 1"])], &["base"]);
        let mut packed = packed_all(&images);
        packed.remove(&d("app 2"));
        assert_eq!(
            picked(&pick(&images, &b, &packed)),
            [pair("lib 2", "lib 1")],
            "held or unpacked layers are not encoded"
        );
        // A base bundle gives only the layers it carries itself, not those it left out.
        b.file = Some("last.bundle".into());
        assert_eq!(picked(&pick(&images, &b, &packed)), []);
        b.carried.insert(d("lib 1"));
        assert_eq!(
            picked(&pick(&images, &b, &packed)),
            [pair("lib 2", "lib 1")]
        );
        // `otherapp` is not `app`.
        let b = base(&[("otherapp", &["base", "lib 1", "app 1"])], &[]);
        assert_eq!(picked(&pick(&images, &b, &packed)), []);
    }

    #[test]
    fn the_line_says_why_each_layer_not_encoded_was_carried_on_its_own() {
        let deltas = [(d("app 2"), plain("app 2"))];
        let why = [NotKept::NotWorth, NotKept::NoReference, NotKept::NotWorth];
        assert_eq!(
            encoded_line(&deltas, 4, &why, "the base's"),
            "1 of 4 layers encoded against the base's: 100 B for 50 B of tar; the other 3 \
             carried on their own: 2 with a delta over 90% of their own frame, 1 with their \
             reference not at hand"
        );
        assert_eq!(
            encoded_line(&deltas, 1, &[], "the base's"),
            "1 of 1 layers encoded against the base's: 100 B for 50 B of tar"
        );
    }

    /// A delta of `member` written to a file: chunks without ranges, so any reference will do.
    fn delta_of(member: &[u8], dir: &std::path::Path) -> std::path::PathBuf {
        let chunks = patch::plan(member.len() as u64, 0, &[], &[]);
        let mut out = Vec::new();
        patch::encode(&mut &member[..], &chunks, &Vec::new(), 3, &mut out).unwrap();
        let path = dir.join("delta");
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn a_delta_is_proven_by_the_member_its_layer_was_proven_with() {
        let dir = tempfile::tempdir().unwrap();
        let reference = Spooled {
            tar: std::sync::Arc::new(Vec::new()),
            size: 0,
            digest: d("empty"),
        };
        let (side, tar) = (b"side data".to_vec(), b"a tar's bytes ".repeat(5000));
        let member = [side.clone(), tar.clone()].concat();
        let delta = delta_of(&member, dir.path());
        let mut layer = plain("layer");
        layer.rebuild.raw_size = tar.len() as u64;
        layer.rebuild.raw_digest = Digest::of(&tar);
        layer.rebuild.side_size = Some(side.len() as u64);
        layer.rebuild.side_digest = Some(Digest::of(&side));
        assert!(proven(&layer, &delta, &reference).unwrap());

        let mut wrong_tar = layer.clone();
        wrong_tar.rebuild.raw_digest = Digest::of(b"another tar");
        assert!(!proven(&wrong_tar, &delta, &reference).unwrap());
        let mut wrong_side = layer.clone();
        wrong_side.rebuild.side_digest = Some(Digest::of(b"other side data"));
        assert!(!proven(&wrong_side, &delta, &reference).unwrap());
        // A member one byte short of what the delta decodes to is not the one proven.
        let mut short = layer;
        short.rebuild.raw_size -= 1;
        assert!(!proven(&short, &delta, &reference).unwrap());
    }
}
