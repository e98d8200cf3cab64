//! The list's `charts:`: each fetched (a Helm repository's `index.yaml` and `.tgz`, or an
//! `oci://` chart from its registry), checked, and its images found (`crate::charts`). A chart
//! from a Helm repository becomes the OCI artifact `helm push` would make of it, its blobs put
//! in the blob cache; an `oci://` chart is carried as its registry has it, like an image.

use super::cache::BlobCache;
use super::resolve::{BlobRef, ResolvedImage};
use crate::apps::ChartEntry;
use crate::charts::{Blob, Chart, ChartError, Discovery, ValuesFile};
use crate::charts::{CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, PROV_MEDIA_TYPE};
use crate::digest::Digest;
use crate::format::{Carries, ChartRecord};
use crate::imagelist::ImageEntry;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{Manifest, Registries, RegistryError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// An index larger than this is not a Helm repository's (bitnami's, among the largest, is ~20 MB).
const MAX_INDEX: u64 = 256 << 20;
/// Helm's own limit on a packaged chart.
const MAX_CHART: u64 = 100 << 20;
const MAX_PROV: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ChartsError {
    #[error("{list}:{line}: chart {chart}: {source}")]
    Fetch {
        list: String,
        line: usize,
        chart: String,
        source: Box<RegistryError>,
    },
    #[error("{list}:{line}: chart {chart}: {reason}")]
    Invalid {
        list: String,
        line: usize,
        chart: String,
        reason: String,
    },
    #[error("{list}:{line}: chart {chart}: {source}")]
    Chart {
        list: String,
        line: usize,
        chart: String,
        source: Box<ChartError>,
    },
    /// `chart` is the name and version; `what` the place and why.
    #[error(
        "{list}:{line}: chart {chart}: {what}; fix the value, or pass --keep-going to leave it out"
    )]
    BadImage {
        list: String,
        line: usize,
        chart: String,
        what: String,
    },
}

/// What the charts come to.
#[derive(Default)]
pub struct Charts {
    /// Charts from Helm repositories, as artifacts whose blobs are in the cache.
    pub artifacts: Vec<ResolvedImage>,
    /// `oci://` charts, resolved with the images, and what to record of each.
    pub oci: Vec<(ImageEntry, ChartRecord)>,
    /// The images found in the charts, each once, with where.
    pub images: Vec<ImageEntry>,
    /// Values that are no image reference (only with --keep-going; else an error).
    pub warnings: Vec<String>,
}

/// A chart's bytes and what the repository says of them.
struct Fetched {
    version: String,
    tgz: Vec<u8>,
    from: String,
}

/// Where a chart's manifest comes from.
enum Source {
    /// Made here, blobs in the cache.
    Made(Box<ResolvedImage>),
    /// Resolved with the images.
    Registry(ImageEntry),
}

/// Fetch every chart and find its images. `default_platforms` is the list's, for the images.
pub fn gather(
    list: &Path,
    entries: &[ChartEntry],
    default_platforms: Option<&[Platform]>,
    registries: &Registries,
    cache: &BlobCache,
    keep_going: bool,
) -> Result<Charts, ChartsError> {
    let mut out = Charts::default();
    let mut indexes = Indexes::default();
    for e in entries {
        let at = At { list, entry: e };
        let (fetched, chart, source) = match e.oci_name() {
            Some(name) => {
                let (fetched, entry) = at.oci(name, registries, cache)?;
                let chart = at.read(&fetched.tgz)?;
                (fetched, chart, Source::Registry(entry))
            }
            None => at.fetch_from_repo(registries, cache, &mut indexes)?,
        };
        let images = at.images(
            &chart,
            &fetched,
            default_platforms,
            keep_going,
            &mut out.warnings,
        )?;
        let rec = record(
            &chart,
            &fetched,
            images.iter().map(|i| i.reference.to_string()).collect(),
        );
        match source {
            Source::Registry(entry) => out.oci.push((entry, rec)),
            Source::Made(mut artifact) => {
                artifact.carries.chart = Some(rec);
                out.artifacts.push(*artifact);
            }
        }
        out.images.extend(images);
    }
    Ok(out)
}

fn record(chart: &Chart, f: &Fetched, images: Vec<String>) -> ChartRecord {
    ChartRecord {
        name: chart.name.clone(),
        version: f.version.clone(),
        app_version: chart.app_version.clone(),
        from: f.from.clone(),
        digest: Digest::of(&f.tgz),
        size: f.tgz.len() as u64,
        images,
    }
}

/// One chart entry, for errors that name it.
struct At<'a> {
    list: &'a Path,
    entry: &'a ChartEntry,
}

