//! The image list a user hands to `bundle create`: YAML (documented in docs/CLI.md) or a plain
//! text file with one reference per line. Every error names the file and the line.

use crate::apps::{ChartEntry, FileEntry};
use crate::local::Origin;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::RegistryConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ImageList {
    pub images: Vec<ImageEntry>,
    pub registries: BTreeMap<String, RegistryConfig>,
    /// The list's `platforms:`, for images that name none (those its charts use, too).
    pub platforms: Option<Vec<Platform>>,
    /// Helm charts (`charts:`), whose images are found when they are fetched.
    pub charts: Vec<ChartEntry>,
    /// Files (`files:`).
    pub files: Vec<FileEntry>,
    /// One reference per line: no `registries:` section to point people at.
    pub plain_text: bool,
    /// What is odd but not wrong (`FILE:LINE: ...`): a `registries:` key no image comes from.
    pub warnings: Vec<String>,
}

/// How many mistakes one error lists (a list pasted wrong can have hundreds).
const MAX_ERRORS: usize = 20;

#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// As the user wrote it.
    pub source: String,
    /// The name the image has (a registry's), or gets (a local source's; see `origin`).
    pub reference: Reference,
    /// Where the image is read from. Boxed: most entries are registry images, and entries are
    /// moved by value through create's stages.
    pub origin: Box<Origin>,
    /// None = every platform the image has.
    pub platforms: Option<Vec<Platform>>,
    /// The entry names its own platforms (which then beat `--platform`).
    pub own_platforms: bool,
    pub line: usize,
    /// Where an entry the list does not name was found (a chart's values, a rendered file).
    pub found: Option<String>,
}

impl ImageEntry {
    /// Where the entry comes from, for messages: `line 3`, or where a chart names the image.
    pub fn whence(&self) -> String {
        match &self.found {
            Some(f) => f.clone(),
            None => format!("line {}", self.line),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageListError {
    #[error("cannot read image list {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{} mistakes in {}:\n  {}{}", .errors.len() + .more, .path.display(), .errors.join("\n  "), match .more { 0 => String::new(), n => format!("\n  ... and {n} more") })]
    Many {
        path: PathBuf,
        /// `FILE:LINE: what`, at most `MAX_ERRORS`.
        errors: Vec<String>,
        more: usize,
    },
    #[error(
        "{path}: the image list names no images, charts or files; add an `images:` list or one reference per line"
    )]
    NoImages { path: PathBuf },
}

/// Mistakes found one after another, reported together.
struct Mistakes<'a> {
    path: &'a Path,
    found: Vec<(usize, String)>,
}

