//! `docker-archive:FILE[:REF]`: what `docker save`, `podman save` and `skopeo copy …
//! docker-archive:` write. Both layouts are read through their `manifest.json` (the legacy one
//! with `<id>/layer.tar`, and Docker 25+'s, whose entries point into its OCI `blobs/`). The
//! config is carried byte for byte; each layer is read as containers/image reads it
//! (decompressed if it was compressed), checked against the config's diff_ids, and gzipped as
//! skopeo gzips it (`schema2`).

use super::image::{BlobStore, Blobs, Found, LocalError, LocalImage};
use super::schema2::{self, PgzipWriter};
use crate::digest::{Digest, HashingWriter};
use crate::reference::Reference;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Bounds on what an untrusted archive makes us hold in memory.
const MAX_MEMBERS: usize = 1_000_000;
const MAX_JSON: u64 = 32 << 20;
const MAX_LINKS: usize = 16;

#[derive(Debug, Clone)]
enum Member {
    Data {
        offset: u64,
        size: u64,
    },
    /// A hard link's target (from the archive's root) or a symlink's, made absolute.
    Link(String),
}

/// One image of `manifest.json`.
#[derive(Debug, serde::Deserialize)]
struct Item {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(serde::Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// The archive's image (REF picks it by tag), its layers gzipped into `store`, and its
/// manifest made as skopeo makes it.
pub fn convert(
    file: &Path,
    want: Option<&str>,
    store: &dyn BlobStore,
) -> Result<LocalImage, LocalError> {
    let at = |reason: String| LocalError::at(file, reason);
    let members = index(file).map_err(|e| at(format!("not a docker archive: {e}")))?;
    let listing = read_member(file, &members, "manifest.json")?;
    let items: Vec<Item> = serde_json::from_slice(&listing)
        .map_err(|e| at(format!("its manifest.json is not a docker archive's: {e}")))?;
    let item = pick(&items, want).map_err(at)?;
    let config = read_member(file, &members, &item.config)?;
    let parsed: Config = serde_json::from_slice(&config)
        .map_err(|e| at(format!("its image config {}: {e}", item.config)))?;
    let diff_ids = parsed.rootfs.diff_ids;
    if diff_ids.len() != item.layers.len() {
        return Err(at(format!(
            "its config lists {} layers and its manifest.json {}",
            diff_ids.len(),
            item.layers.len()
        )));
    }
    let (config_digest, config_size) = store
        .keep(None, &mut |w| w.write_all(&config))
        .map_err(|e| at(format!("keeping its config: {e}")))?;
    let layers = gzip_layers(file, &members, &item.layers, &diff_ids, store)?;
    let bytes = schema2::manifest((&config_digest, config_size), &layers);
    Ok(LocalImage {
        top: Found {
            digest: Digest::of(&bytes),
            bytes,
            media_type: crate::manifest::DOCKER_MANIFEST.to_string(),
        },
        names: item.repo_tags.clone().unwrap_or_default(),
        held: HashMap::new(),
        blobs: Blobs::Kept,
        place: file.to_path_buf(),
    })
}

/// The image REF names (one of its RepoTags), or the archive's only image.
fn pick<'a>(items: &'a [Item], want: Option<&str>) -> Result<&'a Item, String> {
    let tags = || {
        let t: Vec<&str> = items
            .iter()
            .flat_map(|i| i.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        match t.is_empty() {
            true => "none".to_string(),
            false => t.join(", "),
        }
    };
    let Some(want) = want else {
        return match items {
            [only] => Ok(only),
            [] => Err("the archive holds no image".into()),
            all => Err(format!(
                "the archive holds {} images; name one as docker-archive:FILE:REF (its tags: {})",
                all.len(),
                tags()
            )),
        };
    };
    let wanted = Reference::parse(want).map_err(|e| e.to_string())?;
    let named = |t: &String| Reference::parse(t).is_ok_and(|r| r == wanted);
    items
        .iter()
        .find(|i| i.repo_tags.iter().flatten().any(named))
        .ok_or_else(|| {
            format!(
                "the archive has no image tagged {want} (its tags: {})",
                tags()
            )
        })
}

/// Each distinct layer gzipped once (on every core), in the manifest's order.
fn gzip_layers(
    file: &Path,
    members: &HashMap<String, Member>,
    layers: &[String],
    diff_ids: &[Digest],
    store: &dyn BlobStore,
) -> Result<Vec<(Digest, u64)>, LocalError> {
    use rayon::prelude::*;
    let mut distinct: Vec<(&String, &Digest)> = Vec::new();
    for (l, d) in layers.iter().zip(diff_ids) {
        if !distinct.iter().any(|(_, seen)| *seen == d) {
            distinct.push((l, d));
        }
    }
    let made: Vec<(Digest, (Digest, u64))> = distinct
        .par_iter()
        .map(|(l, d)| Ok(((*d).clone(), gzip_layer(file, members, l, d, store)?)))
        .collect::<Result<_, LocalError>>()?;
    let made: HashMap<Digest, (Digest, u64)> = made.into_iter().collect();
    Ok(diff_ids.iter().map(|d| made[d].clone()).collect())
}

fn gzip_layer(
    file: &Path,
    members: &HashMap<String, Member>,
    name: &str,
    diff_id: &Digest,
    store: &dyn BlobStore,
) -> Result<(Digest, u64), LocalError> {
    let at = |reason: String| LocalError::at(file, format!("layer {name}: {reason}"));
    let (offset, size) = locate(members, name).map_err(&at)?;
    let mut f = File::open(file).map_err(|e| at(e.to_string()))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| at(e.to_string()))?;
    let mut raw = uncompressed(BufReader::new(f.take(size))).map_err(|e| at(e.to_string()))?;
    if let Some(made) = store.made_from(diff_id) {
        // Still read and checked: the archive must hold the layer its config names.
        let (got, _) = crate::digest::hash_reader(raw).map_err(|e| at(e.to_string()))?;
        return match got == *diff_id {
            true => Ok(made),
            false => Err(at(damaged(&got, diff_id))),
        };
    }
    let made = store
        .keep(None, &mut |w| {
            let mut tar = HashingWriter::new(PgzipWriter::new(w)?);
            io::copy(&mut raw, &mut tar)?;
            let (gz, got, _) = tar.finish();
            if got != *diff_id {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    damaged(&got, diff_id),
                ));
            }
            gz.finish().map(|_| ())
        })
        .map_err(|e| at(e.to_string()))?;
    store.remember(diff_id, &made);
    Ok(made)
}

