//! Running the real `bundle` binary: `bundle!` builds a command line that reads like what a
//! user types, `assert_ok!` judges its exit, and small helpers sit around them (image lists,
//! keys, inspect, the common load).

use super::images::{build_test_images, push_test_images, TestImages};
use super::registry::Registry;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary's path, for a shell line or a tool that runs it; tests run it with `bundle!`.
pub fn bundle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bundle"))
}

/// One run of the real binary, built up before it starts: the words of its command line,
/// a program it may run under (`setpriv`, GNU `time`), and settings of its environment and
/// standard streams. `bundle!` makes one; `run`, `spawn` or `measured` starts it.
pub struct BundleCommand {
    under: Vec<OsString>,
    args: Vec<OsString>,
    setup: Vec<Setting>,
}

/// One setting of the process, applied when it starts.
type Setting = Box<dyn FnOnce(&mut Command)>;

impl BundleCommand {
    pub fn new<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Self {
        BundleCommand {
            under: Vec::new(),
            args: Vec::new(),
            setup: Vec::new(),
        }
        .args(args)
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Any other setting of the process (a resource limit before exec, say).
    pub fn with(mut self, set: impl FnOnce(&mut Command) + 'static) -> Self {
        self.setup.push(Box::new(set));
        self
    }

    pub fn env(self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let (k, v) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        self.with(move |c| {
            c.env(k, v);
        })
    }

    pub fn env_remove(self, key: impl AsRef<OsStr>) -> Self {
        let k = key.as_ref().to_owned();
        self.with(move |c| {
            c.env_remove(k);
        })
    }

    pub fn stdin(self, s: impl Into<Stdio>) -> Self {
        let s = s.into();
        self.with(move |c| {
            c.stdin(s);
        })
    }

    pub fn stdout(self, s: impl Into<Stdio>) -> Self {
        let s = s.into();
        self.with(move |c| {
            c.stdout(s);
        })
    }

    pub fn stderr(self, s: impl Into<Stdio>) -> Self {
        let s = s.into();
        self.with(move |c| {
            c.stderr(s);
        })
    }

    /// Run the binary as an argument of `program` (`setpriv --reuid 65534 …`).
    pub fn under<S: AsRef<OsStr>>(mut self, program: impl IntoIterator<Item = S>) -> Self {
        self.under = program.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    fn command(self) -> Command {
        let mut c = match self.under.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bundle_bin());
                c
            }
            None => Command::new(bundle_bin()),
        };
        // A reproducible-build setting in the caller's environment would change what is made.
        c.args(&self.args).env_remove("SOURCE_DATE_EPOCH");
        for set in self.setup {
            set(&mut c);
        }
        c
    }

    /// Run to the end; its output, whatever the exit.
    pub fn run(self) -> Output {
        self.command().output().expect("run bundle")
    }

    pub fn spawn(self) -> Child {
        self.command().spawn().expect("start bundle")
    }

    /// Run to the end; its output, peak RSS in KB and how long it took. GNU time measures it:
    /// the peak RSS a child inherits across fork and exec is its parent's, and the test
    /// process, running other tests beside this one, is far larger than `time`.
    pub fn measured(self) -> (Output, u64, Duration) {
        let report = tempfile::NamedTempFile::new().unwrap();
        let started = Instant::now();
        let o = self
            .under([
                "/usr/bin/time".as_ref(),
                "-f".as_ref(),
                "%M".as_ref(),
                "-o".as_ref(),
                report.path().as_os_str(),
                "--".as_ref(),
            ] as [&OsStr; 6])
            .run();
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

/// `bundle!("load {} --key {} --to registry://{} --plain-http", file, key, addr)`: the real
/// binary with that command line, as a user would type it; `.run()` runs it.
macro_rules! bundle {
    ($template:literal $(, $value:expr)* $(,)?) => {
        $crate::common::cli::BundleCommand::new($crate::common::cli::words(
            $template,
            &[$(&$value as &dyn $crate::common::cli::Word),*],
        ))
    };
}
pub(crate) use bundle;

/// The one judge of a run that should succeed: `assert_ok!(o)`, or `assert_ok!(o, "{repo}")`
/// to say which; on failure it prints the exit status, stdout and stderr.
macro_rules! assert_ok {
    ($output:expr $(,)?) => {{
        let o: &std::process::Output = &$output;
        assert!(o.status.success(), "{}", $crate::common::cli::text(o));
    }};
    ($output:expr, $($context:tt)+) => {{
        let o: &std::process::Output = &$output;
        assert!(
            o.status.success(),
            "{}: {}",
            format_args!($($context)+),
            $crate::common::cli::text(o)
        );
    }};
}
pub(crate) use assert_ok;

// The same judges of a run and of a tool's presence as gzip-exact's tests use.
pub use super::producers::{require, text};

pub fn write_list(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("images.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

pub fn inspect_json(bundle_path: &Path) -> serde_json::Value {
    let o = bundle!("inspect --json {}", bundle_path).run();
    assert_ok!(o);
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn keypair(dir: &Path) -> (String, String) {
    let prefix = dir.join("k");
    assert_ok!(bundle!("keygen --out {}", prefix).run());
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

/// `bundle load BUNDLE --key PUBLIC -q --plain-http --to=TARGET`, the load most tests run
/// (plain HTTP only picks a registry's scheme); more flags with `.args([…])`, then `.run()`.
pub fn load(bundle: &Path, public: &str, target: &str) -> BundleCommand {
    bundle!(
        "load {} --key {} -q --plain-http --to={}",
        bundle,
        public,
        target
    )
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