impl Mistakes<'_> {
    fn add(&mut self, line: usize, message: String) {
        self.found.push((line, message));
    }

    fn into_result(self) -> Result<(), ImageListError> {
        let path = self.path.to_path_buf();
        let mut found = self.found;
        match found.len() {
            0 => Ok(()),
            1 => {
                let (line, message) = found.remove(0);
                Err(ImageListError::Syntax {
                    path,
                    line,
                    message,
                })
            }
            n => Err(ImageListError::Many {
                errors: found
                    .iter()
                    .take(MAX_ERRORS)
                    .map(|(l, m)| format!("{}:{l}: {m}", path.display()))
                    .collect(),
                more: n.saturating_sub(MAX_ERRORS),
                path,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlList {
    platforms: Option<Vec<Platform>>,
    /// Each entry is checked by hand (`image_entry`), so a mistake is named in the user's words.
    #[serde(default)]
    images: Vec<serde_yaml::Value>,
    #[serde(default)]
    registries: BTreeMap<String, RegistryConfig>,
    #[serde(default)]
    charts: Vec<serde_yaml::Value>,
    #[serde(default)]
    files: Vec<serde_yaml::Value>,
}

pub fn load(path: &Path) -> Result<ImageList, ImageListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageListError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut list = parse(&text, path)?;
    // ca-file paths are relative to the list, so a list and its certs can travel together.
    let base = path.parent().unwrap_or(Path::new("."));
    for cfg in list.registries.values_mut() {
        if let Some(ca) = &cfg.ca_file {
            if ca.is_relative() {
                cfg.ca_file = Some(base.join(ca));
            }
        }
    }
    Ok(list)
}

pub fn parse(text: &str, path: &Path) -> Result<ImageList, ImageListError> {
    let err = |line: usize, message: String| ImageListError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    };
    let is_yaml = text.lines().any(looks_like_yaml);
    let list = match is_yaml {
        true => parse_yaml(text, path, &err)?,
        false => parse_plain(text, path)?,
    };
    if list.images.is_empty() && list.charts.is_empty() && list.files.is_empty() {
        return Err(ImageListError::NoImages {
            path: path.to_path_buf(),
        });
    }
    Ok(list)
}

type SyntaxError<'a> = &'a dyn Fn(usize, String) -> ImageListError;

/// One reference per line; `#` starts a comment.
fn parse_plain(text: &str, path: &Path) -> Result<ImageList, ImageListError> {
    let mut images = Vec::new();
    let mut mistakes = Mistakes {
        path,
        found: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        match named(l, None, path) {
            Ok((reference, origin)) => images.push(ImageEntry {
                source: l.to_string(),
                reference,
                origin,
                platforms: None,
                own_platforms: false,
                line: i + 1,
                found: None,
            }),
            Err(e) => mistakes.add(i + 1, e.to_string()),
        }
    }
    mistakes.into_result()?;
    Ok(ImageList {
        images,
        registries: BTreeMap::new(),
        platforms: None,
        charts: Vec::new(),
        files: Vec::new(),
        plain_text: true,
        warnings: Vec::new(),
    })
}

/// The YAML list: a document with `images:` (and `platforms:`, `registries:`), or a bare
/// sequence of images.
fn parse_yaml(text: &str, path: &Path, err: SyntaxError) -> Result<ImageList, ImageListError> {
    let yaml_err = |e: serde_yaml::Error| {
        let line = yaml_error_line(text, &e);
        match text.lines().nth(line - 1).is_some_and(|l| l.contains('\t')) {
            true => err(
                line,
                "a tab: YAML indents with spaces only; replace the tab with spaces".into(),
            ),
            // The line is said once, in front.
            false => err(line, without_location(&e.to_string())),
        }
    };
    let doc: YamlList = if text.trim_start().starts_with('-') {
        YamlList {
            platforms: None,
            images: serde_yaml::from_str(text).map_err(yaml_err)?,
            registries: BTreeMap::new(),
            charts: Vec::new(),
            files: Vec::new(),
        }
    } else {
        serde_yaml::from_str(text).map_err(yaml_err)?
    };
    let mut images = Vec::new();
    let mut mistakes = Mistakes {
        path,
        found: Vec::new(),
    };
    let mut search_from = 0;
    for item in doc.images {
        let entry = image_entry(text, item, &mut search_from).and_then(
            |(name, platforms, rename, line)| {
                let (reference, origin) =
                    named(&name, rename.as_deref(), path).map_err(|e| (line, e))?;
                Ok(ImageEntry {
                    source: name,
                    reference,
                    origin,
                    own_platforms: platforms.is_some(),
                    platforms: platforms.or_else(|| doc.platforms.clone()),
                    line,
                    found: None,
                })
            },
        );
        match entry {
            Ok(e) => images.push(e),
            Err((line, m)) => mistakes.add(line, m),
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let charts = app_entries(text, doc.charts, "charts:", &mut mistakes, |v, l| {
        crate::apps::chart_entry(v, base, l)
    });
    let files = app_entries(text, doc.files, "files:", &mut mistakes, |v, l| {
        crate::apps::file_entry(v, base, l)
    });
    let mut hosts = hosts_of(&images, &charts, &files);
    hosts.sort();
    hosts.dedup();
    let mut registries = BTreeMap::new();
    let mut warnings = Vec::new();
    for (key, cfg) in doc.registries {
        let line = line_of(text, &key, &mut 0);
        match registry_key(&key, cfg) {
            Ok((host, cfg)) => {
                if !hosts.contains(&host) {
                    warnings.push(format!(
                        "{}:{line}: registries: {key} matches no image of the list (they come from {}); check its spelling and port",
                        path.display(),
                        hosts.join(", ")
                    ));
                }
                registries.insert(host, cfg);
            }
            Err(m) => mistakes.add(line, m),
        }
    }
    mistakes.into_result()?;
    Ok(ImageList {
        images,
        registries,
        platforms: doc.platforms,
        charts,
        files,
        plain_text: false,
        warnings,
    })
}

/// A `registries:` key as the images name their registry: `http://HOST` means HOST with
/// plain HTTP, `https://HOST` HOST; a trailing `/` is dropped.
fn registry_key(key: &str, mut cfg: RegistryConfig) -> Result<(String, RegistryConfig), String> {
    let (host, plain) = match (key.strip_prefix("http://"), key.strip_prefix("https://")) {
        (Some(h), _) => (h, true),
        (_, Some(h)) => (h, false),
        _ => (key, false),
    };
    let host = host.trim_end_matches('/').to_string();
    if plain && (cfg.ca_file.is_some() || cfg.insecure_skip_tls_verify) {
        return Err(format!(
            "registry {key}: http:// means plain-http, which cannot be combined with TLS settings; write the key without http:// (it is the registry's host[:port], as in the image references)"
        ));
    }
    cfg.plain_http |= plain;
    check_registry(&host, &cfg)?;
    Ok((host, cfg))
}

/// The hosts the list reaches: its images' registries, its charts' repositories and
/// registries, its files' URLs' hosts.
fn hosts_of(images: &[ImageEntry], charts: &[ChartEntry], files: &[FileEntry]) -> Vec<String> {
    let url_host = |u: &str| {
        url::Url::parse(u).ok().and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
        })
    };
    let chart_host = |c: &ChartEntry| match (&c.repo, c.oci_name()) {
        (Some(r), _) => url_host(r),
        (None, Some(n)) => n.split('/').next().map(str::to_string),
        _ => None,
    };
    let file_host = |f: &FileEntry| match &f.from {
        crate::apps::FileSource::Url { url, .. } => url_host(url),
        crate::apps::FileSource::Path(_) => None,
    };
    images
        .iter()
        .map(|i| i.reference.registry.clone())
        .chain(charts.iter().filter_map(chart_host))
        .chain(files.iter().filter_map(file_host))
        .collect()
}

/// The entries of `charts:` or `files:`, each checked by `check` with its line; mistakes are
/// collected with the others.
fn app_entries<T>(
    text: &str,
    items: Vec<serde_yaml::Value>,
    section: &str,
    mistakes: &mut Mistakes,
    check: impl Fn(serde_yaml::Value, usize) -> Result<T, String>,
) -> Vec<T> {
    let mut from = text.find(&format!("\n{section}")).unwrap_or(0);
    let mut out = Vec::new();
    for item in items {
        let line = entry_line(text, &item, &mut from);
        match check(item, line) {
            Ok(e) => out.push(e),
            Err(m) => mistakes.add(line, m),
        }
    }
    out
}

/// The line of a mapping entry: where its first value is written.
fn entry_line(text: &str, item: &serde_yaml::Value, from: &mut usize) -> usize {
    let first = item
        .as_mapping()
        .and_then(|m| m.values().next())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "- ".into());
    line_of(text, &first, from)
}

/// An entry's name and origin: a registry reference, or a local source (`oci:DIR[:TAG]`, ...)
/// whose paths are relative to the list and which `rename` (`as:`) may name.
fn named(
    entry: &str,
    rename: Option<&str>,
    list: &Path,
) -> Result<(Reference, Box<Origin>), String> {
    if crate::local::is_local(entry) {
        let base = list.parent().unwrap_or(Path::new(""));
        let p = crate::local::parse(entry, base, rename)?;
        return Ok((p.reference, Box::new(p.origin)));
    }
    if rename.is_some() {
        return Err(format!(
            "{entry}: `as:` names an image from a local source (oci:, docker-archive:, containers-storage:, docker-daemon:); a registry image keeps its name"
        ));
    }
    let reference = Reference::parse(entry).map_err(|e| reference_error(entry, e))?;
    Ok((reference, Box::default()))
}

/// A reference that does not parse; one that ran into the next line is an indentation slip.
fn reference_error(name: &str, e: crate::reference::ReferenceError) -> String {
    match name.contains(" - ") || name.contains(" -\t") {
        true => format!("{name:?} runs on into the next line: indent each `- ` entry of the list at the same column"),
        false => e.to_string(),
    }
}

/// The line a YAML error is at: its location, but for a duplicate key (which serde places at
/// the start of the document) the key's second appearance at the start of a line.
fn yaml_error_line(text: &str, e: &serde_yaml::Error) -> usize {
    let msg = e.to_string();
    let dup = msg
        .strip_prefix("duplicate field `")
        .and_then(|r| r.split('`').next());
    let at = e.location().map_or(1, |l| l.line());
    dup.and_then(|key| {
        let head = format!("{key}:");
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(&head))
            .nth(1)
            .map(|(i, _)| i + 1)
    })
    .unwrap_or(at)
}

