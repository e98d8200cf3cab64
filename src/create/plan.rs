//! What to put in the bundle, computed once from the resolved images and the base: each
//! distinct config and layer (in bundle order, with the images that need it), and the layers a
//! delta leaves out because the other side holds them. Pure: no I/O.

use super::resolve::ResolvedImage;
use crate::digest::Digest;
use crate::held::Held;
use std::collections::{HashMap, HashSet};

/// A distinct blob and the image that first needed it (for downloading and for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub registry: String,
    pub repository: String,
    /// Indexes into the images the plan was made from.
    pub images: Vec<usize>,
    /// For progress bars: the first image that needs it and which of its blobs it is
    /// (`nginx:1.27 layer 2/5`, `nginx:1.27 config`).
    pub label: String,
}

impl Need {
    /// Configs are fetched before the layers: describing the bundle reads them (platforms).
    pub fn is_config(&self) -> bool {
        self.size < 1 << 20 && crate::manifest::is_config(&self.media_type)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("blob {digest} is listed with two sizes ({first} and {second}) by {image} and another image; a manifest is wrong")]
pub struct PlanError {
    pub digest: Digest,
    pub first: u64,
    pub second: u64,
    pub image: String,
}

/// Two different images whose names differ only in their registry: where the registry is
/// dropped from the path (`load --to registry://`, `serve`), one would take the other's tag.
#[derive(Debug, thiserror::Error)]
#[error("{list}: {first} and {second} are different images that the site would name alike, {name} (`load --to registry://` and `serve` drop the registry from the path){more}; list one of them, or create with --keep-registry and load and serve with --keep-registry, which keep the registry in the path")]
pub struct NameClashError {
    pub list: String,
    pub name: String,
    pub first: String,
    pub second: String,
    pub more: String,
}

/// Refuse images that would clash where the registry is dropped from their names.
pub fn refuse_name_clashes(
    list: &std::path::Path,
    images: &[ResolvedImage],
) -> Result<(), NameClashError> {
    let named = images.iter().filter_map(|img| {
        let r = &img.entry.reference;
        let name = format!("{}:{}", r.repository, r.tag.as_ref()?);
        let source = format!("{} (line {})", img.entry.source, img.entry.line);
        Some((name, img.top.digest.clone(), source))
    });
    let clashes = crate::reference::name_clashes(named);
    let Some(c) = clashes.first() else {
        return Ok(());
    };
    Err(NameClashError {
        list: list.display().to_string(),
        name: c.name.clone(),
        first: c.first.clone(),
        second: c.second.clone(),
        more: match clashes.len() {
            1 => String::new(),
            n => format!(" (and {} more name(s) like it)", n - 1),
        },
    })
}

#[derive(Debug, Default)]
pub struct Plan {
    /// The configs and layers the bundle carries, in bundle order (first use).
    pub needs: Vec<Need>,
    /// Layers the images need that a delta leaves out.
    pub omitted: HashSet<Digest>,
}

impl Plan {
    pub fn new(images: &[ResolvedImage], base: Option<&Held>) -> Result<Plan, PlanError> {
        let omitted = omitted_by(images, base);
        let needs = distinct_blobs(images)?
            .into_iter()
            .filter(|n| !omitted.contains(&n.digest))
            .collect();
        Ok(Plan { needs, omitted })
    }

    /// Configs first, then the rest in bundle order: the order to download in.
    pub fn download_order(&self) -> impl Iterator<Item = &Need> {
        let configs = self.needs.iter().filter(|n| n.is_config());
        configs.chain(self.needs.iter().filter(|n| !n.is_config()))
    }

    pub fn bytes(&self) -> u64 {
        self.needs.iter().map(|n| n.size).sum()
    }
}

/// Distinct config/layer blobs in bundle order (first appearance), with the images needing them.
fn distinct_blobs(images: &[ResolvedImage]) -> Result<Vec<Need>, PlanError> {
    let mut needs: Vec<Need> = Vec::new();
    let mut at: HashMap<Digest, usize> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        let numbered = img.blobs.iter().flat_map(|(_, b)| {
            let layers = b.len().saturating_sub(1);
            b.iter().enumerate().map(move |(k, blob)| (k, layers, blob))
        });
        for (pos, layers, b) in numbered {
            let Some(&k) = at.get(&b.digest) else {
                at.insert(b.digest.clone(), needs.len());
                needs.push(Need {
                    digest: b.digest.clone(),
                    size: b.size,
                    media_type: b.media_type.clone(),
                    registry: img.entry.reference.registry.clone(),
                    repository: img.entry.reference.repository.clone(),
                    images: vec![i],
                    label: match pos {
                        0 => format!("{} config", img.entry.source),
                        _ => format!("{} layer {pos}/{layers}", img.entry.source),
                    },
                });
                continue;
            };
            if needs[k].size != b.size {
                return Err(PlanError {
                    digest: b.digest.clone(),
                    first: needs[k].size,
                    second: b.size,
                    image: img.entry.source.clone(),
                });
            }
            if !needs[k].images.contains(&i) {
                needs[k].images.push(i);
            }
        }
    }
    Ok(needs)
}

