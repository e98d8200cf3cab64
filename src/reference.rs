//! Image references, normalised the way Docker does it:
//! `nginx` = `docker.io/library/nginx:latest`; `docker.io` is served by `registry-1.docker.io`.

use crate::digest::Digest;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry as users write it (`docker.io`, `quay.io`, `127.0.0.1:5000`).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// When both a tag and a digest are given, the digest wins (the tag is kept for naming).
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReferenceError {
    #[error("empty image reference")]
    Empty,
    #[error("invalid image reference {0:?}: {1}")]
    Invalid(String, &'static str),
}

const DOCKER_HUB: &str = "docker.io";

fn tag_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `[registry/]path` as Docker normalises it: no registry means Docker Hub, and a one-component
/// path on Docker Hub lives under `library/`.
fn split_registry(name: &str) -> Result<(String, String), &'static str> {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => registry,
    };
    if !registry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    {
        return Err("the registry host holds characters a host name cannot have");
    }
    // A DNS name has at most 253 characters, and a port at most 6 more. Bounding each part
    // (not only the whole text) keeps the canonical form, which adds to it, within the limit.
    if registry.len() > 253 + 6 {
        return Err("the registry host is longer than a host name can be");
    }
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(
            "the repository must be lowercase letters, digits and separators ('.', '_', '-', '/')",
        );
    }
    Ok((registry, repository))
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let bad = |why| ReferenceError::Invalid(s.to_string(), why);
        if s.len() > 1024 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or is too long"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| bad("the digest must be sha256:<64 hex digits>"))?,
                ),
            ),
            None => (s, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if tag.is_some_and(|t| !tag_ok(t)) {
            return Err(bad(
                "the tag may only hold letters, digits, '_', '.', '-' (at most 128)",
            ));
        }
        let (registry, repository) = split_registry(name).map_err(bad)?;
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the registry API is actually served from.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// What to ask the registry for: the pinned digest if any, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag`, if the reference has a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }
}

/// Two different images that one naming puts under the same `name:tag`: loaded, the second
/// would silently take the tag from the first.
#[derive(Debug, PartialEq)]
pub struct NameClash<T> {
    pub name: String,
    pub first: T,
    pub second: T,
}

/// Every clash among `(target name:tag, content digest, source)`: the same name given to
/// different digests (the same image listed twice is no clash).
pub fn name_clashes<T: Clone>(
    named: impl IntoIterator<Item = (String, Digest, T)>,
) -> Vec<NameClash<T>> {
    let mut seen: std::collections::HashMap<String, (Digest, T)> = Default::default();
    let mut clashes = Vec::new();
    for (name, digest, source) in named {
        match seen.get(&name) {
            Some((d, first)) if *d != digest => clashes.push(NameClash {
                name: name.clone(),
                first: first.clone(),
                second: source,
            }),
            Some(_) => {}
            None => {
                seen.insert(name, (digest, source));
            }
        }
    }
    clashes
}

pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_name_given_to_two_digests_is_a_clash_once_per_extra_image() {
        let d = |b: &[u8]| crate::digest::Digest::of(b);
        let named = vec![
            ("team/app:1".to_string(), d(b"a"), "A"),
            ("team/app:1".to_string(), d(b"a"), "A again"),
            ("team/app:1".to_string(), d(b"b"), "B"),
            ("team/other:1".to_string(), d(b"b"), "C"),
        ];
        let c = super::name_clashes(named);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].name.as_str(), c[0].first, c[0].second),
            ("team/app:1", "A", "B")
        );
    }

    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(norm("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(
            norm("index.docker.io/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            norm("quay.io/prometheus/prometheus:v2.53.0"),
            "quay.io/prometheus/prometheus:v2.53.0"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000/a/b:c");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("registry.k8s.io/pause@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), d);
        let r = Reference::parse(&format!("registry.k8s.io/pause:3.9@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("3.9"));
        assert_eq!(r.manifest_ref(), d, "tag+digest pins the digest");
        assert_eq!(
            Reference::parse("nginx").unwrap().api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx@sha256:abc",
            "a//b",
            "nginx:-x",
            "a b",
            "quay.io/",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_accepted_reference_parses_again_in_its_canonical_form() {
        // bundle.json stores the canonical form, which adds `:latest` (and for Docker Hub
        // `docker.io/library/`): each part is bounded so that it always fits the text limit.
        let longest = format!(
            "{}:5000/{}:{}@sha256:{}",
            "h".repeat(249),
            "r".repeat(255),
            "t".repeat(128),
            "0".repeat(64)
        );
        let r = Reference::parse(&longest).unwrap();
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        // A host no DNS name can be (the fuzz smoke found it: its canonical form was too long).
        let host = format!("{}/0.0", "a.".repeat(508));
        let e = Reference::parse(&host).unwrap_err().to_string();
        assert!(e.contains("registry host"), "{e}");
    }
}
