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

mod common;

use common::{process_cpu, rebuild};
use gzip_exact::Rebuilder;

fn main() {
    for path in std::env::args().skip(1) {
        let gz = std::fs::read(&path).expect("a readable file");
        let raw = gzip_exact::inflate(&gz, 1 << 34).expect("one gzip member");
        let recipe = gzip_exact::identify(&gz, &raw).expect("a producer found");
        let recorder = Rebuilder::recording(&recipe).expect("runs");
        let (restarts, _) = rebuild(&gz, &raw, recorder, &path);
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
