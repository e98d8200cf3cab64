//! Manifests and indexes, parsed just enough to find what they reference. The bytes are always
//! kept as the registry sent them: digests are over bytes, never over a re-serialisation.

use crate::digest::Digest;
use crate::platform::Platform;
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Without an Accept listing OCI types, registries answer MANIFEST_UNKNOWN for OCI content or
/// downgrade schema2 to schema1; schema1 is never asked for.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Config media types of runnable container images (anything else is an artifact: a Helm
/// chart, a signature), which docker and podman can load.
pub const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

pub fn is_image_config(media_type: &str) -> bool {
    IMAGE_CONFIGS.contains(&media_type)
}

/// A config blob of any kind: an image's (Docker's type does not say "config":
/// `application/vnd.docker.container.image.v1+json`) or an artifact's.
pub fn is_config(media_type: &str) -> bool {
    is_image_config(media_type) || media_type.contains("config") || media_type == OCI_EMPTY
}

/// The empty descriptor's type (`{}`), an artifact's config when it has none (OCI 1.1).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlatformJson {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformJson {
    pub fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    media_type: Option<String>,
    schema_version: Option<u32>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct ImageManifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The media type of a manifest: what the document says, else what the server said, else what
/// its shape says. Schema 1 is refused: it cannot be carried without changing its digest.
pub fn media_type_of(bytes: &[u8], header: Option<&str>) -> Result<String, String> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if probe.schema_version == Some(1) {
        return Err(
            "registry served a Docker schema 1 manifest, which is obsolete and not supported"
                .into(),
        );
    }
    let t = probe
        .media_type
        .filter(|t| !t.is_empty())
        .or_else(|| {
            header
                .map(str::to_string)
                .filter(|h| h.starts_with("application/vnd."))
        })
        .or_else(|| {
            if probe.manifests.is_some() {
                Some(OCI_INDEX.to_string())
            } else if probe.config.is_some() {
                Some(OCI_MANIFEST.to_string())
            } else {
                None
            }
        })
        .ok_or("cannot tell whether this is a manifest or an index")?;
    if DOCKER_SCHEMA1.contains(&t.as_str()) {
        return Err(
            "registry served a Docker schema 1 manifest, which is obsolete and not supported"
                .into(),
        );
    }
    // Anything else could be carried but not loaded: refuse it here, not at the far side.
    if !is_index(&t) && !is_manifest(&t) {
        return Err(format!(
            "registry served a manifest of type {}, which bundle cannot carry (it carries OCI and Docker image manifests and indexes; OCI artifacts made as image manifests are fine)",
            crate::console::printable(&t)
        ));
    }
    Ok(t)
}

pub fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid index: {e}"))
}

pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))
}

/// Which children of an index to carry. `None` selects every child. With a selection, a child
/// matches by platform; attestation manifests (buildx's `unknown/unknown` with
/// `vnd.docker.reference.digest`) follow the image they describe; nested indexes are kept.
pub fn select_children<'a>(index: &'a Index, wanted: Option<&[Platform]>) -> Vec<&'a Descriptor> {
    let Some(wanted) = wanted else {
        return index.manifests.iter().collect();
    };
    let chosen: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| match &d.platform {
            Some(p) => wanted.iter().any(|w| w.matches(&p.to_platform())),
            None => is_index(&d.media_type),
        })
        .collect();
    let chosen_digests: Vec<String> = chosen.iter().map(|d| d.digest.to_string()).collect();
    index
        .manifests
        .iter()
        .filter(|d| {
            chosen.iter().any(|c| std::ptr::eq(*c, *d))
                || d.annotations
                    .get("vnd.docker.reference.digest")
                    .is_some_and(|r| chosen_digests.contains(r))
        })
        .collect()
}

/// The config of OCI 1.1 artifacts that have none of their own.
pub const OCI_EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// What a manifest says about what it refers to (OCI 1.1 `subject`) and what it is.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referring {
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

pub fn parse_referring(bytes: &[u8]) -> Result<Referring, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))
}

