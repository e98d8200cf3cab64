//! Running the real `bundle` binary: a command builder that reads like what a user types, and
//! the small helpers tests use around it (image lists, keys, inspect).

use super::images::{build_test_images, push_test_images, TestImages};
use super::registry::Registry;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

pub fn bundle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bundle"))
}

pub fn bundle_args(args: &[&str]) -> Output {
    Command::new(bundle_bin())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run bundle")
}

/// A value that stands for one word of a command line.
pub trait Word {
    fn word(&self) -> String;
}

impl Word for str {
    fn word(&self) -> String {
        self.to_string()
    }
}

impl Word for String {
    fn word(&self) -> String {
        self.clone()
    }
}

impl Word for Path {
    fn word(&self) -> String {
        self.to_str().expect("test paths are UTF-8").to_string()
    }
}

impl Word for PathBuf {
    fn word(&self) -> String {
        self.as_path().word()
    }
}

impl<T: Word + ?Sized> Word for &T {
    fn word(&self) -> String {
        (**self).word()
    }
}

/// The words of `template` (split at spaces), each `{}` in a word replaced by the next value
/// (a path with spaces stays one word).
pub fn words(template: &str, values: &[&dyn Word]) -> Vec<String> {
    let mut values = values.iter();
    let out: Vec<String> = template
        .split_whitespace()
        .map(|w| {
            let mut word = String::new();
            let mut parts = w.split("{}");
            word.push_str(parts.next().unwrap_or(""));
            for rest in parts {
                word.push_str(&values.next().expect("a value for each {}").word());
                word.push_str(rest);
            }
            word
        })
        .collect();
    assert!(
        values.next().is_none(),
        "more values than {{}} in {template:?}"
    );
    out
}

/// `bundle!("load {} --key {} --to registry://{} --plain-http", file, key, addr)`: run the real
/// binary with that command line, as a user would type it.
macro_rules! bundle {
    ($template:literal $(, $value:expr)* $(,)?) => {{
        let words = $crate::common::cli::words(
            $template,
            &[$(&$value as &dyn $crate::common::cli::Word),*],
        );
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        $crate::common::cli::bundle_args(&refs)
    }};
}
pub(crate) use bundle;

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

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

pub fn write_list(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("images.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

pub fn inspect_json(bundle_path: &Path) -> serde_json::Value {
    let o = bundle!("inspect --json {}", bundle_path);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn keypair(dir: &Path) -> (String, String) {
    let prefix = dir.join("k");
    let o = bundle!("keygen --out {}", prefix);
    assert!(o.status.success(), "{}", text(&o));
    (
        format!("{}.key", prefix.display()),
        format!("{}.pub", prefix.display()),
    )
}

/// One registry with the standard test images, shared setup for the smaller tests.
pub fn registry_with_images() -> (Registry, TestImages) {
    let reg = Registry::start();
    let imgs = build_test_images();
    push_test_images(&reg, &imgs);
    (reg, imgs)
}

pub fn plain_list(work: &Path, reg: &Registry, images: &[&str]) -> PathBuf {
    plain_list_at(work, &reg.addr, images)
}

/// The same list for a registry reached at `a` (a proxy in front of one).
pub fn plain_list_at(work: &Path, a: &str, images: &[&str]) -> PathBuf {
    let mut body = String::from("images:\n");
    for i in images {
        body.push_str(&format!("  - {a}/{i}\n"));
    }
    body.push_str(&format!("registries:\n  {a}:\n    plain-http: true\n"));
    write_list(work, &body)
}

pub fn create(list: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "create",
        list.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--no-cache",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    bundle_args(&args)
}

/// Send `signal` (`-TERM`, `-INT`) to a running child, as `kill` does.
pub fn signal(child: &Child, signal: &str) {
    let k = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success(), "kill {signal} failed");
}

/// Poll `ready` until it holds; fail naming `what` after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child's exit status within `secs` seconds; otherwise it is killed and the test fails
/// with `why()`.
pub fn exit_within(child: &mut Child, secs: u64, why: impl Fn() -> String) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{}", why());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `bundle ARGS` to its end; its output, peak RSS in KB and how long it took. GNU time
/// measures it: the peak RSS a child inherits across fork and exec is its parent's, and the
/// test process, running other tests beside this one, is far larger than `time`.
pub fn run_measured(args: &[&std::ffi::OsStr]) -> (std::process::Output, u64, std::time::Duration) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let started = std::time::Instant::now();
    let o = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg("--")
        .arg(bundle_bin())
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    let kb: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .trim()
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .expect("GNU time reports the peak RSS");
    (o, kb, took)
}

/// One raw HTTP/1.1 request; (status, headers lower-cased, body).
pub fn http(addr: &str, method: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let (status, head, body) = http_send(addr, method, path, extra, b"");
    // Header names are case-insensitive: compare them in lower case.
    (status, head.to_lowercase(), body)
}

/// One raw HTTP/1.1 request with a body, `extra` headers ending in CRLF; (status, headers as
/// sent, which keeps a `Location`'s case, body).
pub fn http_send(
    addr: &str,
    method: &str,
    path: &str,
    extra: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // A server that hangs fails the test instead of hanging it.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}
