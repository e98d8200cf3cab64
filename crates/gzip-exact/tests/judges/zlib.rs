//! The zlib encoder against its producers: Python's gzip module (the system's zlib)
//! compresses real files and generated inputs at every level, and the stream must be
//! identified as zlib at that level and rebuilt byte for byte.

use std::path::Path;
use std::process::Command;

/// Python's `gzip.compress(data, level, mtime=0)` of each input at each level, as files.
fn python_gzip(inputs: &[(String, std::path::PathBuf)], out: &Path) {
    crate::producers::require("python3");
    let script = "import gzip, sys\n\
        out = sys.argv[1]\n\
        for i, p in enumerate(sys.argv[2:]):\n\
        \x20   data = open(p, 'rb').read()\n\
        \x20   for level in range(1, 10):\n\
        \x20       open(f'{out}/{i}-{level}.gz', 'wb').write(gzip.compress(data, level, mtime=0))\n";
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(out)
        .args(inputs.iter().map(|(_, p)| p))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::producers::text(&o));
}

#[test]
fn every_level_of_pythons_gzip_is_identified_as_zlib_and_rebuilt_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let inputs = crate::producers::inputs(work.path());
    python_gzip(&inputs, work.path());
    let mut bytes = 0;
    for (i, (name, path)) in inputs.iter().enumerate() {
        let raw = std::fs::read(path).unwrap();
        for level in 1..=9 {
            let gz = std::fs::read(work.path().join(format!("{i}-{level}.gz"))).unwrap();
            let back = gzip_exact::inflate(&gz, 1 << 30).expect("valid gzip");
            assert!(back == raw, "{name}");
            let got = gzip_exact::identify(&gz, &raw);
            // Stored and empty inputs look alike at several levels; any level that rebuilds
            // the stream is right, as long as the bytes are.
            let recipe = got.unwrap_or_else(|| panic!("{name} level {level} not identified"));
            // zlib's gzip header (Python's gzip.compress) carries OS 3, as GNU gzip's does, and
            // GNU gzip is tried first: where the two encoders write the same bytes (stored and
            // tiny inputs) either is right; anywhere else it must be zlib.
            let same_as_gnu =
                gzip_exact::gnu::gzip(&raw, level).is_some_and(|g| g[10..] == gz[10..]);
            assert!(
                matches!(recipe.producer, gzip_exact::Producer::Zlib { .. })
                    || same_as_gnu && matches!(recipe.producer, gzip_exact::Producer::Gnu { .. }),
                "{name} level {level}: {recipe:?}"
            );
            assert!(
                gzip_exact::rebuild(&raw, &recipe).unwrap() == gz,
                "{name} {level}"
            );
            bytes += gz.len();
        }
    }
    eprintln!("{bytes} bytes of Python's gzip rebuilt");
}

#[test]
fn random_inputs_from_pythons_gzip_are_rebuilt_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let inputs: Vec<(String, std::path::PathBuf)> = crate::producers::random_inputs(77, 24)
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let p = work.path().join(format!("r{i}"));
            std::fs::write(&p, data).unwrap();
            (format!("r{i}"), p)
        })
        .collect();
    python_gzip(&inputs, work.path());
    for (i, (name, path)) in inputs.iter().enumerate() {
        let raw = std::fs::read(path).unwrap();
        for level in 1..=9 {
            let gz = std::fs::read(work.path().join(format!("{i}-{level}.gz"))).unwrap();
            let recipe = gzip_exact::identify(&gz, &raw)
                .unwrap_or_else(|| panic!("{name} ({} bytes) level {level}", raw.len()));
            assert!(
                gzip_exact::rebuild(&raw, &recipe).unwrap() == gz,
                "{name} {level}"
            );
        }
    }
}

#[test]
fn a_large_layer_from_pythons_gzip_is_rebuilt_in_pieces_from_the_points_its_proof_found() {
    let work = tempfile::tempdir().unwrap();
    let tar = crate::producers::layer_tar(work.path());
    let inputs = vec![("layer.tar".to_string(), tar.clone())];
    python_gzip(&inputs, work.path());
    let raw = std::fs::read(&tar).unwrap();
    for level in [4, 6, 9] {
        let gz = std::fs::read(work.path().join(format!("0-{level}.gz"))).unwrap();
        let producer = gzip_exact::Producer::Zlib { level };
        let recipe = gzip_exact::Recipe::new(producer, gz[..10].to_vec()).unwrap();
        crate::producers::proven_then_rebuilt_in_pieces(&gz, &raw, &recipe);
    }
}
