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
    let mut results: Vec<_> = pool.install(|| {
        in_turn_order(&prepared.users)
            .into_iter()
            .par_bridge()
            .map(|(at, (blob, imgs))| {
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
                (at, prepared.put(blob, imgs, &open, progress))
            })
            .collect()
    });
    results.sort_by_key(|(at, _)| *at);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// The blobs with their places in the bundle, in the order their turns should come: rebuilds
/// first, the longest on one core first (a stream rebuilt on every core takes its raw size
/// over the cores), then the rest, largest first. The last to finish is then a small one,
/// not a large layer on one core while the other cores idle.
fn in_turn_order<T>(users: &[(BlobRecord, T)]) -> Vec<(usize, &(BlobRecord, T))> {
    let cores = crate::workers::cores() as u64;
    let mut order: Vec<_> = users.iter().enumerate().collect();
    order.sort_by_cached_key(|(_, (blob, _))| {
        let one_core = match &blob.rebuild {
            Some(r) if r.recipe().is_some_and(|r| r.on_every_core()) => r.raw_size / cores,
            Some(r) => r.raw_size,
            None => blob.size,
        };
        std::cmp::Reverse((blob.rebuild.is_some(), one_core))
    });
    order
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
    state: Mutex<Queue>,
    freed: Condvar,
}

/// Turns are given in the order they were asked for (a ticket each), so rebuilds start in
/// the order `in_turn_order` made, not in whichever order waiting threads wake.
struct Queue {
    free: usize,
    next_ticket: u64,
    serving: u64,
}

struct Turn<'a>(&'a Turns);

impl Turns {
    fn new(n: usize) -> Turns {
        Turns {
            state: Mutex::new(Queue {
                free: n.max(1),
                next_ticket: 0,
                serving: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Turn<'_> {
        let mut q = self.state.lock().unwrap();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        while q.free == 0 || q.serving != ticket {
            q = self.freed.wait(q).unwrap();
        }
        q.free -= 1;
        q.serving += 1;
        // The next ticket may be waiting for a turn that is free already.
        self.freed.notify_all();
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().free += 1;
        self.0.freed.notify_all();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: u8, size: u64, rebuild: Option<(&str, u64)>) -> (BlobRecord, ()) {
        let mut b = serde_json::json!({
            "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)),
            "size": size,
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "encoding": "zstd",
        });
        if let Some((encoder, raw_size)) = rebuild {
            b["encoding"] = "gzip-rebuild".into();
            b["rebuild"] = serde_json::json!({
                "encoder": encoder, "level": 1, "header": "1f8b08000000000000ff",
                "rawSize": raw_size, "rawDigest": format!("sha256:{}", "ab".repeat(32)),
            });
        }
        (serde_json::from_value(b).unwrap(), ())
    }

    #[test]
    fn rebuilds_on_one_core_come_first_then_the_others_largest_first() {
        let cores = crate::workers::cores() as u64;
        let users = [
            blob(0, 900, None),
            blob(1, 10, Some(("pgzip", 100 * cores))),
            blob(2, 10, Some(("go1.8", 50))),
            blob(3, 10, Some(("go1.8", 200))),
            blob(4, 5000, None),
            blob(5, 10, Some(("pgzip", 40 * cores))),
        ];
        let order: Vec<usize> = in_turn_order(&users).iter().map(|(i, _)| *i).collect();
        // Serial seconds: 3 → 200, 1 → 100, 2 → 50, 5 → 40; then the plain blobs by size.
        assert_eq!(order, [3, 1, 2, 5, 4, 0]);
    }

    #[test]
    fn turns_are_given_in_the_order_they_were_asked_for() {
        let turns = Turns::new(1);
        let got = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let first = turns.take();
            for n in 0..4 {
                let (turns, got) = (&turns, &got);
                s.spawn(move || {
                    let _t = turns.take();
                    got.lock().unwrap().push(n);
                });
                // The next thread asks only once this one holds its ticket.
                while turns.state.lock().unwrap().next_ticket < n + 2 {
                    std::thread::yield_now();
                }
            }
            drop(first);
        });
        assert_eq!(*got.lock().unwrap(), [0, 1, 2, 3]);
    }
}
