//! The CPU one rebuild of a gzip file takes, as `load --compact` makes it: identified, proven
//! once (`Rebuilder::recording`, for its restart points), then rebuilt from the points
//! (`Rebuilder::new`, in pieces on the rebuild pool) with the bytes checked. Only that last
//! rebuild is timed: the whole process's user and system CPU (every thread's, the pool's
//! idle spinning too), and the share the encoder's own work took (the calling thread's and
//! the pieces'). bench/run.py's encoder_speed runs it beside the producer, both under
//! `taskset -c 0`.
//!
//! `cargo run --release -p gzip-exact --example encode_cpu -- FILE.gz...` prints a JSON
//! object per file.

use gzip_exact::{RebuildWriter, Rebuilder};
use std::io::Write;

fn main() {
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let recipe = gzip_exact::identify(&gz, &raw).expect("a producer found");
        let recorder = Rebuilder::recording(&recipe).expect("runs");
        let restarts = rebuild(&gz, &raw, recorder, &path);
        let pieced = recipe
            .clone()
            .with_restarts(restarts, raw.len() as u64)
            .expect("the proof's points accepted");
        let encoder = || gzip_exact::cpu::thread_cpu_time() + gzip_exact::cpu::in_pieces();
        let (process0, encoder0) = (process_cpu(), encoder());
        rebuild(&gz, &raw, Rebuilder::new(&pieced).expect("runs"), &path);
        let (id, level) = recipe.producer.id();
        println!(
            "{{\"file\": {path:?}, \"producer\": {id:?}, \"level\": {level}, \"raw_bytes\": {}, \
             \"pieces\": {}, \"process_cpu_s\": {:.3}, \"encoder_cpu_s\": {:.3}}}",
            raw.len(),
            pieced.restarts.len() + 1,
            process_cpu() - process0,
            (encoder() - encoder0).as_secs_f64(),
        );
    }
}

/// `raw` rebuilt by `r` a 128 KiB read at a time, checked against `gz`: its restart points.
fn rebuild(gz: &[u8], raw: &[u8], r: Rebuilder, path: &str) -> Vec<gzip_exact::Restart> {
    let mut w = RebuildWriter::new(Vec::with_capacity(gz.len()), r);
    raw.chunks(128 * 1024)
        .for_each(|c| w.write_all(c).expect("in memory"));
    let restarts = w.restarts();
    assert!(w.finish().expect("in memory") == gz, "{path}: not rebuilt");
    restarts
}

/// This process's user and system CPU seconds so far, every thread's.
fn process_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}
