//! Test fixtures: the real distribution registry on 127.0.0.1, a fault-injecting proxy in front
//! of it, images made from local files and pushed by skopeo, and the real `bundle` binary.

#![allow(dead_code)]

pub mod layout;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bundle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bundle"))
}

pub fn bundle(args: &[&str]) -> Output {
    Command::new(bundle_bin())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run bundle")
}

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

fn spawn_registry(cfg: &Path, log: &Path) -> Child {
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new("docker-registry")
        .arg("serve")
        .arg(cfg)
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("start docker-registry")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Tls {
    pub ca_pem: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A test CA and a server certificate for 127.0.0.1/localhost, written under `dir`.
pub fn make_tls(dir: &Path) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bundle test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let t = Tls {
        ca_pem: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&t.ca_pem, ca.pem()).unwrap();
    std::fs::write(&t.cert, cert.pem()).unwrap();
    std::fs::write(&t.key, key.serialize_pem()).unwrap();
    t
}

/// The distribution registry (`docker-registry`), on a random port, storing under a temp dir,
/// killed when dropped.
pub struct Registry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    child: Child,
    pub tls: bool,
    cfg_path: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None, None)
    }

    pub fn start_tls_auth(tls: &Tls, user: &str, password: &str) -> Registry {
        Self::start_with(Some(tls), Some((user, password)))
    }

    fn start_with(tls: Option<&Tls>, auth: Option<(&str, &str)>) -> Registry {
        require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some(t) = tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.cert.display(),
                t.key.display()
            ));
        }
        if let Some((u, p)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap())).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: bundle-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = dir.path().join("registry.log");
        let child = spawn_registry(&cfg_path, &log);
        let r = Registry {
            addr,
            dir,
            log,
            child,
            tls: tls.is_some(),
            cfg_path,
        };
        r.wait_up();
        r
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop and start again on the same port and storage (a registry restart).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_registry(&self.cfg_path, &self.log);
        self.wait_up();
    }

    /// Tags in a repository, via skopeo (empty if the repository does not exist).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let o = Command::new("skopeo")
            .args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{}/{repo}", self.addr))
            .output()
            .unwrap();
        if !o.status.success() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["Tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many GET requests for this blob the registry answered (from its access log).
    pub fn blob_gets(&self, digest: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(&format!("/blobs/{digest} ")))
            .count()
    }

    /// Push a tag of an OCI layout with skopeo (the independent client).
    pub fn push(&self, layout: &Path, tag_in_layout: &str, dest: &str, extra: &[&str]) {
        require("skopeo");
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--all", "--dest-tls-verify=false"]);
        if self.tls {
            cmd.args(["--dest-creds", "tester:s3cret-pass"]);
        }
        cmd.args(extra);
        cmd.arg(format!("oci:{}:{tag_in_layout}", layout.display()));
        cmd.arg(format!("docker://{}/{dest}", self.addr));
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "skopeo push failed: {}", text(&o));
    }

    /// The manifest digest as skopeo sees it (sha256 of `skopeo inspect --raw`).
    pub fn digest_of(&self, reference: &str) -> String {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{reference}", self.addr))
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo inspect: {}", text(&o));
        format!("sha256:{}", layout::sha256_hex(&o.stdout))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to responses whose request path contains `path_contains`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Send only the first `bytes` of the body of the first `times` matching responses, then close.
    CutBody {
        path_contains: String,
        bytes: usize,
        times: usize,
    },
    /// Send the head and the first `bytes` of the body of the first `times` matching GETs, then
    /// go silent for `seconds` (longer than the client's read timeout) before closing.
    Stall {
        path_contains: String,
        bytes: usize,
        times: usize,
        seconds: u64,
    },
    /// Take only the first `bytes` of the body of the first `times` blob-upload PUTs, then stop
    /// reading and stay silent for `seconds` before closing: a registry that hangs mid-upload.
    StallUpload {
        bytes: usize,
        times: usize,
        seconds: u64,
    },
    /// Flip one byte in the middle of every matching body.
    Corrupt { path_contains: String },
    /// Answer the first `times` matching requests with `status` (and `Retry-After`, if given).
    Status {
        path_contains: String,
        status: u16,
        times: usize,
        retry_after: Option<u32>,
    },
    /// Redirect blob GETs to the same proxy under another host name (`localhost` instead of
    /// `127.0.0.1`), as registries do with CDNs; the redirected request needs no auth.
    RedirectBlobs,
    /// Refuse blob uploads that come in one PUT with a body (413), as some registries do for
    /// large blobs: the client must fall back to chunked PATCH uploads.
    NoMonolithicUpload,
    /// A seeded schedule: each request to the registry API meets, with probability
    /// `percent`/100, one of: 500, 502, 503, 429 with or without `Retry-After: 0`, a blob body
    /// cut at a random point, a blob body that stalls at a random point for `RANDOM_STALL`, a
    /// corrupted blob body; or, for other requests, a lost response (the registry did the work,
    /// the client never hears of it: retries must be idempotent).
    Random { rng: Arc<Mutex<u64>>, percent: u64 },
    /// Pass everything through.
    None,
}

