//! What the examples share: one rebuild checked against the file, made as `load` feeds it, and
//! the process's CPU time.

// Each example takes the part it needs.
#![allow(dead_code)]

use gzip_exact::{RebuildWriter, Rebuilder, Restart};
use std::io::Write;
use std::time::Instant;

/// `raw` rebuilt by `r` a 128 KiB write at a time (the size `load` passes on), checked against
/// `gz`: the restart points it recorded and the wall seconds it took.
pub fn rebuild(gz: &[u8], raw: &[u8], r: Rebuilder, path: &str) -> (Vec<Restart>, f64) {
    let started = Instant::now();
    let mut w = RebuildWriter::new(Vec::with_capacity(gz.len()), r);
    raw.chunks(128 * 1024)
        .for_each(|c| w.write_all(c).expect("in memory"));
    let restarts = w.restarts();
    assert!(w.finish().expect("in memory") == gz, "{path}: not rebuilt");
    (restarts, started.elapsed().as_secs_f64())
}

/// This process's user and system CPU seconds so far, every thread's (a rebuild pool's idle
/// spinning too).
pub fn process_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}
