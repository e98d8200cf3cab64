//! The image list's `charts:` and `files:` entries (docs/CLI.md, "Charts and files"): what an
//! application needs besides images. Checked here, in the list's words; fetched by `create`.

use crate::platform::Platform;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A Helm chart to carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartEntry {
    /// The chart's name in its repository, or `oci://HOST/PATH/NAME` for a chart in a registry.
    pub name: String,
    /// A classic Helm repository (`index.yaml`); None for an `oci://` chart.
    pub repo: Option<String>,
    /// Exact, or a range (`^1.2`, `>=1.0 <2`, `1.2.x`); None: the newest.
    pub version: Option<String>,
    /// Values files merged over the chart's own, in this order (relative to the list).
    pub values: Vec<PathBuf>,
    /// False for `images: none`: the chart only.
    pub images: bool,
    /// A rendered manifest (`helm template` output) whose images are carried too.
    pub images_from: Option<PathBuf>,
    /// Platforms of the images found (else the list's).
    pub platforms: Option<Vec<Platform>>,
    pub line: usize,
}

impl ChartEntry {
    /// The chart's name without an `oci://` location.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// `oci://HOST/PATH` as an image reference's name (`HOST/PATH`).
    pub fn oci_name(&self) -> Option<&str> {
        self.name.strip_prefix("oci://")
    }
}

/// A file to carry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    pub from: FileSource,
    /// Its name on the other side.
    pub name: String,
    /// The tag it is pushed under at a registry (`latest` unless the entry says).
    pub tag: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FileSource {
    /// On this machine (relative paths are relative to the list).
    Path(PathBuf),
    /// Downloaded; its sha256 is checked before anything is written.
    Url { url: String, sha256: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawChart {
    name: String,
    repo: Option<String>,
    version: Option<serde_yaml::Value>,
    #[serde(default)]
    values: Vec<PathBuf>,
    images: Option<String>,
    images_from: Option<PathBuf>,
    platforms: Option<Vec<Platform>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: Option<PathBuf>,
    url: Option<String>,
    sha256: Option<String>,
    name: Option<String>,
    tag: Option<String>,
}

/// One `charts:` entry; paths are relative to `base` (the list's directory). `line` is where
/// the entry is; errors are the message alone, the caller adds the file and line.
pub fn chart_entry(
    item: serde_yaml::Value,
    base: &Path,
    line: usize,
) -> Result<ChartEntry, String> {
    let raw: RawChart = serde_yaml::from_value(item)
        .map_err(|e| format!("a chart entry: {e} (an entry takes name, repo, version, values, images, images-from, platforms)"))?;
    let version = raw.version.map(version_text).transpose()?;
    let images = match raw.images.as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(other) => {
            return Err(format!(
                "chart {}: images: {other:?}; write `images: none` to carry the chart only, or leave it out",
                raw.name
            ))
        }
    };
    check_chart_location(&raw.name, raw.repo.as_deref())?;
    Ok(ChartEntry {
        repo: raw.repo.map(|r| r.trim_end_matches('/').to_string()),
        version,
        values: raw.values.iter().map(|v| base.join(v)).collect(),
        images,
        images_from: raw.images_from.map(|p| base.join(p)),
        platforms: raw.platforms,
        line,
        name: raw.name,
    })
}

/// YAML reads `version: 1.10` as a number; the user meant the text.
fn version_text(v: serde_yaml::Value) -> Result<String, String> {
    match v {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        serde_yaml::Value::Number(n) => Err(format!(
            "version: {n} is read by YAML as a number, which may drop digits (1.10 is 1.1); quote it"
        )),
        other => Err(format!(
            "version: {}; give a version (1.2.3) or a range (^1.2)",
            serde_yaml::to_string(&other).unwrap_or_default().trim()
        )),
    }
}

fn check_chart_location(name: &str, repo: Option<&str>) -> Result<(), String> {
    match (name.strip_prefix("oci://"), repo) {
        (Some(_), Some(_)) => Err(format!(
            "chart {name}: an oci:// chart has no repo:; leave repo: out"
        )),
        (Some(path), None) => match path.contains('/') {
            true => Ok(()),
            false => Err(format!("chart {name}: give oci://HOST/PATH/NAME")),
        },
        (None, None) => Err(format!(
            "chart {name}: give repo: (the Helm repository's URL), or name it oci://HOST/PATH/{name}"
        )),
        (None, Some(r)) => {
            if !(r.starts_with("https://") || r.starts_with("http://")) {
                return Err(format!(
                    "chart {name}: repo: {r} is not an http:// or https:// URL"
                ));
            }
            match valid_chart_name(name) {
                true => Ok(()),
                false => Err(format!(
                    "chart {name:?} is not a chart name (lowercase letters, digits, - and _)"
                )),
            }
        }
    }
}

fn valid_chart_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// One `files:` entry.
pub fn file_entry(item: serde_yaml::Value, base: &Path, line: usize) -> Result<FileEntry, String> {
    let raw: RawFile = serde_yaml::from_value(item).map_err(|e| {
        format!("a file entry: {e} (an entry takes path or url, sha256, name, tag)")
    })?;
    let from = match (raw.path, raw.url, raw.sha256) {
        (Some(p), None, None) => FileSource::Path(base.join(p)),
        (None, Some(url), Some(sha)) => FileSource::Url {
            sha256: check_sha256(&url, &sha)?,
            url: check_url(&url)?,
        },
        (None, Some(url), None) => {
            return Err(format!(
                "file {url}: a URL needs sha256: (64 hex digits), so what arrives can be checked"
            ))
        }
        (Some(p), None, Some(_)) => {
            return Err(format!(
                "file {}: sha256: is for url: entries; a path is read as it is",
                p.display()
            ))
        }
        (Some(_), Some(_), _) => return Err("a file entry takes path: or url:, not both".into()),
        (None, None, _) => return Err("a file entry needs path: or url:".into()),
    };
    let name = match raw.name {
        Some(n) => n,
        None => default_name(&from)?,
    };
    check_file_name(&name)?;
    let tag = raw.tag.unwrap_or_else(|| "latest".into());
    check_tag(&name, &tag)?;
    Ok(FileEntry {
        from,
        name,
        tag,
        line,
    })
}

fn check_url(url: &str) -> Result<String, String> {
    match url::Url::parse(url) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
            Ok(url.to_string())
        }
        _ => Err(format!("file {url}: not an http:// or https:// URL")),
    }
}