impl Referring {
    /// Its artifact type as the distribution spec derives it: `artifactType`, else the config's
    /// media type. A config that says nothing (an image config, as cosign writes, or the empty
    /// one) gives way to the first layer's media type, which is what tells a cosign signature
    /// from an SBOM.
    pub fn artifact_type(&self) -> String {
        if let Some(t) = self.artifact_type.as_ref().filter(|t| !t.is_empty()) {
            return t.clone();
        }
        let config = self.config.as_ref().map(|c| c.media_type.as_str());
        match (config, self.layers.first()) {
            (Some(c), Some(l)) if is_image_config(c) || c == OCI_EMPTY_CONFIG => {
                l.media_type.clone()
            }
            (Some(c), _) => c.to_string(),
            (None, l) => l.map(|l| l.media_type.clone()).unwrap_or_default(),
        }
    }
}

/// A referrer's entry in a referrers list (the referrers API's answer, the fallback tag's
/// index): its descriptor with the artifact type and its manifest's annotations.
pub fn referrer_descriptor(bytes: &[u8], media_type: &str) -> serde_json::Value {
    let mut d = serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::of(bytes).to_string(),
        "size": bytes.len(),
    });
    if let Ok(r) = parse_referring(bytes) {
        d["artifactType"] = r.artifact_type().into();
        let annotations = serde_json::json!(r.annotations);
        // Copied into every index that lists the referrer: a few KiB in any real one, and
        // never megabytes per entry (an index of sixty such was 251 MB).
        let small = annotations.to_string().len() <= MAX_DESCRIPTOR_ANNOTATIONS;
        if !r.annotations.is_empty() && small {
            d["annotations"] = annotations;
        }
    }
    d
}

/// The most bytes of annotations a referrer's descriptor carries; larger ones are left out.
pub const MAX_DESCRIPTOR_ANNOTATIONS: usize = 64 << 10;

/// The most bytes of manifests one image may come to, its referrers' included: far beyond
/// any real image, and what `create` holds an image to and a reader accepts.
pub const MAX_MANIFEST_BYTES_PER_IMAGE: u64 = 32 << 20;

/// An index listing `descriptors`, as the referrers API answers and the fallback tag holds.
pub fn referrers_index(descriptors: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    }))
    .expect("a JSON value serialises")
}

/// The tag under which `bundle load` lists, per repository, the manifests it pushed by digest
/// only (images pinned by digest in the list): a registry lists tags, not manifests, so without
/// it `inventory` could not see them, and a garbage collection that deletes untagged manifests
/// would delete them.
pub const PINNED_TAG: &str = "bundle-pinned";

/// A descriptor of a manifest for `PINNED_TAG`'s index, named by the reference it came from.
pub fn pinned_descriptor(
    digest: &Digest,
    media_type: &str,
    size: u64,
    source: &str,
) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": digest.to_string(),
        "size": size,
        "annotations": {"org.opencontainers.image.ref.name": source},
    })
}

/// The tag that lists the referrers of `subject` where a registry has no referrers API (the
/// distribution spec's fallback), and that cosign's tags start with.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// An index kept under a tag (the referrers fallback tag, `PINNED_TAG`) with `descriptors`
/// added: `existing` (what the tag held, if anything) keeps every entry and every other field;
/// None when it already lists them all.
/// An existing index that does not parse is replaced (it could not list anything).
pub fn merge_into_index(
    existing: Option<&[u8]>,
    descriptors: Vec<serde_json::Value>,
) -> Option<Vec<u8>> {
    let mut index: serde_json::Value = existing
        .and_then(|b| serde_json::from_slice(b).ok())
        .filter(|v: &serde_json::Value| v["manifests"].is_array())
        .unwrap_or_else(|| serde_json::from_slice(&referrers_index(Vec::new())).unwrap());
    let list = index["manifests"].as_array_mut()?;
    let before = list.len();
    for d in descriptors {
        if !list.iter().any(|l| l["digest"] == d["digest"]) {
            list.push(d);
        }
    }
    if list.len() == before {
        return None;
    }
    serde_json::to_vec(&index).ok()
}

