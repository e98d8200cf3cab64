//! Builds OCI image layouts from real files on this machine, for tests, the demo and benchmarks.
//! Shared by `tests/` and `examples/` through `#[path]`, so it depends only on dev-dependencies.

#![allow(dead_code)]

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Clone, Debug)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<(String, String)>,
}

impl Desc {
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size});
        if let Some((os, arch)) = &self.platform {
            v["platform"] = serde_json::json!({"os": os, "architecture": arch});
        }
        v
    }
    pub fn hex(&self) -> &str {
        &self.digest[7..]
    }
}

pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<(String, Desc)>,
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        }
    }

    pub fn blob(&mut self, bytes: &[u8], media_type: &str) -> Desc {
        let hex = sha256_hex(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        Desc {
            media_type: media_type.to_string(),
            digest: format!("sha256:{hex}"),
            size: bytes.len() as u64,
            platform: None,
        }
    }

    /// An image manifest over gzip layers; the config records the diff_ids as a real one does.
    pub fn image(&mut self, layers: &[(Vec<u8>, Desc)], arch: &str, label: &str) -> Desc {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|(raw, _)| format!("sha256:{}", sha256_hex(raw)))
            .collect();
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Labels": {"test": label}, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let cfg = self.blob(&serde_json::to_vec(&config).unwrap(), OCI_CONFIG);
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": cfg.json(),
            "layers": layers.iter().map(|(_, d)| d.json()).collect::<Vec<_>>(),
        });
        let mut d = self.blob(&serde_json::to_vec(&m).unwrap(), OCI_MANIFEST);
        d.platform = Some(("linux".into(), arch.into()));
        d
    }

    /// An OCI artifact: arbitrary config and layer media types (like a Helm chart).
    pub fn artifact(&mut self, payload: &[u8]) -> Desc {
        let cfg = self.blob(b"{}", "application/vnd.cncf.helm.config.v1+json");
        let layer = self.blob(
            payload,
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        );
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.cncf.helm.config.v1+json",
            "config": cfg.json(), "layers": [layer.json()],
        });
        self.blob(&serde_json::to_vec(&m).unwrap(), OCI_MANIFEST)
    }

    pub fn index(&mut self, manifests: &[Desc]) -> Desc {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": manifests.iter().map(|d| d.json()).collect::<Vec<_>>(),
        });
        self.blob(&serde_json::to_vec(&m).unwrap(), OCI_INDEX)
    }

    pub fn tag(&mut self, name: &str, d: &Desc) {
        self.refs.retain(|(n, _)| n != name);
        self.refs.push((name.to_string(), d.clone()));
        let manifests: Vec<serde_json::Value> = self
            .refs
            .iter()
            .map(|(n, d)| {
                let mut v = serde_json::json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size});
                v["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": n});
                v
            })
            .collect();
        let idx = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }
}

/// A gzip layer holding real files from `roots` (sorted, deterministic), up to `max_bytes` of
/// file content. Returns (uncompressed tar, descriptor).
pub fn layer_from_files(
    layout: &mut Layout,
    roots: &[&str],
    max_bytes: u64,
    salt: &str,
) -> (Vec<u8>, Desc) {
    let mut files = Vec::new();
    for r in roots {
        collect(Path::new(r), &mut files);
    }
    files.sort();
    let mut b = tar::Builder::new(Vec::new());
    let mut total = 0u64;
    // A salt file makes layers of different "images" distinct even from the same sources.
    let mut h = tar::Header::new_gnu();
    h.set_size(salt.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, "etc/layer-id", salt.as_bytes())
        .unwrap();
    for f in files {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        if total + data.len() as u64 > max_bytes {
            continue;
        }
        total += data.len() as u64;
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        let name = f.strip_prefix("/").unwrap_or(&f);
        if b.append_data(&mut h, name, &data[..]).is_err() {
            continue;
        }
        if total >= max_bytes {
            break;
        }
    }
    let raw = b.into_inner().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let compressed = gz.finish().unwrap();
    let d = layout.blob(&compressed, OCI_LAYER_GZIP);
    (raw, d)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return;
    };
    if md.is_file() {
        out.push(p.to_path_buf());
    } else if md.is_dir() {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        for c in v {
            collect(&c, out);
        }
    }
}
