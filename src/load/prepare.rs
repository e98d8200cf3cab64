//! A load's plan made concrete once the signed part of the bundle checked out: the targets
//! opened and checked, a delta's left-out layers found at each target or in a base, reference
//! layers at hand, and room for everything, all before the first byte is written.

use super::bases::{Bases, FromBase};
use super::names::{bar_label, names_of};
use super::options::LoadOptions;
use super::references::references;
use super::spec::TargetSpec;
use super::target::{self, BlobOutcome, Target};
use super::{containerd, containers_storage, dir, docker_archive, oci, registry};
use crate::format::BlobRecord;
use crate::progress::Progress;
use crate::select::PlannedImage;
use crate::verify;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;

/// What a load works through once the signed part of the bundle checked out: the plan, the
/// targets, and the blobs to send, each with the images that need it.
pub(super) struct Prepared<'a> {
    pub plan: &'a [PlannedImage],
    pub targets: Vec<Box<dyn Target>>,
    pub users: Vec<(BlobRecord, Vec<&'a PlannedImage>)>,
    /// The reference tars of the layers carried as patches, all at hand (`references`).
    pub references: Option<std::sync::Arc<crate::reference_tars::ReferenceTars>>,
    pub bases: Bases,
    /// Left-out layers sent from a base (by digest: the base's record), for the targets that
    /// lack them.
    pub from_base: HashMap<crate::digest::Digest, (usize, BlobRecord)>,
}

impl<'a> Prepared<'a> {
    pub fn new(
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
        let mut bases = Bases::open(&opts.bases, keys, opts.allow_unsigned)?;
        let (users, from_base) = check_base(&targets, blob_users(plan), doc, &bases)?;
        let blobs: Vec<&BlobRecord> = users.iter().map(|(b, _)| b).collect();
        for t in &targets {
            t.check_room(&blobs)
                .with_context(|| format!("{}: nothing was written", t.name()))?;
        }
        let references = references(&opts.file, &targets, &users, &from_base, doc, &bases)?;
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
    pub fn open_blob(
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
    pub fn put(
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

/// The plan without charts and files when a target takes images only (said in one line);
/// an error when nothing is left.
pub(super) fn what_targets_take(
    opts: &LoadOptions,
    plan: Vec<PlannedImage>,
) -> Result<Vec<PlannedImage>> {
    let Some(t) = opts.targets.iter().find(|t| !t.takes_artifacts()) else {
        return Ok(plan);
    };
    let (images, apps): (Vec<_>, Vec<_>) =
        plan.into_iter().partition(|p| p.record.carries.is_image());
    if apps.is_empty() {
        return Ok(images);
    }
    let names: Vec<&str> = apps.iter().map(|p| p.record.reference.as_str()).collect();
    if images.is_empty() {
        bail!(
            "--to {}: it takes images only, and the chosen ones are charts and files ({}); load them into a registry or an OCI layout",
            t.kind(),
            names.join(", ")
        );
    }
    crate::console::line(format!(
        "note: {} charts and files left out ({}): --to {} takes images only; load them into a registry or an OCI layout in a run of their own",
        apps.len(),
        names.join(", "),
        t.kind()
    ));
    Ok(images)
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
                TargetSpec::Dir { dir } => Box::new(dir::DirTarget::open(dir)),
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

pub(super) type Users<'a> = Vec<(BlobRecord, Vec<&'a PlannedImage>)>;

/// A delta bundle leaves out layers its base carried: before anything is written, each target
/// must hold every one of them that the chosen images need, or a `--base` bundle must carry
/// it (then it is sent from there). Returns the blobs to send and which come from a base.
fn check_base<'a>(
    targets: &[Box<dyn Target>],
    users: Users<'a>,
    doc: &crate::format::BundleManifest,
    bases: &Bases,
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
