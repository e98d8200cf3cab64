//! Where an image-list entry's image comes from: a registry, or one of the local sources
//! written as skopeo writes them (`oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`,
//! `containers-storage:[STORE]REF`, `docker-daemon:REF`). Pure: nothing is read here.

use crate::reference::Reference;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Origin {
    /// The reference names the image in its registry.
    #[default]
    Registry,
    /// An OCI image layout directory, and which of its images (the `ref.name` annotation).
    /// `renamed`: the entry names it (`as:`).
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        renamed: bool,
    },
    /// What `docker save` / `podman save` write, and which of its images (a `RepoTags` entry).
    Archive {
        file: PathBuf,
        reference: Option<String>,
        renamed: bool,
    },
    /// podman's and buildah's store; `store` is skopeo's `[DRIVER@ROOT+RUNROOT]`, if given.
    Storage {
        store: Option<String>,
        reference: String,
    },
    /// The Docker Engine's images, through its API socket.
    Daemon { reference: String },
}

/// An entry that names a local source: where it is, and the name its image gets on the other
/// side (provisional where the source may name it: `Origin::named_by_entry`).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub origin: Origin,
    pub reference: Reference,
}

impl Origin {
    /// Whether the entry's reference is the image's final name: the source cannot rename it.
    pub fn named_by_entry(&self) -> bool {
        match self {
            Origin::Layout { renamed, .. } => *renamed,
            Origin::Archive {
                reference, renamed, ..
            } => *renamed || reference.is_some(),
            _ => true,
        }
    }
}

const PREFIXES: [&str; 4] = [
    "oci:",
    "docker-archive:",
    "containers-storage:",
    "docker-daemon:",
];

/// Whether `entry` is written as a local source (and so is not a registry reference: a Docker
/// Hub image called `oci` is written `docker.io/library/oci:TAG`).
pub fn is_local(entry: &str) -> bool {
    PREFIXES.iter().any(|p| entry.starts_with(p))
}

/// A local source entry; paths are relative to `base` (the list's directory). `rename` is the
/// entry's `as:`. Err: what is wrong, in the entry's words.
pub fn parse(entry: &str, base: &Path, rename: Option<&str>) -> Result<Parsed, String> {
    let (kind, rest) = entry.split_once(':').unwrap_or((entry, ""));
    let path = |p: &str| match p {
        "" => Err(format!(
            "{entry}: give the {} after `{kind}:`",
            if kind == "oci" { "directory" } else { "file" }
        )),
        p => Ok(base.join(p)),
    };
    // As skopeo splits them: the path ends at its first colon.
    let (first, second) = match rest.split_once(':') {
        Some((a, b)) => (a, Some(b).filter(|b| !b.is_empty())),
        None => (rest, None),
    };
    let (origin, default_name): (Origin, String) = match kind {
        "oci" => {
            let dir = path(first)?;
            let name = provisional(&dir, second.unwrap_or("latest"));
            let origin = Origin::Layout {
                dir,
                tag: second.map(str::to_string),
                renamed: rename.is_some(),
            };
            (origin, name)
        }
        "docker-archive" => {
            let file = path(first)?;
            let name = match second {
                Some(r) => r.to_string(),
                None => provisional(&file, "latest"),
            };
            let origin = Origin::Archive {
                file,
                reference: second.map(str::to_string),
                renamed: rename.is_some(),
            };
            (origin, name)
        }
        "containers-storage" => {
            let (store, r) = split_store(rest).map_err(|m| format!("{entry}: {m}"))?;
            let r = required(entry, r, "an image of the store")?;
            let full = podman_name(r);
            let origin = Origin::Storage {
                store,
                reference: full.clone(),
            };
            (origin, full)
        }
        "docker-daemon" => {
            let r = required(entry, rest, "an image of the Docker Engine")?;
            let origin = Origin::Daemon {
                reference: r.to_string(),
            };
            (origin, r.to_string())
        }
        _ => return Err(format!("{entry}: not a local source")),
    };
    let name = rename.map_or(default_name, str::to_string);
    let reference = Reference::parse(&name).map_err(|e| match rename {
        Some(_) => format!("as: {e}"),
        None => format!(
            "{entry}: {e}; name the image with `as:` (e.g. as: registry.example.com/team/app:1.0)"
        ),
    })?;
    Ok(Parsed { origin, reference })
}

