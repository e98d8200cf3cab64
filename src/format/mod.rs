//! The bundle file format. docs/FORMAT.md is the specification; this module implements it.

pub mod envelope;
pub mod frames;
pub mod parts;
pub mod patch;
pub mod reader;
pub mod source;
pub mod stream;
pub mod writer;

use crate::cpu::Stage;
use crate::digest::Digest;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_MAGIC: &[u8; 7] = b"OCIBNDL";
pub const INDEX_TRAILER_MAGIC: &[u8; 8] = b"BUNDLEIX";
pub const ENCODING_ZSTD_FRAME: &str = "zstd-frame";
/// A gzip layer carried as its uncompressed tar (`raw/sha256/<hex>.tar`), rebuilt byte for byte
/// on the way out by the encoder its `rebuild` record names (`create --compact`).
pub const ENCODING_GZIP_REBUILD: &str = "gzip-rebuild";

pub const MANIFEST_PATH: &str = "bundle.json";
pub const SIGNATURE_PATH: &str = "bundle.json.sig";
pub const LAYOUT_PATH: &str = "oci-layout";
pub const INDEX_JSON_PATH: &str = "index.json";
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// `bundle.json`: what the bundle holds. Signed byte for byte.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BundleManifest {
    pub format_version: u32,
    pub created: String,
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    pub images: Vec<ImageRecord>,
    pub blobs: Vec<BlobRecord>,
    pub files: Vec<FileRecord>,
    /// Set for a delta bundle (`create --since`): the layers it leaves out, which the loading
    /// side must already hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<DeltaBase>,
    /// Programs carried after the blobs (`create --include-tool`): `tools/NAME`, mode 0755, so
    /// `tar --zstd -xf FILE tools/NAME` gets the loader out. Covered by the signature as every
    /// file listed here is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FileRecord>,
}

/// What a delta bundle was made against, and what it therefore does not carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeltaBase {
    /// `bundle` (an earlier bundle) or `inventory` (a `bundle inventory` file).
    pub kind: String,
    /// sha256 of the base's bundle.json, or of the inventory file.
    pub digest: Digest,
    /// The base's file name as given to `--since`, for messages.
    pub name: String,
    /// Layers the images need that are not in this bundle.
    pub omitted: Vec<BlobRecord>,
}

/// `tools/NAME` with a plain file name: nothing that could climb out of where it is extracted.
pub fn is_tool_path(path: &str) -> bool {
    path.strip_prefix("tools/").is_some_and(|name| {
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    })
}

/// What a bundle carries, counted one way for every command and every `--json`: `manifests`
/// are the image manifests and indexes (referrers' too), `blobs` the configs and layers, as a
/// registry's API divides them; each distinct one once. Left-out layers are not carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contents {
    pub manifests: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
}

/// OCI 1.1-rc's artifact manifest, which early referrers (ORAS) still use.
const ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

impl BundleManifest {
    pub fn contents(&self) -> Contents {
        let mut c = Contents::default();
        for b in &self.blobs {
            let t = b.media_type.as_str();
            if crate::manifest::is_manifest(t)
                || crate::manifest::is_index(t)
                || t == ARTIFACT_MANIFEST
            {
                c.manifests += 1;
            } else {
                c.blobs += 1;
                c.blob_bytes += b.size;
            }
        }
        c
    }

