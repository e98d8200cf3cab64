//! `bundle load`: verify, then load into registries and local stores with digests unchanged.
//!
//! From a file: the signature, bundle.json and every manifest are verified first; then blobs
//! are pushed in parallel, each read from its own frame and checked on the way, while a second
//! thread verifies the whole file (every blob, every byte); manifests follow only once that
//! passed (children before indexes) and names/tags come last. From stdin (`-`): one
//! pass, each needed blob spooled to a temp file while it is verified (one blob at a time, never
//! the whole bundle), manifests and tags only after the end of the stream checked out.

pub mod containerd;
pub mod containers_storage;
pub mod docker_archive;
mod import_tool;
pub mod oci;
pub mod registry;
pub mod spec;
pub mod target;

use crate::format::BlobRecord;
use crate::platform::Platform;
use crate::progress::{Mode, Progress};
use crate::registry::Registries;
use crate::select::PlannedImage;
use crate::verify::{self, Session};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use spec::TargetSpec;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;
use target::{BlobOutcome, Target};

pub struct LoadOptions {
    /// A bundle file, or `-` for stdin.
    pub file: PathBuf,
    pub keys: Vec<PathBuf>,
    pub allow_unsigned: bool,
    pub targets: Vec<TargetSpec>,
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
                    Box::new(docker_archive::DockerArchiveTarget::create(file)?)
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
        for b in &img.blobs {
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
        load_stream(opts, &keys, started)
    } else {
        load_file(opts, &keys, started)
    }
}

fn load_file(
    opts: &LoadOptions,
    keys: &[verify::TrustedKey],
    started: Instant,
) -> Result<LoadReport> {
    // A damaged seek index is a verification failure (exit 3), as it is for `verify`; a split
    // bundle's parts are found and checked here.
    let verify::Opened {
        name,
        reader,
        stream,
        parts,
    } = verify::Opened::open(&opts.file, keys, opts.allow_unsigned)?;
    // The signature, bundle.json and every manifest are checked before anything is planned or
    // sent; the rest of the file (every blob, every byte) is checked by a second thread while
    // blobs are sent. A blob becomes visible only with its digest checked (the registry checks
    // the digest of every upload, local targets hash what they write), and manifests and tags
    // are written only once the whole file checked out: so sending need not wait for the
    // verification pass, which on a CPU-bound machine was half of the load.
    let session =
        Session::open(stream, &name, keys, opts.allow_unsigned).map_err(|e| parts.explain(e))?;
    let progress = Progress::new(opts.progress, "loaded");
    progress.line(&format!(
        "{name}: {} ({} blobs); checking every byte while loading",
        session
            .checked
            .signer
            .as_deref()
            .map_or("unsigned (allowed)".into(), |s| format!("signature by {s}")),
        session.checked.doc.blobs.len()
    ));
    let plan = crate::select::plan(&session.checked, &opts.images, &opts.platforms)?;
    let targets = open_targets(opts)?;
    let users = check_base(&targets, blob_users(&plan), &session.checked.doc)?;
    let members: HashMap<String, &crate::format::MemberEntry> = reader
        .index
        .members
        .iter()
        .map(|m| (m.path.clone(), m))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()?;
    progress.start_bytes(
        users.iter().map(|(b, _)| b.size).sum::<u64>() * targets.len() as u64,
        0,
    );
    let (verified, results) = std::thread::scope(|s| {
        let verifier = s.spawn(|| session.finish());
        let results: Vec<Result<Vec<BlobOutcome>>> = pool.install(|| {
            users
                .par_iter()
                .map(|(blob, imgs)| {
                    let member = members
                        .get(&blob.digest.layout_path())
                        .copied()
                        .with_context(|| {
                            format!("blob {} is missing from the seek index", blob.digest)
                        })?;
                    let open = || -> Result<Box<dyn Read + Send>> {
                        Ok(Box::new(reader.open_member(member)?))
                    };
                    let mut v = Vec::new();
                    for t in &targets {
                        let o = t.put_blob(blob, imgs, &open).with_context(|| {
                            format!("{}: blob {} of {}", t.name(), blob.digest, names_of(imgs))
                        })?;
                        progress.add(blob.size);
                        v.push(o);
                    }
                    Ok(v)
                })
                .collect()
        });
        let verified = verifier
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (verified, results)
    });
    progress.finish();
    // A verification failure outranks upload errors: it is the cause, and its exit code (3)
    // tells the operator the file, not the target, is at fault.
    let checked = verified.map_err(|e| {
        anyhow::Error::new(parts.explain(e))
            .context("the bundle failed verification; no manifest or tag was written")
    })?;
    progress.line(&format!("verified: every byte of {name} is as written"));
    let mut outcomes = vec![BlobOutcome::default(); targets.len()];
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => v
                .into_iter()
                .enumerate()
                .for_each(|(i, o)| outcomes[i] += o),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} blob(s) could not be loaded; no manifest or tag was written:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    commit(&targets, &plan, &checked, outcomes, started)
}

