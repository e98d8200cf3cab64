//! Downloading the plan's blobs into the cache, each distinct blob once, by a pool of workers;
//! the writer follows them through `Arrivals`.

use super::plan::{Need, Plan};
use crate::create::cache::BlobCache;
use crate::digest::Digest;
use crate::progress::Progress;
use crate::registry::Registries;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Tells the writer a blob is in the cache (waiting for it if need be) and whether this run
/// verified it already (true) or it must be hashed as it is bundled (false).
pub type Ready<'a> = &'a (dyn Fn(&Digest) -> Result<bool> + Sync);

/// The writer met a blob whose download failed: this bundle is given up.
#[derive(Debug, thiserror::Error)]
#[error("a download failed; the bundle was not written")]
pub struct Abandoned;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Downloaded and verified by this run.
    Fresh,
    /// In the cache from an earlier run (hashed again as it is bundled).
    Cached,
    Failed,
}

/// What the downloads have delivered, for the writer that follows them.
#[derive(Default)]
pub struct Arrivals {
    done: Mutex<HashMap<Digest, Arrival>>,
    changed: Condvar,
}

impl Arrivals {
    fn set(&self, d: &Digest, a: Arrival) {
        self.done.lock().unwrap().insert(d.clone(), a);
        self.changed.notify_all();
    }

    /// Block until the download of `d` has ended, one way or the other.
    pub fn wait(&self, d: &Digest) -> Arrival {
        let mut done = self.done.lock().unwrap();
        loop {
            if let Some(a) = done.get(d) {
                return *a;
            }
            done = self.changed.wait(done).unwrap();
        }
    }

    fn fresh(&self) -> HashSet<Digest> {
        let done = self.done.lock().unwrap();
        done.iter()
            .filter(|(_, a)| **a == Arrival::Fresh)
            .map(|(d, _)| d.clone())
            .collect()
    }
}

/// The shared state of the download workers.
pub struct Downloads<'a> {
    /// Blobs not in the cache yet, configs first.
    queue: Vec<&'a Need>,
    next: AtomicUsize,
    stop: AtomicBool,
    pub arrivals: Arrivals,
    errors: Mutex<Vec<(usize, String)>>,
    pulled: AtomicU64,
    /// Bytes of the plan that were already in the cache.
    pub cached: u64,
    /// Bytes of partial downloads in the cache that this run resumed after.
    resumed: AtomicU64,
    cache: &'a BlobCache,
    registries: &'a Registries,
    progress: &'a Progress,
}

/// What the downloads came to.
pub struct Fetched {
    /// The first error of each image (by index) that lost a blob.
    pub failed: BTreeMap<usize, String>,
    /// Bytes received from registries: what crossed the link in this run.
    pub pulled: u64,
    /// Bytes of the plan that were already in the cache, whole blobs or the part of a blob an
    /// interrupted run had downloaded (this run resumed after it).
    pub cached: u64,
    /// Blobs this run downloaded and verified (not hashed again when bundled).
    pub fresh: HashSet<Digest>,
}

impl<'a> Downloads<'a> {
    pub fn new(
        plan: &'a Plan,
        cache: &'a BlobCache,
        registries: &'a Registries,
        progress: &'a Progress,
    ) -> Downloads<'a> {
        let arrivals = Arrivals::default();
        let mut queue = Vec::new();
        let mut cached = 0;
        for n in plan.download_order() {
            if cache.has(&n.digest, n.size) {
                BlobCache::touch(&cache.path(&n.digest));
                arrivals.set(&n.digest, Arrival::Cached);
                cached += n.size;
            } else {
                queue.push(n);
            }
        }
        Downloads {
            queue,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            arrivals,
            errors: Mutex::new(Vec::new()),
            pulled: AtomicU64::new(0),
            cached,
            resumed: AtomicU64::new(0),
            cache,
            registries,
            progress,
        }
    }

    /// One worker: take the next blob from the queue until it is empty or `stop` was called.
    pub fn work(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            let Some(n) = self.queue.get(self.next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let arrival = match self.download(n) {
                Ok(true) => Arrival::Fresh,
                Ok(false) => Arrival::Cached,
                Err(e) => {
                    let mut errs = self.errors.lock().unwrap();
                    errs.extend(n.images.iter().map(|&i| (i, format!("{e:#}"))));
                    Arrival::Failed
                }
            };
            self.arrivals.set(&n.digest, arrival);
        }
    }

    /// The writer gave up: workers finish the blob in hand and take no more.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn finish(self) -> Fetched {
        let mut failed = BTreeMap::new();
        for (i, e) in self.errors.into_inner().unwrap() {
            failed.entry(i).or_insert(e);
        }
        Fetched {
            failed,
            fresh: self.arrivals.fresh(),
            pulled: self.pulled.into_inner(),
            cached: self.cached + self.resumed.into_inner(),
        }
    }

    /// Into the cache; true when this run downloaded (and so verified) it.
    fn download(&self, n: &Need) -> Result<bool> {
        let Some(mut partial) = self.cache.begin(&n.digest, n.size)? else {
            // Another process finished it meanwhile: it will be verified when bundled.
            self.progress.add(n.size);
            return Ok(false);
        };
        let bar = self.progress.blob(&n.label, n.size);
        let client = self.registries.client(&n.registry)?;
        let resumed = client.fetch_blob(
            &n.repository,
            &n.digest,
            n.size,
            &mut partial.file,
            &partial.path.clone(),
            &|k| {
                self.progress.add(k);
                bar.inc(k);
                self.pulled.fetch_add(k, Ordering::Relaxed);
            },
        )?;
        self.resumed.fetch_add(resumed, Ordering::Relaxed);
        self.progress.add(resumed);
        bar.inc(resumed);
        self.cache.commit(partial)?;
        Ok(true)
    }
}

/// `ready` for a writer that follows the downloads.
pub fn abandon_on_failure(a: Arrival) -> Result<bool> {
    match a {
        Arrival::Fresh => Ok(true),
        Arrival::Cached => Ok(false),
        Arrival::Failed => Err(anyhow::anyhow!(Abandoned)),
    }
}