fn required<'a>(entry: &str, r: &'a str, what: &str) -> Result<&'a str, String> {
    match r.is_empty() {
        true => Err(format!(
            "{entry}: name {what} after the colon (e.g. {entry}app:1.0)"
        )),
        false => Ok(r),
    }
}

/// skopeo's `[DRIVER@ROOT+RUNROOT]` in front of the reference, kept as written for skopeo.
fn split_store(rest: &str) -> Result<(Option<String>, &str), &'static str> {
    if !rest.starts_with('[') {
        return Ok((None, rest));
    }
    match rest.find(']') {
        Some(end) => Ok((Some(rest[..=end].to_string()), &rest[end + 1..])),
        None => Err("the store [DRIVER@ROOT+RUNROOT] has no closing `]`"),
    }
}

/// A name as podman's store holds it: a name with no registry is `localhost/NAME`, as
/// `podman build -t NAME` stores it (not Docker Hub's, as elsewhere).
fn podman_name(r: &str) -> String {
    let first = r.split('/').next().unwrap_or(r);
    let has_registry = r.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    match has_registry {
        true => r.to_string(),
        false => format!("localhost/{r}"),
    }
}

/// `localhost/<file or directory name>:<tag>`, lowercased: what a local image is called when
/// nothing better names it.
fn provisional(path: &Path, tag: &str) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._-".contains(c) {
            true => c,
            false => '-',
        })
        .collect();
    let stem = stem.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    format!(
        "localhost/{}:{tag}",
        if stem.is_empty() { "image" } else { stem }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(entry: &str, rename: Option<&str>) -> Parsed {
        parse(entry, Path::new("/lists"), rename).unwrap()
    }

    #[test]
    fn each_kind_is_read_as_skopeo_writes_it_and_named() {
        let l = p("oci:build/App_Layout:1.0", None);
        assert_eq!(
            l.origin,
            Origin::Layout {
                dir: "/lists/build/App_Layout".into(),
                tag: Some("1.0".into()),
                renamed: false
            }
        );
        assert_eq!(l.reference.to_string(), "localhost/app_layout:1.0");
        assert!(!l.origin.named_by_entry());
        let a = p("docker-archive:/tmp/a.tar:127.0.0.1:5000/x/y:2", None);
        assert_eq!(
            a.origin,
            Origin::Archive {
                file: "/tmp/a.tar".into(),
                reference: Some("127.0.0.1:5000/x/y:2".into()),
                renamed: false
            }
        );
        assert_eq!(a.reference.to_string(), "127.0.0.1:5000/x/y:2");
        assert!(a.origin.named_by_entry());
        assert!(!p("docker-archive:a.tar", None).origin.named_by_entry());
        let s = p("containers-storage:[vfs@/r+/rr]app:1", None);
        assert_eq!(
            s.origin,
            Origin::Storage {
                store: Some("[vfs@/r+/rr]".into()),
                reference: "localhost/app:1".into()
            }
        );
        assert_eq!(s.reference.to_string(), "localhost/app:1");
        let s = p("containers-storage:quay.io/a/b:1", None);
        assert_eq!(s.reference.to_string(), "quay.io/a/b:1");
        let d = p("docker-daemon:alpine", None);
        assert_eq!(d.reference.to_string(), "docker.io/library/alpine:latest");
        let r = p("oci:x", Some("registry.example.com/team/app:1.0"));
        assert!(r.origin.named_by_entry());
        assert_eq!(r.reference.to_string(), "registry.example.com/team/app:1.0");
    }

    #[test]
    fn what_is_missing_is_said() {
        let e = parse("oci:", Path::new("."), None).unwrap_err();
        assert!(e.contains("directory"), "{e}");
        let e = parse("docker-daemon:", Path::new("."), None).unwrap_err();
        assert!(e.contains("name an image"), "{e}");
        let e = parse("containers-storage:[vfs@/r", Path::new("."), None).unwrap_err();
        assert!(e.contains("`]`"), "{e}");
        let e = parse("oci:x", Path::new("."), Some("Bad Name")).unwrap_err();
        assert!(e.starts_with("as:"), "{e}");
        assert!(is_local("oci:x") && !is_local("docker.io/library/oci:1"));
    }
}