fn damaged(got: &Digest, diff_id: &Digest) -> String {
    format!("its tar is {got}, but the config says {diff_id}: the archive is damaged")
}

/// A layer as containers/image reads it from an archive: decompressed if it is gzip or zstd.
fn uncompressed<'a>(mut r: BufReader<io::Take<File>>) -> io::Result<Box<dyn Read + Send + 'a>> {
    let head = r.fill_buf()?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(zstd::Decoder::with_buffer(r)?),
        [b'B', b'Z', b'h', ..] | [0xfd, b'7', b'z', b'X', b'Z', 0] => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "compressed with bzip2 or xz, which bundle does not read; save the image with uncompressed layers",
            ))
        }
        _ => Box::new(r),
    })
}

/// Where each member of the archive is, reading its headers only.
fn index(file: &Path) -> io::Result<HashMap<String, Member>> {
    let mut archive = tar::Archive::new(File::open(file)?);
    let mut out = HashMap::new();
    for e in archive.entries_with_seek()? {
        let e = e?;
        if out.len() >= MAX_MEMBERS {
            return Err(io::Error::other(
                "it has more members than any image archive",
            ));
        }
        let path = clean(&String::from_utf8_lossy(&e.path_bytes()));
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let member = match (e.header().entry_type(), link) {
            (tar::EntryType::Link, Some(l)) => Member::Link(clean(&l)),
            (tar::EntryType::Symlink, Some(l)) => {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                Member::Link(clean(&format!("{dir}/{l}")))
            }
            (t, _) if t.is_file() => Member::Data {
                offset: e.raw_file_position(),
                size: e.size(),
            },
            _ => continue,
        };
        out.insert(path, member);
    }
    Ok(out)
}

/// A member's path from the archive's root: no `./`, no `..`, no leading or doubled `/`.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// A member's data, through its links.
fn locate(members: &HashMap<String, Member>, name: &str) -> Result<(u64, u64), String> {
    let mut at = clean(name);
    for _ in 0..MAX_LINKS {
        match members.get(&at) {
            Some(Member::Data { offset, size }) => return Ok((*offset, *size)),
            Some(Member::Link(to)) => at = to.clone(),
            None => return Err(format!("the archive has no {at}")),
        }
    }
    Err(format!("{name} is a chain of more than {MAX_LINKS} links"))
}

