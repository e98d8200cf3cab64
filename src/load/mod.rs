//! `bundle load`: verify, then load into registries and local stores with digests unchanged.
//! `from_file` and `from_stdin` are the two ways through; both check the signature, bundle.json
//! and every manifest before anything is planned or sent, let a blob become visible at a target
//! only with its digest checked, and write manifests (children before indexes) and tags last,
//! once every byte of the bundle checked out. `select` decides what is loaded; `target` is
//! what every destination can do, `spec` parses `--to`.

mod bases;
pub mod containerd;
pub mod containers_storage;
pub mod docker_archive;
mod from_file;
mod from_stdin;
mod import_tool;
pub mod oci;
pub mod registry;
mod signatures;
pub mod spec;
pub mod target;

use crate::format::BlobRecord;
use crate::platform::Platform;
use crate::progress::{Mode, Progress};
use crate::registry::Registries;
use crate::select::PlannedImage;
use crate::verify;
use anyhow::{bail, Context, Result};
use spec::TargetSpec;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use target::{BlobOutcome, Target};

pub struct LoadOptions {
    /// A bundle file, or `-` for stdin.
    pub file: PathBuf,
    pub keys: Vec<PathBuf>,
    pub allow_unsigned: bool,
    pub targets: Vec<TargetSpec>,
    /// `--base FILE` (repeatable): the bundles the site holds, which a delta's left-out layers
    /// and its reference deltas' reference layers are read from where a target lacks them.
    pub bases: Vec<PathBuf>,
    /// `--verify-images`: every image must carry a cosign signature by this public key.
    pub verify_images: Option<PathBuf>,
    pub images: Vec<String>,
    pub platforms: Vec<Platform>,
    pub jobs: usize,
    /// For registry targets.
    pub registries: Box<dyn Fn() -> Registries + Send + Sync>,
    pub naming: registry::Naming,
    pub progress: Mode,
}

pub struct TargetReport {
    pub target: String,
    pub names: Vec<String>,
    pub blobs: BlobOutcome,
}

pub struct LoadReport {
    pub signer: Option<String>,
    pub targets: Vec<TargetReport>,
    pub partial: Vec<String>,
    pub seconds: f64,
}

fn open_targets(opts: &LoadOptions) -> Result<Vec<Box<dyn Target>>> {
    opts.targets
        .iter()
        .map(|t| -> Result<Box<dyn Target>> {
            Ok(match t {
                TargetSpec::Registry { host, prefix } => Box::new(registry::RegistryTarget::new(
                    host,
                    prefix,
                    opts.naming.clone(),
                    (opts.registries)(),
                )),
                TargetSpec::Oci { dir } => Box::new(oci::OciTarget::open(dir)?),
                TargetSpec::DockerArchive { file } => {
                    Box::new(docker_archive::DockerArchiveTarget::create(
                        file,
                        docker_archive::Artifacts::LeaveOut,
                    )?)
                }
                TargetSpec::ContainersStorage(spec) => Box::new(
                    containers_storage::ContainersStorageTarget::open(spec.clone())?,
                ),
                TargetSpec::Containerd { socket, namespace } => {
                    Box::new(containerd::ContainerdTarget::open(socket, namespace)?)
                }
            })
        })
        .collect()
}

/// Distinct configs and layers of the plan, each with the images that need it.
fn blob_users(plan: &[PlannedImage]) -> Vec<(BlobRecord, Vec<&PlannedImage>)> {
    let mut order: Vec<(BlobRecord, Vec<&PlannedImage>)> = Vec::new();
    let mut at: HashMap<&crate::digest::Digest, usize> = HashMap::new();
    for img in plan {
        for b in img.blobs.iter().chain(&img.referrer_blobs) {
            match at.get(&b.digest) {
                Some(&i) => order[i].1.push(img),
                None => {
                    at.insert(&b.digest, order.len());
                    order.push((b.clone(), vec![img]));
                }
            }
        }
    }
    order
}