impl At<'_> {
    fn invalid(&self, reason: String) -> ChartsError {
        ChartsError::Invalid {
            list: self.list.display().to_string(),
            line: self.entry.line,
            chart: self.entry.name.clone(),
            reason,
        }
    }

    fn fetch_err(&self, source: RegistryError) -> ChartsError {
        ChartsError::Fetch {
            list: self.list.display().to_string(),
            line: self.entry.line,
            chart: self.entry.name.clone(),
            source: Box::new(source),
        }
    }

    fn read(&self, tgz: &[u8]) -> Result<Chart, ChartsError> {
        Chart::from_tgz(tgz).map_err(|source| ChartsError::Chart {
            list: self.list.display().to_string(),
            line: self.entry.line,
            chart: self.entry.name.clone(),
            source: Box::new(source),
        })
    }

    /// The images the chart uses (unless `images: none`), as list entries saying where each
    /// was found; a value that is no reference is an error, or a warning with --keep-going.
    fn images(
        &self,
        chart: &Chart,
        fetched: &Fetched,
        default_platforms: Option<&[Platform]>,
        keep_going: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<ImageEntry>, ChartsError> {
        if !self.entry.images {
            return Ok(Vec::new());
        }
        let found = self.discover(chart)?;
        let label = format!("chart {} {}", chart.name, fetched.version);
        for p in &found.problems {
            let why = p.why.clone().unwrap_or_default();
            if !keep_going {
                return Err(ChartsError::BadImage {
                    list: self.list.display().to_string(),
                    line: self.entry.line,
                    chart: format!("{} {}", chart.name, fetched.version),
                    what: format!("{}: {why}", p.place),
                });
            }
            warnings.push(format!("{label}: {}: {why}; left out", p.place));
        }
        let platforms = self
            .entry
            .platforms
            .clone()
            .or(default_platforms.map(<[_]>::to_vec));
        Ok(found
            .found
            .iter()
            .map(|f| ImageEntry {
                source: f.image.clone(),
                reference: Reference::parse(&f.image).expect("discovery checks references"),
                own_platforms: self.entry.platforms.is_some(),
                platforms: platforms.clone(),
                line: self.entry.line,
                found: Some(format!("{label}: {}", f.place)),
                origin: Default::default(),
            })
            .collect())
    }

    /// Values files and `images-from`, read relative to the list.
    fn discover(&self, chart: &Chart) -> Result<Discovery, ChartsError> {
        let read = |p: &Path| {
            crate::fsutil::read_bounded(p, MAX_CHART)
                .map_err(|e| self.invalid(format!("cannot read {}: {e}", p.display())))
                .and_then(|b| {
                    String::from_utf8(b)
                        .map_err(|_| self.invalid(format!("{} is not UTF-8 text", p.display())))
                })
        };
        let mut values = Vec::new();
        for p in &self.entry.values {
            values.push(ValuesFile {
                name: file_name(p),
                text: read(p)?,
            });
        }
        let mut found = crate::charts::discover(chart, &values);
        if let Some(p) = &self.entry.images_from {
            let rendered = crate::charts::rendered(&read(p)?, &file_name(p))
                .map_err(|e| self.invalid(e.to_string()))?;
            let seen: std::collections::HashSet<String> =
                found.found.iter().map(|f| normal(&f.image)).collect();
            found.found.extend(
                rendered
                    .found
                    .into_iter()
                    .filter(|f| !seen.contains(&normal(&f.image))),
            );
            found.problems.extend(rendered.problems);
        }
        Ok(found)
    }

    /// A chart from a Helm repository: its version picked from `index.yaml`, its `.tgz`
    /// checked against the index's digest, and the artifact `helm push` makes of it.
    fn fetch_from_repo(
        &self,
        registries: &Registries,
        cache: &BlobCache,
        indexes: &mut Indexes,
    ) -> Result<(Fetched, Chart, Source), ChartsError> {
        let repo = self
            .entry
            .repo
            .as_deref()
            .expect("a chart without oci:// has repo:");
        let host = super::files::url_host(repo);
        let web = registries.web(&host).map_err(|e| self.fetch_err(e))?;
        let index = indexes.get(repo, &web).map_err(|e| match e {
            IndexError::Fetch(e) => self.fetch_err(e),
            IndexError::Parse(r) => self.invalid(r),
        })?;
        let name = &self.entry.name;
        let versions = index
            .entries
            .get(name)
            .ok_or_else(|| self.invalid(format!("{repo}/index.yaml has no chart named {name}")))?;
        let v = self.pick(versions.iter().map(|v| v.version.as_str()).collect())?;
        let chosen = versions
            .iter()
            .find(|x| x.version == v)
            .expect("picked from these");
        let url = chart_url(repo, chosen).map_err(|r| self.invalid(r))?;
        let tgz = web.get(&url, MAX_CHART).map_err(|e| self.fetch_err(e))?;
        check_digest(&tgz, chosen).map_err(|r| self.invalid(format!("{url}: {r}")))?;
        let prov = match web.get(&format!("{url}.prov"), MAX_PROV) {
            Ok(p) => Some(p),
            Err(RegistryError::NotFound { .. }) => None,
            Err(e) => return Err(self.fetch_err(e)),
        };
        let fetched = Fetched {
            version: v.to_string(),
            tgz,
            from: repo.to_string(),
        };
        let chart = self.read(&fetched.tgz)?;
        let artifact = artifact(&chart, &fetched, prov.as_deref(), chosen, &host, self.entry)
            .and_then(|a| a.store(cache))
            .map_err(|e| self.invalid(format!("blob cache: {e}")))?;
        Ok((fetched, chart, Source::Made(Box::new(artifact))))
    }

    fn pick<'v>(&self, available: Vec<&'v str>) -> Result<&'v str, ChartsError> {
        let wanted = self.entry.version.as_deref();
        match super::versions::pick(wanted, &available) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.invalid(format!(
                "no version matches {}; the newest are {}",
                wanted.unwrap_or("(any)"),
                newest_few(&available)
            ))),
            Err(reason) => Err(self.invalid(reason)),
        }
    }

    /// An `oci://` chart: its manifest and chart layer (into the cache) from its registry.
    fn oci(
        &self,
        name: &str,
        registries: &Registries,
        cache: &BlobCache,
    ) -> Result<(Fetched, ImageEntry), ChartsError> {
        let probe =
            Reference::parse(&format!("{name}:latest")).map_err(|e| self.invalid(e.to_string()))?;
        let client = registries
            .client(&probe.registry)
            .map_err(|e| self.fetch_err(e))?;
        let tags = match &self.entry.version {
            Some(v) if super::versions::is_exact(v) => {
                vec![crate::apps::version_tag(v)]
            }
            _ => client
                .tags(&probe.repository)
                .map_err(|e| self.fetch_err(e))?,
        };
        let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
        let version = self
            .pick(versions.iter().map(String::as_str).collect())?
            .to_string();
        let tag = crate::apps::version_tag(&version);
        let reference =
            Reference::parse(&format!("{name}:{tag}")).map_err(|e| self.invalid(e.to_string()))?;
        let m = client
            .get_manifest(&reference.repository, &tag)
            .map_err(|e| self.fetch_err(e))?;
        let layer = chart_layer(&m).map_err(|r| self.invalid(r))?;
        let tgz = fetch_small(&client, &reference.repository, &layer, cache)
            .map_err(|e| self.fetch_err(e))?;
        let entry = ImageEntry {
            source: format!("{} {version}", self.entry.name),
            reference,
            platforms: None,
            own_platforms: false,
            line: self.entry.line,
            found: None,
            origin: Default::default(),
        };
        let from = self.entry.name.clone();
        Ok((Fetched { version, tgz, from }, entry))
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn normal(image: &str) -> String {
    Reference::parse(image).map_or_else(|_| image.to_string(), |r| r.to_string())
}

fn newest_few(available: &[&str]) -> String {
    let mut v: Vec<&str> = available.to_vec();
    v.sort_by_key(|s| std::cmp::Reverse(semver_key(s)));
    v.truncate(5);
    match v.is_empty() {
        true => "(none)".into(),
        false => v.join(", "),
    }
}

fn semver_key(s: &str) -> Option<semver::Version> {
    semver::Version::parse(s.trim_start_matches('v')).ok()
}

/// The chart layer a registry's chart manifest names.
fn chart_layer(m: &Manifest) -> Result<BlobRef, String> {
    let parsed = crate::manifest::parse_manifest(&m.bytes)?;
    parsed
        .layers
        .iter()
        .find(|l| l.media_type == CHART_MEDIA_TYPE)
        .map(|l| BlobRef {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
        })
        .ok_or_else(|| format!("its manifest has no {CHART_MEDIA_TYPE} layer; is it a Helm chart?"))
}

/// A small blob through the cache (verified by its digest), and its bytes.
fn fetch_small(
    client: &crate::registry::RegistryClient,
    repo: &str,
    b: &BlobRef,
    cache: &BlobCache,
) -> Result<Vec<u8>, RegistryError> {
    if b.size > MAX_CHART {
        return Err(RegistryError::Protocol {
            what: format!("chart layer {}", b.digest),
            reason: format!("{} bytes, more than Helm accepts", b.size),
        });
    }
    let path = cache.path(&b.digest);
    let io = |source| RegistryError::Io {
        what: format!("chart layer {}", b.digest),
        path: path.clone(),
        source,
    };
    if let Some(mut partial) = cache.begin(&b.digest, b.size).map_err(|e| io(e.source))? {
        let temp = partial.path.clone();
        client.fetch_blob(repo, &b.digest, b.size, &mut partial.file, &temp, &|_| {})?;
        cache.commit(partial).map_err(|e| io(e.source))?;
    }
    crate::fsutil::read_bounded(&path, MAX_CHART).map_err(io)
}

/// A Helm repository's `index.yaml`, as far as we read it.
#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    created: Option<String>,
}

