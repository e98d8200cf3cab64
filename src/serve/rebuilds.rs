//! serve's shared rebuilds of layers carried as tars (`gzip-rebuild`, `create --compact`): one
//! rebuild per layer however many clients ask, its output spooled to a scratch file that every
//! client (whole or `Range`) reads from, and kept for later requests within a disk budget.
//!
//! A rebuild holds a zstd window and an encoder (tens of MB), so serve runs at most one per core
//! and queues the rest; what clients hold is a read position in a file. A rebuild nobody waits
//! for any more stops between steps. The spool only counts as good once all of it hashes to the
//! layer's digest: until then readers are held back from its last byte, and a rebuild that fails
//! fails every reader (an error, never a clean end).

use crate::digest::{Digest, HashingWriter};
use crate::fsutil::PartialFile;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Semaphore};

/// Bytes a rebuild writes between telling readers and checking that someone still waits.
const STEP: usize = 256 * 1024;

/// What produces a layer's bytes; called on the blocking pool once the rebuild's turn comes.
pub type Source = Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>;

/// How far a spool is.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// This many bytes are in the file, not yet checked.
    Writing(u64),
    /// All of them, and they hash to the digest.
    Done,
    /// It never will be, and why.
    Failed(Arc<str>),
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("blob {digest} could not be rebuilt: {why}")]
    Failed { digest: Digest, why: Arc<str> },
    #[error("blob {digest}: no scratch file for its rebuild: {source}")]
    Scratch { digest: Digest, source: io::Error },
}

/// The rebuilds under way and the spools kept.
pub struct Rebuilds {
    spools: Mutex<HashMap<Digest, Arc<Spool>>>,
    producers: Arc<Semaphore>,
    /// Bytes of finished spools kept once no client reads them.
    budget: u64,
    clock: AtomicU64,
    started: AtomicU64,
    verbose: bool,
}

/// One layer's rebuilt bytes in a scratch file whose name is already gone: the open file is all
/// its writer and readers use, so the disk is freed when the spool goes, even on SIGKILL.
pub struct Spool {
    digest: Digest,
    size: u64,
    file: File,
    progress: watch::Sender<Progress>,
    leases: AtomicUsize,
    used: AtomicU64,
}

/// A client's claim on a spool: while any is held, the rebuild goes on and the spool is kept.
pub struct Lease {
    spool: Arc<Spool>,
    rebuilds: Arc<Rebuilds>,
}

