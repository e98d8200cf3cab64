//! The image list a user hands to `bundle create`: YAML (documented in docs/CLI.md) or a plain
//! text file with one reference per line. Every error names the file and the line.

use crate::platform::Platform;
use crate::reference::Reference;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ImageList {
    pub images: Vec<ImageEntry>,
    pub registries: BTreeMap<String, RegistryConfig>,
}

#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// As the user wrote it.
    pub source: String,
    pub reference: Reference,
    /// None = every platform the image has.
    pub platforms: Option<Vec<Platform>>,
    /// The entry names its own platforms (which then beat `--platform`).
    pub own_platforms: bool,
    pub line: usize,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryConfig {
    #[serde(default)]
    pub plain_http: bool,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
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
    #[error(
        "{path}: the image list names no images; add an `images:` list or one reference per line"
    )]
    NoImages { path: PathBuf },
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
        true => parse_yaml(text, &err)?,
        false => parse_plain(text, &err)?,
    };
    if list.images.is_empty() {
        return Err(ImageListError::NoImages {
            path: path.to_path_buf(),
        });
    }
    Ok(list)
}

type SyntaxError<'a> = &'a dyn Fn(usize, String) -> ImageListError;

/// One reference per line; `#` starts a comment.
fn parse_plain(text: &str, err: SyntaxError) -> Result<ImageList, ImageListError> {
    let mut images = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let reference = Reference::parse(l).map_err(|e| err(i + 1, e.to_string()))?;
        images.push(ImageEntry {
            source: l.to_string(),
            reference,
            platforms: None,
            own_platforms: false,
            line: i + 1,
        });
    }
    Ok(ImageList {
        images,
        registries: BTreeMap::new(),
    })
}

/// The YAML list: a document with `images:` (and `platforms:`, `registries:`), or a bare
/// sequence of images.
fn parse_yaml(text: &str, err: SyntaxError) -> Result<ImageList, ImageListError> {
    let yaml_err = |e: serde_yaml::Error| {
        let line = e.location().map_or(1, |l| l.line());
        match text.lines().nth(line - 1).is_some_and(|l| l.contains('\t')) {
            true => err(
                line,
                "a tab: YAML indents with spaces only; replace the tab with spaces".into(),
            ),
            false => err(line, e.to_string()),
        }
    };
    let doc: YamlList = if text.trim_start().starts_with('-') {
        YamlList {
            platforms: None,
            images: serde_yaml::from_str(text).map_err(yaml_err)?,
            registries: BTreeMap::new(),
        }
    } else {
        serde_yaml::from_str(text).map_err(yaml_err)?
    };
    let mut images = Vec::new();
    let mut search_from = 0;
    for item in doc.images {
        let (name, platforms, line) =
            image_entry(text, item, &mut search_from).map_err(|(line, m)| err(line, m))?;
        let reference = Reference::parse(&name).map_err(|e| err(line, e.to_string()))?;
        images.push(ImageEntry {
            source: name,
            reference,
            own_platforms: platforms.is_some(),
            platforms: platforms.or_else(|| doc.platforms.clone()),
            line,
        });
    }
    for (host, cfg) in &doc.registries {
        check_registry(host, cfg).map_err(|m| err(line_of(text, host, &mut 0), m))?;
    }
    Ok(ImageList {
        images,
        registries: doc.registries,
    })
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

/// An image entry as written: its reference, its own platforms, its line.
type Entry = (String, Option<Vec<Platform>>, usize);

/// One entry of `images:`: a reference, or a mapping with `name` (and `platforms`). Returns the
/// name, the platforms and the line; or the line and what is wrong, in the list's own words.
fn image_entry(
    text: &str,
    item: serde_yaml::Value,
    from: &mut usize,
) -> Result<Entry, (usize, String)> {
    use serde_yaml::Value;
    let map = match item {
        Value::String(name) => {
            let line = line_of(text, &name, from);
            return Ok((name, None, line));
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
        if k != "name" && k != "platforms" {
            return Err((
                line_of(text, &format!("{k}:"), &mut from.clone()),
                format!(
                    "unknown key `{k}` in an image entry; an entry takes `name` and `platforms`"
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
    Ok((name, platforms, line))
}

/// serde_yaml gives no positions for values, so find the line where a name is written, scanning
/// forward so that a repeated name maps to its own line.
fn line_of(text: &str, needle: &str, search_from: &mut usize) -> usize {
    let pos = text[*search_from..]
        .find(needle)
        .map(|p| p + *search_from)
        .or_else(|| text.find(needle));
    match pos {
        Some(p) => {
            *search_from = p + needle.len();
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
    fn a_tab_is_called_a_tab() {
        let e = error_of("images:\n\t- nginx\n");
        assert!(e.starts_with("i.yaml:2:") && e.contains("tab"), "{e}");
    }
}
