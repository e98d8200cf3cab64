//! `--format` and writing a runtime's files into the output directory, each through a
//! temporary name renamed into place.

use super::error::MirrorsError;
use super::plan::{MirrorPlan, Rendered};
use super::sources::Provenance;
use super::{containerd, crio, docker, k3s, openshift};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Containerd,
    CriO,
    K3s,
    Docker,
    OpenShift,
}

pub const FORMATS: &str = "containerd, cri-o, k3s (or rke2), docker or openshift";

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Containerd,
        Format::CriO,
        Format::K3s,
        Format::Docker,
        Format::OpenShift,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Containerd => "containerd",
            Format::CriO => "cri-o",
            Format::K3s => "k3s",
            Format::Docker => "docker",
            Format::OpenShift => "openshift",
        }
    }

    fn render(self, plan: &MirrorPlan, provenance: &Provenance) -> Rendered {
        match self {
            Format::Containerd => containerd::render(plan, provenance),
            Format::CriO => crio::render(plan, provenance),
            Format::K3s => k3s::render(plan, provenance),
            Format::Docker => docker::render(plan, provenance),
            Format::OpenShift => openshift::render(plan, provenance),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s {
            "containerd" => Format::Containerd,
            "cri-o" | "crio" => Format::CriO,
            "k3s" | "rke2" => Format::K3s,
            "docker" => Format::Docker,
            "openshift" => Format::OpenShift,
            _ => return Err(format!("--format {s}: expected {FORMATS}")),
        })
    }
}

/// What was written for one format.
#[derive(Debug)]
pub struct Written {
    pub format: Format,
    pub files: Vec<PathBuf>,
    /// For the operator: what a format cannot say, or does not cover.
    pub notes: Vec<String>,
    /// Images the format could have mirrored that its files do not.
    pub not_covered: usize,
}

impl Written {
    /// Ok when the files cover everything the format can mirror.
    pub fn complete(&self) -> Result<(), MirrorsError> {
        match self.not_covered {
            0 => Ok(()),
            count => Err(MirrorsError::NotCovered {
                format: self.format.name().to_string(),
                count,
            }),
        }
    }
}

/// Render `format` and write its files under `dir` (made if missing).
pub fn write(
    format: Format,
    plan: &MirrorPlan,
    provenance: &Provenance,
    dir: &Path,
) -> Result<Written, MirrorsError> {
    let r = format.render(plan, provenance);
    let mut files = Vec::new();
    for (rel, bytes) in r.files {
        let path = dir.join(rel);
        let failed = |source| MirrorsError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(crate::fsutil::parent_of(&path)).map_err(failed)?;
        crate::fsutil::write_file(&path, &bytes, false).map_err(failed)?;
        files.push(path);
    }
    Ok(Written {
        format,
        files,
        notes: r.notes,
        not_covered: r.not_covered,
    })
}

