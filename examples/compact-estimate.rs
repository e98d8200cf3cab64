//! What an estimate of `--compact`'s saving would cost a plain `create`: per gzip layer, its
//! first MiB inflated, `gzip_exact::guess` on it, and that MiB compressed as `--compact` would
//! (zstd level 12, 64 MiB window) for a ratio, scaled by the size the gzip trailer gives.
//! Prints the estimate and the CPU time it took, to set against a plain create's wall time.
//!
//!     cargo run --release --example compact-estimate -- BLOB...

use std::io::Read;
use std::time::Instant;

fn main() {
    let started = Instant::now();
    let cpu = cpu_seconds();
    let (mut layers, mut gz_bytes, mut saved, mut guessed) = (0, 0u64, 0f64, 0);
    for path in std::env::args().skip(1) {
        let mut head = Vec::new();
        let mut f = std::fs::File::open(&path).expect("a readable file");
        let size = f.metadata().expect("its size").len();
        (&mut f)
            .take(gzip_exact::HEAD as u64)
            .read_to_end(&mut head)
            .expect("read");
        let Some(at) = gzip_exact::header_len(&head) else {
            continue;
        };
        layers += 1;
        gz_bytes += size;
        let gz = std::fs::read(&path).expect("a readable file");
        let mut prefix = Vec::new();
        let _ = flate2::read::DeflateDecoder::new(&gz[at..])
            .take(gzip_exact::PREFIX as u64)
            .read_to_end(&mut prefix);
        if gzip_exact::guess(&head, &prefix).is_none() {
            continue;
        }
        guessed += 1;
        let raw_size = u32::from_le_bytes(gz[gz.len() - 4..].try_into().expect("a trailer"));
        let mut z = Vec::new();
        let mut enc = zstd::stream::write::Encoder::new(&mut z, 12).expect("zstd");
        enc.long_distance_matching(true).expect("ldm");
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(26))
            .expect("window");
        std::io::Write::write_all(&mut enc, &prefix).expect("compress");
        enc.finish().expect("compress");
        let ratio = z.len() as f64 / prefix.len().max(1) as f64;
        saved += size as f64 - f64::from(raw_size) * ratio;
    }
    println!(
        "{layers} gzip layers ({gz_bytes} bytes), {guessed} guessed; --compact would save about {:.0} bytes ({:.1}%); estimate took {:.2} s wall, {:.2} s CPU",
        saved,
        100.0 * saved / gz_bytes.max(1) as f64,
        started.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
}

/// This process's user and system time so far, from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime), counted from after the command name's ')'.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}
