//! Loading from a file: the signature, bundle.json and every manifest are checked first; then
//! blobs are sent in parallel, each read from its own frame, while a second thread verifies the
//! whole file (every blob, every byte); manifests and tags follow only once that passed.

use super::commit::commit;
use super::options::{LoadOptions, LoadReport};
use super::prepare::Prepared;
use super::target::BlobOutcome;
use crate::digest::{Digest, HashingReader};
use crate::format::reader::BundleReader;
use crate::format::BlobRecord;
use crate::progress::Progress;
use crate::verify::{self, Opened, Session};
use crate::verify::{Checked, VerifyError};
use anyhow::{bail, Result};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

pub fn load(
    opts: &LoadOptions,
    keys: &[verify::TrustedKey],
    started: Instant,
) -> Result<LoadReport> {
    // A damaged seek index is a verification failure (exit 3), as it is for `verify`; a split
    // bundle's parts are found and checked here.
    let Opened {
        name,
        mut reader,
        stream,
        parts,
    } = Opened::open(&opts.file, keys, opts.allow_unsigned)?;
    // Sending need not wait for the verification pass (on a CPU-bound machine it was half of
    // the load): a blob becomes visible only with its digest checked (the registry checks every
    // upload, local targets hash what they write), and manifests and tags are written only once
    // the whole file checked out.
    let mut session =
        Session::open(stream, &name, keys, opts.allow_unsigned).map_err(|e| parts.explain(e))?;
    // A layer carried as a tar is rebuilt by the sender, and its target checks the digest:
    // the verifier reads its frame but does not rebuild it a second time (`prove_rest` does,
    // for those no sender read to the end).
    session.defer_rebuilds();
    let proofs = Arc::new(Proofs::default());
    let progress = Progress::new(opts.progress, "loaded");
    let plan = crate::select::plan(&session.checked, &opts.images, &opts.platforms)?;
    let plan = super::prepare::what_targets_take(opts, plan)?;
    if let Some(path) = &opts.verify_images {
        let key = crate::cosign::CosignKey::load(path)?;
        super::signatures::check_images(&plan, &session.checked, &reader, &key, &name)?;
    }
    let prepared = Prepared::new(opts, keys, &plan, &session.checked.doc)?;
    if let Some(refs) = &prepared.references {
        reader.set_references(refs.clone());
    }
    let bytes = prepared.users.iter().map(|(b, _)| b.size).sum::<u64>();
    // The same count as the summary's: configs and layers of the chosen images, once each.
    progress.line(&format!(
        "{name}: {}; {} images, {} blobs ({}) to load; checking every byte while loading",
        session
            .checked
            .signer
            .as_deref()
            .map_or("unsigned (allowed)".into(), |s| format!("signature by {s}")),
        plan.len(),
        prepared.users.len(),
        indicatif::HumanBytes(bytes)
    ));
    progress.start_bytes(bytes * prepared.targets.len() as u64, 0);
    let (verified, results) = std::thread::scope(|s| {
        let verifier = s.spawn(|| {
            let _in = crate::cpu::enter(crate::cpu::Stage::Hash);
            session.finish()
        });
        let results = send_all(&prepared, &reader, opts.jobs, &progress, &proofs);
        let verified = verifier
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (verified, results)
    });
    progress.finish();
    // A verification failure outranks upload errors: it is the cause, and its exit code (3)
    // tells the operator the file, not the target, is at fault.
    let checked = verified
        .and_then(|c| prove_rest(&c, &proofs, &reader, &prepared).map(|()| c))
        .map_err(|e| {
            anyhow::Error::new(parts.explain(e))
                .context("the bundle failed verification; no manifest or tag was written")
        })?;
    progress.line(&format!("verified: every byte of {name} is as written"));
    let outcomes = sum(results?, prepared.targets.len())?;
    commit(prepared, &checked, outcomes, started)
}

