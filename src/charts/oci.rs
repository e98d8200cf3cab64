//! The OCI image manifest `helm push` (Helm 3) writes for a chart: `json.Marshal` of
//! image-spec's `Manifest` with no `mediaType` field, the config, the layers sorted by digest
//! (so a provenance layer may come first), and annotations from the metadata.

use super::chart::Chart;
use super::gojson::{self, Object};
use crate::digest::Digest;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const PROV_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// A blob a manifest names: its digest and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

impl Blob {
    pub fn of(bytes: &[u8]) -> Blob {
        Blob {
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }
}

fn descriptor(media_type: &str, blob: &Blob) -> String {
    let mut o = Object::new();
    o.string("mediaType", media_type);
    o.string("digest", &blob.digest.to_string());
    o.raw("size", &blob.size.to_string());
    o.finish()
}

/// The OCI image manifest `helm push` writes for this chart, byte for byte. `created` is
/// org.opencontainers.image.created (the caller passes the repository index's `created`, so
/// re-runs give the same digest); without it the annotation is left out.
pub fn helm_manifest(
    chart: &Chart,
    config: &Blob,
    tgz: &Blob,
    prov: Option<&Blob>,
    created: Option<&str>,
) -> Vec<u8> {
    let mut layers = vec![(tgz, CHART_MEDIA_TYPE)];
    layers.extend(prov.map(|p| (p, PROV_MEDIA_TYPE)));
    layers.sort_by_key(|(blob, _)| blob.digest.to_string());
    let layers: Vec<String> = layers.iter().map(|(b, t)| descriptor(t, b)).collect();
    let mut o = Object::new();
    o.raw("schemaVersion", "2");
    o.raw("config", &descriptor(CONFIG_MEDIA_TYPE, config));
    o.raw("layers", &format!("[{}]", layers.join(",")));
    let annotations = annotations(chart, created);
    if !annotations.is_empty() {
        let mut json = String::new();
        gojson::string_map(&mut json, &annotations);
        o.raw("annotations", &json);
    }
    o.finish().into_bytes()
}

/// Helm's `generateOCIAnnotations`: description, title, version, url, created, source,
/// authors when not blank, then Chart.yaml's annotations except title and version.
fn annotations(chart: &Chart, created: Option<&str>) -> Vec<(String, String)> {
    let md = &chart.metadata;
    let authors = md
        .maintainers
        .iter()
        .map(|m| match m.email.is_empty() {
            true => m.name.clone(),
            false => format!("{} ({})", m.name, m.email),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let oci = "org.opencontainers.image.";
    let mut out: Vec<(String, String)> = [
        ("description", md.description.as_str()),
        ("title", &md.name),
        ("version", &md.version),
        ("url", &md.home),
        ("created", created.unwrap_or_default()),
        ("source", md.sources.first().map_or("", |s| s.as_str())),
        ("authors", &authors),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| (format!("{oci}{k}"), v.to_string()))
    .collect();
    for (k, v) in &md.annotations {
        if *k == format!("{oci}title") || *k == format!("{oci}version") {
            continue;
        }
        out.retain(|(old, _)| old != k);
        out.push((k.clone(), v.clone()));
    }
    out
}
