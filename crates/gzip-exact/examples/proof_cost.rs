//! What proving a layer costs `create --compact`: per gzip file, the CPU time of the one
//! recording rebuild it now takes (`Rebuilder::recording`, which makes a Go level 4–9 stream
//! piece by piece from the restart points it finds), and of the pieced rebuild from those
//! points that used to follow it as a second proof.
//!
//! `cargo run --release -p gzip-exact --example proof_cost -- FILE.gz...`

mod common;

use common::{process_cpu, rebuild};
use gzip_exact::Rebuilder;

fn main() {
    let (mut recording, mut pieced, mut raw_bytes) = (0.0, 0.0, 0u64);
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let Some(recipe) = gzip_exact::identify(&gz, &raw) else {
            println!("{path}: no producer found");
            continue;
        };
        let started = process_cpu();
        let recorder = Rebuilder::recording(&recipe).expect("runs");
        let (restarts, _) = rebuild(&gz, &raw, recorder, &path);
        let one = process_cpu() - started;
        let (id, level) = recipe.producer.id();
        let n = restarts.len();
        let again = match recipe.with_restarts(restarts, raw.len() as u64) {
            Some(r) if !r.restarts.is_empty() => {
                let started = process_cpu();
                rebuild(&gz, &raw, Rebuilder::new(&r).expect("runs"), &path);
                process_cpu() - started
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