/// An OCI layout's `index.json` (`existing`, None for a new layout) with `new` entries merged
/// in order: a named entry (`org.opencontainers.image.ref.name`) replaces the entry of that
/// name, an unnamed one the entry of its digest; every other entry and field is kept. The
/// existing file is untrusted input: anything but an object with a `manifests` list is an
/// error, never replaced (that would drop what it lists).
pub fn merge_layout_index(
    existing: Option<&[u8]>,
    new: &[serde_json::Value],
) -> Result<Vec<u8>, String> {
    const NAME: &str = "org.opencontainers.image.ref.name";
    let mut index: serde_json::Value = match existing {
        Some(b) => serde_json::from_slice(b).map_err(|e| format!("not valid JSON: {e}"))?,
        None => serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let entries = index
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or("it has no manifests list")?;
    for e in new {
        let name = &e["annotations"][NAME];
        entries.retain(|old| match name.is_string() {
            true => old["annotations"][NAME] != *name,
            false => old["digest"] != e["digest"],
        });
        entries.push(e.clone());
    }
    serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())
}

/// The suffixes of cosign's tags (`sha256-<hex>.sig`) and what each holds.
pub const COSIGN_TAGS: [(&str, &str); 3] = [
    ("sig", "signature"),
    ("att", "attestation"),
    ("sbom", "sbom"),
];

/// A tag cosign names after a digest: `sha256-<64 hex>.sig|.att|.sbom`.
pub fn is_cosign_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .and_then(|t| t.split_once('.'))
        .is_some_and(|(hex, suffix)| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && COSIGN_TAGS.iter().any(|(s, _)| *s == suffix)
        })
}

/// What a referrer is, for people: `signature`, `attestation`, `sbom` or `artifact`, from its
/// cosign tag's suffix or its artifact type.
pub fn referrer_kind(artifact_type: &str, cosign_tag: Option<&str>) -> &'static str {
    if let Some((_, suffix)) = cosign_tag.and_then(|t| t.rsplit_once('.')) {
        if let Some((_, kind)) = COSIGN_TAGS.iter().find(|(s, _)| *s == suffix) {
            return kind;
        }
    }
    let t = artifact_type.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&[
        "signature",
        "cosign.artifact.sig",
        "simplesigning",
        "sigstore.bundle",
    ]) {
        "signature"
    } else if any(&["spdx", "cyclonedx", "sbom", "syft"]) {
        "sbom"
    } else if any(&["in-toto", "intoto", "dsse", "attestation", "vex", "vuln"]) {
        "attestation"
    } else {
        "artifact"
    }
}

