//! `oci:DIR[:TAG]`: an OCI image layout (what `skopeo copy … oci:DIR:TAG`, `umoci` and
//! `buildah push … oci:` write). Its manifests and indexes are carried byte for byte, so
//! their digests are the layout's own; each blob is checked against its digest as it is
//! copied.

use super::image::{BlobStore, Blobs, Found, LocalError, LocalImage};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Index};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A manifest or index bigger than this is no real image's (and is not read into memory).
const MAX_MANIFEST: u64 = 4 << 20;
/// index.json lists every image of the layout: a generous bound.
const MAX_INDEX: u64 = 64 << 20;

/// The names the image may have in the layout's annotations, best first.
const NAME_ANNOTATIONS: [&str; 2] = [
    "io.containerd.image.name",
    "org.opencontainers.image.ref.name",
];
const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub fn open(dir: &Path, tag: Option<&str>) -> Result<LocalImage, LocalError> {
    if !dir.is_dir() {
        return Err(LocalError::at(
            dir,
            "no such directory; give an OCI layout (`skopeo copy … oci:DIR:TAG` makes one)",
        ));
    }
    let bytes = crate::fsutil::read_bounded(&dir.join("index.json"), MAX_INDEX).map_err(|e| {
        LocalError::at(
            dir,
            format!("not an OCI layout: its index.json cannot be read ({e})"),
        )
    })?;
    let index =
        manifest::parse_index(&bytes).map_err(|e| LocalError::at(&dir.join("index.json"), e))?;
    let chosen = pick(&index, tag).map_err(|e| LocalError::at(dir, e))?;
    let top = read_manifest(dir, &chosen.digest)?;
    if top.bytes.len() as u64 != chosen.size {
        return Err(LocalError::at(
            dir,
            format!(
                "index.json says {} is {} bytes, but it is {}",
                chosen.digest,
                chosen.size,
                top.bytes.len()
            ),
        ));
    }
    let names = NAME_ANNOTATIONS
        .iter()
        .filter_map(|k| chosen.annotations.get(*k).cloned())
        .collect();
    Ok(LocalImage {
        top,
        names,
        held: HashMap::new(),
        blobs: Blobs::Layout(dir.to_path_buf()),
        place: dir.to_path_buf(),
    })
}

/// The image TAG names (its `ref.name` annotation), or the layout's only image.
fn pick<'a>(index: &'a Index, tag: Option<&str>) -> Result<&'a Descriptor, String> {
    let tags = || {
        let t: Vec<&str> = index
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        match t.is_empty() {
            true => "none".to_string(),
            false => t.join(", "),
        }
    };
    match (tag, index.manifests.as_slice()) {
        (None, [only]) => Ok(only),
        (None, []) => Err("the layout holds no image".into()),
        (None, all) => Err(format!(
            "the layout holds {} images; name one as oci:DIR:TAG (its tags: {})",
            all.len(),
            tags()
        )),
        (Some(t), all) => all
            .iter()
            .find(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == t))
            .ok_or_else(|| format!("the layout has no image tagged {t} (its tags: {})", tags())),
    }
}

/// A manifest or index of the layout, checked against its digest.
pub fn read_manifest(dir: &Path, d: &Digest) -> Result<Found, LocalError> {
    let path = dir.join(d.layout_path());
    let bytes = crate::fsutil::read_bounded(&path, MAX_MANIFEST)
        .map_err(|e| LocalError::at(dir, format!("manifest {d}: {e}")))?;
    if Digest::of(&bytes) != *d {
        return Err(LocalError::at(
            &path,
            format!("its bytes do not hash to {d}: the layout is damaged"),
        ));
    }
    let media_type = manifest::media_type_of(&bytes, None)
        .map_err(|e| LocalError::at(&path, e.replace("registry served", "it is")))?;
    Ok(Found {
        bytes,
        media_type,
        digest: d.clone(),
    })
}

/// Copy a blob of the layout into the store, refused unless it has its digest and size.
pub fn copy_blob(
    dir: &Path,
    d: &Digest,
    size: u64,
    store: &dyn BlobStore,
) -> Result<(), LocalError> {
    let path = dir.join(d.layout_path());
    let mut file =
        std::fs::File::open(&path).map_err(|e| LocalError::at(dir, format!("blob {d}: {e}")))?;
    store
        .keep(Some((d, size)), &mut |w| {
            std::io::copy(&mut (&mut file).take(size + 1), w).map(|_| ())
        })
        .map_err(|e| LocalError::at(&path, e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tags: &[&str]) -> Index {
        let m: Vec<String> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    r#"{{"mediaType":"{}","digest":"{}","size":1,"annotations":{{"{REF_NAME}":"{t}"}}}}"#,
                    manifest::OCI_MANIFEST,
                    Digest::of(&[i as u8])
                )
            })
            .collect();
        manifest::parse_index(format!(r#"{{"manifests":[{}]}}"#, m.join(",")).as_bytes()).unwrap()
    }

    #[test]
    fn an_image_is_picked_by_tag_or_as_the_only_one() {
        let two = index(&["1.0", "2.0"]);
        assert_eq!(pick(&two, Some("2.0")).unwrap().digest, Digest::of(&[1]));
        let e = pick(&two, None).unwrap_err();
        assert!(e.contains("2 images") && e.contains("1.0, 2.0"), "{e}");
        let e = pick(&two, Some("3.0")).unwrap_err();
        assert!(e.contains("no image tagged 3.0"), "{e}");
        assert!(pick(&index(&["x"]), None).is_ok());
        assert!(pick(&index(&[]), None).is_err());
    }
}
