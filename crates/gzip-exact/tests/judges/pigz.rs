//! `pigz` against its producer: Debian's pigz (`pigz -n -LEVEL -c`, with its default
//! threads, `-p 1` and `-p 2`) on real files from this machine and seeded random inputs,
//! every level. Each output must be identified from its bytes alone and rebuilt byte for
//! byte, streamed through `Rebuilder` as load does.

use crate::producers::{difference, inputs, random_inputs};
use gzip_exact::{Producer, Rebuilder};
use std::io::Read;
use std::path::Path;
use std::process::Command;

fn pigz(input: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("pigz")
        .args(["-n", "-c"])
        .args(args)
        .stdin(std::fs::File::open(input).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::producers::text(&o));
    o.stdout
}

/// `want` identified (its first MiB tried, then all of it) and rebuilt through
/// `RebuildReader` from `raw`; what went wrong, if anything.
fn identified_and_rebuilt(raw: &[u8], want: &[u8]) -> Option<String> {
    let Some(recipe) = gzip_exact::identify(want, raw) else {
        return Some("not identified".into());
    };
    // A stream of one block is zlib's deflate as well, and an empty one GNU gzip's: another
    // producer that makes the same bytes may be named first.
    // Levels may agree on an input; the first that rebuilds it is named.
    let one_block = raw.len() <= gzip_exact::pigz::PIGZ_BLOCK;
    let pigz = matches!(
        recipe.producer,
        Producer::Pigz { .. } | Producer::PigzSerial { .. }
    );
    if !one_block && !pigz {
        return Some(format!("identified as {:?}", recipe.producer));
    }
    let mut got = Vec::new();
    gzip_exact::RebuildReader::new(raw, Rebuilder::new(&recipe).unwrap())
        .read_to_end(&mut got)
        .unwrap();
    difference(&got, want).map(|d| format!("rebuilt as {:?}: {d}", recipe.producer))
}

#[test]
fn every_level_rebuilds_pigz_byte_for_byte() {
    crate::producers::require("pigz");
    let work = tempfile::tempdir().unwrap();
    let mut cases = inputs(work.path());
    for (i, data) in random_inputs(20260733, 12).iter().enumerate() {
        let p = work.path().join(format!("random{i}"));
        std::fs::write(&p, data).unwrap();
        cases.push((format!("random{i}"), p));
    }
    // Incompressible blocks after compressible ones, and blocks of exactly 128 KiB.
    let mut mixed = std::fs::read(&cases.last().unwrap().1).unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    mixed.extend((0..400_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    }));
    let doc = std::fs::read(work.path().join("doc.tar")).unwrap();
    mixed.extend_from_slice(&doc[..doc.len().min(1 << 20)]);
    for (name, bytes) in [
        ("mixed", mixed.clone()),
        (
            "three-blocks",
            doc[..3 * gzip_exact::pigz::PIGZ_BLOCK].to_vec(),
        ),
    ] {
        let p = work.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        cases.push((name.to_string(), p));
    }
    let mut mismatches = Vec::new();
    for (name, path) in cases {
        let data = std::fs::read(&path).unwrap();
        for level in 1..=9 {
            for threads in [None, Some("1"), Some("2")] {
                let l = format!("-{level}");
                let mut args = vec![l.as_str()];
                if let Some(t) = threads {
                    args.extend(["-p", t]);
                }
                let want = pigz(&path, &args);
                let got = match threads {
                    Some("1") if level <= 3 => gzip_exact::pigz::pigz_serial(&data, level),
                    _ => gzip_exact::pigz::pigz(&data, level),
                }
                .unwrap();
                let what = format!("{name} ({} bytes) {args:?}", data.len());
                if let Some(d) = difference(&got, &want) {
                    mismatches.push(format!("{what}: encoder: {d}"));
                } else if let Some(d) = identified_and_rebuilt(&data, &want) {
                    mismatches.push(format!("{what}: {d}"));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_large_pigz_layer_is_rebuilt_in_pieces_on_every_core() {
    crate::producers::require("pigz");
    let work = tempfile::tempdir().unwrap();
    let tar = crate::producers::layer_tar(work.path());
    let raw = std::fs::read(&tar).unwrap();
    for level in [1, 6, 9] {
        let want = pigz(&tar, &[&format!("-{level}")]);
        let recipe =
            gzip_exact::Recipe::new(Producer::Pigz { level }, want[..10].to_vec()).unwrap();
        let (same, pieces) = crate::producers::rebuilt_in_pieces(&want, &raw, &recipe);
        assert!(
            same,
            "level {level}: {} bytes of tar rebuilt differently",
            raw.len()
        );
        assert!(pieces > 1, "level {level}: {pieces} pieces");
    }
}
