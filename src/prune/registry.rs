//! Pruning a registry: every tag of every repository in its catalog is looked at. A tag stays
//! when its manifest is kept, when it is the referrers fallback tag of a kept subject, or when
//! it is `bundle-pinned` (whose index loses the entries that go). Manifests go by digest, an
//! index before its children; blobs are the registry's garbage collector's.

use super::found::Pruned;
use crate::digest::Digest;
use crate::manifest;
use crate::registry::{Manifest, Registries, RegistryClient, RegistryError};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashSet};

/// One repository's manifests that go, in delete order, and its tags that go with them.
#[derive(Default)]
struct Doomed {
    manifests: Vec<Digest>,
    tags: Vec<String>,
    /// The `bundle-pinned` index without the entries that go, when some go and some stay.
    pinned: Option<Vec<u8>>,
}

pub fn prune(host: &str, regs: &Registries, keep: &HashSet<Digest>, yes: bool) -> Result<Pruned> {
    let client = regs.client(host)?;
    let repos = client
        .catalog()
        .with_context(|| format!("listing the repositories of {host} (its /v2/_catalog)"))?;
    let mut pruned = Pruned {
        site: format!("registry://{host}"),
        ..Default::default()
    };
    for repo in &repos {
        let doomed =
            doomed_in(&client, repo, keep).with_context(|| format!("looking at {host}/{repo}"))?;
        pruned
            .tags
            .extend(doomed.tags.iter().map(|t| format!("{repo}:{t}")));
        pruned
            .manifests
            .extend(doomed.manifests.iter().map(|d| format!("{repo}@{d}")));
        if doomed.pinned.is_some() {
            pruned
                .rewritten
                .push(format!("{repo}:{}", manifest::PINNED_TAG));
        }
        if yes {
            remove(&client, host, repo, &doomed)?;
        }
    }
    pruned.removed = yes;
    Ok(pruned)
}

/// What goes from `repo`.
fn doomed_in(client: &RegistryClient, repo: &str, keep: &HashSet<Digest>) -> Result<Doomed> {
    let tags = match client.tags(repo) {
        Ok(t) => t,
        Err(RegistryError::NotFound { .. }) => return Ok(Doomed::default()),
        Err(e) => return Err(e.into()),
    };
    let mut tagged: BTreeMap<String, Manifest> = BTreeMap::new();
    for tag in tags {
        let m = client.get_manifest(repo, &tag)?;
        tagged.insert(tag, m);
    }
    // Everything a kept manifest leads to stays, whatever the kept files list.
    let mut staying: HashSet<Digest> = keep.clone();
    let roots = tagged
        .iter()
        .filter(|(tag, m)| stays(tag, m, keep))
        .map(|(_, m)| m.clone());
    for m in roots {
        walk(client, repo, m, &mut |d| {
            staying.insert(d.clone());
        })?;
    }
    let mut doomed = Doomed::default();
    let mut seen = HashSet::new();
    for (tag, m) in &tagged {
        if tag == manifest::PINNED_TAG {
            match pinned_without(client, repo, m, &staying, &mut doomed.manifests)? {
                Pinned::Unchanged => {}
                Pinned::Fewer(bytes) => doomed.pinned = Some(bytes),
                // An index before what it lists.
                Pinned::Empty => {
                    doomed.tags.push(tag.clone());
                    doomed.manifests.insert(0, m.digest.clone());
                }
            }
            continue;
        }
        if staying.contains(&m.digest) || stays(tag, m, keep) {
            continue;
        }
        doomed.tags.push(tag.clone());
        if seen.insert(m.digest.clone()) {
            walk(client, repo, m.clone(), &mut |d| {
                if !staying.contains(d) && !doomed.manifests.contains(d) {
                    doomed.manifests.push(d.clone());
                }
            })?;
        }
    }
    Ok(doomed)
}