/// Compressed layers are stored as they are in the bundle (zstd raw blocks): compressing them
/// again costs time and gains nothing.
pub fn is_precompressed(media_type: &str, head: &[u8]) -> bool {
    let mt = media_type.to_ascii_lowercase();
    mt.ends_with("gzip")
        || mt.ends_with("zstd")
        || mt.ends_with(".gz")
        || head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_referrers_huge_annotations_stay_out_of_its_descriptor() {
        let m = |pad: usize| {
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "artifactType": "application/spdx+json",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{}", "4".repeat(64)), "size": 2},
                "layers": [], "annotations": {"pad": "x".repeat(pad)}}))
            .unwrap()
        };
        assert!(referrer_descriptor(&m(10), OCI_MANIFEST)["annotations"].is_object());
        let big = referrer_descriptor(&m(4 << 20), OCI_MANIFEST);
        assert!(big["annotations"].is_null() && big["artifactType"] == "application/spdx+json");
    }

    #[test]
    fn a_layout_index_merges_by_name_else_by_digest_and_refuses_what_it_cannot_read() {
        let e = |name: Option<&str>, d: &str| match name {
            Some(n) => {
                serde_json::json!({"digest": d, "annotations": {"org.opencontainers.image.ref.name": n}})
            }
            None => serde_json::json!({"digest": d}),
        };
        let first = merge_layout_index(None, &[e(Some("a:1"), "x"), e(None, "s")]).unwrap();
        let again = merge_layout_index(
            Some(&first),
            &[e(Some("a:1"), "y"), e(None, "s"), e(Some("b:1"), "x")],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&again).unwrap();
        let digests: Vec<&str> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, vec!["y", "s", "x"]);
        for bad in [&b"[]"[..], b"{}", b"{\"manifests\": 3}", b"not json"] {
            assert!(
                merge_layout_index(Some(bad), &[e(None, "s")]).is_err(),
                "{bad:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#, None).unwrap(),
            OCI_INDEX
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"config":{}}"#, Some(DOCKER_MANIFEST)).unwrap(),
            DOCKER_MANIFEST
        );
        assert!(media_type_of(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        assert!(media_type_of(b"not json", None).is_err());
        let artifact =
            br#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}"#;
        let e = media_type_of(artifact, None).unwrap_err();
        assert!(e.contains("cannot carry"), "{e}");
    }

    #[test]
    fn referrers_are_typed_and_listed_as_the_spec_says() {
        let sig = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":1}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:{}","size":2}}]}}"#,
            "1".repeat(64),
            "2".repeat(64)
        );
        let r = parse_referring(sig.as_bytes()).unwrap();
        assert_eq!(
            r.artifact_type(),
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        assert_eq!(referrer_kind(&r.artifact_type(), None), "signature");
        let sbom = format!(
            r#"{{"schemaVersion":2,"artifactType":"application/spdx+json","config":{{"mediaType":"{OCI_EMPTY_CONFIG}","digest":"sha256:{}","size":2}},"layers":[],"annotations":{{"a":"b"}}}}"#,
            "3".repeat(64)
        );
        let d = referrer_descriptor(sbom.as_bytes(), OCI_MANIFEST);
        assert_eq!(d["artifactType"], "application/spdx+json");
        assert_eq!(d["annotations"]["a"], "b");
        assert_eq!(d["size"], sbom.len());
        assert_eq!(referrer_kind("application/spdx+json", None), "sbom");
        assert_eq!(referrer_kind("x", Some("sha256-ab.att")), "attestation");
        assert_eq!(
            referrer_kind("application/vnd.example+json", None),
            "artifact"
        );
        let subject: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(
            referrers_tag(&subject),
            format!("sha256-{}", "a".repeat(64))
        );
        assert!(is_cosign_tag(&format!("sha256-{}.sig", "a".repeat(64))));
        assert!(!is_cosign_tag(&format!("sha256-{}.exe", "a".repeat(64))));
        assert!(!is_cosign_tag("latest"));
        assert!(!is_cosign_tag(&format!("sha256-{}.sig", "A".repeat(64))));
    }

    #[test]
    fn a_fallback_index_keeps_what_it_listed() {
        let d = |n: char| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", n.to_string().repeat(64)), "size": 3});
        let first = merge_into_index(None, vec![d('a')]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["mediaType"], OCI_INDEX);
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert!(merge_into_index(Some(&first), vec![d('a')]).is_none());
        let mut theirs = v.clone();
        theirs["annotations"] = serde_json::json!({"kept": "yes"});
        let theirs = serde_json::to_vec(&theirs).unwrap();
        let both = merge_into_index(Some(&theirs), vec![d('b'), d('a')]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&both).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(v["annotations"]["kept"], "yes");
    }

    #[test]
    fn selects_platforms_and_their_attestations() {
        let d = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
        let idx = format!(
            r#"{{"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}},
              "annotations":{{"vnd.docker.reference.digest":"{}"}}}}]}}"#,
            d(1),
            d(2),
            d(3),
            d(2)
        );
        let index = parse_index(idx.as_bytes()).unwrap();
        let arm: Vec<Platform> = vec!["linux/arm64".parse().unwrap()];
        let sel = select_children(&index, Some(&arm));
        let got: Vec<String> = sel.iter().map(|d| d.digest.to_string()).collect();
        assert_eq!(got, vec![d(2), d(3)]);
        assert_eq!(select_children(&index, None).len(), 3);
    }
}