fn load_stream(
    opts: &LoadOptions,
    keys: &[verify::TrustedKey],
    started: Instant,
) -> Result<LoadReport> {
    let stdin = std::io::stdin().lock();
    let mut session = Session::open(stdin, "stdin", keys, opts.allow_unsigned)?;
    let plan = crate::select::plan(&session.checked, &opts.images, &opts.platforms)?;
    let targets = open_targets(opts)?;
    let users = check_base(&targets, blob_users(&plan), &session.checked.doc)?;
    let needed: HashMap<&crate::digest::Digest, &Vec<&PlannedImage>> =
        users.iter().map(|(b, u)| (&b.digest, u)).collect();
    let mut outcomes = vec![BlobOutcome::default(); targets.len()];
    let spool_dir = std::env::temp_dir();
    while let Some(blob) = session.next_blob()? {
        let Some(imgs) = needed.get(&blob.digest) else {
            session.read_blob(&mut std::io::sink())?;
            continue;
        };
        // One blob at a time, verified before any target sees it.
        let spool = tempfile::Builder::new()
            .prefix(".bundle-spool-")
            .tempfile_in(&spool_dir)
            .with_context(|| format!("creating a spool file in {}", spool_dir.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, spool.as_file());
        session.read_blob(&mut w)?;
        // Flush explicitly: dropping a BufWriter ignores a write error (a full $TMPDIR).
        std::io::Write::flush(&mut w).with_context(|| {
            format!("writing blob {} to {}", blob.digest, spool.path().display())
        })?;
        drop(w);
        let path = spool.path().to_path_buf();
        let open = || -> Result<Box<dyn Read + Send>> { Ok(Box::new(std::fs::File::open(&path)?)) };
        for (i, t) in targets.iter().enumerate() {
            outcomes[i] += t.put_blob(&blob, imgs, &open).with_context(|| {
                format!("{}: blob {} of {}", t.name(), blob.digest, names_of(imgs))
            })?;
        }
    }
    let checked = session.finish()?;
    commit(&targets, &plan, &checked, outcomes, started)
}

/// A delta bundle leaves out layers its base carried: before anything is written, each target
/// must already hold every one of them that the chosen images need. Returns the blobs to send.
fn check_base<'a>(
    targets: &[Box<dyn Target>],
    users: Vec<(BlobRecord, Vec<&'a PlannedImage>)>,
    doc: &crate::format::BundleManifest,
) -> Result<Vec<(BlobRecord, Vec<&'a PlannedImage>)>> {
    let Some(base) = &doc.base else {
        return Ok(users);
    };
    let omitted: std::collections::HashSet<&crate::digest::Digest> =
        base.omitted.iter().map(|b| &b.digest).collect();
    let (absent, send): (Vec<_>, Vec<_>) = users
        .into_iter()
        .partition(|(b, _)| omitted.contains(&b.digest));
    for t in targets {
        let mut missing = Vec::new();
        for (blob, imgs) in &absent {
            if !t.has_blob(blob, imgs)? {
                missing.push(format!("{} (of {})", blob.digest, names_of(imgs)));
            }
        }
        if !missing.is_empty() {
            bail!(
                "{}: this is a delta bundle over {} {} ({}), and {} layer(s) it leaves out are not there: {}{}. Load the base (or a full bundle) into this target first; nothing was written",
                t.name(),
                base.kind,
                base.name,
                base.digest,
                missing.len(),
                missing[..missing.len().min(3)].join(", "),
                if missing.len() > 3 { ", ..." } else { "" }
            );
        }
    }
    Ok(send)
}

fn commit(
    targets: &[Box<dyn Target>],
    plan: &[PlannedImage],
    checked: &verify::Checked,
    outcomes: Vec<BlobOutcome>,
    started: Instant,
) -> Result<LoadReport> {
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

fn names_of(imgs: &[&PlannedImage]) -> String {
    imgs.iter()
        .map(|i| i.record.reference.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
