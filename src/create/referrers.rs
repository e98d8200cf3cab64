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
/// A referrer manifest larger than this is not fetched (cosign's are about 1 KiB).
const MAX_REFERRER_BYTES: u64 = 4 << 20;

/// Why discovery stopped short: a registry that lists more than any image has.
#[derive(Debug, thiserror::Error)]
#[error("its referrers come to more than {budget} bytes of manifests (with the image's own), more than any real image has")]
pub struct OverBudget {
    pub budget: u64,
}

/// Everything that refers to `subjects` (and to what is found), breadth first, each once, at
/// most `MAX_REFERRERS`, their manifests within `budget` bytes (what the image's own manifests
/// left of its budget). Listed descriptors are deduplicated and capped before anything is
/// fetched, and a manifest is fetched once however many subjects list it.
pub fn discover(
    client: &RegistryClient,
    repo: &str,
    subjects: &[Digest],
    policy: &Policy,
    budget: u64,
) -> Result<Vec<Found>, RegistryError> {
    if policy.mode == Mode::None {
        return Ok(Vec::new());
    }
    let mut d = Discovery {
        client,
        repo,
        accepted: subjects.iter().cloned().collect(),
        fetched: std::collections::HashMap::new(),
        left: budget,
        budget,
    };
    let mut out: Vec<Found> = Vec::new();
    let mut queue: VecDeque<(Digest, usize)> = subjects.iter().map(|d| (d.clone(), 0)).collect();
    while let Some((subject, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for (m, found, tag) in d.candidates(&subject, MAX_REFERRERS - out.len())? {
            if out.len() >= MAX_REFERRERS {
                break;
            }
            // Accepted only once its subject checks out: a stale entry elsewhere hides nothing.
            let Some(record) = record_of(&m, &subject, found, tag) else {
                continue;
            };
            if !policy.wants(&record.artifact_type, &record.kind)
                || !d.accepted.insert(m.digest.clone())
            {
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

/// One image's discovery: what was accepted, what was fetched (each digest once), and what is
/// left of its manifest budget.
struct Discovery<'a> {
    client: &'a RegistryClient,
    repo: &'a str,
    accepted: HashSet<Digest>,
    /// Fetched manifests by digest (None: not there), so a digest listed for many subjects
    /// costs one request.
    fetched: std::collections::HashMap<Digest, Option<Manifest>>,
    left: u64,
    budget: u64,
}

impl Discovery<'_> {
    /// What refers to `subject`: at most `room` of the listed descriptors not yet accepted (no
    /// indexes, none larger than a referrer can be), then cosign's tags.
    fn candidates(
        &mut self,
        subject: &Digest,
        room: usize,
    ) -> Result<Vec<Candidate>, RegistryError> {
        let (listed, found) = self.listed(subject)?;
        let mut wanted: Vec<Descriptor> = Vec::new();
        for d in listed {
            let fits = d.size <= MAX_REFERRER_BYTES && !manifest::is_index(&d.media_type);
            if fits
                && !self.accepted.contains(&d.digest)
                && !wanted.iter().any(|w| w.digest == d.digest)
            {
                wanted.push(d);
            }
            if wanted.len() >= room {
                break;
            }
        }
        let mut out = Vec::new();
        for d in wanted {
            if let Some(m) = self.fetch(&d.digest)? {
                out.push((m, found, None));
            }
        }
        for (suffix, _) in manifest::COSIGN_TAGS {
            let tag = format!("{}.{suffix}", manifest::referrers_tag(subject));
            if let Some(m) = self.client.find_manifest(self.repo, &tag)? {
                self.spend(m.bytes.len() as u64)?;
                out.push((m, "cosign-tag", Some(tag)));
            }
        }
        Ok(out)
    }

    /// The descriptors the referrers API lists for `subject`, else its fallback tag's index.
    fn listed(
        &mut self,
        subject: &Digest,
    ) -> Result<(Vec<Descriptor>, &'static str), RegistryError> {
        if let Some(list) = self.client.referrers(self.repo, subject)? {
            return Ok((list, "referrers-api"));
        }
        let tag = manifest::referrers_tag(subject);
        let list = match self.client.find_manifest(self.repo, &tag)? {
            Some(m) if manifest::is_index(&m.media_type) => manifest::parse_index(&m.bytes)
                .map(|i| i.manifests)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok((list, "referrers-tag"))
    }

    fn fetch(&mut self, d: &Digest) -> Result<Option<Manifest>, RegistryError> {
        if let Some(m) = self.fetched.get(d) {
            return Ok(m.clone());
        }
        let m = self.client.manifest_if_there(self.repo, &d.to_string())?;
        if let Some(m) = &m {
            self.spend(m.bytes.len() as u64)?;
        }
        self.fetched.insert(d.clone(), m.clone());
        Ok(m)
    }

    /// Every manifest fetched counts against the image's budget, carried or not.
    fn spend(&mut self, bytes: u64) -> Result<(), RegistryError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or_else(|| RegistryError::Protocol {
                what: self.repo.to_string(),
                reason: OverBudget {
                    budget: self.budget,
                }
                .to_string(),
            })?;
        Ok(())
    }
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