/// The layers (never configs, manifests or indexes: small, and what a loader plans and verifies
/// with) that the base already holds.
fn omitted_by(images: &[ResolvedImage], base: Option<&Held>) -> HashSet<Digest> {
    let Some(base) = base else {
        return HashSet::new();
    };
    let configs: HashSet<&Digest> = images
        .iter()
        .flat_map(|i| i.blobs.iter().filter_map(|(_, b)| b.first()))
        .map(|c| &c.digest)
        .collect();
    images
        .iter()
        .flat_map(|i| i.blobs.iter().flat_map(|(_, b)| b.iter().skip(1)))
        .filter(|l| base.held.contains(&l.digest) && !configs.contains(&l.digest))
        .map(|l| l.digest.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::resolve::BlobRef;
    use super::*;
    use crate::imagelist::ImageEntry;
    use crate::registry::Manifest;

    fn d(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    fn blob(n: u8, size: u64, media_type: &str) -> BlobRef {
        BlobRef {
            digest: d(n),
            size,
            media_type: media_type.into(),
        }
    }

    fn image(name: &str, blobs: Vec<BlobRef>) -> ResolvedImage {
        let entry = ImageEntry {
            source: name.into(),
            reference: crate::reference::Reference::parse(name).unwrap(),
            origin: Default::default(),
            platforms: None,
            own_platforms: false,
            line: 1,
            found: None,
        };
        ResolvedImage {
            entry,
            top: Manifest {
                bytes: Vec::new(),
                media_type: String::new(),
                digest: d(200),
            },
            children: Vec::new(),
            nested_indexes: Vec::new(),
            platforms: Vec::new(),
            complete: true,
            blobs: vec![(d(200), blobs)],
            referrers: Vec::new(),
            carries: Default::default(),
        }
    }

    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    #[test]
    fn each_blob_once_in_first_use_order_and_a_delta_leaves_out_held_layers() {
        let images = vec![
            image(
                "r.test/a:1",
                vec![
                    blob(1, 10, CONFIG),
                    blob(2, 2 << 20, LAYER),
                    blob(3, 30, LAYER),
                ],
            ),
            image(
                "r.test/b:1",
                vec![blob(4, 10, CONFIG), blob(3, 30, LAYER), blob(5, 50, LAYER)],
            ),
        ];
        let plan = Plan::new(&images, None).unwrap();
        let order: Vec<&Digest> = plan.needs.iter().map(|n| &n.digest).collect();
        assert_eq!(order, vec![&d(1), &d(2), &d(3), &d(4), &d(5)]);
        assert_eq!(plan.needs[2].images, vec![0, 1]);
        // A bar names the first image that needs the blob, and which of its blobs it is.
        let labels: Vec<&str> = plan.needs.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "r.test/a:1 config",
                "r.test/a:1 layer 1/2",
                "r.test/a:1 layer 2/2",
                "r.test/b:1 config",
                "r.test/b:1 layer 2/2"
            ]
        );
        let first: Vec<&Digest> = plan.download_order().map(|n| &n.digest).collect();
        assert_eq!(first, vec![&d(1), &d(4), &d(2), &d(3), &d(5)]);
        // The base holds layer 3 and config 4: the layer is left out, the config never is.
        let base = Held {
            kind: "inventory",
            digest: d(9),
            name: "site.json".into(),
            held: [d(3), d(4)].into_iter().collect(),
            manifests: Vec::new(),
            file: None,
            carried: HashSet::new(),
        };
        let delta = Plan::new(&images, Some(&base)).unwrap();
        assert_eq!(delta.omitted, [d(3)].into_iter().collect());
        assert!(delta.needs.iter().all(|n| n.digest != d(3)));
        assert_eq!(delta.bytes(), plan.bytes() - 30);
    }

    #[test]
    fn one_blob_with_two_sizes_is_an_error() {
        let images = vec![
            image("r.test/a:1", vec![blob(1, 10, CONFIG), blob(2, 20, LAYER)]),
            image("r.test/b:1", vec![blob(4, 10, CONFIG), blob(2, 21, LAYER)]),
        ];
        let e = Plan::new(&images, None).unwrap_err();
        assert_eq!((e.first, e.second), (20, 21));
    }
}