    /// Parse and accept a `bundle.json`: known format version, known blob encodings, each blob
    /// listed once, none both carried and left out. inspect, verify, load and serve all accept
    /// a bundle.json through this, so they agree on what a valid one is. `path` names the
    /// bundle in errors.
    pub fn parse(bytes: &[u8], path: &str) -> Result<BundleManifest, FormatError> {
        let invalid = |detail: String| FormatError::InvalidManifest {
            path: path.to_string(),
            detail,
        };
        let doc: BundleManifest = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("it is not a bundle manifest: {e}")))?;
        if doc.format_version > FORMAT_VERSION {
            return Err(FormatError::NewerVersion {
                path: path.to_string(),
                found: doc.format_version,
            });
        }
        for b in &doc.blobs {
            b.check_encoding(path)?;
        }
        let mut carried = std::collections::HashSet::new();
        if let Some(b) = doc.blobs.iter().find(|b| !carried.insert(&b.digest)) {
            return Err(invalid(format!("it lists blob {} twice", b.digest)));
        }
        if let Some(o) = doc.omitted().iter().find(|o| carried.contains(&o.digest)) {
            return Err(invalid(format!(
                "it lists blob {} as both carried and left out",
                o.digest
            )));
        }
        check_referrers(&doc).map_err(invalid)?;
        let mut tools = std::collections::HashSet::new();
        if let Some(t) = doc
            .tools
            .iter()
            .find(|t| !is_tool_path(&t.path) || !tools.insert(&t.path))
        {
            return Err(invalid(format!(
                "its tool {:?} is not a plain name under tools/, or is listed twice",
                t.path
            )));
        }
        Ok(doc)
    }

    /// How the layers are carried, one entry per way (an encoder and level that rebuilds
    /// them, or as they came), in the order first met. Configs and manifests are not counted.
    pub fn carriage(&self) -> Vec<Carriage> {
        let mut out: Vec<Carriage> = Vec::new();
        let layers = self.blobs.iter().filter(|b| {
            !crate::manifest::is_config(&b.media_type)
                && !crate::manifest::is_index(&b.media_type)
                && !crate::manifest::is_manifest(&b.media_type)
        });
        for b in layers {
            let delta = b.rebuild.as_ref().is_some_and(|r| r.reference.is_some());
            let how = match &b.rebuild {
                Some(r) if r.side_size.is_some() => {
                    format!("rebuilt by {} with side data", r.encoder)
                }
                Some(r) => format!("rebuilt by {} level {}", r.encoder, r.level),
                None => match &b.kept {
                    Some(why) => format!("stored as they came: {why}"),
                    None => "stored as they came".to_string(),
                },
            };
            let how = match delta {
                true => format!("{how}, as deltas against reference layers"),
                false => how,
            };
            let at = match out.iter().position(|c| c.how == how) {
                Some(i) => i,
                None => {
                    out.push(Carriage {
                        how,
                        layers: 0,
                        bytes: 0,
                        raw_bytes: 0,
                        delta,
                        kept: b.kept.clone().filter(|_| b.rebuild.is_none()),
                    });
                    out.len() - 1
                }
            };
            out[at].layers += 1;
            out[at].bytes += b.size;
            out[at].raw_bytes += b.member_size();
        }
        out
    }

    /// Blobs listed but not carried (a delta's base holds them).
    pub fn omitted(&self) -> &[BlobRecord] {
        self.base.as_ref().map_or(&[], |b| b.omitted.as_slice())
    }
}

/// "2 signatures, 1 SBOM, 1 attestation": what refers to an image, counted by kind, or
/// None when nothing does.
/// How many referrers of each kind, for `--json` (every kind present, 0 when none).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct ReferrerCounts {
    pub signatures: usize,
    pub sboms: usize,
    pub attestations: usize,
    /// Anything else that refers to an image.
    pub artifacts: usize,
}

pub fn referrer_counts(referrers: &[ReferrerRecord]) -> ReferrerCounts {
    let mut c = ReferrerCounts::default();
    for r in referrers {
        match r.kind.as_str() {
            "signature" => c.signatures += 1,
            "sbom" => c.sboms += 1,
            "attestation" => c.attestations += 1,
            _ => c.artifacts += 1,
        }
    }
    c
}