enum IndexError {
    Fetch(RegistryError),
    Parse(String),
}

/// Each repository's index, fetched once per run.
#[derive(Default)]
struct Indexes(BTreeMap<String, std::rc::Rc<Index>>);

impl Indexes {
    fn get(
        &mut self,
        repo: &str,
        web: &crate::registry::web::WebClient,
    ) -> Result<std::rc::Rc<Index>, IndexError> {
        if let Some(i) = self.0.get(repo) {
            return Ok(i.clone());
        }
        let url = format!("{repo}/index.yaml");
        let bytes = web.get(&url, MAX_INDEX).map_err(IndexError::Fetch)?;
        let index: Index = serde_yaml::from_slice(&bytes)
            .map_err(|e| IndexError::Parse(format!("{url} is not a Helm repository index: {e}")))?;
        let index = std::rc::Rc::new(index);
        self.0.insert(repo.to_string(), index.clone());
        Ok(index)
    }
}

/// The entry's first URL, relative to the repository (Helm's rule: relative URLs are resolved
/// against the repository URL with a trailing slash).
fn chart_url(repo: &str, e: &IndexEntry) -> Result<String, String> {
    let first = e
        .urls
        .first()
        .ok_or_else(|| format!("index.yaml lists version {} with no URL", e.version))?;
    let base = url::Url::parse(&format!("{repo}/")).map_err(|e| e.to_string())?;
    base.join(first)
        .map(String::from)
        .map_err(|err| format!("index.yaml URL {first:?}: {err}"))
}

