//! `--to registry://HOST[:PORT][/PREFIX]`: push with digests unchanged. A blob already in the
//! repository is skipped (HEAD); one already pushed to another repository is mounted; anything
//! else is uploaded in one PUT, which the registry verifies against the digest.

use super::target::{BlobOutcome, Opener, Put, Target};
use crate::digest::Digest;
use crate::format::BlobRecord;
use crate::manifest;
use crate::naming::Naming;
use crate::registry::{Registries, RegistryError};
use crate::select::PlannedImage;
use crate::verify::Checked;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A blob read back from a scratch file, removed once read.
struct Spooled {
    file: std::fs::File,
    _spool: crate::fsutil::PartialFile,
}

impl std::io::Read for Spooled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

pub struct RegistryTarget {
    host: String,
    prefix: String,
    naming: Naming,
    registries: Registries,
    /// A repository of this target that holds each blob, for mounts.
    placed: Mutex<HashMap<Digest, String>>,
}

impl RegistryTarget {
    pub fn new(host: &str, prefix: &str, naming: Naming, registries: Registries) -> Self {
        RegistryTarget {
            host: host.to_string(),
            prefix: prefix.to_string(),
            naming,
            registries,
            placed: Mutex::new(HashMap::new()),
        }
    }

    /// The repository an image goes to: `naming::Naming::repository` under this target's prefix.
    pub fn repo_for(&self, img: &PlannedImage) -> String {
        self.naming.repository(&self.prefix, &img.reference)
    }
}

impl RegistryTarget {
    /// Make `blob` present in the repository of every image in `users`: where it is already
    /// there it stays, elsewhere it is mounted from a repository that has it, and only then
    /// uploaded, if `open` can give its bytes (a delta's left-out layer cannot). Returns what
    /// was done and whether every repository now has it.
    fn place(
        &self,
        blob: &BlobRecord,
        users: &[&PlannedImage],
        open: Option<Opener>,
    ) -> Result<(BlobOutcome, bool)> {
        let client = self.registries.client(&self.host)?;
        let mut repos: Vec<String> = users.iter().map(|u| self.repo_for(u)).collect();
        repos.sort();
        repos.dedup();
        let (mut mounts, mut uploads) = (0, 0);
        let mut holder = self.placed.lock().unwrap().get(&blob.digest).cloned();
        let mut missing = Vec::new();
        for repo in repos {
            if client.blob_exists(&repo, &blob.digest)? {
                holder.get_or_insert_with(|| repo.clone());
            } else {
                missing.push(repo);
            }
        }
        for repo in &missing {
            if let Some(from) = holder.as_ref().filter(|f| *f != repo) {
                if client.mount_blob(repo, from, &blob.digest)? {
                    mounts += 1;
                    continue;
                }
            }
            let Some(open) = open else {
                return Ok((BlobOutcome::placed(uploads, mounts, 0), false));
            };
            let size = blob.size;
            let reopen = move || {
                open().map_err(|e| RegistryError::Protocol {
                    what: format!("reading blob {} from the bundle", blob.digest),
                    reason: format!("{e:#}"),
                })
            };
            client
                .upload_blob(repo, &blob.digest, size, &reopen)
                .with_context(|| format!("pushing blob {} for {repo}", blob.digest))?;
            uploads += 1;
            holder.get_or_insert_with(|| repo.clone());
        }
        if let Some(h) = holder {
            self.placed.lock().unwrap().insert(blob.digest.clone(), h);
        }
        let out = BlobOutcome::placed(uploads, mounts, uploads * blob.size);
        Ok((out, true))
    }
}

impl Target for RegistryTarget {
    fn check(&self, plan: &[PlannedImage]) -> Result<()> {
        let Some(first) = plan.first() else {
            return Ok(());
        };
        let client = self.registries.client(&self.host)?;
        client
            .check_push_access(&self.repo_for(first))
            .with_context(|| self.name())
    }

    fn tag_name(&self, img: &PlannedImage) -> Option<String> {
        let tag = img.reference.tag.as_ref()?;
        Some(format!("{}/{}:{tag}", self.host, self.repo_for(img)))
    }

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

    fn put_blob(&self, put: Put) -> Result<BlobOutcome> {
        Ok(self.place(put.blob, put.users, Some(put.open))?.0)
    }

    fn has_blob(&self, blob: &BlobRecord, users: &[&PlannedImage]) -> Result<bool> {
        Ok(self.place(blob, users, None)?.1)
    }

    fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
        users: &[&PlannedImage],
    ) -> Result<Option<Box<dyn std::io::Read + Send>>> {
        let client = self.registries.client(&self.host)?;
        for repo in users.iter().map(|u| self.repo_for(u)) {
            if !client.blob_exists(&repo, digest)? {
                continue;
            }
            // Downloaded (and checked) to a scratch file first: the download resumes and
            // retries as create's do, and the reader gets a file that cannot be cut short.
            let dir = std::env::temp_dir();
            let spool = crate::fsutil::PartialFile::scratch(&dir, ".bundle-ref-")
                .with_context(|| format!("creating a spool file in {}", dir.display()))?;
            let mut file = spool.file().try_clone()?;
            client.fetch_blob(&repo, digest, size, &mut file, spool.temp_path(), &|_| {})?;
            std::io::Seek::rewind(&mut file)?;
            return Ok(Some(Box::new(Spooled {
                file,
                _spool: spool,
            })));
        }
        Ok(None)
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
                Ok(_) => tag_targets.push((img, top)),
                // A registry may refuse an index whose platforms were left out of the bundle.
                // With one platform left, that platform's manifest is what the tag can name.
                Err(e) if img.partial && manifest::is_index(&top.media_type) => {
                    let children: Vec<&BlobRecord> = img
                        .manifests
                        .iter()
                        .filter(|m| !manifest::is_index(&m.media_type))
                        .collect();
                    if children.len() == 1 {
                        crate::console::line(format!(
                            "note: {} refused index {} of {} because some of its platforms are not in the bundle; tagging the one platform manifest {} instead (digest differs from the source tag)",
                            self.host, top.digest, img.record.reference, children[0].digest
                        ));
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
        let mut pinned: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
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
                None => {
                    names.push(format!("{}/{repo}@{}", self.host, target.digest));
                    let d = manifest::pinned_descriptor(
                        &target.digest,
                        &target.media_type,
                        target.size,
                        &img.record.reference,
                    );
                    pinned.entry(repo).or_default().push(d);
                }
            }
        }
        for (repo, descriptors) in pinned {
            // The images are in; only the record for `inventory` is missing.
            if let Err(e) = self.record_pinned(&repo, descriptors) {
                crate::console::line(format!(
                    "warning: {}/{repo}: the images loaded by digest could not be recorded under the tag {} ({}); `bundle inventory` will not see them",
                    self.host,
                    manifest::PINNED_TAG,
                    crate::causes::flatten(e.chain())
                ));
            }
        }
        for img in plan {
            self.push_referrers(img, checked)?;
        }
        Ok(names)
    }
}

impl RegistryTarget {
    /// The manifests pushed by digest only, added to the repository's `PINNED_TAG` index (read,
    /// merged, written only when it gains an entry), so `inventory` sees them.
    fn record_pinned(&self, repo: &str, descriptors: Vec<serde_json::Value>) -> Result<()> {
        let client = self.registries.client(&self.host)?;
        let existing = client.find_manifest(repo, manifest::PINNED_TAG)?;
        let old = existing.as_ref().map(|e| &e.bytes[..]);
        if let Some(index) = manifest::merge_into_index(old, descriptors) {
            client.put_manifest(repo, manifest::PINNED_TAG, manifest::OCI_INDEX, &index)?;
        }
        Ok(())
    }

    /// An image's referrers, after the image: each by digest, a cosign one under its tag too;
    /// one with a `subject` is also added to the fallback `sha256-<hex>` tag's index unless
    /// the registry said (`OCI-Subject`) that its referrers API indexed it. Each subject's
    /// index is read and written once, with all of its new entries.
    fn push_referrers(&self, img: &PlannedImage, checked: &Checked) -> Result<()> {
        let client = self.registries.client(&self.host)?;
        let repo = self.repo_for(img);
        let mut unindexed: BTreeMap<&Digest, Vec<serde_json::Value>> = BTreeMap::new();
        for (r, m) in &img.referrers {
            let bytes = &checked.metadata[&m.digest];
            let indexed =
                client.put_manifest(&repo, &r.digest.to_string(), &m.media_type, bytes)?;
            if let Some(tag) = &r.tag {
                client.put_manifest(&repo, tag, &m.media_type, bytes)?;
            } else if indexed.is_none_or(|s| s != r.subject.to_string()) {
                let d = manifest::referrer_descriptor(bytes, &m.media_type);
                unindexed.entry(&r.subject).or_default().push(d);
            }
        }
        for (subject, descriptors) in unindexed {
            let tag = manifest::referrers_tag(subject);
            let existing = client.find_manifest(&repo, &tag)?;
            let old = existing.as_ref().map(|e| &e.bytes[..]);
            if let Some(index) = manifest::merge_into_index(old, descriptors) {
                client.put_manifest(&repo, &tag, manifest::OCI_INDEX, &index)?;
            }
        }
        Ok(())
    }
}
