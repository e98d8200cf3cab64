//! The reference layers a load's patched layers are rebuilt against, all at hand before
//! anything is written: from the bundle itself, a `--base` bundle, or read back from a target.

use super::bases::{Bases, FromBase};
use super::names::names_of;
use super::target::Target;
use crate::format::BlobRecord;
use crate::select::PlannedImage;
use anyhow::{bail, Result};
use std::path::Path;

/// The layers to send that are carried as patches need their reference layers: from the bundle
/// itself, from `--base`, else read back from a target that holds them. Each is fetched,
/// unpacked and checked now, before anything is written; one that cannot be had stops the load
/// here. Read from stdin, a reference the bundle carries is kept as it streams past
/// (`from_stdin`), ahead of the layers encoded against it.
pub(super) fn references<'a>(
    file: &Path,
    targets: &[Box<dyn Target>],
    users: &'a [(BlobRecord, Vec<&PlannedImage>)],
    from_base: &'a FromBase,
    doc: &crate::format::BundleManifest,
    bases: &Bases,
) -> Result<Option<std::sync::Arc<crate::reference_tars::ReferenceTars>>> {
    let stdin = file.as_os_str() == "-";
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
    let mut tars = crate::reference_tars::ReferenceTars::new();
    if !stdin && own {
        let reader = crate::format::reader::BundleReader::open(file)?;
        let source = crate::reference_tars::ReferenceTars::bundle_source(reader)?;
        tars.add(file.display().to_string(), source);
    }
    for (name, reader) in bases.readers()? {
        tars.add(
            name,
            crate::reference_tars::ReferenceTars::bundle_source(reader)?,
        );
    }
    // Each reference is unpacked on its own core: they are whole layers.
    let mut firsts = std::collections::HashSet::new();
    let needed: Vec<_> = needed
        .into_iter()
        .filter(|(_, r, _)| firsts.insert(&r.layer))
        .collect();
    let pool = crate::workers::pool(crate::workers::cores(), "references")?;
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
    bases: &Bases,
    targets: &[Box<dyn Target>],
    tars: &crate::reference_tars::ReferenceTars,
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
            tars.spool(&r.layer, crate::reference_tars::gunzip(gz), r.raw_size)?;
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