pub fn load(opts: &LoadOptions) -> Result<LoadReport> {
    let started = Instant::now();
    let keys = verify::load_keys(&opts.keys)?;
    if opts.targets.is_empty() {
        bail!("no --to target given");
    }
    if opts.file.as_os_str() == "-" {
        from_stdin::load(opts, &keys, started)
    } else {
        from_file::load(opts, &keys, started)
    }
}

/// What a load works through once the signed part of the bundle checked out: the plan, the
/// targets, and the blobs to send, each with the images that need it.
struct Prepared<'a> {
    plan: &'a [PlannedImage],
    targets: Vec<Box<dyn Target>>,
    users: Vec<(BlobRecord, Vec<&'a PlannedImage>)>,
    /// The reference tars of the layers carried as deltas, all at hand (`references`).
    references: Option<std::sync::Arc<crate::reftars::ReferenceTars>>,
    bases: bases::Bases,
    /// Left-out layers sent from a base (by digest: the base's record), for the targets that
    /// lack them.
    from_base: HashMap<crate::digest::Digest, (usize, BlobRecord)>,
}

impl<'a> Prepared<'a> {
    fn new(
        opts: &LoadOptions,
        keys: &[verify::TrustedKey],
        plan: &'a [PlannedImage],
        doc: &crate::format::BundleManifest,
    ) -> Result<Prepared<'a>> {
        let targets = open_targets(opts)?;
        for t in &targets {
            refuse_name_clashes(t.as_ref(), plan)?;
            t.check(plan)?;
        }
        let mut bases = bases::Bases::open(&opts.bases, keys, opts.allow_unsigned)?;
        let (users, from_base) = check_base(&targets, blob_users(plan), doc, &bases)?;
        let blobs: Vec<&BlobRecord> = users.iter().map(|(b, _)| b).collect();
        for t in &targets {
            t.check_room(&blobs)
                .with_context(|| format!("{}: nothing was written", t.name()))?;
        }
        let references = references(opts, &targets, &users, &from_base, doc, &bases)?;
        if let Some(r) = &references {
            bases.set_references(r.clone());
        }
        if !bases.is_empty() && from_base.is_empty() && references.is_none() {
            say_bases_unused(doc);
        }
        Ok(Prepared {
            plan,
            targets,
            users,
            references,
            bases,
            from_base,
        })
    }

    /// A blob's bytes: from the base that carries it if it is a left-out layer a target lacks,
    /// else from `bundle`.
    fn open_blob(
        &self,
        blob: &BlobRecord,
        bundle: impl FnOnce() -> Result<Box<dyn std::io::Read + Send>>,
    ) -> Result<Box<dyn std::io::Read + Send>> {
        match self.from_base.get(&blob.digest) {
            Some((i, record)) => self.bases.get(*i).open_blob(record),
            None => bundle(),
        }
    }

    /// Put one blob into every target; `open` gives its bytes, as often as asked.
    fn put(
        &self,
        blob: &BlobRecord,
        imgs: &[&PlannedImage],
        open: target::Opener,
        progress: &Progress,
    ) -> Result<Vec<BlobOutcome>> {
        let mut v = Vec::new();
        for t in &self.targets {
            let counter = progress.counter(&bar_label(blob, imgs), blob.size);
            let counted = || -> Result<Box<dyn std::io::Read + Send>> {
                Ok(Box::new(counter.reader(open()?)))
            };
            let put = target::Put {
                blob,
                users: imgs,
                open: &counted,
            };
            let o = t.put_blob(put).with_context(|| {
                format!("{}: blob {} of {}", t.name(), blob.digest, names_of(imgs))
            })?;
            counter.done();
            v.push(o);
        }
        Ok(v)
    }
}

/// `--base` given and nothing taken from it: said, so a mistaken file is noticed.
fn say_bases_unused(doc: &crate::format::BundleManifest) {
    crate::console::line(format!(
        "note: --base was not used: {}",
        match doc.base {
            None => "this bundle is not a delta, it carries every layer itself",
            Some(_) => "every layer this delta leaves out is already at each target",
        }
    ));
}