pub fn referrer_summary(referrers: &[ReferrerRecord]) -> Option<String> {
    let kinds = [
        ("signature", "signature", "signatures"),
        ("sbom", "SBOM", "SBOMs"),
        ("attestation", "attestation", "attestations"),
        ("artifact", "other artifact", "other artifacts"),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|(kind, one, many)| {
            let n = referrers.iter().filter(|r| r.kind == *kind).count();
            let other = referrers
                .iter()
                .filter(|r| !kinds.iter().any(|(k, _, _)| *k == r.kind))
                .count();
            let n = if *kind == "artifact" { n + other } else { n };
            (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Each referrer refers to its image's manifests or to a referrer listed before it, and a tag
/// it is pushed under is a cosign tag, never one that could replace an image's.
fn check_referrers(doc: &BundleManifest) -> Result<(), String> {
    let records: std::collections::HashMap<&Digest, &BlobRecord> =
        doc.blobs.iter().map(|b| (&b.digest, b)).collect();
    for img in &doc.images {
        // A reader holds an image's referrers' manifests (and indexes them): bounded as create
        // bounds them, by the sizes the blob records give (what a reader reads).
        let bytes: u64 = img
            .referrers
            .iter()
            .filter_map(|r| records.get(&r.digest))
            .map(|b| b.size)
            .sum();
        if bytes > crate::manifest::MAX_MANIFEST_BYTES_PER_IMAGE {
            return Err(format!(
                "the referrers of {} come to {bytes} bytes of manifests, more than any image has",
                img.reference
            ));
        }
        let mut subjects: std::collections::HashSet<&Digest> =
            img.manifests.iter().chain([&img.digest]).collect();
        for r in &img.referrers {
            let carried = records
                .get(&r.digest)
                .is_some_and(|b| crate::manifest::is_manifest(&b.media_type));
            if !carried || !crate::manifest::is_manifest(&r.media_type) {
                return Err(format!(
                    "referrer {} of {} is not a manifest the bundle carries",
                    r.digest, img.reference
                ));
            }
            if !subjects.contains(&r.subject) {
                return Err(format!(
                    "referrer {} of {} refers to {}, which is not one of its manifests",
                    r.digest, img.reference, r.subject
                ));
            }
            // A cosign tag names its subject: `sha256-<subject hex>.sig`. Any other would let a
            // signed bundle file a signature under another image's tag.
            let own = format!("{}.", crate::manifest::referrers_tag(&r.subject));
            if let Some(t) = r
                .tag
                .as_deref()
                .filter(|t| !crate::manifest::is_cosign_tag(t) || !t.starts_with(&own))
            {
                return Err(format!(
                    "referrer {} of {} names tag {:?}, which is not the cosign tag of its subject {}",
                    r.digest, img.reference, t, r.subject
                ));
            }
            subjects.insert(&r.digest);
        }
    }
    Ok(())
}

/// Layers carried one way (`BundleManifest::carriage`): how many, their bytes as the
/// registry holds them, and the bytes of their members (the tars, when rebuilt).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Carriage {
    pub how: String,
    pub layers: usize,
    pub bytes: u64,
    pub raw_bytes: u64,
    /// Carried as patches against layers the loading side holds: `raw_bytes` are the patches'.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delta: bool,
    /// Why `create --compact` stored these as they came (`BlobRecord::kept`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signer {
    pub algorithm: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// As written in the image list.
    pub source: String,
    /// Normalised (`docker.io/library/nginx:1.27`).
    pub reference: String,
    pub digest: Digest,
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Platform manifests carried (for a single manifest: itself).
    pub manifests: Vec<Digest>,
    /// False when a platform filter left some children of an index out.
    pub complete: bool,
    /// Signatures, attestations, SBOMs and other artifacts that refer to the image's manifests
    /// (or to each other), in the order found: a subject before what refers to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerRecord>,
    /// What the entry is when it is not an image of the list: a chart, a file, an image a
    /// chart uses.
    #[serde(flatten)]
    pub carries: Carries,
}

impl Carries {
    /// An image, not a chart or a file: what runtimes pull and image stores take.
    pub fn is_image(&self) -> bool {
        self.chart.is_none() && self.file.is_none()
    }
}

/// What an image record stands for besides its manifests (docs/FORMAT.md): all absent for an
/// image the list names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Carries {
    /// Where an image the list does not name was found (`chart NAME VERSION: values.yaml
    /// image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// The image is a Helm chart (an OCI artifact as `helm push` makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartRecord>,
    /// The image is a file (an OCI artifact as `oras push` makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<CarriedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChartRecord {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The Helm repository's URL, or `oci://…`.
    pub from: String,
    /// The chart's `.tgz` (the artifact's chart layer).
    pub digest: Digest,
    pub size: u64,
    /// The images found in it (references as carried), in the order found.
    #[serde(default)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CarriedFile {
    /// Its name on the other side (the layer's `org.opencontainers.image.title`).
    pub name: String,
    /// The path or URL it was read from, as the list writes it.
    pub from: String,
    pub digest: Digest,
    pub size: u64,
}

/// A manifest carried because it refers to one of an image's manifests: found through the
/// referrers API, the referrers fallback tag, or a cosign tag (docs/FORMAT.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerRecord {
    /// The referrer's manifest, a member like any manifest.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The manifest it refers to: one of the image's, or another referrer.
    pub subject: Digest,
    pub artifact_type: String,
    /// `signature`, `attestation`, `sbom` or `artifact`.
    pub kind: String,
    /// `referrers-api`, `referrers-tag` or `cosign-tag`.
    pub found: String,
    /// The cosign tag (`sha256-<hex>.sig|.att|.sbom`) it is pushed under again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlobRecord {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub encoding: String,
    /// Set for `gzip-rebuild`: how the layer's gzip bytes are made again from its tar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildRecord>,
    /// Set by `create --compact` for a layer it carried as it came: why (`not gzip`,
    /// `reproduced at the start but not to the end`, ...). Words for people only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// Where a `gzip-rebuild` blob's uncompressed tar sits: not under `blobs/`, whose names are
/// digests of the bytes they hold.
pub fn raw_path(digest: &Digest) -> String {
    format!("raw/sha256/{}.tar", digest.hex())
}

/// Where a `gzip-rebuild` blob with side data keeps it, and its tar after it.
pub fn side_path(digest: &Digest) -> String {
    format!("raw/sha256/{}.preflate", digest.hex())
}

/// Where a `gzip-rebuild` blob encoded against a reference layer keeps its patch.
pub fn delta_path(digest: &Digest) -> String {
    format!("raw/sha256/{}.delta", digest.hex())
}

/// The blob a member holds: `blobs/sha256/<hex>`, or the tar of one at `raw/sha256/<hex>.tar`,
/// `….preflate` or `….delta` (`BlobRecord::member_path` the other way round).
pub fn member_digest(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/").or_else(|| {
        let raw = path.strip_prefix("raw/sha256/")?;
        raw.strip_suffix(".tar")
            .or_else(|| raw.strip_suffix(".preflate"))
            .or_else(|| raw.strip_suffix(".delta"))
    })?;
    format!("sha256:{hex}").parse().ok()
}