/// A tag that stays on its own account: its manifest is kept, or it lists the referrers of a
/// kept subject (its index is the site's own, made at load, so no bundle names its digest).
fn stays(tag: &str, m: &Manifest, keep: &HashSet<Digest>) -> bool {
    keep.contains(&m.digest) || fallback_subject(tag).is_some_and(|s| keep.contains(&s))
}

/// The subject whose referrers fallback tag (`sha256-<hex>`) this is.
fn fallback_subject(tag: &str) -> Option<Digest> {
    let hex = tag.strip_prefix("sha256-")?;
    format!("sha256:{hex}").parse().ok()
}

/// `m` and every manifest it leads to (an index's children, which the registry may lack),
/// parents first.
fn walk(
    client: &RegistryClient,
    repo: &str,
    m: Manifest,
    visit: &mut dyn FnMut(&Digest),
) -> Result<()> {
    let mut todo = vec![m];
    let mut seen = HashSet::new();
    while let Some(m) = todo.pop() {
        if !seen.insert(m.digest.clone()) {
            continue;
        }
        visit(&m.digest);
        if manifest::is_index(&m.media_type) {
            let idx = manifest::parse_index(&m.bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            let children = idx
                .manifests
                .iter()
                .filter_map(|c| client.get_manifest(repo, &c.digest.to_string()).ok());
            todo.extend(children);
        }
    }
    Ok(())
}

/// What becomes of a repository's `bundle-pinned` index.
enum Pinned {
    Unchanged,
    /// Rewritten without the entries that go.
    Fewer(Vec<u8>),
    /// Every entry goes: so does the index.
    Empty,
}

/// The `bundle-pinned` index without the manifests that go (added to `doomed`).
fn pinned_without(
    client: &RegistryClient,
    repo: &str,
    index: &Manifest,
    staying: &HashSet<Digest>,
    doomed: &mut Vec<Digest>,
) -> Result<Pinned> {
    let mut doc: serde_json::Value = serde_json::from_slice(&index.bytes)
        .with_context(|| format!("its {} index is not JSON", manifest::PINNED_TAG))?;
    let Some(list) = doc["manifests"].as_array_mut() else {
        return Ok(Pinned::Unchanged);
    };
    let before = list.len();
    let mut going = Vec::new();
    list.retain(|e| {
        let d = e["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
        match d {
            Some(d) if !staying.contains(&d) => {
                going.push(d);
                false
            }
            _ => true,
        }
    });
    if list.len() == before {
        return Ok(Pinned::Unchanged);
    }
    let left = !list.is_empty();
    for d in going {
        let m = match client.get_manifest(repo, &d.to_string()) {
            Ok(m) => m,
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        walk(client, repo, m, &mut |c| {
            if !staying.contains(c) && !doomed.contains(c) {
                doomed.push(c.clone());
            }
        })?;
    }
    Ok(match left {
        true => Pinned::Fewer(serde_json::to_vec(&doc)?),
        false => Pinned::Empty,
    })
}

/// Remove what goes: the `bundle-pinned` index first when it is rewritten, so no index lists a
/// manifest that is gone; then each manifest, parents before children.
fn remove(client: &RegistryClient, host: &str, repo: &str, doomed: &Doomed) -> Result<()> {
    let refused = |e: RegistryError| -> anyhow::Error {
        match &e {
            RegistryError::Status { status: 405, .. } => anyhow::anyhow!(
                "{host} does not allow deleting manifests (HTTP 405): enable deletion in its configuration (distribution: storage: delete: enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true) and run prune again; nothing more was removed"
            ),
            _ => anyhow::Error::new(e).context(format!("pruning {host}/{repo}")),
        }
    };
    if let Some(bytes) = &doomed.pinned {
        client
            .put_manifest(repo, manifest::PINNED_TAG, manifest::OCI_INDEX, bytes)
            .map_err(refused)?;
    }
    for d in &doomed.manifests {
        client.delete_manifest(repo, d).map_err(refused)?;
    }
    Ok(())
}