/// serde_yaml's message without its own " at line L column C".
fn without_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

fn check_registry(host: &str, cfg: &RegistryConfig) -> Result<(), String> {
    if cfg.plain_http && (cfg.ca_file.is_some() || cfg.insecure_skip_tls_verify) {
        return Err(format!(
            "registry {host}: plain-http cannot be combined with TLS settings"
        ));
    }
    if cfg.username_env.is_some() != cfg.password_env.is_some() {
        return Err(format!(
            "registry {host}: give both username-env and password-env, or neither"
        ));
    }
    Ok(())
}

/// A YAML line, as opposed to a line of a plain-text list: `- ...`, or `key:` followed by a
/// space or nothing (a reference's `host:port` or `name:tag` has no space after the colon).
fn looks_like_yaml(line: &str) -> bool {
    let l = line.trim_end();
    if l == "-" || l.starts_with("- ") {
        return true;
    }
    let Some((key, rest)) = l.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        && (rest.is_empty() || rest.starts_with(' '))
}

/// An image entry as written: its reference, its own platforms, its `as:`, its line.
type Entry = (String, Option<Vec<Platform>>, Option<String>, usize);

/// One entry of `images:`: a reference, or a mapping with `name` (and `platforms`, `as`).
/// Returns the name, the platforms, the new name and the line; or the line and what is wrong,
/// in the list's own words.
fn image_entry(
    text: &str,
    item: serde_yaml::Value,
    from: &mut usize,
) -> Result<Entry, (usize, String)> {
    use serde_yaml::Value;
    let map = match item {
        Value::String(name) => {
            let line = line_of(text, &name, from);
            return Ok((name, None, None, line));
        }
        Value::Mapping(m) => m,
        other => {
            let shown = serde_yaml::to_string(&other).unwrap_or_default();
            let shown = shown.trim();
            return Err((
                line_of(text, shown, from),
                format!("an image entry is {shown}; give an image reference (nginx:1.27) or name: and platforms:"),
            ));
        }
    };
    for key in map.keys() {
        let k = key.as_str().unwrap_or("?");
        if !["name", "platforms", "as"].contains(&k) {
            return Err((
                line_of(text, &format!("{k}:"), &mut from.clone()),
                format!(
                    "unknown key `{k}` in an image entry; an entry takes `name`, `platforms` and (for a local source) `as`"
                ),
            ));
        }
    }
    let Some(name) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Err((
            line_of(text, "platforms", &mut from.clone()),
            "an image entry with platforms: needs `name` (the image reference)".into(),
        ));
    };
    let line = line_of(text, &name, from);
    let platforms = match map.get("platforms") {
        None => None,
        Some(v) => Some(
            serde_yaml::from_value::<Vec<Platform>>(v.clone())
                .map_err(|e| (line, format!("platforms of {name}: {e}")))?,
        ),
    };
    let rename = match map.get("as") {
        None => None,
        Some(v) => Some(v.as_str().map(str::to_string).ok_or((
            line,
            format!("as: of {name} must be an image reference (registry.example.com/team/app:1.0)"),
        ))?),
    };
    Ok((name, platforms, rename, line))
}

