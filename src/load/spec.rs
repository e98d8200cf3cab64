//! `--to` parsed: where `bundle load` puts images.

use anyhow::{bail, Result};
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";
/// Kubernetes' namespace: what the kubelet (through CRI) sees.
pub const DEFAULT_NAMESPACE: &str = "k8s.io";

/// Where podman keeps images: its defaults, or `DRIVER@ROOT+RUNROOT` as containers-storage
/// references spell it (`vfs@/var/lib/containers/storage+/run/containers/storage`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSpec {
    pub driver: String,
    pub root: String,
    pub runroot: String,
}

pub fn parse_storage(s: &str) -> Result<Option<StorageSpec>> {
    let inner = s.trim();
    if inner.is_empty() {
        return Ok(None);
    }
    let bad = || {
        anyhow::anyhow!(
            "containers-storage:{s}: expected [DRIVER@ROOT+RUNROOT], e.g. [overlay@/var/lib/containers/storage+/run/containers/storage]"
        )
    };
    let body = inner
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (driver, paths) = body.split_once('@').ok_or_else(bad)?;
    let (root, runroot) = paths.split_once('+').ok_or_else(bad)?;
    if driver.is_empty() || !root.starts_with('/') || !runroot.starts_with('/') {
        return Err(bad());
    }
    Ok(Some(StorageSpec {
        driver: driver.into(),
        root: root.into(),
        runroot: runroot.into(),
    }))
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    Registry {
        host: String,
        prefix: String,
    },
    Oci {
        dir: PathBuf,
    },
    /// Charts, files and the list of images, as plain files.
    Dir {
        dir: PathBuf,
    },
    DockerArchive {
        file: PathBuf,
    },
    Containerd {
        socket: PathBuf,
        namespace: String,
    },
    ContainersStorage(Option<StorageSpec>),
}

impl TargetSpec {
    /// Whether charts and files (OCI artifacts that are no image) can go here: a registry
    /// and an OCI layout take any artifact; image stores and archives take images only.
    pub fn takes_artifacts(&self) -> bool {
        matches!(
            self,
            TargetSpec::Registry { .. } | TargetSpec::Oci { .. } | TargetSpec::Dir { .. }
        )
    }

    /// The target's kind as `--to` spells it, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Registry { .. } => "registry://",
            TargetSpec::Oci { .. } => "oci:",
            TargetSpec::Dir { .. } => "dir:",
            TargetSpec::DockerArchive { .. } => "docker-archive:",
            TargetSpec::Containerd { .. } => "containerd",
            TargetSpec::ContainersStorage(_) => "containers-storage",
        }
    }
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
        if let Some(dir) = s.strip_prefix("dir:") {
            if dir.is_empty() {
                bail!("--to dir:PATH needs a directory");
            }
            return Ok(TargetSpec::Dir { dir: dir.into() });
        }
        if let Some(file) = s.strip_prefix("docker-archive:") {
            if file.is_empty() {
                bail!("--to docker-archive:FILE needs a file name");
            }
            return Ok(TargetSpec::DockerArchive { file: file.into() });
        }
        if let Some(rest) = s.strip_prefix("containers-storage") {
            let spec = match rest.strip_prefix(':') {
                Some(spec) => parse_storage(spec)?,
                None if rest.is_empty() => None,
                None => bail!("--to {s}: expected containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT] (brackets literal)"),
            };
            return Ok(TargetSpec::ContainersStorage(spec));
        }
        if let Some(rest) = s.strip_prefix("containerd") {
            // containerd, containerd:///run/x.sock, containerd?namespace=ns, or both.
            let (sock, query) = rest.split_once('?').unwrap_or((rest, ""));
            let socket = match sock.strip_prefix("://") {
                Some(p) if p.starts_with('/') => PathBuf::from(p),
                None if sock.is_empty() => PathBuf::from(DEFAULT_SOCKET),
                _ => bail!(
                    "--to {s}: expected containerd[:///path/to/containerd.sock][?namespace=NS]"
                ),
            };
            let mut namespace = DEFAULT_NAMESPACE.to_string();
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                match k.as_ref() {
                    "namespace" if !v.is_empty() => namespace = v.into_owned(),
                    _ => bail!("--to {s}: unknown or empty option {k:?} (only namespace=NS)"),
                }
            }
            return Ok(TargetSpec::Containerd { socket, namespace });
        }
        bail!("--to {s}: expected registry://HOST[:PORT][/PREFIX], oci:DIR, dir:PATH, docker-archive:FILE, containerd[://SOCKET][?namespace=NS] or containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT] (brackets literal)")
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
            TargetSpec::ContainersStorage(Some(super::StorageSpec {
                driver: "vfs".into(),
                root: "/a/root".into(),
                runroot: "/a/run".into()
            }))
        );
        assert!(t("containers-storage:vfs@/a+/b").is_err());
        assert!(t("containers-storagex").is_err());
    }
}