/// How a `gzip-rebuild` blob's bytes are made from its uncompressed member (docs/FORMAT.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RebuildRecord {
    /// The encoder (`go1.8`: Go's compress/gzip as in Go 1.8–1.26; `zlib`: zlib's deflate).
    pub encoder: String,
    /// The encoder's level, as the encoder numbers them.
    pub level: i32,
    /// The gzip header bytes, hex: mtime, XFL, OS and any name are kept as they were.
    pub header: String,
    /// The uncompressed tar's size and sha256 (the layer's diff ID).
    pub raw_size: u64,
    pub raw_digest: Digest,
    /// For `preflate-rs…`: the bytes of side data before the tar in the member, and their
    /// sha256 (checked before preflate-rs reads them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_digest: Option<Digest>,
    /// Set when the member is encoded against a layer the loading side holds
    /// (`create --compact --since`): the member is then `raw/sha256/<hex>.delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceRecord>,
    /// Where Go's lazy levels can take the stream up again, so that a reader rebuilds its
    /// pieces on every core: `[raw offset, window base, bit position, pending literal (0/1),
    /// match length, match offset]` each (docs/FORMAT.md). A reader that ignores them rebuilds
    /// the same bytes on one core.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<[u64; 6]>,
}

/// The layer a member is encoded against (`patch`), and the member itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceRecord {
    /// The reference layer's digest and size, as registries hold it (gzip).
    pub layer: Digest,
    pub layer_size: u64,
    /// Its tar's size and sha256 (its diff ID): what the patch was encoded against.
    pub raw_size: u64,
    pub raw_digest: Digest,
    /// The patch member's size and sha256, so its bytes can be checked without the reference.
    pub delta_size: u64,
    pub delta_digest: Digest,
}

/// Where readers get the tars that members encoded against a reference need.
pub trait References: Send + Sync {
    /// The tar of `r.layer`, checked to hash to `r.raw_digest`; or why it cannot be had, in
    /// a sentence that names the layer.
    fn get(&self, r: &ReferenceRecord) -> Result<std::sync::Arc<dyn patch::Reference>, String>;
}

impl RebuildRecord {
    /// The record of a recipe, for a tar of `raw_size` bytes with sha256 `raw_digest`.
    pub fn new(recipe: &gzip_exact::Recipe, raw_size: u64, raw_digest: Digest) -> Self {
        let (encoder, level) = recipe.producer.id();
        let (side_size, side_digest) = match recipe.producer {
            gzip_exact::Producer::Preflate { side, sha256 } => {
                (Some(side), Some(Digest::from_sha256(sha256)))
            }
            _ => (None, None),
        };
        RebuildRecord {
            encoder: encoder.into(),
            level,
            header: hex::encode(&recipe.header),
            raw_size,
            raw_digest,
            side_size,
            side_digest,
            reference: None,
            restarts: recipe.restarts.iter().map(restart_entry).collect(),
        }
    }

    /// The member that carries the tar (after its side data, if any), or its patch against a
    /// reference, and its size.
    pub fn member(&self, digest: &Digest) -> (String, u64) {
        match (&self.reference, self.side_size) {
            (Some(r), _) => (delta_path(digest), r.delta_size),
            (None, Some(_)) => (side_path(digest), self.tar_member_size()),
            (None, None) => (raw_path(digest), self.raw_size),
        }
    }

    /// The size of what the encoder reads: side data, if any, then the tar.
    pub fn tar_member_size(&self) -> u64 {
        self.side_size.unwrap_or(0) + self.raw_size
    }

    /// The recipe it names, if this version can run it.
    pub fn recipe(&self) -> Option<gzip_exact::Recipe> {
        let side = match (self.side_size, &self.side_digest) {
            (None, None) => None,
            (Some(size), Some(d)) => Some((size, d.sha256())),
            _ => return None,
        };
        let producer = gzip_exact::Producer::from_id_with_side(&self.encoder, self.level, side)?;
        let restarts = self
            .restarts
            .iter()
            .map(restart_from_entry)
            .collect::<Option<_>>()?;
        gzip_exact::Recipe::new(producer, hex::decode(&self.header).ok()?)?
            .with_restarts(restarts, self.raw_size)
    }
}