/// A small member (manifest.json, a config), read whole.
fn read_member(
    file: &Path,
    members: &HashMap<String, Member>,
    name: &str,
) -> Result<Vec<u8>, LocalError> {
    let at = |reason: String| LocalError::at(file, reason);
    let (offset, size) = locate(members, name).map_err(|e| {
        at(format!(
            "not a docker archive (`docker save` or `podman save` output): {e}"
        ))
    })?;
    if size > MAX_JSON {
        return Err(at(format!("{name} is {size} bytes; no image's is")));
    }
    let mut f = File::open(file).map_err(|e| at(e.to_string()))?;
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.take(size).read_to_end(&mut bytes))
        .map_err(|e| at(format!("reading {name}: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(tags: &[&str]) -> Item {
        Item {
            config: "c.json".into(),
            repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            layers: Vec::new(),
        }
    }

    #[test]
    fn an_image_is_picked_by_any_spelling_of_its_tag() {
        let items = [item(&["localhost/a:1"]), item(&["nginx:1.27", "x.io/n:2"])];
        let got = pick(&items, Some("docker.io/library/nginx:1.27")).unwrap();
        assert_eq!(got.repo_tags.as_ref().unwrap()[1], "x.io/n:2");
        let e = pick(&items, None).unwrap_err();
        assert!(
            e.contains("2 images") && e.contains("localhost/a:1, nginx:1.27"),
            "{e}"
        );
        let e = pick(&items, Some("localhost/a:2")).unwrap_err();
        assert!(e.contains("no image tagged localhost/a:2"), "{e}");
    }

    /// Blobs kept in memory, as the cache keeps them on disk.
    #[derive(Default)]
    struct Memory(std::sync::Mutex<HashMap<Digest, Vec<u8>>>);

    impl BlobStore for Memory {
        fn has(&self, d: &Digest, _: u64) -> bool {
            self.0.lock().unwrap().contains_key(d)
        }
        fn keep(
            &self,
            _: Option<(&Digest, u64)>,
            fill: &mut dyn FnMut(&mut dyn std::io::Write) -> io::Result<()>,
        ) -> io::Result<(Digest, u64)> {
            let mut bytes = Vec::new();
            fill(&mut bytes)?;
            let d = Digest::of(&bytes);
            let n = bytes.len() as u64;
            self.0.lock().unwrap().insert(d.clone(), bytes);
            Ok((d, n))
        }
    }

    /// An archive as Docker 25+ writes it: an OCI layout whose manifest.json points into blobs/.
    fn docker25(layer_member: &[u8], diff_id: &Digest) -> tempfile::NamedTempFile {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let (c, l) = (Digest::of(config.as_bytes()), Digest::of(layer_member));
        let listing = format!(
            r#"[{{"Config":"{}","RepoTags":["app:1"],"Layers":["{}"]}}]"#,
            c.layout_path(),
            l.layout_path()
        );
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add(&c.layout_path(), config.as_bytes());
        add(&l.layout_path(), layer_member);
        add("manifest.json", listing.as_bytes());
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b.into_inner().unwrap()).unwrap();
        f
    }

    #[test]
    fn a_docker_25_archive_is_read_and_a_compressed_layer_gzipped_again_as_skopeo_does() {
        let tar: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        let diff_id = Digest::of(&tar);
        let gz = gzip_exact::klauspost::pgzip(&tar, -1, gzip_exact::klauspost::PgzipKind::DEFAULT)
            .unwrap();
        let mut other = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut other, &tar).unwrap();
        let other = other.finish().unwrap();
        for member in [&tar, &other] {
            let file = docker25(member, &diff_id);
            let store = Memory::default();
            let img = convert(file.path(), Some("docker.io/library/app:1"), &store).unwrap();
            assert_eq!(img.names, ["app:1"]);
            let m = crate::manifest::parse_manifest(&img.top.bytes).unwrap();
            assert_eq!(m.layers[0].digest, Digest::of(&gz));
            assert_eq!(store.0.lock().unwrap()[&m.layers[0].digest], gz);
            assert_eq!(img.top.digest, Digest::of(&img.top.bytes));
        }
        // A layer that is not what the config says is refused, naming it.
        let file = docker25(&tar[1..], &diff_id);
        let e = convert(file.path(), None, &Memory::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the archive is damaged") && e.contains("blobs/sha256/"),
            "{e}"
        );
    }

    #[test]
    fn links_are_followed_from_the_archives_root_and_bounded() {
        let mut m = HashMap::new();
        m.insert(
            "b/x.tar".to_string(),
            Member::Data {
                offset: 512,
                size: 9,
            },
        );
        m.insert(
            "a/layer.tar".to_string(),
            Member::Link(clean("a/../b/x.tar")),
        );
        m.insert("loop".to_string(), Member::Link("loop".into()));
        assert_eq!(locate(&m, "./a/layer.tar"), Ok((512, 9)));
        assert!(locate(&m, "loop").unwrap_err().contains("chain"));
        assert!(locate(&m, "c").unwrap_err().contains("no c"));
        assert_eq!(clean("/../x//./y"), "x/y");
    }
}
