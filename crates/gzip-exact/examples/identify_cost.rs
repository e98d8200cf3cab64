//! What `identify` rebuilds of some gzip files, and what a wrong guess costs.
//!
//! `cargo run --release -p gzip-exact --example identify_cost -- FILE.gz...` prints, per file,
//! the producer found (or none), its size and the time taken; then the bytes rebuilt of all;
//! then the time `guess` takes to refuse a stream under pgzip's header that no pgzip candidate
//! made (Go's level 6 deflate): every candidate tried and wrong.

use std::time::Instant;

fn main() {
    let (mut all, mut rebuilt) = (0u64, 0u64);
    let mut raw_for_wrong = Vec::new();
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let started = Instant::now();
        let found = gzip_exact::identify(&gz, &raw);
        let took = started.elapsed();
        all += gz.len() as u64;
        if found.is_some() {
            rebuilt += gz.len() as u64;
        }
        let name = found.map_or("none".to_string(), |r| format!("{:?}", r.producer.id()));
        println!("{path}: {} bytes, {name}, {took:.2?}", gz.len());
        if raw.len() > raw_for_wrong.len() {
            raw_for_wrong = raw;
        }
    }
    println!(
        "rebuilt {rebuilt} of {all} bytes ({:.1}%)",
        100.0 * rebuilt as f64 / all.max(1) as f64
    );
    let raw = &raw_for_wrong[..raw_for_wrong.len().min(gzip_exact::PREFIX)];
    let mut gz = gzip_exact::go::gzip(raw, 6).expect("level 6");
    gz[4..8].copy_from_slice(&gzip_exact::klauspost::PGZIP_MTIME);
    let tried = gzip_exact::candidates(&gz).len();
    let started = Instant::now();
    let guessed = gzip_exact::guess(&gz[..gz.len().min(gzip_exact::HEAD)], raw);
    let took = started.elapsed();
    assert!(guessed.is_none(), "Go's deflate taken for pgzip's");
    println!(
        "a stream no pgzip candidate made: {tried} candidates refused in {took:.2?} ({:.2?} each)",
        took / tried.max(1) as u32
    );
}
