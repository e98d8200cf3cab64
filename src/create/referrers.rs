//! Signatures, attestations and SBOMs that refer to an image's manifests, found three ways for
//! each subject: the OCI 1.1 referrers API, else its fallback `sha256-<hex>` tag, and cosign's
//! `sha256-<hex>.sig|.att|.sbom` tags; then, to a bounded depth, what refers to those (a
//! signature on an attestation).

use crate::digest::Digest;
use crate::format::ReferrerRecord;
use crate::manifest::{self, Descriptor};
use crate::registry::{Manifest, RegistryClient, RegistryError};
use std::collections::{HashSet, VecDeque};

/// Which referrers `create` carries (`--referrers`, `--artifact-type`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub mode: Mode,
    /// Only referrers of these artifact types (empty: any).
    pub artifact_types: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Mode {
    #[default]
    All,
    Signatures,
    None,
}

impl Policy {
    fn wants(&self, artifact_type: &str, kind: &str) -> bool {
        let typed = self.artifact_types.is_empty()
            || self.artifact_types.iter().any(|t| t == artifact_type);
        typed && (self.mode == Mode::All || kind == "signature")
    }
}

/// A referrer to carry: its manifest, and what bundle.json says of it.
pub struct Found {
    pub manifest: Manifest,
    pub record: ReferrerRecord,
}

/// How deep referrers of referrers are followed: an image, its attestation, a signature on it.
const MAX_DEPTH: usize = 3;
/// The most referrers carried for one image: far beyond real images (a few per platform).
const MAX_REFERRERS: usize = 500;

/// Everything that refers to `subjects` (and to what is found), breadth first, each once.
pub fn discover(
    client: &RegistryClient,
    repo: &str,
    subjects: &[Digest],
    policy: &Policy,
) -> Result<Vec<Found>, RegistryError> {
    let mut out: Vec<Found> = Vec::new();
    if policy.mode == Mode::None {
        return Ok(out);
    }
    let mut seen: HashSet<Digest> = subjects.iter().cloned().collect();
    let mut queue: VecDeque<(Digest, usize)> = subjects.iter().map(|d| (d.clone(), 0)).collect();
    while let Some((subject, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH || out.len() >= MAX_REFERRERS {
            continue;
        }
        for (m, found, tag) in candidates(client, repo, &subject)? {
            if !seen.insert(m.digest.clone()) || manifest::is_index(&m.media_type) {
                continue;
            }
            let Some(record) = record_of(&m, &subject, found, tag) else {
                continue;
            };
            if !policy.wants(&record.artifact_type, &record.kind) {
                continue;
            }
            queue.push_back((m.digest.clone(), depth + 1));
            out.push(Found {
                manifest: m,
                record,
            });
        }
    }
    Ok(out)
}

/// A manifest that refers to a subject, how it was found, and the cosign tag it came by.
type Candidate = (Manifest, &'static str, Option<String>);

/// What refers to `subject`.
fn candidates(
    client: &RegistryClient,
    repo: &str,
    subject: &Digest,
) -> Result<Vec<Candidate>, RegistryError> {
    let (listed, found): (Vec<Descriptor>, &str) = match client.referrers(repo, subject)? {
        Some(list) => (list, "referrers-api"),
        None => {
            let tag = manifest::referrers_tag(subject);
            let list = match client.find_manifest(repo, &tag)? {
                Some(m) if manifest::is_index(&m.media_type) => manifest::parse_index(&m.bytes)
                    .map(|i| i.manifests)
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            (list, "referrers-tag")
        }
    };
    let mut out = Vec::new();
    for d in listed {
        if let Some(m) = client.manifest_if_there(repo, &d.digest.to_string())? {
            out.push((m, found, None));
        }
    }
    for (suffix, _) in manifest::COSIGN_TAGS {
        let tag = format!("{}.{suffix}", manifest::referrers_tag(subject));
        if let Some(m) = client.find_manifest(repo, &tag)? {
            out.push((m, "cosign-tag", Some(tag)));
        }
    }
    Ok(out)
}

/// The record of a referrer. One found through the referrers list must name `subject` as its
/// subject (a stale fallback tag may list others); a cosign tag is named after it.
fn record_of(
    m: &Manifest,
    subject: &Digest,
    found: &str,
    tag: Option<String>,
) -> Option<ReferrerRecord> {
    let r = manifest::parse_referring(&m.bytes).ok()?;
    if tag.is_none() && r.subject.as_ref().map(|s| &s.digest) != Some(subject) {
        return None;
    }
    let artifact_type = r.artifact_type();
    Some(ReferrerRecord {
        digest: m.digest.clone(),
        media_type: m.media_type.clone(),
        size: m.bytes.len() as u64,
        subject: subject.clone(),
        kind: manifest::referrer_kind(&artifact_type, tag.as_deref()).into(),
        artifact_type,
        found: found.into(),
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_keeps_what_was_asked_for() {
        let all = Policy::default();
        assert!(all.wants("application/spdx+json", "sbom"));
        let sigs = Policy {
            mode: Mode::Signatures,
            artifact_types: Vec::new(),
        };
        assert!(sigs.wants("x", "signature"));
        assert!(!sigs.wants("application/spdx+json", "sbom"));
        let typed = Policy {
            mode: Mode::All,
            artifact_types: vec!["application/spdx+json".into()],
        };
        assert!(typed.wants("application/spdx+json", "sbom"));
        assert!(!typed.wants("application/vnd.in-toto+json", "attestation"));
    }
}
