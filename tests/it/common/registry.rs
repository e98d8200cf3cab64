//! The real distribution registry (`docker-registry`) on 127.0.0.1 with a random port and a
//! temp dir; TLS with a test CA and htpasswd Basic auth when asked.

use super::cli::{assert_ok, require};
use super::layout;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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
    /// Where it stores blobs; removed with it.
    _dir: tempfile::TempDir,
    pub log: PathBuf,
    child: Child,
    pub tls: bool,
    cfg_path: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None, None, true)
    }

    pub fn start_tls_auth(tls: &Tls, user: &str, password: &str) -> Registry {
        Self::start_with(Some(tls), Some((user, password)), true)
    }

    /// A registry as distribution comes by default: deleting manifests is not allowed.
    pub fn start_without_delete() -> Registry {
        Self::start_with(None, None, false)
    }

    fn start_with(tls: Option<&Tls>, auth: Option<(&str, &str)>, delete: bool) -> Registry {
        require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {delete}\nhttp:\n  addr: {addr}\n",
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
            _dir: dir,
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
    /// `registry://ADDR`: this registry as a `--to` or `--from` of the CLI.
    pub fn target(&self) -> String {
        format!("registry://{}", self.addr)
    }

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
        assert_ok!(o, "skopeo push failed");
    }

    /// The manifest digest as skopeo sees it (sha256 of `skopeo inspect --raw`).
    pub fn digest_of(&self, reference: &str) -> String {
        format!(
            "sha256:{}",
            layout::sha256_hex(&self.raw_manifest(reference))
        )
    }

    /// The manifest's bytes as skopeo reads them (`skopeo inspect --raw`).
    pub fn raw_manifest(&self, reference: &str) -> Vec<u8> {
        skopeo_raw(&format!("docker://{}/{reference}", self.addr))
    }
}

/// skopeo's view of an image's manifest (`docker://...`, `oci:DIR:NAME`), byte for byte.
pub fn skopeo_raw(reference: &str) -> Vec<u8> {
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(reference)
        .output()
        .unwrap();
    assert_ok!(o, "skopeo inspect {reference}");
    o.stdout
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
