//! Local stores that judge what `load` wrote: a containerd started by the test, podman on a
//! private vfs root, and `bundle serve` itself.

use super::cli::{bundle, require};
use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// containerd started for a test, with its root, state and socket under a temp dir.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Containerd {
    pub fn start() -> Containerd {
        require("containerd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cfg = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{0}/containerd.sock\"\n",
            d.display()
        );
        std::fs::write(d.join("config.toml"), cfg).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.ctr(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// podman with vfs storage under a temp root, so tests need no daemon and leave nothing behind.
pub struct Podman {
    pub dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        require("podman");
        Podman {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(&[], args)
    }

    /// `run` with these variables set too (`CONTAINERS_REGISTRIES_CONF`, ...).
    pub fn run_env(&self, env: &[(&str, &std::path::Path)], args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(args)
            .env("TMPDIR", d)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

/// `bundle serve` on a free port; killed when dropped. Its stderr is collected as it comes.
pub struct Served {
    child: Child,
    pub addr: String,
    pub startup: Duration,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        Served::start_limited(args, None)
    }

    /// Serve with at most `nofile` open files, as `ulimit -n` would set.
    pub fn start_limited(args: &[&str], nofile: Option<u64>) -> Served {
        Served::start_with(args, nofile, None)
    }

    /// Serve with its scratch files in `tmpdir`.
    pub fn start_in(args: &[&str], tmpdir: &std::path::Path) -> Served {
        Served::start_with(args, None, Some(tmpdir))
    }

    fn start_with(args: &[&str], nofile: Option<u64>, tmpdir: Option<&std::path::Path>) -> Served {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut cmd = bundle!("serve")
            .args(args)
            .args(["--listen", &addr])
            .stderr(Stdio::piped());
        if let Some(t) = tmpdir {
            cmd = cmd.env("TMPDIR", t);
        }
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent.
            cmd = cmd.with(move |c| unsafe {
                c.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            });
        }
        let mut child = cmd.spawn();
        loop {
            if TcpStream::connect(&addr).is_ok() {
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("serve exited with {st}: {err}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Served {
            child,
            addr,
            startup: started.elapsed(),
            log,
            reader: Some(reader),
        }
    }
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait up to `secs` seconds for a line of stderr that holds every one of `words`.
    pub fn wait_for_line(&self, words: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if let Some(l) = log.lines().find(|l| words.iter().all(|w| l.contains(w))) {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {words:?} within {secs} s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop it (SIGKILL) and return what it wrote to stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