fn restart_entry(r: &gzip_exact::Restart) -> [u64; 6] {
    let pending = u64::from(r.pending);
    [
        r.raw,
        r.base,
        r.bit,
        pending,
        r.length.into(),
        r.offset.into(),
    ]
}

fn restart_from_entry(e: &[u64; 6]) -> Option<gzip_exact::Restart> {
    Some(gzip_exact::Restart {
        raw: e[0],
        base: e[1],
        bit: e[2],
        pending: match e[3] {
            0 => false,
            1 => true,
            _ => return None,
        },
        length: u16::try_from(e[4]).ok()?,
        offset: u16::try_from(e[5]).ok()?,
    })
}

impl BlobRecord {
    /// A blob stored as it is.
    pub fn stored(digest: Digest, size: u64, media_type: &str) -> BlobRecord {
        BlobRecord {
            digest,
            size,
            media_type: media_type.to_string(),
            encoding: ENCODING_ZSTD_FRAME.into(),
            rebuild: None,
            kept: None,
        }
    }

    /// The same record, carried as it came by `--compact` for the reason given.
    pub fn kept(self, why: &str) -> BlobRecord {
        BlobRecord {
            kept: Some(why.to_string()),
            ..self
        }
    }

    /// The same record, carried as its tar and rebuilt by `rebuild` (`gzip-rebuild`).
    pub fn rebuilt(self, rebuild: RebuildRecord) -> BlobRecord {
        BlobRecord {
            encoding: ENCODING_GZIP_REBUILD.into(),
            rebuild: Some(rebuild),
            ..self
        }
    }

    /// The tar member holding this blob's bytes (or, rebuilt, its uncompressed tar, after its
    /// side data if it has some).
    pub fn member_path(&self) -> String {
        match &self.rebuild {
            Some(r) => r.member(&self.digest).0,
            None => self.digest.layout_path(),
        }
    }

    /// That member's size.
    pub fn member_size(&self) -> u64 {
        self.rebuild
            .as_ref()
            .map_or(self.size, |r| r.member(&self.digest).1)
    }

    /// The rebuild recipe, if the blob is carried uncompressed; None for one stored as it is.
    pub fn recipe(&self) -> Option<gzip_exact::Recipe> {
        self.rebuild.as_ref()?.recipe()
    }