/// Every blob into every target, `jobs` at a time, each read from its own frame.
fn send_all(
    prepared: &Prepared,
    reader: &BundleReader,
    jobs: usize,
    progress: &Progress,
    proofs: &Arc<Proofs>,
) -> Result<Vec<Result<Vec<BlobOutcome>>>> {
    let pool = crate::workers::pool(jobs, "load")?;
    // Rebuilding a layer is CPU work with a zstd window of 64 MiB (128 at most): no more of them at a
    // time than there are cores, however many uploads run.
    let rebuilds = Turns::new(crate::workers::cores());
    Ok(pool.install(|| {
        prepared
            .users
            .par_iter()
            .map(|(blob, imgs)| {
                let _turn = blob.rebuild.is_some().then(|| rebuilds.take());
                let open = || -> Result<Box<dyn Read + Send>> {
                    prepared.open_blob(blob, || {
                        let r = reader.open_blob(blob)?;
                        Ok(match blob.rebuild {
                            Some(_) => Box::new(Proving::new(r, blob, proofs.clone())),
                            None => r,
                        })
                    })
                };
                let _in = crate::cpu::enter(crate::cpu::Stage::Write);
                prepared.put(blob, imgs, &open, progress)
            })
            .collect()
    }))
}

/// Layers carried as tars that a sender rebuilt, read to the end, and found to hash to their
/// digest.
#[derive(Default)]
struct Proofs(Mutex<HashSet<Digest>>);

/// A rebuilt layer as a target reads it, recording the proof when the whole of it hashed right.
struct Proving {
    inner: HashingReader<Box<dyn Read + Send>>,
    digest: Digest,
    size: u64,
    proofs: Arc<Proofs>,
}

impl Proving {
    fn new(inner: Box<dyn Read + Send>, blob: &BlobRecord, proofs: Arc<Proofs>) -> Proving {
        Proving {
            inner: HashingReader::new(inner),
            digest: blob.digest.clone(),
            size: blob.size,
            proofs,
        }
    }
}

impl Read for Proving {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let _in = crate::cpu::enter(crate::cpu::Stage::Hash);
            self.inner.read(buf)?
        };
        // Targets read exactly the blob's size, and may not ask once more for the end.
        if n > 0 && self.inner.count() == self.size && self.inner.digest() == self.digest {
            self.proofs.0.lock().unwrap().insert(self.digest.clone());
        }
        Ok(n)
    }
}

/// The layers carried as tars that no sender proved (already at every target, or a target that
/// stopped early): rebuilt and checked against their digests, a core each.
/// A delta of an image not loaded is not rebuilt (its reference need not be at hand): the
/// session checked its bytes against the digest bundle.json gives them.
fn prove_rest(
    checked: &Checked,
    proofs: &Proofs,
    reader: &BundleReader,
    prepared: &Prepared,
) -> Result<(), VerifyError> {
    let mut proven = proofs.0.lock().unwrap().clone();
    let sent: HashSet<&Digest> = prepared.users.iter().map(|(b, _)| &b.digest).collect();
    let unsent_deltas = checked.unproven.iter().filter(|b| {
        let delta = b.rebuild.as_ref().is_some_and(|r| r.reference.is_some());
        delta && !sent.contains(&b.digest)
    });
    proven.extend(unsent_deltas.map(|b| b.digest.clone()));
    verify::prove_rebuilt(checked, &proven, reader)
}

/// A counting semaphore: at most `n` holders at once.
struct Turns {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Turn<'a>(&'a Turns);

impl Turns {
    fn new(n: usize) -> Turns {
        Turns {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Turn<'_> {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.freed.wait(free).unwrap();
        }
        *free -= 1;
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap() += 1;
        self.0.freed.notify_one();
    }
}

/// What each target got, or every blob that failed.
fn sum(results: Vec<Result<Vec<BlobOutcome>>>, targets: usize) -> Result<Vec<BlobOutcome>> {
    let mut outcomes = vec![BlobOutcome::default(); targets];
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
            "{} blob(s) could not be loaded; no manifest or tag was written (blobs already loaded stay, complete and verified, and the next run reuses them):\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(outcomes)
}
