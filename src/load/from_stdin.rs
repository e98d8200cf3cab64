//! Loading from stdin (`-`): one pass, each needed blob spooled to a scratch file while it is
//! verified (one blob at a time, never the whole bundle), manifests and tags only after the end
//! of the stream checked out.

use super::commit::commit;
use super::options::{LoadOptions, LoadReport};
use super::prepare::Prepared;
use super::target::BlobOutcome;
use crate::fsutil::PartialFile;
use crate::progress::{Mode, Progress};
use crate::select::PlannedImage;
use crate::verify::{self, Session};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Instant;

pub fn load(
    opts: &LoadOptions,
    keys: &[verify::TrustedKey],
    started: Instant,
) -> Result<LoadReport> {
    let stdin = std::io::stdin().lock();
    let mut session = Session::open(stdin, "stdin", keys, opts.allow_unsigned)?;
    let plan = crate::select::plan(&session.checked, &opts.images, &opts.platforms)?;
    let plan = super::prepare::what_targets_take(opts, plan)?;
    let prepared = Prepared::new(opts, keys, &plan, &session.checked.doc)?;
    if let Some(refs) = &prepared.references {
        session.set_references(refs.clone());
    }
    let needed: HashMap<&crate::digest::Digest, &Vec<&PlannedImage>> =
        prepared.users.iter().map(|(b, u)| (&b.digest, u)).collect();
    // Layers of this bundle that others are encoded against: kept as they stream past.
    // ... each with the size of tar its patches were made against: a spool stops there.
    let references: HashMap<crate::digest::Digest, u64> = prepared
        .users
        .iter()
        .filter_map(|(b, _)| b.rebuild.as_ref()?.reference.as_ref())
        .map(|r| (r.layer.clone(), r.raw_size))
        .collect();
    let mut outcomes = vec![BlobOutcome::default(); prepared.targets.len()];
    let quiet = Progress::new(Mode::Quiet, "loaded");
    // Left-out layers a target lacks come from a --base bundle, not from the stream.
    for (blob, imgs) in prepared
        .users
        .iter()
        .filter(|(b, _)| prepared.from_base.contains_key(&b.digest))
    {
        let open = || prepared.open_blob(blob, || anyhow::bail!("{} is in no --base", blob.digest));
        for (o, n) in outcomes
            .iter_mut()
            .zip(prepared.put(blob, imgs, &open, &quiet)?)
        {
            *o += n;
        }
    }
    let spool_dir = std::env::temp_dir();
    let no_one = Vec::new();
    while let Some(blob) = session.next_blob()? {
        let reference = references.contains_key(&blob.digest);
        let Some(imgs) = needed
            .get(&blob.digest)
            .copied()
            .or(reference.then_some(&no_one))
        else {
            session.read_blob(&mut std::io::sink())?;
            continue;
        };
        // One blob at a time, verified before any target sees it; removed on every exit path.
        let mut spool = PartialFile::scratch(&spool_dir, ".bundle-spool-")
            .with_context(|| format!("creating a spool file in {}", spool_dir.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut spool);
        session.read_blob(&mut w)?;
        // Flush explicitly: dropping a BufWriter ignores a write error (a full $TMPDIR).
        w.flush()
            .with_context(|| format!("writing blob {} to {}", blob.digest, spool_dir.display()))?;
        drop(w);
        let path = spool.temp_path().to_path_buf();
        if let (true, Some(refs)) = (reference, &prepared.references) {
            let gz = std::fs::File::open(&path)?;
            refs.spool(
                &blob.digest,
                crate::reference_tars::gunzip(gz),
                references[&blob.digest],
            )?;
        }
        if imgs.is_empty() {
            continue;
        }
        let open = || -> Result<Box<dyn Read + Send>> { Ok(Box::new(std::fs::File::open(&path)?)) };
        for (o, n) in outcomes
            .iter_mut()
            .zip(prepared.put(&blob, imgs, &open, &quiet)?)
        {
            *o += n;
        }
    }
    let checked = session.finish()?;
    commit(prepared, &checked, outcomes, started)
}
