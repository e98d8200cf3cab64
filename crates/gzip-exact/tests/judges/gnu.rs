//! `gnu` against its producer: Debian's GNU gzip (`gzip -n -LEVEL`, reading a file as
//! `tar czf` and hand-made tarballs are compressed) on real files from this machine and seeded
//! random inputs, every level; and a large layer rebuilt in pieces from the restart points its
//! proof found.

use crate::producers::{big_input, difference, inputs, producer_and_rebuild, random_inputs};
use std::path::Path;
use std::process::Command;

fn gnu_gzip(input: &Path, level: i32) -> Vec<u8> {
    let o = Command::new("gzip")
        .args(["-n", "-c", &format!("-{level}")])
        .stdin(std::fs::File::open(input).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::producers::text(&o));
    o.stdout
}

#[test]
fn every_level_rebuilds_gnu_gzip_byte_for_byte() {
    crate::producers::require("gzip");
    let work = tempfile::tempdir().unwrap();
    let mut cases = inputs(work.path());
    for (i, data) in random_inputs(20261204, 12).iter().enumerate() {
        let p = work.path().join(format!("random{i}"));
        std::fs::write(&p, data).unwrap();
        cases.push((format!("random{i}"), p));
    }
    let mut mismatches = Vec::new();
    for (name, path) in cases {
        let data = std::fs::read(&path).unwrap();
        for level in 1..=9 {
            let want = gnu_gzip(&path, level);
            let got = gzip_exact::gnu::gzip(&data, level).unwrap();
            if let Some(d) = difference(&got, &want) {
                mismatches.push(format!("{name} ({} bytes) level {level}: {d}", data.len()));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_large_layer_from_gnu_gzip_is_rebuilt_in_pieces_from_the_points_its_proof_found() {
    crate::producers::require("gzip");
    let work = tempfile::tempdir().unwrap();
    let tar = crate::producers::layer_tar(work.path());
    let raw = std::fs::read(&tar).unwrap();
    for level in [4, 6, 9] {
        let gz = gnu_gzip(&tar, level);
        let producer = gzip_exact::Producer::Gnu { level };
        let recipe = gzip_exact::Recipe::new(producer, gz[..10].to_vec()).unwrap();
        crate::producers::proven_then_rebuilt_in_pieces(&gz, &raw, &recipe);
    }
}

#[test]
#[ignore = "long (minutes, 4.4 GB of disk): run by hand, see README"]
fn past_4_gib_a_layer_rebuilds_as_gnu_gzip_writes_it() {
    // Past 2^32 bytes the trailer's size wraps and the window has slid 130,000 times.
    crate::producers::require("gzip");
    let work = tempfile::tempdir().unwrap();
    let path = big_input(work.path());
    let header = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let producer = gzip_exact::Producer::Gnu { level: 6 };
    let recipe = gzip_exact::Recipe::new(producer, header).unwrap();
    let mut gzip = Command::new("gzip");
    gzip.args(["-n", "-6", "-c"]);
    let (want, got, took, ours) = producer_and_rebuild(&mut gzip, &path, &recipe);
    eprintln!(
        "gzip -6: {} bytes of gzip; gzip {took:?}, ours {ours:?}",
        want.1
    );
    assert_eq!(got, want);
}
