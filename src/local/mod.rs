//! Images that are in no registry, as image-list entries: an OCI layout (`oci:`), a docker
//! archive (`docker-archive:`), podman's store (`containers-storage:`) and the Docker Engine
//! (`docker-daemon:`). Each is read into what a registry would serve: manifests (an OCI
//! layout's byte for byte; a docker archive's made as skopeo makes them, `schema2`) and blobs,
//! copied into a `BlobStore` (create's blob cache) and checked as they are. `origin` parses an
//! entry; `layout` and `archive` read; `storage` and `daemon` fetch an archive for `archive`.

mod archive;
mod daemon;
mod image;
mod layout;
mod origin;
mod schema2;
mod storage;

pub use image::{BlobStore, Blobs, Found, LocalError, LocalImage};
pub use origin::{is_local, parse, Origin, Parsed};

use crate::digest::Digest;
use crate::reference::Reference;

/// Read a local source; a docker archive's layers are gzipped into `store` meanwhile.
pub fn open(origin: &Origin, store: &dyn BlobStore) -> Result<LocalImage, LocalError> {
    let scratch = || {
        crate::fsutil::ScratchDir::new(".bundle-local-").map_err(|e| {
            LocalError::Said(format!(
                "a scratch directory in $TMPDIR: {e}; set TMPDIR to a roomier place"
            ))
        })
    };
    match origin {
        Origin::Registry => Err(LocalError::Said("a registry image is not local".into())),
        Origin::Layout { dir, tag, .. } => layout::open(dir, tag.as_deref()),
        Origin::Archive {
            file, reference, ..
        } => archive::convert(file, reference.as_deref(), store),
        Origin::Storage {
            store: s,
            reference,
        } => {
            let dir = scratch()?;
            let file = storage::export(s.as_deref(), reference, &dir)?;
            archive::convert(&file, None, store)
        }
        Origin::Daemon { reference } => {
            let dir = scratch()?;
            let file = daemon::export(reference, &dir)?;
            archive::convert(&file, None, store)
        }
    }
}

/// A manifest of the image other than its top one (an index's child).
pub fn manifest(img: &LocalImage, d: &Digest) -> Result<Found, LocalError> {
    if let Some(m) = img.held.get(d) {
        return Ok(m.clone());
    }
    match &img.blobs {
        Blobs::Layout(dir) => layout::read_manifest(dir, d),
        Blobs::Kept => Err(LocalError::at(
            &img.place,
            format!("it has no manifest {d}"),
        )),
    }
}

/// Put a blob of the image into `store`, unless it is there.
pub fn copy_blob(
    img: &LocalImage,
    d: &Digest,
    size: u64,
    store: &dyn BlobStore,
) -> Result<(), LocalError> {
    if store.has(d, size) {
        return Ok(());
    }
    match &img.blobs {
        Blobs::Layout(dir) => layout::copy_blob(dir, d, size, store),
        Blobs::Kept => Err(LocalError::at(
            &img.place,
            format!("blob {d} was not kept while it was read"),
        )),
    }
}

/// The name the image gets on the other side: the entry's, unless the entry leaves it to the
/// source. A docker archive then names it by its one tag; an OCI layout by an annotation that
/// is a full reference (`registry/repo:tag`), else the entry's `localhost/DIR:TAG` stays.
pub fn name(origin: &Origin, entry: &Reference, img: &LocalImage) -> Result<Reference, LocalError> {
    if origin.named_by_entry() {
        return Ok(entry.clone());
    }
    let full = |n: &&String| n.contains('/') && Reference::parse(n).is_ok();
    match origin {
        Origin::Archive { .. } => match img.names.as_slice() {
            [one] => Reference::parse(one).map_err(|e| LocalError::at(&img.place, e.to_string())),
            none_or_many => Err(LocalError::at(
                &img.place,
                format!(
                    "its image has {} tags ({}); name the one it gets as docker-archive:FILE:REF, or give the entry `as:`",
                    none_or_many.len(),
                    none_or_many.join(", ")
                ),
            )),
        },
        _ => Ok(img
            .names
            .iter()
            .find(full)
            .and_then(|n| Reference::parse(n).ok())
            .unwrap_or_else(|| entry.clone())),
    }
}