/// Every format, each in `dir/<format>/` (`load --write-mirrors`).
pub fn write_every(
    plan: &MirrorPlan,
    provenance: &Provenance,
    dir: &Path,
) -> Result<Vec<Written>, MirrorsError> {
    Format::ALL
        .iter()
        .map(|f| write(*f, plan, provenance, &dir.join(f.name())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirrors::plan::{plan, Site};
    use crate::naming::Naming;
    use crate::reference::Reference;

    /// docs/CLI.md's example: a monitoring stack from three registries, loaded into
    /// registry.site.example:5000 (under `prefix`), Prometheus' images moved by a rewrite.
    fn example(prefix: &str, rewrites: &[(&str, &str)]) -> (MirrorPlan, Provenance) {
        let images: Vec<Reference> = [
            "nginx:1.27",
            "grafana/grafana:11.2.0",
            "quay.io/prometheus/prometheus:v2.53.0",
            "quay.io/prometheus/alertmanager:v0.27.0",
            "registry.k8s.io/pause:3.10",
        ]
        .iter()
        .map(|r| Reference::parse(r).unwrap())
        .collect();
        let site = Site {
            host: "registry.site.example:5000".into(),
            prefix: prefix.into(),
            ca_file: Some("/etc/pki/site-ca.pem".into()),
            ..Default::default()
        };
        let naming = Naming {
            keep_registry: false,
            rewrites: rewrites
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        let digest = crate::digest::Digest::of(b"an example bundle.json");
        let provenance = Provenance {
            from: vec![format!(
                "monitoring.bundle (bundle.json {digest}, created 2026-05-01T12:00:00Z)"
            )],
            digest,
            date: "2026-05-04T09:30:00Z".into(),
            command: "bundle mirrors".into(),
        };
        (plan(&images, site, &naming), provenance)
    }

    /// Every file of the example, as written (the version as the docs show it).
    fn rendered(prefix: &str, rewrites: &[(&str, &str)], f: Format) -> Vec<(String, String)> {
        let (plan, provenance) = example(prefix, rewrites);
        f.render(&plan, &provenance)
            .files
            .into_iter()
            .map(|(p, b)| {
                let text = String::from_utf8(b).unwrap().replace(
                    &format!("bundle {}", env!("CARGO_PKG_VERSION")),
                    "bundle 0.1.0",
                );
                (p.display().to_string(), text)
            })
            .collect()
    }

    #[test]
    fn docs_show_the_files_as_written() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CLI.md")).unwrap();
        let rule = [("prometheus", "monitoring")];
        let mut missing = Vec::new();
        for f in Format::ALL {
            let runs: Vec<(String, String)> = match f {
                // Docker's mirror is a registry root: its example loads at the site's root.
                Format::Docker => rendered("", &[], f),
                _ => rendered("mirror", &rule, f),
            };
            for (path, text) in runs {
                if std::env::var_os("PRINT_MIRRORS_EXAMPLE").is_some() {
                    println!("==== {} {path}\n{text}", f.name());
                }
                if !doc.contains(&text) {
                    missing.push(format!("{} {path}", f.name()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "docs/CLI.md does not show these files as written (PRINT_MIRRORS_EXAMPLE=1 prints them): {missing:?}"
        );
    }

    #[test]
    fn docker_hub_at_the_site_root_is_mirrored_and_under_a_prefix_is_not_covered() {
        let (plan, provenance) = example("", &[]);
        let r = Format::Docker.render(&plan, &provenance);
        let json: serde_json::Value = serde_json::from_slice(&r.files[0].1).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"registry-mirrors": ["https://registry.site.example:5000"]})
        );
        assert_eq!(
            r.not_covered, 0,
            "quay.io and registry.k8s.io are beyond Docker"
        );
        assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
        let (plan, provenance) = example("mirror", &[]);
        let r = Format::Docker.render(&plan, &provenance);
        assert_eq!(r.files.len(), 1, "no daemon.json, only the README");
        assert_eq!(r.not_covered, 2, "nginx and grafana are Docker Hub's");
        let readme = String::from_utf8(r.files[0].1.clone()).unwrap();
        assert!(
            readme.contains(
                "docker.io/library/nginx -> registry.site.example:5000/mirror/library/nginx"
            ),
            "{readme}"
        );
    }

    #[test]
    fn containerd_names_docker_hub_by_its_host_dir_and_api_server() {
        let (plan, provenance) = example("mirror", &[]);
        let r = Format::Containerd.render(&plan, &provenance);
        let (path, bytes) = &r.files[0];
        assert_eq!(path.display().to_string(), "docker.io/hosts.toml");
        let toml = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            toml.contains("server = \"https://registry-1.docker.io\""),
            "{toml}"
        );
        assert!(
            toml.contains("[host.\"https://registry.site.example:5000/v2/mirror\"]"),
            "{toml}"
        );
        assert!(toml.contains("ca = \"/etc/pki/site-ca.pem\""), "{toml}");
        assert_eq!(r.not_covered, 0);
    }
}
