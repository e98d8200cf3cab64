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