fn check_sha256(url: &str, sha: &str) -> Result<String, String> {
    let hex = sha.strip_prefix("sha256:").unwrap_or(sha);
    match hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(hex.to_ascii_lowercase()),
        false => Err(format!("file {url}: sha256: {sha:?} is not 64 hex digits")),
    }
}

/// The last component of the path or URL.
fn default_name(from: &FileSource) -> Result<String, String> {
    let name = match from {
        FileSource::Path(p) => p.file_name().and_then(|n| n.to_str()).map(str::to_string),
        FileSource::Url { url, .. } => url::Url::parse(url).ok().and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
                .filter(|n| !n.is_empty())
        }),
    };
    name.ok_or_else(|| "this file entry's path or URL ends in no file name; give name:".into())
}

fn check_file_name(name: &str) -> Result<(), String> {
    match !name.is_empty() && !name.contains('/') && name != "." && name != ".." {
        true => Ok(()),
        false => Err(format!("file name {name:?}: give a plain file name (no /)")),
    }
}

fn check_tag(name: &str, tag: &str) -> Result<(), String> {
    let ok = tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "file {name}: tag {tag:?} is not a valid tag (letters, digits, _ . -; at most 128)"
        )),
    }
}

/// The repository path component a name becomes (`files/NAME`, `charts/NAME`): registries
/// allow lowercase letters, digits and single separators only.
pub fn repository_component(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let sep = !(c.is_ascii_lowercase() || c.is_ascii_digit());
        match (sep, out.chars().last()) {
            (false, _) => out.push(c),
            (true, Some(l)) if l.is_ascii_alphanumeric() => {
                out.push(if ".-_".contains(c) { c } else { '-' })
            }
            _ => {}
        }
    }
    while out.ends_with(['.', '-', '_']) {
        out.pop();
    }
    match out.is_empty() {
        true => "file".into(),
        false => out,
    }
}