    /// A reader of this blob's bytes from a reader of its member's content; `refs` gives the
    /// reference tar of a member encoded against one.
    pub fn decoder<'a, R: std::io::Read + Send + 'a>(
        &self,
        member: R,
        refs: Option<&dyn References>,
    ) -> std::io::Result<Box<dyn std::io::Read + Send + 'a>> {
        let Some(r) = self.recipe().and_then(|r| gzip_exact::Rebuilder::new(&r)) else {
            return Ok(Box::new(member));
        };
        let rebuild = self.rebuild.as_ref().expect("a recipe has a record");
        let rebuilt = |tars: Box<dyn std::io::Read + Send + 'a>| {
            crate::cpu::In::new(Stage::Rebuild, gzip_exact::RebuildReader::new(tars, r))
        };
        match &rebuild.reference {
            None => Ok(Box::new(rebuilt(Box::new(member)))),
            Some(reference) => {
                let tar = self.reference_tar(reference, refs)?;
                let tars = patch::Decoder::new(member, tar, rebuild.tar_member_size());
                Ok(Box::new(rebuilt(Box::new(crate::cpu::In::new(
                    Stage::Decode,
                    tars,
                )))))
            }
        }
    }

    /// The reference tar a patch member needs, from `refs`.
    pub fn reference_tar(
        &self,
        reference: &ReferenceRecord,
        refs: Option<&dyn References>,
    ) -> std::io::Result<std::sync::Arc<dyn patch::Reference>> {
        let missing = |why: String| std::io::Error::new(std::io::ErrorKind::NotFound, why);
        match refs {
            Some(refs) => refs.get(reference).map_err(missing),
            None => Err(missing(format!(
                "layer {} is carried as a delta against layer {}, which is not at hand: load into a target that holds it, or give the bundle that carries it with --base",
                self.digest, reference.layer
            ))),
        }
    }

    /// A known encoding, with a recipe this version can run where it needs one.
    fn check_encoding(&self, path: &str) -> Result<(), FormatError> {
        let unknown = |encoding: String| FormatError::UnknownEncoding {
            path: path.to_string(),
            digest: self.digest.to_string(),
            encoding,
        };
        if let Some(r) = self
            .rebuild
            .as_ref()
            .filter(|r| r.raw_size > gzip_exact::max_raw_size(self.size))
        {
            return Err(FormatError::InvalidManifest {
                path: path.to_string(),
                detail: format!(
                    "blob {} declares {} bytes of tar for {} bytes of gzip, more than any layer inflates",
                    self.digest, r.raw_size, self.size
                ),
            });
        }
        match (self.encoding.as_str(), &self.rebuild) {
            (ENCODING_ZSTD_FRAME, None) => Ok(()),
            (ENCODING_GZIP_REBUILD, Some(r))
                if self.recipe().is_some()
                    && gzip_exact::spaced(r.restarts.iter().map(|e| e[0])) =>
            {
                Ok(())
            }
            (ENCODING_GZIP_REBUILD, Some(r))
                if !r.restarts.is_empty()
                    && RebuildRecord { restarts: Vec::new(), ..r.clone() }.recipe().is_some() =>
            {
                Err(FormatError::InvalidManifest {
                    path: path.to_string(),
                    detail: format!(
                        "blob {} has restart points that are out of order or out of bounds for its encoder",
                        self.digest
                    ),
                })
            }
            (ENCODING_GZIP_REBUILD, Some(r)) => Err(unknown(format!(
                "{ENCODING_GZIP_REBUILD} by {} level {} with header {}",
                r.encoder, r.level, r.header
            ))),
            (ENCODING_GZIP_REBUILD, None) | (ENCODING_ZSTD_FRAME, Some(_)) => {
                Err(FormatError::InvalidManifest {
                    path: path.to_string(),
                    detail: format!(
                        "blob {} has encoding {} but {} rebuild record",
                        self.digest,
                        self.encoding,
                        if self.rebuild.is_some() { "a" } else { "no" }
                    ),
                })
            }
            (other, _) => Err(unknown(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
}

/// The seek index in the final skippable frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeekIndex {
    pub format_version: u32,
    pub body_sha256: String,
    pub members: Vec<MemberEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberEntry {
    pub path: String,
    pub size: u64,
    pub header: FrameSpan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<FrameSpan>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FrameSpan {
    pub offset: u64,
    pub length: u64,
}

/// An image's entry in an OCI layout's `index.json` (bundle, `oci:` and `docker-archive:` targets
/// alike), and the name it goes by: `org.opencontainers.image.ref.name` is the full tagged
/// reference (what `skopeo ... oci:DIR:REF` asks for), `io.containerd.image.name` the same (what
/// `ctr images import` names the image); a digest-only image has no ref.name and is named
/// `REPO@DIGEST` for containerd.
pub fn layout_index_entry(
    reference: &crate::reference::Reference,
    media_type: &str,
    digest: &Digest,
    size: u64,
) -> (serde_json::Value, String) {
    let tagged = reference.tagged_name();
    let name = tagged
        .clone()
        .unwrap_or_else(|| format!("{}@{digest}", reference.name()));
    let mut annotations = serde_json::Map::new();
    if let Some(t) = tagged {
        annotations.insert("org.opencontainers.image.ref.name".into(), t.into());
    }
    annotations.insert("io.containerd.image.name".into(), name.clone().into());
    let entry = serde_json::json!({
        "mediaType": media_type, "digest": digest.to_string(), "size": size, "annotations": annotations,
    });
    (entry, name)
}

/// An OCI layout's `index.json` listing `entries` (see `layout_index_entry`).
pub fn index_json_bytes(entries: Vec<serde_json::Value>) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::manifest::OCI_INDEX,
        "manifests": entries,
    }))
}

