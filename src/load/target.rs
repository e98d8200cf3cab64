//! Where `bundle load` puts images, parsed from `--to`.

use super::plan::PlannedImage;
use crate::format::BlobRecord;
use crate::verify::Checked;
use anyhow::{bail, Result};
use std::io::Read;
use std::path::PathBuf;

/// Opens a blob's bytes again (for a retry, or for each target).
pub type Opener<'a> = &'a (dyn Fn() -> Result<Box<dyn Read + Send>> + Sync);

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BlobOutcome {
    pub sent: u64,
    pub present: u64,
    pub mounted: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for BlobOutcome {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.present += o.present;
        self.mounted += o.mounted;
        self.bytes += o.bytes;
    }
}

pub trait Target: Send + Sync {
    fn name(&self) -> String;
    /// Make the blob available where `users` need it; verified before it becomes visible.
    fn put_blob(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome>;
    /// For a delta bundle: whether the target already holds a blob the bundle leaves out, made
    /// available to `users` where it can be (a registry mounts it across repositories).
    fn has_blob(&self, blob: &BlobRecord, users: &[&PlannedImage]) -> Result<bool>;
    /// Manifests (children before indexes), then names/tags, last. Called only after every blob
    /// of the bundle was verified.
    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    Registry { host: String, prefix: String },
    Oci { dir: PathBuf },
    DockerArchive { file: PathBuf },
    Containerd { socket: PathBuf, namespace: String },
    ContainersStorage(Option<super::containers_storage::StorageSpec>),
}

impl std::str::FromStr for TargetSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("registry://") {
            let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if host.is_empty() {
                bail!("--to {s}: registry://HOST[:PORT][/PREFIX] needs a host");
            }
            let prefix = prefix.trim_matches('/').to_string();
            if !prefix.is_empty()
                && crate::reference::Reference::parse(&format!("{host}/{prefix}/x")).is_err()
            {
                bail!("--to {s}: the prefix {prefix:?} is not a valid repository path");
            }
            return Ok(TargetSpec::Registry {
                host: host.to_string(),
                prefix,
            });
        }
        if let Some(dir) = s.strip_prefix("oci:") {
            if dir.is_empty() {
                bail!("--to oci:DIR needs a directory");
            }
            return Ok(TargetSpec::Oci { dir: dir.into() });
        }
        if let Some(file) = s.strip_prefix("docker-archive:") {
            if file.is_empty() {
                bail!("--to docker-archive:FILE needs a file name");
            }
            return Ok(TargetSpec::DockerArchive { file: file.into() });
        }
        if let Some(rest) = s.strip_prefix("containers-storage") {
            let spec = match rest.strip_prefix(':') {
                Some(spec) => super::containers_storage::parse_spec(spec)?,
                None if rest.is_empty() => None,
                None => bail!("--to {s}: expected containers-storage[:[DRIVER@ROOT+RUNROOT]]"),
            };
            return Ok(TargetSpec::ContainersStorage(spec));
        }
        if let Some(rest) = s.strip_prefix("containerd") {
            // containerd, containerd:///run/x.sock, containerd?namespace=ns, or both.
            let (sock, query) = rest.split_once('?').unwrap_or((rest, ""));
            let socket = match sock.strip_prefix("://") {
                Some(p) if p.starts_with('/') => PathBuf::from(p),
                None if sock.is_empty() => PathBuf::from(super::containerd::DEFAULT_SOCKET),
                _ => bail!(
                    "--to {s}: expected containerd[:///path/to/containerd.sock][?namespace=NS]"
                ),
            };
            let mut namespace = super::containerd::DEFAULT_NAMESPACE.to_string();
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                match k.as_ref() {
                    "namespace" if !v.is_empty() => namespace = v.into_owned(),
                    _ => bail!("--to {s}: unknown or empty option {k:?} (only namespace=NS)"),
                }
            }
            return Ok(TargetSpec::Containerd { socket, namespace });
        }
        bail!("--to {s}: expected registry://HOST[:PORT][/PREFIX], oci:DIR, docker-archive:FILE, containerd[://SOCKET][?namespace=NS] or containers-storage[:[DRIVER@ROOT+RUNROOT]]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_targets() {
        let t = |s: &str| s.parse::<TargetSpec>();
        assert_eq!(
            t("containerd").unwrap(),
            TargetSpec::Containerd {
                socket: "/run/containerd/containerd.sock".into(),
                namespace: "k8s.io".into()
            }
        );
        assert_eq!(
            t("containerd:///run/k3s/containerd/containerd.sock?namespace=default").unwrap(),
            TargetSpec::Containerd {
                socket: "/run/k3s/containerd/containerd.sock".into(),
                namespace: "default".into()
            }
        );
        assert!(t("containerd://relative.sock").is_err());
        assert!(t("containerd?ns=x").is_err());
        assert!(t("containerd?namespace=").is_err());
        assert_eq!(
            t("containers-storage").unwrap(),
            TargetSpec::ContainersStorage(None)
        );
        assert_eq!(
            t("containers-storage:[vfs@/a/root+/a/run]").unwrap(),
            TargetSpec::ContainersStorage(Some(super::super::containers_storage::StorageSpec {
                driver: "vfs".into(),
                root: "/a/root".into(),
                runroot: "/a/run".into()
            }))
        );
        assert!(t("containers-storage:vfs@/a+/b").is_err());
        assert!(t("containers-storagex").is_err());
    }
}