impl Fault {
    pub fn random(seed: u64, percent: u64) -> Fault {
        Fault::Random {
            rng: Arc::new(Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)),
            percent,
        }
    }
}

/// Figures from a run of seeded fault schedules (create's or load's).
#[derive(Debug, Default)]
pub struct Schedules {
    pub completed: usize,
    pub failed_cleanly: usize,
    pub wrong: usize,
    /// Clean failures whose re-run, faults gone, completed with the right digests...
    pub rerun_completed: usize,
    /// ... reusing what the failed run did (create: blobs it had cached; load: blobs it had
    /// pushed, so fewer are sent than into an empty registry).
    pub rerun_reused: usize,
}

/// xorshift64*: enough randomness for fault schedules, and reproducible from a seed.
fn next_random(state: &Mutex<u64>) -> u64 {
    let mut s = state.lock().unwrap();
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Registry-style Bearer auth in front of the upstream: `/token` hands out a token for Basic
/// credentials; `/v2/` needs the token.
#[derive(Clone, Debug)]
pub struct BearerGate {
    pub user: String,
    pub password: String,
}

const TEST_TOKEN: &str = "test-token-7f3a";

/// How long a random stall lasts: runs with random faults use `--read-timeout 1s`.
pub const RANDOM_STALL: Duration = Duration::from_millis(2500);

/// An HTTP/1.1 proxy on 127.0.0.1 in front of a registry that injects faults. It forces
/// `Connection: close`, so each request is one connection and easy to reason about.
pub struct FaultProxy {
    pub addr: String,
    stop: Arc<AtomicBool>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        Self::start_with(upstream, fault, None)
    }

    pub fn start_with(upstream: &str, fault: Fault, gate: Option<BearerGate>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicUsize::new(0));
        let (s, reqs, up) = (stop.clone(), requests.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let (up, f, reqs, fired) =
                            (up.clone(), fault.clone(), reqs.clone(), fired.clone());
                        let gate = gate.clone();
                        std::thread::spawn(move || {
                            let _ = serve_one(c, &up, &f, gate.as_ref(), &reqs, &fired);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            addr,
            stop,
            requests,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            break;
        }
        let l = l.trim_end().to_string();
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    Ok(lines)
}

fn respond(
    mut c: &TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
) -> std::io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for x in headers {
        h.push_str(x);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    c.write_all(h.as_bytes())?;
    c.write_all(body)?;
    c.flush()
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve_one(
    client: TcpStream,
    upstream: &str,
    fault: &Fault,
    gate: Option<&BearerGate>,
    reqs: &Mutex<Vec<String>>,
    fired: &AtomicUsize,
) -> std::io::Result<()> {
    let mut cr = BufReader::new(client.try_clone()?);
    let head = read_head(&mut cr)?;
    if head.is_empty() {
        return Ok(());
    }
    let content_length: usize = head
        .iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    if let Fault::StallUpload {
        bytes,
        times,
        seconds,
    } = fault
    {
        if head[0].starts_with("PUT ")
            && head[0].contains("/blobs/uploads/")
            && content_length > *bytes
            && fired.fetch_add(1, Ordering::SeqCst) < *times
        {
            reqs.lock().unwrap().push(format!("{} [stalled]", head[0]));
            let mut part = vec![0u8; *bytes];
            cr.read_exact(&mut part)?;
            std::thread::sleep(Duration::from_secs(*seconds));
            return Ok(());
        }
    }
    let mut body = vec![0u8; content_length];
    cr.read_exact(&mut body)?;
    let range = head
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .cloned();
    let auth =
        header(&head, "authorization").map(|a| a.split(' ').next().unwrap_or("").to_string());
    let host = header(&head, "host").unwrap_or("").to_string();
    reqs.lock().unwrap().push(format!(
        "{} host={host} auth={}{}",
        head[0],
        auth.as_deref().unwrap_or("none"),
        range.map(|r| format!(" [{r}]")).unwrap_or_default()
    ));
    let path = head[0].split_whitespace().nth(1).unwrap_or("").to_string();
    let redirected = path.contains("redirected=1");
    if let Some(g) = gate {
        use base64::Engine;
        if path.starts_with("/token") {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", g.user, g.password))
            );
            return if header(&head, "authorization") == Some(want.as_str()) {
                respond(
                    &client,
                    "200 OK",
                    &["Content-Type: application/json".into()],
                    format!(r#"{{"token":"{TEST_TOKEN}","expires_in":300}}"#).as_bytes(),
                )
            } else {
                respond(&client, "401 Unauthorized", &[], b"{}")
            };
        }
        if !redirected
            && header(&head, "authorization") != Some(format!("Bearer {TEST_TOKEN}").as_str())
        {
            let realm = format!("http://{host}/token");
            return respond(
                &client,
                "401 Unauthorized",
                &[format!(
                    r#"WWW-Authenticate: Bearer realm="{realm}",service="test-registry",scope="repository:x:pull""#
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            );
        }
    }
    // The random schedule decides up front what this request meets.
    let mut random_cut: Option<f64> = None;
    let mut random_stall = false;
    let mut random_lost = false;
    let mut random_corrupt = false;
    if let Fault::Random { rng, percent } = fault {
        if path.starts_with("/v2/") && next_random(rng) % 100 < *percent {
            let is_blob_get = head[0].starts_with("GET") && path.contains("/blobs/sha256:");
            match next_random(rng) % if is_blob_get { 8 } else { 6 } {
                0 => return respond(&client, "500 Injected", &[], b"injected"),
                1 => return respond(&client, "502 Injected", &[], b"injected"),
                2 => return respond(&client, "503 Injected", &[], b"injected"),
                3 => {
                    return respond(
                        &client,
                        "429 Injected",
                        &["Retry-After: 0".into()],
                        b"slow down",
                    )
                }
                4 => return respond(&client, "429 Injected", &[], b"slow down"),
                5 if is_blob_get => random_cut = Some((next_random(rng) % 1000) as f64 / 1000.0),
                5 => random_lost = true,
                6 => {
                    random_cut = Some((next_random(rng) % 1000) as f64 / 1000.0);
                    random_stall = true;
                }
                _ => random_corrupt = true,
            }
        }
    }
    match fault {
        Fault::Status {
            path_contains,
            status,
            times,
            retry_after,
        } if path.contains(path_contains.as_str())
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            let h: Vec<String> = retry_after
                .iter()
                .map(|s| format!("Retry-After: {s}"))
                .collect();
            return respond(
                &client,
                &format!("{status} Injected"),
                &h,
                b"injected fault",
            );
        }
        Fault::NoMonolithicUpload
            if head[0].starts_with("PUT")
                && path.contains("/blobs/uploads/")
                && content_length > 0 =>
        {
            return respond(
                &client,
                "413 Payload Too Large",
                &[],
                b"use chunked uploads",
            );
        }
        Fault::RedirectBlobs
            if path.contains("/blobs/") && !redirected && head[0].starts_with("GET") =>
        {
            let port = host.rsplit(':').next().unwrap_or("");
            let other = if host.starts_with("127.0.0.1") {
                "localhost"
            } else {
                "127.0.0.1"
            };
            return respond(
                &client,
                "307 Temporary Redirect",
                &[format!(
                    "Location: http://{other}:{port}{path}?redirected=1"
                )],
                b"",
            );
        }
        _ => {}
    }
    // What goes upstream: the original path, and no credentials meant for the gate.
    let head: Vec<String> = head
        .iter()
        .map(|l| {
            if redirected {
                l.replace("?redirected=1", "")
            } else {
                l.clone()
            }
        })
        .filter(|l| !(gate.is_some() && l.to_ascii_lowercase().starts_with("authorization:")))
        .collect();
    let mut up = TcpStream::connect(upstream)?;
    let mut out = String::new();
    for l in &head {
        let low = l.to_ascii_lowercase();
        if low.starts_with("connection:") || low.starts_with("keep-alive:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up);
    let rhead = read_head(&mut ur)?;
    let mut rest = Vec::new();
    ur.read_to_end(&mut rest)?;
    if random_lost {
        let _ = client.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    let status_ok = rhead
        .first()
        .is_some_and(|s| s.contains(" 200 ") || s.contains(" 206 "));
    let mut client = client;
    let send_head = |c: &mut TcpStream| -> std::io::Result<()> {
        let mut h = String::new();
        for l in &rhead {
            if l.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            h.push_str(l);
            h.push_str("\r\n");
        }
        h.push_str("Connection: close\r\n\r\n");
        c.write_all(h.as_bytes())
    };
    match fault {
        Fault::Random { .. }
            if status_ok && (random_cut.is_some() || random_corrupt) && !rest.is_empty() =>
        {
            if let Some(frac) = random_cut {
                send_head(&mut client)?;
                client.write_all(&rest[..(rest.len() as f64 * frac) as usize])?;
                client.flush()?;
                if random_stall {
                    std::thread::sleep(RANDOM_STALL);
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            let mid = rest.len() / 2;
            rest[mid] ^= 0x55;
        }
        Fault::CutBody {
            path_contains,
            bytes,
            times,
        } if path.contains(path_contains.as_str())
            && status_ok
            && head[0].starts_with("GET")
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            send_head(&mut client)?;
            client.write_all(&rest[..(*bytes).min(rest.len())])?;
            client.flush()?;
            // Drop the connection mid-body.
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Stall {
            path_contains,
            bytes,
            times,
            seconds,
        } if path.contains(path_contains.as_str())
            && status_ok
            && head[0].starts_with("GET")
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            send_head(&mut client)?;
            client.write_all(&rest[..(*bytes).min(rest.len())])?;
            client.flush()?;
            std::thread::sleep(Duration::from_secs(*seconds));
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Corrupt { path_contains }
            if path.contains(path_contains.as_str())
                && status_ok
                && head[0].starts_with("GET")
                && !rest.is_empty() =>
        {
            let mid = rest.len() / 2;
            rest[mid] ^= 0x55;
        }
        _ => {}
    }
    send_head(&mut client)?;
    client.write_all(&rest)?;
    client.flush()
}

/// A set of test images in a layout: two apps sharing a base layer, a two-platform index and an
/// artifact. Returns (layout, shared base layer digest).
pub struct TestImages {
    pub layout_dir: tempfile::TempDir,
    pub base_layer: layout::Desc,
    pub arm_only_layer: layout::Desc,
    pub amd_only_layer: layout::Desc,
}

pub fn build_test_images() -> TestImages {
    use layout::*;
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layout::new(dir.path());
    let (base_raw, base) = layer_from_files(
        &mut l,
        &["/usr/share/doc", "/usr/share/common-licenses"],
        3 << 20,
        "base",
    );
    let (app1_raw, app1) =
        layer_from_files(&mut l, &["/usr/lib/x86_64-linux-gnu"], 2 << 20, "app1");
    let (app2_raw, app2) = layer_from_files(
        &mut l,
        &["/usr/share/perl5", "/usr/share/misc"],
        1 << 20,
        "app2",
    );
    let a1 = l.image(
        &[
            (base_raw.clone(), base.clone()),
            (app1_raw.clone(), app1.clone()),
        ],
        "amd64",
        "app1",
    );
    l.tag("app1", &a1);
    let a2 = l.image(
        &[(base_raw.clone(), base.clone()), (app2_raw, app2)],
        "amd64",
        "app2",
    );
    l.tag("app2", &a2);
    let (arm_raw, arm_layer) =
        layer_from_files(&mut l, &["/usr/share/zoneinfo"], 1 << 20, "arm64-only");
    let amd = l.image(
        &[(base_raw.clone(), base.clone()), (app1_raw, app1.clone())],
        "amd64",
        "multi",
    );
    let arm = l.image(
        &[(base_raw, base.clone()), (arm_raw, arm_layer.clone())],
        "arm64",
        "multi",
    );
    let idx = l.index(&[amd, arm]);
    l.tag("multi", &idx);
    let art = l.artifact(b"\x1f\x8b\x08\x00helm chart bytes for the test");
    l.tag("chart", &art);
    TestImages {
        layout_dir: dir,
        base_layer: base,
        arm_only_layer: arm_layer,
        amd_only_layer: app1,
    }
}

pub fn push_test_images(reg: &Registry, imgs: &TestImages) {
    let d = imgs.layout_dir.path();
    reg.push(d, "app1", "team/app1:1.0", &[]);
    reg.push(d, "app2", "team/app2:1.0", &["--format", "v2s2"]);
    reg.push(d, "multi", "team/multi:2.0", &[]);
    reg.push(d, "chart", "charts/demo:0.1.0", &[]);
}

/// The seek index, read independently of the tool: last 16 bytes = length + magic.
pub fn seek_index(bytes: &[u8]) -> (serde_json::Value, usize) {
    let n = bytes.len();
    assert_eq!(&bytes[n - 8..], b"BUNDLEIX");
    let len = u64::from_le_bytes(bytes[n - 16..n - 8].try_into().unwrap()) as usize;
    let start = n - 16 - 32 - len;
    (
        serde_json::from_slice(&bytes[start..start + len]).unwrap(),
        start - 8,
    )
}

pub fn member<'a>(index: &'a serde_json::Value, path_prefix: &str) -> &'a serde_json::Value {
    index["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"].as_str().unwrap().starts_with(path_prefix))
        .unwrap_or_else(|| panic!("no member {path_prefix}"))
}

/// (region name, byte offset) for one flipped byte in each region of a bundle.
pub fn tamper_points(bytes: &[u8], layer_digest: &str) -> Vec<(&'static str, usize)> {
    let (index, index_frame_start) = seek_index(bytes);
    let data_mid = |prefix: &str| {
        let d = &member(&index, prefix)["data"];
        (d["offset"].as_u64().unwrap() + d["length"].as_u64().unwrap() / 2) as usize
    };
    let header_of = |prefix: &str| {
        let h = &member(&index, prefix)["header"];
        (h["offset"].as_u64().unwrap() + h["length"].as_u64().unwrap() / 2) as usize
    };
    let first_manifest = index["members"][4]["path"].as_str().unwrap().to_string();
    let layer = format!("blobs/sha256/{}", &layer_digest[7..]);
    vec![
        ("bundle header", 12),
        ("bundle.json", data_mid("bundle.json")),
        ("signature", data_mid("bundle.json.sig")),
        ("index.json", data_mid("index.json")),
        ("a manifest frame", data_mid(&first_manifest)),
        ("a layer frame", data_mid(&layer)),
        ("a tar header frame", header_of(&layer)),
        ("the tar end frame", index_frame_start - 3),
        ("the seek index", index_frame_start + 20),
        ("the trailer", bytes.len() - 12),
    ]
}

pub fn write_list(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("images.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

pub fn inspect_json(bundle_path: &Path) -> serde_json::Value {
    let o = bundle(&["inspect", "--json", bundle_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn keypair(dir: &Path) -> (String, String) {
    let prefix = dir.join("k");
    let o = bundle(&["keygen", "--out", prefix.to_str().unwrap()]);
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
    let a = &reg.addr;
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
    bundle(&args)
}

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
            .output()
            .unwrap()
    }
}

/// `bundle serve` on a free port; killed when dropped.
pub struct Served {
    child: Child,
    pub addr: String,
    pub startup: Duration,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = Command::new(bundle_bin())
            .arg("serve")
            .args(args)
            .args(["--listen", &addr])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
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
        Served {
            child,
            addr,
            startup: started.elapsed(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