pub fn padded(size: u64) -> u64 {
    size.div_ceil(512) * 512
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: not a bundle (no bundle header); was it made by `bundle create`?")]
    NotABundle { path: String },
    #[error("{path}: made by a newer bundle (format version {found}, this one reads {FORMAT_VERSION}); upgrade bundle")]
    NewerVersion { path: String, found: u32 },
    #[error("{path}: the file is truncated or its end is damaged ({detail}); copy it again")]
    Truncated { path: String, detail: String },
    #[error(
        "{path}: the seek index is corrupt ({detail}); the file was changed after it was written"
    )]
    IndexCorrupt { path: String, detail: String },
    #[error("{path}: {detail}")]
    Part { path: String, detail: String },
    #[error("{path}: bundle.json is invalid: {detail}")]
    InvalidManifest { path: String, detail: String },
    #[error("{path}: member {member} is missing from the bundle")]
    MissingMember { path: String, member: String },
    #[error("{path}: member {member} is damaged: {detail}")]
    MemberCorrupt {
        path: String,
        member: String,
        detail: String,
    },
    #[error("{path}: blob {digest} uses encoding {encoding:?}, which this version cannot read; upgrade bundle")]
    UnknownEncoding {
        path: String,
        digest: String,
        encoding: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_are_counted_by_kind() {
        let r = |kind: &str| ReferrerRecord {
            digest: crate::digest::Digest::of(kind.as_bytes()),
            media_type: String::new(),
            size: 1,
            subject: crate::digest::Digest::of(b"s"),
            artifact_type: String::new(),
            kind: kind.into(),
            found: "cosign-tag".into(),
            tag: None,
        };
        let all = [r("signature"), r("sbom"), r("signature"), r("attestation")];
        assert_eq!(
            referrer_summary(&all).as_deref(),
            Some("2 signatures, 1 SBOM, 1 attestation")
        );
        assert_eq!(referrer_summary(&[]), None);
        assert_eq!(
            referrer_summary(&[r("strange")]).as_deref(),
            Some("1 other artifact")
        );
    }

    fn with_blob(blob: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "formatVersion": 1, "created": "2026-12-02T00:00:00Z", "tool": "t", "images": [],
            "files": [], "blobs": [blob],
        }))
        .unwrap()
    }

    #[test]
    fn a_blob_encoding_is_accepted_only_with_a_recipe_this_version_can_run() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let blob = |encoding: &str, rebuild: Option<(&str, i32)>| {
            let mut b = serde_json::json!({
                "digest": digest, "size": 100, "mediaType": "x", "encoding": encoding,
            });
            if let Some((encoder, level)) = rebuild {
                b["rebuild"] = serde_json::json!({
                    "encoder": encoder, "level": level, "header": "1f8b08000000000000ff",
                    "rawSize": 512, "rawDigest": digest,
                });
            }
            BundleManifest::parse(&with_blob(b), "b.bundle")
        };
        assert!(blob("zstd-frame", None).is_ok());
        let doc = blob("gzip-rebuild", Some(("zlib", 6))).unwrap();
        assert_eq!(
            doc.blobs[0].member_path(),
            format!("raw/sha256/{}.tar", "a".repeat(64))
        );
        assert_eq!(doc.blobs[0].member_size(), 512);
        assert!(blob("gzip-rebuild", Some(("pigz", 6))).is_ok());
        assert!(blob("gzip-rebuild", Some(("pigz-p1", 1))).is_ok());
        assert!(blob("gzip-rebuild", Some(("pgzip1.18.1-256k", 5))).is_ok());
        for (encoder, level) in [
            ("igzip", 6),
            ("pigz", 10),
            ("pigz-p1", 6),
            ("go1.8", 12),
            ("zlib", 0),
            ("pgzip", 9),
            ("pgzip-512k", 5),
        ] {
            let e = blob("gzip-rebuild", Some((encoder, level))).unwrap_err();
            assert!(
                matches!(e, FormatError::UnknownEncoding { .. })
                    && e.to_string().contains("upgrade bundle")
                    && e.to_string().contains(encoder),
                "{e}"
            );
        }
        for bad in [
            blob("gzip-rebuild", None),
            blob("zstd-frame", Some(("zlib", 6))),
        ] {
            assert!(
                matches!(bad, Err(FormatError::InvalidManifest { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            blob("brotli", None),
            Err(FormatError::UnknownEncoding { .. })
        ));
    }

    /// What a signed bundle.json says is still bounded (issue 31, item 12): a tar far larger
    /// than its gzip could inflate to, and restart points closer or farther apart than create
    /// takes them, are refused before anything is read.
    #[test]
    fn a_rebuild_record_is_bounded_in_size_and_in_restart_points() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let blob = |size: u64, raw: u64, restarts: Vec<[u64; 6]>| {
            let b = serde_json::json!({
                "digest": digest, "size": size, "mediaType": "x", "encoding": "gzip-rebuild",
                "rebuild": {"encoder": "go1.8", "level": 6, "header": "1f8b08000000000000ff",
                    "rawSize": raw, "rawDigest": digest, "restarts": restarts},
            });
            BundleManifest::parse(&with_blob(b), "b.bundle")
        };
        let mib = 1u64 << 20;
        assert!(blob(40 * mib, 100 * mib, vec![]).is_ok());
        // 8 GB of tar under 457 KB of gzip.
        let e = blob(457_000, 8_000_000_000, vec![]).unwrap_err();
        assert!(
            e.to_string().contains("more than any layer inflates"),
            "{e}"
        );
        let point = |raw: u64| [raw, raw - raw % 32768, 8 * raw / 3, 0, 3, 0];
        let spaced = vec![point(4 * mib), point(8 * mib + 1000), point(16 * mib)];
        assert!(blob(10 * mib, 20 * mib, spaced).is_ok());
        for (raw, points) in [
            // Far more points than create takes: one per 64 KiB.
            (
                10 * mib,
                (1..100).map(|i| point(i * 65536)).collect::<Vec<_>>(),
            ),
            // Pieces of 29 MiB to hold.
            (
                100 * mib,
                vec![point(29 * mib), point(58 * mib), point(87 * mib)],
            ),
        ] {
            let e = blob(10 * mib, raw, points).unwrap_err();
            assert!(e.to_string().contains("restart points"), "{e}");
        }
    }

    #[test]
    fn a_referrer_must_be_a_carried_manifest_of_its_image_under_a_cosign_tag_only() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let doc = |referrer: serde_json::Value, media_type: &str| {
            serde_json::to_vec(&serde_json::json!({
                "formatVersion": 1, "created": "", "tool": "", "files": [],
                "images": [{"source": "a", "reference": "r/a:1", "digest": d('a'),
                    "mediaType": crate::manifest::OCI_MANIFEST, "platforms": [],
                    "manifests": [d('a')], "complete": true, "referrers": [referrer]}],
                "blobs": [
                    {"digest": d('a'), "size": 1, "mediaType": crate::manifest::OCI_MANIFEST, "encoding": "zstd-frame"},
                    {"digest": d('b'), "size": 1, "mediaType": media_type, "encoding": "zstd-frame"},
                ],
            }))
            .unwrap()
        };
        let referrer = |subject: String, tag: Option<&str>| {
            serde_json::json!({"digest": d('b'), "mediaType": crate::manifest::OCI_MANIFEST,
                "size": 1, "subject": subject, "artifactType": "x", "kind": "signature",
                "found": "cosign-tag", "tag": tag})
        };
        let good = referrer(d('a'), Some(&format!("sha256-{}.sig", "a".repeat(64))));
        BundleManifest::parse(&doc(good.clone(), crate::manifest::OCI_MANIFEST), "b").unwrap();
        for (r, media_type, why) in [
            (
                good,
                "application/octet-stream",
                "not a manifest the bundle carries",
            ),
            (
                referrer(d('c'), None),
                crate::manifest::OCI_MANIFEST,
                "not one of its manifests",
            ),
            (
                referrer(d('a'), Some("latest")),
                crate::manifest::OCI_MANIFEST,
                "not the cosign tag of its subject",
            ),
            // A cosign tag naming another image's digest.
            (
                referrer(d('a'), Some(&format!("sha256-{}.sig", "ab".repeat(32)))),
                crate::manifest::OCI_MANIFEST,
                "not the cosign tag of its subject",
            ),
        ] {
            let e = BundleManifest::parse(&doc(r, media_type), "b").unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    /// Referrer manifests a reader would hold count in the image's manifest budget (issue 31,
    /// item 6): sixty of 4 MiB are refused.
    #[test]
    fn an_images_referrers_are_bounded_by_its_manifest_budget() {
        let d = |n: usize| format!("sha256:{n:064x}");
        let mut blobs = vec![serde_json::json!({"digest": d(0), "size": 1,
            "mediaType": crate::manifest::OCI_MANIFEST, "encoding": "zstd-frame"})];
        let mut referrers = Vec::new();
        for n in 1..=60 {
            blobs.push(serde_json::json!({"digest": d(n), "size": 4 << 20,
                "mediaType": crate::manifest::OCI_MANIFEST, "encoding": "zstd-frame"}));
            referrers.push(serde_json::json!({"digest": d(n), "mediaType": crate::manifest::OCI_MANIFEST,
                "size": 1, "subject": d(0), "artifactType": "x", "kind": "sbom", "found": "referrers-api"}));
        }
        let doc = serde_json::to_vec(&serde_json::json!({
            "formatVersion": 1, "created": "", "tool": "", "files": [],
            "images": [{"source": "a", "reference": "r/a:1", "digest": d(0),
                "mediaType": crate::manifest::OCI_MANIFEST, "platforms": [],
                "manifests": [d(0)], "complete": true, "referrers": referrers}],
            "blobs": blobs,
        }))
        .unwrap();
        let e = BundleManifest::parse(&doc, "b").unwrap_err();
        assert!(e.to_string().contains("more than any image has"), "{e}");
    }

    #[test]
    fn a_tool_path_is_a_plain_name_under_tools() {
        assert!(super::is_tool_path("tools/bundle-linux-x86_64"));
        for bad in [
            "tools/",
            "tools/../x",
            "tools/a/b",
            "tools/.hidden",
            "bin/x",
            "tools/a b",
        ] {
            assert!(!super::is_tool_path(bad), "{bad}");
        }
    }
}
