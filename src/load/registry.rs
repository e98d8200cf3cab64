//! `--to registry://HOST[:PORT][/PREFIX]`: push with digests unchanged. A blob already in the
//! repository is skipped (HEAD); one already pushed to another repository is mounted; anything
//! else is uploaded in one PUT, which the registry verifies against the digest.

use super::plan::PlannedImage;
use super::target::{BlobOutcome, Opener, Target};
use crate::digest::Digest;
use crate::format::BlobRecord;
use crate::manifest;
use crate::registry::{Registries, RegistryError};
use crate::verify::Checked;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct RegistryTarget {
    host: String,
    prefix: String,
    registries: Registries,
    /// A repository of this target that holds each blob, for mounts.
    placed: Mutex<HashMap<Digest, String>>,
}

impl RegistryTarget {
    pub fn new(host: &str, prefix: &str, registries: Registries) -> Self {
        RegistryTarget {
            host: host.to_string(),
            prefix: prefix.to_string(),
            registries,
            placed: Mutex::new(HashMap::new()),
        }
    }

    /// `docker.io/library/nginx` -> `PREFIX/library/nginx`: the path is kept, the source
    /// registry's host is dropped.
    pub fn repo_for(&self, img: &PlannedImage) -> String {
        if self.prefix.is_empty() {
            img.reference.repository.clone()
        } else {
            format!("{}/{}", self.prefix, img.reference.repository)
        }
    }
}

impl Target for RegistryTarget {
    fn name(&self) -> String {
        format!(
            "registry://{}{}",
            self.host,
            if self.prefix.is_empty() {
                String::new()
            } else {
                format!("/{}", self.prefix)
            }
        )
    }

    fn put_blob(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Opener,
    ) -> Result<BlobOutcome> {
        let client = self.registries.client(&self.host)?;
        let mut repos: Vec<String> = users.iter().map(|u| self.repo_for(u)).collect();
        repos.dedup();
        let mut out = BlobOutcome::default();
        let mut holder = self.placed.lock().unwrap().get(&blob.digest).cloned();
        for repo in &repos {
            if client.blob_exists(repo, &blob.digest)? {
                out.present += 1;
                holder.get_or_insert_with(|| repo.clone());
                continue;
            }
            if let Some(from) = holder.as_ref().filter(|f| *f != repo) {
                if client.mount_blob(repo, from, &blob.digest)? {
                    out.mounted += 1;
                    continue;
                }
            }
            let size = blob.size;
            let reopen = move || {
                open().map_err(|e| RegistryError::Protocol {
                    what: format!("reading blob {} from the bundle", blob.digest),
                    reason: format!("{e:#}"),
                })
            };
            let body = || Ok(reqwest::blocking::Body::sized(reopen()?, size));
            client
                .upload_blob(repo, &blob.digest, blob.size, &body, &reopen)
                .with_context(|| format!("pushing blob {} for {repo}", blob.digest))?;
            out.sent += 1;
            out.bytes += blob.size;
            holder.get_or_insert_with(|| repo.clone());
        }
        if let Some(h) = holder {
            self.placed.lock().unwrap().insert(blob.digest.clone(), h);
        }
        Ok(out)
    }

    fn commit(&self, plan: &[PlannedImage], checked: &Checked) -> Result<Vec<String>> {
        let client = self.registries.client(&self.host)?;
        // What each image's tag will point at: normally its top manifest or index.
        let mut tag_targets: Vec<(&PlannedImage, &BlobRecord)> = Vec::new();
        for img in plan {
            let repo = self.repo_for(img);
            let top = img.top();
            for m in &img.manifests[..img.manifests.len() - 1] {
                client.put_manifest(
                    &repo,
                    &m.digest.to_string(),
                    &m.media_type,
                    &checked.metadata[&m.digest],
                )?;
            }
            let pushed = client.put_manifest(
                &repo,
                &top.digest.to_string(),
                &top.media_type,
                &checked.metadata[&top.digest],
            );
            match pushed {
                Ok(()) => tag_targets.push((img, top)),
                // A registry may refuse an index whose platforms were left out of the bundle.
                // With one platform left, that platform's manifest is what the tag can name.
                Err(e) if img.partial && manifest::is_index(&top.media_type) => {
                    let children: Vec<&BlobRecord> = img
                        .manifests
                        .iter()
                        .filter(|m| !manifest::is_index(&m.media_type))
                        .collect();
                    if children.len() == 1 {
                        eprintln!(
                            "note: {} refused index {} of {} because some of its platforms are not in the bundle; tagging the one platform manifest {} instead (digest differs from the source tag)",
                            self.host, top.digest, img.record.reference, children[0].digest
                        );
                        tag_targets.push((img, children[0]));
                    } else {
                        return Err(anyhow::Error::new(e).context(format!(
                            "{} is a partial multi-platform image and the registry refused its index; load it with --platform to choose one",
                            img.record.reference
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut names = Vec::new();
        for (img, target) in tag_targets {
            let repo = self.repo_for(img);
            match &img.reference.tag {
                Some(tag) => {
                    client.put_manifest(
                        &repo,
                        tag,
                        &target.media_type,
                        &checked.metadata[&target.digest],
                    )?;
                    names.push(format!("{}/{repo}:{tag}", self.host));
                }
                None => names.push(format!("{}/{repo}@{}", self.host, target.digest)),
            }
        }
        Ok(names)
    }
}