/// serde_yaml gives no positions for values, so find the line where a name is written, scanning
/// forward so that a repeated name maps to its own line.
fn line_of(text: &str, needle: &str, search_from: &mut usize) -> usize {
    // A scalar YAML folded over lines is found by its first word.
    let first = needle.split_whitespace().next().unwrap_or(needle);
    let from = (*search_from).min(text.len());
    let find = |n: &str| {
        let after = text.get(from..).and_then(|t| t.find(n)).map(|p| p + from);
        after.or_else(|| text.find(n)).map(|p| (p, n.len()))
    };
    match find(needle).or_else(|| find(first)) {
        // Past what was found, which ends on a character boundary.
        Some((p, len)) => {
            *search_from = p + len;
            text[..p].matches('\n').count() + 1
        }
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ready_made_list_in_manifests_parses_and_names_its_source() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
        let mut seen = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let l = parse(&text, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!l.images.is_empty(), "{}", path.display());
            // Each says where its list comes from.
            assert!(
                text.starts_with('#'),
                "{} has no source comment",
                path.display()
            );
            // ...and which release of the stack it matches, in its first line, so nobody has
            // to guess whether it fits what they install.
            let first = text.lines().next().unwrap_or_default();
            let names_release = first.split_whitespace().any(|w| {
                let v = w.trim_start_matches('v');
                v.split('.')
                    .take(3)
                    .filter(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
                    .count()
                    == 3
            });
            assert!(
                names_release,
                "{}: the first line names no release (x.y.z): {first}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 3);
    }

    #[test]
    fn yaml_with_defaults_and_overrides() {
        let y = "platforms: [linux/amd64]\nimages:\n  - nginx:1.27\n  - name: quay.io/a/b:1\n    platforms: [linux/arm64]\nregistries:\n  r.local:5000:\n    plain-http: true\n";
        let l = parse(y, Path::new("x.yaml")).unwrap();
        assert_eq!(l.images.len(), 2);
        assert_eq!(
            l.images[0].reference.to_string(),
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(
            l.images[0].platforms.as_ref().unwrap()[0].to_string(),
            "linux/amd64"
        );
        assert_eq!(
            l.images[1].platforms.as_ref().unwrap()[0].to_string(),
            "linux/arm64"
        );
        assert_eq!(l.images[1].line, 4);
        assert!(l.registries["r.local:5000"].plain_http);
    }

    #[test]
    fn plain_text_and_errors_name_the_line() {
        let l = parse(
            "# comment\nnginx\n\nalpine:3.20 # pinned\n",
            Path::new("l.txt"),
        )
        .unwrap();
        assert_eq!(l.images.len(), 2);
        assert_eq!(l.images[1].line, 4);
        let e = parse("nginx\nBAD REF\n", Path::new("l.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.txt:2:"), "{e}");
        let e = parse("images:\n  - nginx\n  - Nope:1\n", Path::new("i.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("i.yaml:3:"), "{e}");
        let e = parse(
            "images:\n  - nginx\nplatfroms: [linux/amd64]\n",
            Path::new("i.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("i.yaml:3") && e.contains("platfroms"), "{e}");
        assert!(parse("# nothing\n", Path::new("e.txt")).is_err());
    }

    /// The error for `text`, which must not parse.
    fn error_of(text: &str) -> String {
        match parse(text, Path::new("i.yaml")) {
            Ok(_) => panic!("accepted: {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn mistakes_in_an_image_entry_are_named_in_the_users_words() {
        let e = error_of("images:\n  - nginx\n  - name: alpine\n    platfrom: [linux/amd64]\n");
        assert!(
            e.starts_with("i.yaml:4:") && e.contains("`platfrom`"),
            "{e}"
        );
        assert!(!e.contains("untagged"), "{e}");
        let e = error_of("images:\n  - nginx\n  - 42\n");
        assert!(e.starts_with("i.yaml:3:") && e.contains("42"), "{e}");
        let e = error_of("images:\n  - platforms: [linux/amd64]\n");
        assert!(e.starts_with("i.yaml:2:") && e.contains("`name`"), "{e}");
    }

    #[test]
    fn a_yaml_key_of_the_wrong_case_is_not_read_as_a_plain_list() {
        let e = error_of("Images:\n  - nginx\n");
        assert!(e.starts_with("i.yaml:1:") && e.contains("Images"), "{e}");
        assert!(!e.contains("invalid image reference"), "{e}");
    }

    #[test]
    fn yaml_mistakes_are_named_at_their_own_line_once() {
        // A mis-indented entry joins the one above it.
        let e = error_of("images:\n  - a/b:1\n   - c/d:2\n");
        assert!(e.starts_with("i.yaml:2:") && e.contains("indent"), "{e}");
        let e = error_of("images:\n  - a/b:1\nimages:\n  - c/d:2\n");
        assert!(e.starts_with("i.yaml:3:") && e.contains("images"), "{e}");
        let e = error_of("images:\n  - a/b:1\nregistries:\n  x.io:\n    plain-htp: true\n");
        assert!(e.starts_with("i.yaml:5:") && !e.contains("line 5"), "{e}");
    }

    /// Found by fuzzing: a folded entry found by its first word moved the search past the end
    /// of what was found, into the middle of a character.
    #[test]
    fn a_folded_entry_with_wide_characters_does_not_panic() {
        let bytes = include_bytes!("../fuzz/corpus/image_list/regression-folded-wide-char");
        let _ = parse(&String::from_utf8_lossy(bytes), Path::new("i.yaml"));
    }

    #[test]
    fn every_bad_reference_is_named_up_to_a_bound() {
        let e = error_of("images:\n  - a/b:1\n  - A/B:x\n  - c/d:@@\n");
        assert!(e.contains("i.yaml:3:") && e.contains("i.yaml:4:"), "{e}");
        let many: String = (0..40).map(|i| format!("BAD{i}\n")).collect();
        let e = parse(&many, Path::new("l.txt")).unwrap_err().to_string();
        assert!(
            e.contains("l.txt:1:") && e.contains("l.txt:20:") && !e.contains("l.txt:21:"),
            "{e}"
        );
        assert!(e.contains("20 more"), "{e}");
    }

    #[test]
    fn registry_keys_take_a_scheme_and_one_matching_no_image_is_warned_about() {
        let l = parse(
            "images:\n  - 127.0.0.1:5000/a:1\nregistries:\n  http://127.0.0.1:5000/:\n    ca-file: x.pem\n",
            Path::new("i.yaml"),
        );
        let e = l.unwrap_err().to_string();
        assert!(e.contains("plain-http") && e.contains("i.yaml:4"), "{e}");
        let l = parse(
            "images:\n  - 127.0.0.1:5000/a:1\nregistries:\n  http://127.0.0.1:5000:\n    {}\n  quay.io:\n    plain-http: true\n",
            Path::new("i.yaml"),
        )
        .unwrap();
        assert!(
            l.registries["127.0.0.1:5000"].plain_http,
            "{:?}",
            l.registries
        );
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        assert!(
            l.warnings[0].starts_with("i.yaml:6:") && l.warnings[0].contains("quay.io"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn local_sources_are_entries_relative_to_the_list_and_as_names_them() {
        let l = parse(
            "oci:build/lay:1.0\ndocker-archive:/abs/a.tar # saved\n",
            Path::new("/lists/l.txt"),
        )
        .unwrap();
        assert_eq!(
            *l.images[0].origin,
            Origin::Layout {
                dir: "/lists/build/lay".into(),
                tag: Some("1.0".into()),
                renamed: false
            }
        );
        assert_eq!(l.images[1].reference.to_string(), "localhost/a:latest");
        let l = parse(
            "images:\n  - nginx\n  - name: containers-storage:app:2\n    as: r.io/t/app:2\n",
            Path::new("i.yaml"),
        )
        .unwrap();
        assert_eq!(*l.images[0].origin, Origin::Registry);
        assert_eq!(l.images[1].reference.to_string(), "r.io/t/app:2");
        assert_eq!(l.images[1].line, 3);
        let e = error_of("images:\n  - name: nginx\n    as: r.io/x:1\n");
        assert!(
            e.starts_with("i.yaml:2:") && e.contains("local source"),
            "{e}"
        );
        let e = parse("nginx\ncontainers-storage:[vfs@/r\n", Path::new("l.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.txt:2:") && e.contains("`]`"), "{e}");
    }

    #[test]
    fn a_tab_is_called_a_tab() {
        let e = error_of("images:\n\t- nginx\n");
        assert!(e.starts_with("i.yaml:2:") && e.contains("tab"), "{e}");
    }
}