/// Two different images that this target would give one name: refused before anything is
/// written, since the second would silently take the tag from the first.
fn refuse_name_clashes(t: &dyn Target, plan: &[PlannedImage]) -> Result<()> {
    let named = plan.iter().filter_map(|img| {
        let name = t.tag_name(img)?;
        Some((
            name,
            img.top().digest.clone(),
            img.record.reference.as_str(),
        ))
    });
    let clashes = crate::reference::name_clashes(named);
    let Some(first) = clashes.first() else {
        return Ok(());
    };
    bail!(
        "{}: {} and {} are different images that would both be {}{}; load with --keep-registry (the source registry stays in the path), --rewrite one of them apart, or choose one with --image; nothing was written",
        t.name(),
        first.first,
        first.second,
        first.name,
        match clashes.len() {
            1 => String::new(),
            n => format!(" (and {} more name(s) like it)", n - 1),
        }
    )
}

type Users<'a> = Vec<(BlobRecord, Vec<&'a PlannedImage>)>;
type FromBase = HashMap<crate::digest::Digest, (usize, BlobRecord)>;

/// A delta bundle leaves out layers its base carried: before anything is written, each target
/// must hold every one of them that the chosen images need, or a `--base` bundle must carry
/// it (then it is sent from there). Returns the blobs to send and which come from a base.
fn check_base<'a>(
    targets: &[Box<dyn Target>],
    users: Users<'a>,
    doc: &crate::format::BundleManifest,
    bases: &bases::Bases,
) -> Result<(Users<'a>, FromBase)> {
    let Some(base) = &doc.base else {
        return Ok((users, HashMap::new()));
    };
    let omitted: std::collections::HashSet<&crate::digest::Digest> =
        base.omitted.iter().map(|b| &b.digest).collect();
    let (absent, mut send): (Vec<_>, Vec<_>) = users
        .into_iter()
        .partition(|(b, _)| omitted.contains(&b.digest));
    let mut from_base = HashMap::new();
    for t in targets {
        let mut missing = Vec::new();
        for (blob, imgs) in &absent {
            if from_base.contains_key(&blob.digest) || t.has_blob(blob, imgs)? {
                continue;
            }
            match bases.find(&blob.digest) {
                Some((i, record)) => {
                    from_base.insert(blob.digest.clone(), (i, record.clone()));
                }
                None => missing.push(format!("{} (of {})", blob.digest, names_of(imgs))),
            }
        }
        if !missing.is_empty() {
            bail!(
                "{}: this is a delta bundle over {} {} ({}), and {} layer(s) it leaves out are not there{}: {}{}. Load the base (or a full bundle) into this target first, or give the bundles the site holds with --base FILE (repeatable); nothing was written",
                t.name(),
                base.kind,
                base.name,
                base.digest,
                missing.len(),
                match bases.is_empty() {
                    true => String::new(),
                    false => " nor in any --base bundle".to_string(),
                },
                missing[..missing.len().min(3)].join(", "),
                if missing.len() > 3 { ", ..." } else { "" }
            );
        }
    }
    send.extend(
        absent
            .into_iter()
            .filter(|(b, _)| from_base.contains_key(&b.digest)),
    );
    Ok((send, from_base))
}