/// A version as a tag: OCI tags have no `+`, so Helm writes `_` (as `helm push` does).
pub fn version_tag(version: &str) -> String {
    version.replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(y: &str) -> Result<ChartEntry, String> {
        chart_entry(serde_yaml::from_str(y).unwrap(), Path::new("/l"), 3)
    }

    fn file(y: &str) -> Result<FileEntry, String> {
        file_entry(serde_yaml::from_str(y).unwrap(), Path::new("/l"), 3)
    }

    #[test]
    fn chart_entries_as_the_issue_writes_them() {
        let c = chart("name: cert-manager\nrepo: https://charts.jetstack.io/\nversion: v1.16.2\nvalues: [site.yaml]\n").unwrap();
        assert_eq!(c.repo.as_deref(), Some("https://charts.jetstack.io"));
        assert_eq!(c.values, vec![PathBuf::from("/l/site.yaml")]);
        assert!(c.images);
        let c = chart("name: oci://r.example.com/charts/redis\nversion: 20.6.0\nimages: none\n")
            .unwrap();
        assert_eq!(c.oci_name(), Some("r.example.com/charts/redis"));
        assert_eq!(c.short_name(), "redis");
        assert!(!c.images);
        assert!(chart("name: x\nrepo: http://h\nversion: 1.10\n")
            .unwrap_err()
            .contains("quote"));
    }

    #[test]
    fn chart_mistakes_say_what_to_write() {
        assert!(chart("name: x\n").unwrap_err().contains("repo:"));
        assert!(chart("name: x\nrepo: ftp://h\n")
            .unwrap_err()
            .contains("http"));
        assert!(chart("name: oci://h/x\nrepo: https://h\n")
            .unwrap_err()
            .contains("no repo"));
        assert!(chart("name: x\nrepo: https://h\nimages: some\n")
            .unwrap_err()
            .contains("images: none"));
        assert!(chart("name: x\nrepo: https://h\nvalue: [a]\n")
            .unwrap_err()
            .contains("values"));
    }

    #[test]
    fn file_entries_need_a_checksum_for_a_url() {
        let f = file("path: bin/k3s\n").unwrap();
        assert_eq!(f.name, "k3s");
        assert_eq!(f.tag, "latest");
        assert_eq!(f.from, FileSource::Path("/l/bin/k3s".into()));
        let sha = "ab".repeat(32);
        let f = file(&format!(
            "url: https://e.com/r/k3s-install.sh\nsha256: {sha}\n"
        ))
        .unwrap();
        assert_eq!(f.name, "k3s-install.sh");
        assert!(file("url: https://e.com/x\n")
            .unwrap_err()
            .contains("sha256"));
        assert!(file("url: https://e.com/x\nsha256: abc\n")
            .unwrap_err()
            .contains("64 hex"));
        assert!(file("path: a\nurl: https://e.com/x\n")
            .unwrap_err()
            .contains("not both"));
        assert!(file(&format!("url: https://e.com/\nsha256: {sha}\n"))
            .unwrap_err()
            .contains("name:"));
    }

    #[test]
    fn names_become_repository_components() {
        assert_eq!(repository_component("k3s-install.sh"), "k3s-install.sh");
        assert_eq!(repository_component("My File (1).TXT"), "my-file-1-txt");
        assert_eq!(repository_component("--"), "file");
        assert_eq!(version_tag("1.2.3+build.4"), "1.2.3_build.4");
    }
}
