//! The list's `files:`, each made an OCI artifact as `oras push` makes one: an empty config, one
//! layer holding the file's bytes with its name in `org.opencontainers.image.title`. The bytes
//! go into the blob cache (a URL's checked against its sha256 first), so the downloads that
//! follow find them there.

use super::cache::{BlobCache, PutError};
use super::resolve::{BlobRef, ResolvedImage};
use crate::apps::{FileEntry, FileSource};
use crate::digest::Digest;
use crate::format::{CarriedFile, Carries};
use crate::imagelist::ImageEntry;
use crate::manifest::{OCI_EMPTY, OCI_MANIFEST};
use crate::reference::Reference;
use crate::registry::{Manifest, Registries, RegistryError};
use serde::Serialize;
use std::path::Path;

/// What `oras push` gives an artifact without `--artifact-type`, and a file without a type.
const ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";
const FILE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const TITLE: &str = "org.opencontainers.image.title";
/// The empty JSON object, the config of an artifact that has none.
const EMPTY: &[u8] = b"{}";
/// A file larger than this is a mistake in the list, not something to carry by accident.
const MAX_FILE: u64 = 64 << 30;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{list}:{line}: file {from}: {source}")]
    Read {
        list: String,
        line: usize,
        from: String,
        source: PutError,
    },
    #[error("{list}:{line}: file {from}: {source}")]
    Download {
        list: String,
        line: usize,
        from: String,
        source: Box<RegistryError>,
    },
}

/// Every file of the list, stored in the cache and described as an artifact.
pub fn gather(
    list: &Path,
    files: &[FileEntry],
    registries: &Registries,
    cache: &BlobCache,
) -> Result<Vec<ResolvedImage>, FileError> {
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    // Every file artifact's config.
    cache
        .put(EMPTY, 2, None)
        .map_err(|source| FileError::Read {
            list: list.display().to_string(),
            line: first.line,
            from: source_text(first),
            source,
        })?;
    files
        .iter()
        .map(|f| {
            let (digest, size) = store(list, f, registries, cache)?;
            Ok(artifact(f, digest, size))
        })
        .collect()
}

/// The file's bytes in the cache: read from disk, or downloaded unless the cache has them.
fn store(
    list: &Path,
    f: &FileEntry,
    registries: &Registries,
    cache: &BlobCache,
) -> Result<(Digest, u64), FileError> {
    let from = source_text(f);
    let read_err = |source| FileError::Read {
        list: list.display().to_string(),
        line: f.line,
        from: from.clone(),
        source,
    };
    match &f.from {
        FileSource::Path(p) => {
            let file = std::fs::File::open(p).map_err(|e| read_err(PutError::Read(e)))?;
            cache.put(file, MAX_FILE, None).map_err(read_err)
        }
        FileSource::Url { url, sha256 } => {
            let digest: Digest = format!("sha256:{sha256}")
                .parse()
                .expect("checked by the list");
            if let Some(size) = cache.size_of(&digest) {
                return Ok((digest, size));
            }
            let download_err = |source| FileError::Download {
                list: list.display().to_string(),
                line: f.line,
                from: from.clone(),
                source: Box::new(source),
            };
            let host = url_host(url);
            let resp = registries
                .web(&host)
                .and_then(|c| c.open(url))
                .map_err(download_err)?;
            cache.put(resp, MAX_FILE, Some(&digest)).map_err(read_err)
        }
    }
}

fn source_text(f: &FileEntry) -> String {
    match &f.from {
        FileSource::Path(p) => p.display().to_string(),
        FileSource::Url { url, .. } => url.clone(),
    }
}

/// `host[:port]` of a URL the list already checked.
pub fn url_host(url: &str) -> String {
    let u = url::Url::parse(url).expect("checked by the list");
    let host = u.host_str().unwrap_or_default().to_string();
    u.port().map_or(host.clone(), |p| format!("{host}:{p}"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: Desc<'a>,
    layers: Vec<Desc<'a>>,
}

/// A descriptor in the field order of Go's `ocispec.Descriptor`, as oras marshals it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Desc<'a> {
    media_type: &'a str,
    digest: &'a Digest,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<std::collections::BTreeMap<&'a str, &'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
}

/// The resolved "image" a file is: its artifact manifest, the empty config and the file.
fn artifact(f: &FileEntry, digest: Digest, size: u64) -> ResolvedImage {
    let empty = Digest::of(EMPTY);
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        artifact_type: ARTIFACT_TYPE,
        config: Desc {
            media_type: OCI_EMPTY,
            digest: &empty,
            size: EMPTY.len() as u64,
            annotations: None,
            data: Some("e30="),
        },
        layers: vec![Desc {
            media_type: FILE_LAYER,
            digest: &digest,
            size,
            annotations: Some([(TITLE, f.name.as_str())].into_iter().collect()),
            data: None,
        }],
    };
    let bytes = serde_json::to_vec(&manifest).expect("plain values serialise");
    let blobs = vec![
        BlobRef {
            digest: empty.clone(),
            size: EMPTY.len() as u64,
            media_type: OCI_EMPTY.into(),
        },
        BlobRef {
            digest: digest.clone(),
            size,
            media_type: FILE_LAYER.into(),
        },
    ];
    let carries = Carries {
        file: Some(CarriedFile {
            name: f.name.clone(),
            from: source_text(f),
            digest,
            size,
        }),
        ..Default::default()
    };
    super::resolve::artifact(entry(f), manifest_of(bytes), blobs, carries)
}

fn manifest_of(bytes: Vec<u8>) -> Manifest {
    Manifest {
        digest: Digest::of(&bytes),
        bytes,
        media_type: OCI_MANIFEST.into(),
    }
}

/// `HOST/files/NAME:TAG`: the URL's host, or `localhost` for a file on this machine.
fn entry(f: &FileEntry) -> ImageEntry {
    let host = match &f.from {
        FileSource::Url { url, .. } => url_host(url),
        FileSource::Path(_) => "localhost".into(),
    };
    let name = format!(
        "{host}/files/{}:{}",
        crate::apps::repository_component(&f.name),
        f.tag
    );
    ImageEntry {
        reference: Reference::parse(&name).expect("made of checked parts"),
        source: source_text(f),
        platforms: None,
        own_platforms: false,
        line: f.line,
        found: None,
        origin: Default::default(),
    }
}
