//! A classic Helm repository on 127.0.0.1: a directory of chart `.tgz` files (packed by `tar`
//! from chart sources the test writes) and its `index.yaml`, served by Python's http.server,
//! with HTTP Basic auth when asked.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// http.server with an optional Basic auth check (USER and PASS from the environment).
const SERVER: &str = r#"
import base64, http.server, os, sys
user, pw = os.environ.get("REPO_USER"), os.environ.get("REPO_PASS")
want = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode() if user else None
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if want and self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: H(*a, directory=sys.argv[1]))
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

pub struct HelmRepo {
    pub dir: PathBuf,
    pub url: String,
    child: Child,
}

impl HelmRepo {
    pub fn serve(dir: &Path, auth: Option<(&str, &str)>) -> HelmRepo {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", SERVER]).arg(dir).stdout(Stdio::piped());
        if let Some((u, p)) = auth {
            cmd.env("REPO_USER", u).env("REPO_PASS", p);
        }
        let mut child = cmd.spawn().expect("python3 runs");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        HelmRepo {
            dir: dir.to_path_buf(),
            url: format!("http://127.0.0.1:{}", port.trim()),
            child,
        }
    }
}

impl Drop for HelmRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `files` (path relative to the chart, contents) under `src/NAME/` and pack them as
/// `helm package` does: `NAME-VERSION.tgz` holding `NAME/...`. Returns the archive's bytes.
pub fn pack_chart(
    work: &Path,
    out_dir: &Path,
    name: &str,
    version: &str,
    files: &[(&str, String)],
) -> Vec<u8> {
    let src = work.join(format!("src-{name}-{version}"));
    for (path, body) in files {
        let p = src.join(name).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let tgz = out_dir.join(format!("{name}-{version}.tgz"));
    let o = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&src)
        .arg(name)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(tgz).unwrap()
}

/// One version of a chart in `index.yaml`.
pub struct IndexEntry<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub app_version: &'a str,
    pub url: &'a str,
    pub digest: String,
}

pub fn write_index(dir: &Path, entries: &[IndexEntry]) {
    let mut y = String::from("apiVersion: v1\nentries:\n");
    let mut names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    names.dedup();
    for n in names {
        y.push_str(&format!("  {n}:\n"));
        for e in entries.iter().filter(|e| e.name == n) {
            y.push_str(&format!(
                "  - apiVersion: v2\n    name: {n}\n    version: {}\n    appVersion: \"{}\"\n    created: \"2026-11-30T10:00:00Z\"\n    digest: {}\n    urls:\n    - {}\n",
                e.version, e.app_version, e.digest, e.url
            ));
        }
    }
    y.push_str("generated: \"2026-11-30T10:00:00Z\"\n");
    std::fs::write(dir.join("index.yaml"), y).unwrap();
}
