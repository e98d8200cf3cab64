//! What a second core gives one layer's rebuild: per gzip file, the restart points its proof
//! finds (`Rebuilder::recording`, as `create --compact` proves), then the wall time of the
//! rebuild from them (`Rebuilder::new`, in pieces on every core, as `load` rebuilds) and of
//! the same stream made in one piece, and the CPU each took (the caller's thread and the
//! rebuild pool's). Run it under `taskset -c 0` and without.
//!
//! `cargo run --release -p gzip-exact --example pieces_wall -- FILE.gz...`

mod common;

use common::rebuild;
use gzip_exact::{Rebuilder, Recipe};

fn main() {
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let Some(recipe) = gzip_exact::identify(&gz, &raw) else {
            println!("{path}: no producer found");
            continue;
        };
        let recorder = Rebuilder::recording(&recipe).expect("runs");
        let (restarts, _) = rebuild(&gz, &raw, recorder, &path);
        let n = restarts.len();
        let pieced = recipe.clone().with_restarts(restarts, raw.len() as u64);
        let pieced = pieced.expect("the proof's points accepted");
        let cpu = || gzip_exact::cpu::thread_cpu_time() + gzip_exact::cpu::in_pieces();
        let (started, (_, one)) = (cpu(), rebuild(&gz, &raw, new(&recipe), &path));
        let one_cpu = (cpu() - started).as_secs_f64();
        let (started, (_, many)) = (cpu(), rebuild(&gz, &raw, new(&pieced), &path));
        let many_cpu = (cpu() - started).as_secs_f64();
        let mb = raw.len() as f64 / 1e6;
        println!(
            "{path}: {:?}, {mb:.0} MB of tar, {n} restart points: one piece {one:.2} s \
             ({:.1} MB/s, {one_cpu:.2} CPU s), in pieces {many:.2} s ({:.1} MB/s, \
             {many_cpu:.2} CPU s), {:.2}x",
            recipe.producer.id(),
            mb / one,
            mb / many,
            one / many
        );
    }
}

fn new(recipe: &Recipe) -> Rebuilder {
    Rebuilder::new(recipe).expect("runs")
}