/// The layers to send that are carried as deltas need their reference layers: from the bundle
/// itself, from `--base`, else read back from a target that holds them. Each is fetched,
/// unpacked and checked now, before anything is written; one that cannot be had stops the load
/// here. Read from stdin, a reference the bundle carries is kept as it streams past
/// (`from_stdin`), ahead of the layers encoded against it.
fn references<'a>(
    opts: &LoadOptions,
    targets: &[Box<dyn Target>],
    users: &'a [(BlobRecord, Vec<&PlannedImage>)],
    from_base: &'a FromBase,
    doc: &crate::format::BundleManifest,
    bases: &bases::Bases,
) -> Result<Option<std::sync::Arc<crate::reftars::ReferenceTars>>> {
    let stdin = opts.file.as_os_str() == "-";
    let carried: std::collections::HashSet<_> = doc.blobs.iter().map(|b| &b.digest).collect();
    // A left-out layer sent from a base is read as that base carries it: maybe a delta too.
    let record =
        |b: &'a BlobRecord| -> &'a BlobRecord { from_base.get(&b.digest).map_or(b, |(_, r)| r) };
    let needed: Vec<_> = users
        .iter()
        .map(|(b, imgs)| (record(b), imgs))
        .filter_map(|(b, imgs)| Some((b, b.rebuild.as_ref()?.reference.as_ref()?, imgs)))
        .filter(|(_, r, _)| !(stdin && carried.contains(&r.layer)))
        .collect();
    let own = users.iter().any(|(b, _)| {
        let r = b.rebuild.as_ref().and_then(|r| r.reference.as_ref());
        r.is_some_and(|r| carried.contains(&r.layer))
    });
    if needed.is_empty() && !own {
        return Ok(None);
    }
    let mut tars = crate::reftars::ReferenceTars::new();
    if !stdin && own {
        let reader = crate::format::reader::BundleReader::open(&opts.file)?;
        let source = crate::reftars::ReferenceTars::bundle_source(reader)?;
        tars.add(opts.file.display().to_string(), source);
    }
    for (name, reader) in bases.readers()? {
        tars.add(name, crate::reftars::ReferenceTars::bundle_source(reader)?);
    }
    // Each reference is unpacked on its own core: they are whole layers.
    let mut firsts = std::collections::HashSet::new();
    let needed: Vec<_> = needed
        .into_iter()
        .filter(|(_, r, _)| firsts.insert(&r.layer))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .build()?;
    pool.install(|| {
        use rayon::prelude::*;
        needed
            .par_iter()
            .try_for_each(|(blob, r, imgs)| reference_at_hand(bases, targets, &tars, blob, r, imgs))
    })?;
    Ok(Some(std::sync::Arc::new(tars)))
}

/// `r` from the sources of `tars`, else from the first target that holds it.
fn reference_at_hand(
    bases: &bases::Bases,
    targets: &[Box<dyn Target>],
    tars: &crate::reftars::ReferenceTars,
    blob: &BlobRecord,
    r: &crate::format::ReferenceRecord,
    imgs: &[&PlannedImage],
) -> Result<()> {
    use crate::format::References;
    if tars.get(r).is_ok() {
        return Ok(());
    }
    for t in targets {
        if let Some(gz) = t.open_blob(&r.layer, r.layer_size, imgs)? {
            tars.spool(&r.layer, crate::reftars::gunzip(gz), r.raw_size)?;
            return tars
                .get(r)
                .map(drop)
                .map_err(|why| anyhow::anyhow!("{why}; nothing was written"));
        }
    }
    bail!(
        "{}: layer {} of {} is carried as a delta against layer {}, which is not there{}. Load the release this update was made against first, or give its bundle with --base FILE; nothing was written",
        targets.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
        blob.digest,
        names_of(imgs),
        r.layer,
        match bases.is_empty() {
            true => String::new(),
            false => format!(
                " and no --base bundle carries it ({})",
                bases.paths().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    )
}

/// Manifests and tags, last: only after every blob of the bundle checked out.
fn commit(
    prepared: Prepared,
    checked: &verify::Checked,
    outcomes: Vec<BlobOutcome>,
    started: Instant,
) -> Result<LoadReport> {
    let Prepared { plan, targets, .. } = prepared;
    let mut reports = Vec::new();
    for (t, blobs) in targets.iter().zip(outcomes) {
        let names = t
            .commit(plan, checked)
            .with_context(|| format!("{}: writing manifests and tags", t.name()))?;
        reports.push(TargetReport {
            target: t.name(),
            names,
            blobs,
        });
    }
    Ok(LoadReport {
        signer: checked.signer.clone(),
        targets: reports,
        partial: plan
            .iter()
            .filter(|p| p.partial)
            .map(|p| p.record.reference.clone())
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A blob's bar names the (first) image it belongs to, then the blob: `team/app1:1.0 7321c1cd8f81`.
fn bar_label(blob: &BlobRecord, imgs: &[&PlannedImage]) -> String {
    let image = imgs.first().map_or("", |i| i.record.reference.as_str());
    let more = if imgs.len() > 1 { " +" } else { "" };
    format!("{image}{more} {}", &blob.digest.hex()[..12])
}

fn names_of(imgs: &[&PlannedImage]) -> String {
    imgs.iter()
        .map(|i| i.record.reference.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