fn check_digest(tgz: &[u8], e: &IndexEntry) -> Result<(), String> {
    let Some(want) = &e.digest else {
        return Err(format!(
            "index.yaml gives version {} no digest, so the download cannot be checked",
            e.version
        ));
    };
    let got = Digest::of(tgz);
    match got.hex() == want.trim_start_matches("sha256:") {
        true => Ok(()),
        false => Err(format!(
            "its sha256 is {}, but index.yaml says {want}; the repository or something between us and it changed the chart",
            got.hex()
        )),
    }
}

/// A chart artifact before its blobs are in the cache.
struct Artifact {
    image: ResolvedImage,
    blobs: Vec<Vec<u8>>,
}

impl Artifact {
    fn store(self, cache: &BlobCache) -> Result<ResolvedImage, super::cache::PutError> {
        for b in &self.blobs {
            cache.put(b.as_slice(), b.len() as u64, None)?;
        }
        Ok(self.image)
    }
}

/// `HOST/charts/NAME:VERSION`, holding what `helm push` would push.
fn artifact(
    chart: &Chart,
    f: &Fetched,
    prov: Option<&[u8]>,
    index: &IndexEntry,
    host: &str,
    entry: &ChartEntry,
) -> Result<Artifact, super::cache::PutError> {
    let config = chart.config_json();
    let (config_blob, tgz_blob) = (Blob::of(&config), Blob::of(&f.tgz));
    let prov_blob = prov.map(Blob::of);
    let bytes = crate::charts::helm_manifest(
        chart,
        &config_blob,
        &tgz_blob,
        prov_blob.as_ref(),
        index.created.as_deref(),
    );
    let blob_ref = |b: &Blob, media_type: &str| BlobRef {
        digest: b.digest.clone(),
        size: b.size,
        media_type: media_type.into(),
    };
    let mut refs = vec![
        blob_ref(&config_blob, CONFIG_MEDIA_TYPE),
        blob_ref(&tgz_blob, CHART_MEDIA_TYPE),
    ];
    refs.extend(prov_blob.as_ref().map(|b| blob_ref(b, PROV_MEDIA_TYPE)));
    let name = format!(
        "{host}/charts/{}:{}",
        crate::apps::repository_component(&chart.name),
        crate::apps::version_tag(&f.version)
    );
    let image_entry = ImageEntry {
        source: format!("{} {} ({})", entry.name, f.version, f.from),
        reference: Reference::parse(&name).expect("made of checked parts"),
        platforms: None,
        own_platforms: false,
        line: entry.line,
        found: None,
        origin: Default::default(),
    };
    let manifest = Manifest {
        digest: Digest::of(&bytes),
        bytes,
        media_type: crate::manifest::OCI_MANIFEST.into(),
    };
    let carries = Carries::default();
    let mut blobs = vec![config, f.tgz.clone()];
    blobs.extend(prov.map(<[u8]>::to_vec));
    Ok(Artifact {
        image: super::resolve::artifact(image_entry, manifest, refs, carries),
        blobs,
    })
}