/// Why a rebuild ended early.
enum Stop {
    Abandoned,
    Failed(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Rebuilds {
    /// At most `producers` rebuilds at once; `budget` bytes of finished spools kept.
    pub fn new(producers: usize, budget: u64, verbose: bool) -> Arc<Rebuilds> {
        Arc::new(Rebuilds {
            spools: Mutex::new(HashMap::new()),
            producers: Arc::new(Semaphore::new(producers.max(1))),
            budget,
            clock: AtomicU64::new(0),
            started: AtomicU64::new(0),
            verbose,
        })
    }

    /// Rebuilds started so far (a cancelled one too).
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// A claim on the spool of `digest` (`size` bytes), starting its rebuild from `source` if
    /// none is under way or kept. Must be called within the tokio runtime.
    pub fn lease(
        self: &Arc<Self>,
        digest: &Digest,
        size: u64,
        source: Source,
    ) -> Result<Lease, RebuildError> {
        let mut spools = lock(&self.spools);
        if let Some(s) = spools.get(digest) {
            // Taken under the lock, so a rebuild deciding it was abandoned sees it.
            s.leases.fetch_add(1, Ordering::SeqCst);
            s.used.store(self.tick(), Ordering::Relaxed);
            return Ok(self.claim(s.clone()));
        }
        let file = self
            .scratch_file(digest)
            .map_err(|source| RebuildError::Scratch {
                digest: digest.clone(),
                source,
            })?;
        let spool = Arc::new(Spool {
            digest: digest.clone(),
            size,
            file,
            progress: watch::Sender::new(Progress::Writing(0)),
            leases: AtomicUsize::new(1),
            used: AtomicU64::new(self.tick()),
        });
        spools.insert(digest.clone(), spool.clone());
        drop(spools);
        self.start(spool.clone(), source);
        Ok(self.claim(spool))
    }

    fn claim(self: &Arc<Self>, spool: Arc<Spool>) -> Lease {
        Lease {
            spool,
            rebuilds: self.clone(),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// A file in TMPDIR with no name: no directory of its own, as nothing is ever looked up.
    fn scratch_file(&self, digest: &Digest) -> io::Result<File> {
        let dir = std::env::temp_dir();
        let named = PartialFile::scratch(&dir, &format!(".bundle-serve-{}-", digest.hex()))?;
        // Dropping the PartialFile removes the name; the clone keeps the file.
        named.file().try_clone()
    }

    /// Queue the rebuild for a producer's turn, then run it on the blocking pool.
    fn start(self: &Arc<Self>, spool: Arc<Spool>, source: Source) {
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(turn) = me.producers.clone().acquire_owned().await else {
                return;
            };
            let (me2, spool2) = (me.clone(), spool.clone());
            let run = move || {
                let _turn = turn;
                me.produce(&spool, source)
            };
            // A panic must not leave clients waiting for bytes that will never come.
            if tokio::task::spawn_blocking(run).await.is_err() {
                me2.fail(&spool2, "its rebuild panicked".into());
            }
        });
    }

    fn produce(&self, spool: &Arc<Spool>, source: Source) {
        if self.abandoned(spool) {
            return;
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        if self.verbose {
            crate::console::line(format!("serve: rebuilding {}", spool.digest));
        }
        match self.fill(spool, source) {
            Ok(()) => {
                spool.progress.send_replace(Progress::Done);
                self.trim();
            }
            Err(Stop::Abandoned) => {}
            Err(Stop::Failed(why)) => self.fail(spool, why),
        }
    }

    /// Said once for all its clients, who get a 500 or a cut-off response.
    fn fail(&self, spool: &Arc<Spool>, why: String) {
        crate::console::line(format!(
            "serve: blob {} could not be rebuilt ({why}); every response waiting for it was cut off or answered 500",
            spool.digest
        ));
        self.forget(spool);
        spool.progress.send_replace(Progress::Failed(why.into()));
    }

    /// Write the layer into the spool a step at a time, then check all of it.
    fn fill(&self, spool: &Arc<Spool>, source: Source) -> Result<(), Stop> {
        let failed = |what: &str, e: io::Error| Stop::Failed(format!("{what}: {e}"));
        let mut reader = source().map_err(|e| failed("cannot be read", e))?;
        let mut out = HashingWriter::new(&spool.file);
        let mut buf = vec![0u8; STEP];
        loop {
            let n = read_step(&mut reader, &mut buf).map_err(|e| failed("cannot be read", e))?;
            if n == 0 {
                break;
            }
            if out.count() + n as u64 > spool.size {
                return Err(Stop::Failed("is longer than recorded".into()));
            }
            out.write_all(&buf[..n])
                .map_err(|e| failed("cannot be spooled", e))?;
            spool.progress.send_replace(Progress::Writing(out.count()));
            if self.abandoned(spool) {
                return Err(Stop::Abandoned);
            }
        }
        let (_, digest, size) = out.finish();
        if size != spool.size {
            return Err(Stop::Failed(format!(
                "is {size} bytes, not {} as recorded",
                spool.size
            )));
        }
        if digest != spool.digest {
            return Err(Stop::Failed(format!("rebuilds as {digest}")));
        }
        Ok(())
    }

    /// Nobody waits for `spool` any more: it is dropped and its rebuild stops. Decided under
    /// the lock new leases are taken under, so no client can join a rebuild that is stopping.
    fn abandoned(&self, spool: &Arc<Spool>) -> bool {
        {
            let mut spools = lock(&self.spools);
            if spool.leases.load(Ordering::SeqCst) > 0 {
                return false;
            }
            remove_if_same(&mut spools, spool);
        }
        if self.verbose {
            crate::console::line(format!(
                "serve: stopped rebuilding {}: every client that asked for it has gone",
                spool.digest
            ));
        }
        spool.progress.send_replace(Progress::Failed(
            "every client that asked for it has gone".into(),
        ));
        true
    }

    fn forget(&self, spool: &Arc<Spool>) {
        remove_if_same(&mut lock(&self.spools), spool);
    }

    /// Drop finished spools nobody reads, least recently asked for first, until the spools
    /// fit the budget. Those being rebuilt or read stay whatever their size.
    fn trim(&self) {
        let mut spools = lock(&self.spools);
        let mut total: u64 = spools.values().map(|s| s.size).sum();
        if total <= self.budget {
            return;
        }
        let mut idle: Vec<Arc<Spool>> = spools
            .values()
            .filter(|s| s.leases.load(Ordering::SeqCst) == 0)
            .filter(|s| *s.progress.borrow() == Progress::Done)
            .cloned()
            .collect();
        idle.sort_by_key(|s| s.used.load(Ordering::Relaxed));
        for s in idle {
            if total <= self.budget {
                break;
            }
            spools.remove(&s.digest);
            total -= s.size;
        }
    }
}

fn remove_if_same(spools: &mut HashMap<Digest, Arc<Spool>>, spool: &Arc<Spool>) {
    if spools
        .get(&spool.digest)
        .is_some_and(|s| Arc::ptr_eq(s, spool))
    {
        spools.remove(&spool.digest);
    }
}

/// Up to `buf.len()` bytes, fewer only at the end: a rebuild gives tens of KiB a read, and each
/// step wakes every reader.
fn read_step(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Lease {
    pub fn size(&self) -> u64 {
        self.spool.size
    }

    /// Until the spool has begun (a whole blob's headers can go out) or failed.
    pub async fn begun(&self) -> Result<(), RebuildError> {
        self.until(|p| match p {
            Progress::Writing(n) => *n > 0,
            _ => true,
        })
        .await
        .map(|_| ())
    }

    /// Until all of it is there and checked (a range is only ever answered from good bytes).
    pub async fn done(&self) -> Result<(), RebuildError> {
        self.until(|p| *p == Progress::Done).await.map(|_| ())
    }

    /// Until bytes past `pos` may be read: where they end. The last byte waits for the check.
    pub async fn readable_past(&self, pos: u64) -> Result<u64, RebuildError> {
        let size = self.spool.size;
        let ready = |p: &Progress| match p {
            Progress::Writing(n) => (*n).min(size.saturating_sub(1)) > pos,
            _ => true,
        };
        match self.until(ready).await? {
            Progress::Done => Ok(size),
            Progress::Writing(n) => Ok(n.min(size.saturating_sub(1))),
            Progress::Failed(_) => unreachable!("until answers Err for a failed spool"),
        }
    }

    async fn until(&self, ready: impl Fn(&Progress) -> bool) -> Result<Progress, RebuildError> {
        let mut rx = self.spool.progress.subscribe();
        loop {
            let now = rx.borrow_and_update().clone();
            if let Progress::Failed(why) = now {
                return Err(RebuildError::Failed {
                    digest: self.spool.digest.clone(),
                    why,
                });
            }
            if ready(&now) {
                return Ok(now);
            }
            // The sender lives in the spool this lease holds: it cannot go away.
            let _ = rx.changed().await;
        }
    }

    /// The spool, to read on another thread.
    pub fn spool(&self) -> Arc<Spool> {
        self.spool.clone()
    }

    /// `n` bytes at `pos`, which `readable_past` said are there (blocking: a file read).
    pub fn read_at(&self, pos: u64, n: usize) -> io::Result<Vec<u8>> {
        self.spool.read_at(pos, n)
    }
}

impl Spool {
    /// `n` bytes at `pos`, which a lease's `readable_past` said are there (blocking).
    pub fn read_at(&self, pos: u64, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, pos)?;
        Ok(buf)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.spool.leases.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.rebuilds.trim();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `data` a few KiB at a time, counting opens and reads, each read after `pause`.
    fn source(
        data: Arc<Vec<u8>>,
        opens: Arc<AtomicUsize>,
        reads: Arc<AtomicUsize>,
        pause: Duration,
    ) -> Source {
        Box::new(move || {
            opens.fetch_add(1, Ordering::SeqCst);
            struct Slow(io::Cursor<Vec<u8>>, Arc<AtomicUsize>, Duration);
            impl Read for Slow {
                fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                    std::thread::sleep(self.2);
                    self.1.fetch_add(1, Ordering::SeqCst);
                    let n = b.len().min(STEP);
                    self.0.read(&mut b[..n])
                }
            }
            let r: Box<dyn Read + Send> =
                Box::new(Slow(io::Cursor::new(data.to_vec()), reads, pause));
            Ok(r)
        })
    }

    fn counters() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
        (Arc::default(), Arc::default())
    }

    async fn read_all(lease: &Lease) -> Result<Vec<u8>, RebuildError> {
        let mut out = Vec::new();
        while (out.len() as u64) < lease.size() {
            let end = lease.readable_past(out.len() as u64).await?;
            out.extend(
                lease
                    .read_at(out.len() as u64, (end - out.len() as u64) as usize)
                    .unwrap(),
            );
        }
        Ok(out)
    }

    fn layer(len: usize) -> (Arc<Vec<u8>>, Digest) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let d = Digest::of(&data);
        (Arc::new(data), d)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_readers_share_one_rebuild_and_later_ones_the_kept_spool() {
        let (data, digest) = layer(5 * STEP + 17);
        let rebuilds = Rebuilds::new(2, 1 << 30, false);
        let (opens, reads) = counters();
        let readers: Vec<_> = (0..20)
            .map(|_| {
                let s = source(
                    data.clone(),
                    opens.clone(),
                    reads.clone(),
                    Duration::from_millis(5),
                );
                let lease = rebuilds.lease(&digest, data.len() as u64, s).unwrap();
                tokio::spawn(async move { read_all(&lease).await.unwrap() })
            })
            .collect();
        for r in readers {
            assert_eq!(r.await.unwrap(), *data);
        }
        let s = source(data.clone(), opens.clone(), reads.clone(), Duration::ZERO);
        let late = rebuilds.lease(&digest, data.len() as u64, s).unwrap();
        late.done().await.unwrap();
        assert_eq!(read_all(&late).await.unwrap(), *data);
        assert_eq!(opens.load(Ordering::SeqCst), 1, "one rebuild for all");
        assert_eq!(rebuilds.started(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_nobody_waits_for_stops_and_the_next_ask_starts_afresh() {
        let (data, digest) = layer(200 * STEP);
        let rebuilds = Rebuilds::new(1, 1 << 30, false);
        let (opens, reads) = counters();
        let s = source(
            data.clone(),
            opens.clone(),
            reads.clone(),
            Duration::from_millis(5),
        );
        let lease = rebuilds.lease(&digest, data.len() as u64, s).unwrap();
        lease.begun().await.unwrap();
        drop(lease);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stopped_at = reads.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            stopped_at,
            "no read after it stopped"
        );
        assert!(stopped_at < 100, "stopped early: {stopped_at} reads");
        assert!(lock(&rebuilds.spools).is_empty());
        let s = source(data.clone(), opens.clone(), reads.clone(), Duration::ZERO);
        let again = rebuilds.lease(&digest, data.len() as u64, s).unwrap();
        assert_eq!(read_all(&again).await.unwrap(), *data);
        assert_eq!(opens.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_rebuild_fails_its_readers_and_is_not_kept() {
        let (data, _) = layer(3 * STEP);
        let wrong = Digest::of(b"something else");
        let rebuilds = Rebuilds::new(1, 1 << 30, false);
        let (opens, reads) = counters();
        let s = source(
            data.clone(),
            opens.clone(),
            reads.clone(),
            Duration::from_millis(2),
        );
        let lease = rebuilds.lease(&wrong, data.len() as u64, s).unwrap();
        let mut got = 0u64;
        let err = loop {
            match lease.readable_past(got).await {
                Ok(end) => got = end,
                Err(e) => break e,
            }
        };
        assert!(got < data.len() as u64, "the last byte was held back");
        assert!(err.to_string().contains("rebuilds as"), "{err}");
        assert!(lease.done().await.is_err());
        assert!(lock(&rebuilds.spools).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_that_panics_fails_its_readers_instead_of_leaving_them_waiting() {
        let rebuilds = Rebuilds::new(1, 1 << 30, false);
        let boom: Source = Box::new(|| panic!("a decoder bug"));
        let lease = rebuilds.lease(&Digest::of(b"x"), 10, boom).unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(5), lease.begun()).await;
        assert!(waited.expect("not left waiting").is_err());
        assert!(lock(&rebuilds.spools).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finished_spools_nobody_reads_are_dropped_oldest_first_past_the_budget() {
        let rebuilds = Rebuilds::new(1, (5 * STEP) as u64, false);
        let (opens, reads) = counters();
        let mut digests = Vec::new();
        for len in [2 * STEP, 2 * STEP, 2 * STEP] {
            let (data, digest) = layer(len + digests.len());
            let s = source(data.clone(), opens.clone(), reads.clone(), Duration::ZERO);
            let lease = rebuilds.lease(&digest, data.len() as u64, s).unwrap();
            lease.done().await.unwrap();
            digests.push(digest);
        }
        let kept: Vec<bool> = digests
            .iter()
            .map(|d| lock(&rebuilds.spools).contains_key(d))
            .collect();
        assert_eq!(kept, [false, true, true]);
    }
}
