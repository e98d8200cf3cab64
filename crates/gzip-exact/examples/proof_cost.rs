//! What proving a layer costs `create --compact`: per gzip file, the CPU time of the one
//! recording rebuild it now takes (`Rebuilder::recording`, which makes a Go level 4–9 stream
//! piece by piece from the restart points it finds), and of the pieced rebuild from those
//! points that used to follow it as a second proof.
//!
//! `cargo run --release -p gzip-exact --example proof_cost -- FILE.gz...`

use gzip_exact::{RebuildWriter, Rebuilder};
use std::io::Write;

fn main() {
    let (mut recording, mut pieced, mut raw_bytes) = (0.0, 0.0, 0u64);
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let Some(recipe) = gzip_exact::identify(&gz, &raw) else {
            println!("{path}: no producer found");
            continue;
        };
        let started = cpu_seconds();
        let mut w = RebuildWriter::new(Vec::new(), Rebuilder::recording(&recipe).expect("runs"));
        raw.chunks(128 * 1024)
            .for_each(|c| w.write_all(c).expect("in memory"));
        let restarts = w.restarts();
        assert!(w.finish().expect("in memory") == gz, "{path}: not rebuilt");
        let one = cpu_seconds() - started;
        let (id, level) = recipe.producer.id();
        let n = restarts.len();
        let again = match recipe.with_restarts(restarts, raw.len() as u64) {
            Some(r) if !r.restarts.is_empty() => {
                let started = cpu_seconds();
                let mut w = RebuildWriter::new(Vec::new(), Rebuilder::new(&r).expect("runs"));
                raw.chunks(128 * 1024)
                    .for_each(|c| w.write_all(c).expect("in memory"));
                assert!(
                    w.finish().expect("in memory") == gz,
                    "{path}: pieces differ"
                );
                cpu_seconds() - started
            }
            _ => 0.0,
        };
        println!("{path}: {id} level {level}, {} MB of tar, {n} restart points: recording {one:.2} s CPU, pieced {again:.2} s CPU", raw.len() / 1_000_000);
        (recording, pieced, raw_bytes) = (
            recording + one,
            pieced + again,
            raw_bytes + raw.len() as u64,
        );
    }
    println!(
        "{} MB of tar: recording rebuilds {recording:.2} s CPU; the pieced second proof they no longer take {pieced:.2} s CPU",
        raw_bytes / 1_000_000
    );
}

/// This process's user and system time so far (every thread's), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime, fields 14 and 15, are the 12th and 13th after the command name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}
