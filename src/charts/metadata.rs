//! Chart.yaml as Helm 3 reads it (`chart.Metadata` through `sigs.k8s.io/yaml`: keys matched
//! case-insensitively, scalars turned into text Go's way, then `Validate`'s sanitising) and
//! as `helm push` writes it into the OCI config blob (`json.Marshal`, field order and
//! `omitempty` of the Go struct).

use super::error::ChartError;
use super::gojson::{self, Object};
use super::yaml::go_string;
use serde_yaml::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<Value>,
    pub alias: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    /// In the order Chart.yaml has them; written sorted, as Go writes a map.
    pub annotations: Vec<(String, String)>,
    pub kube_version: String,
    pub dependencies: Vec<Dependency>,
    pub kind: String,
}

/// Where a value is, for messages: the file and the key path.
struct At<'a> {
    file: &'a str,
    key: String,
}

impl At<'_> {
    fn err(&self, message: impl Into<String>) -> ChartError {
        ChartError::Field {
            file: self.file.to_string(),
            key: self.key.clone(),
            message: message.into(),
        }
    }
    fn child(&self, key: &str) -> At<'_> {
        let key = if self.key.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.key)
        };
        At {
            file: self.file,
            key,
        }
    }
}

/// The map's entries matched to a Go struct's JSON field names as `encoding/json` matches
/// them: exactly, else ignoring ASCII case; keys taken in byte order (the order Go's map
/// gives them to the decoder), so a later match wins. Unknown keys are ignored.
fn fields<'v>(
    v: &'v Value,
    names: &[&str],
    at: &At,
) -> Result<Vec<Option<(String, &'v Value)>>, ChartError> {
    let mut out = vec![None; names.len()];
    let map = match v {
        Value::Null => return Ok(out),
        Value::Mapping(m) => m,
        _ => return Err(at.err("is not a map of keys and values")),
    };
    let mut entries: Vec<(String, &Value)> = map
        .iter()
        .filter_map(|(k, v)| Some((go_string(k).ok()??, v)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in entries {
        let i = names
            .iter()
            .position(|n| *n == k)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(&k)));
        if let Some(i) = i {
            out[i] = Some((names[i].to_string(), v));
        }
    }
    Ok(out)
}

fn text(f: &Option<(String, &Value)>, at: &At) -> Result<String, ChartError> {
    match f {
        None => Ok(String::new()),
        Some((k, v)) => go_string(v)
            .map(Option::unwrap_or_default)
            .map_err(|m| at.child(k).err(m)),
    }
}

fn texts(f: &Option<(String, &Value)>, at: &At) -> Result<Vec<String>, ChartError> {
    match f {
        None | Some((_, Value::Null)) => Ok(Vec::new()),
        Some((k, Value::Sequence(items))) => items
            .iter()
            .map(|v| go_string(v).map(Option::unwrap_or_default))
            .collect::<Result<_, _>>()
            .map_err(|m| at.child(k).err(format!("holds an item that {m}"))),
        Some((k, _)) => Err(at.child(k).err("must be a list")),
    }
}

/// A Go `bool` from YAML 1.1, which Go's YAML reads (`yes`, `on` …).
fn flag(f: &Option<(String, &Value)>, at: &At) -> Result<bool, ChartError> {
    match f {
        None | Some((_, Value::Null)) => Ok(false),
        Some((_, Value::Bool(b))) => Ok(*b),
        Some((k, Value::String(s))) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
            _ => Err(at.child(k).err("must be true or false")),
        },
        Some((k, _)) => Err(at.child(k).err("must be true or false")),
    }
}

fn list<'v>(f: &Option<(String, &'v Value)>, at: &At) -> Result<&'v [Value], ChartError> {
    match f {
        None | Some((_, Value::Null)) => Ok(&[]),
        Some((_, Value::Sequence(items))) => Ok(items),
        Some((k, _)) => Err(at.child(k).err("must be a list")),
    }
}

fn maintainer(v: &Value, at: &At) -> Result<Maintainer, ChartError> {
    if v.is_null() {
        return Err(at.err("holds an empty item; Helm refuses null maintainers"));
    }
    let f = fields(v, &["name", "email", "url"], at)?;
    Ok(Maintainer {
        name: sanitize(&text(&f[0], at)?),
        email: sanitize(&text(&f[1], at)?),
        url: sanitize(&text(&f[2], at)?),
    })
}

const DEPENDENCY: [&str; 8] = [
    "name",
    "version",
    "repository",
    "condition",
    "tags",
    "enabled",
    "import-values",
    "alias",
];

fn dependency(v: &Value, at: &At) -> Result<Dependency, ChartError> {
    if v.is_null() {
        return Err(at.err("holds an empty item; Helm refuses null dependencies"));
    }
    let f = fields(v, &DEPENDENCY, at)?;
    let d = Dependency {
        name: sanitize(&text(&f[0], at)?),
        version: sanitize(&text(&f[1], at)?),
        repository: sanitize(&text(&f[2], at)?),
        condition: sanitize(&text(&f[3], at)?),
        tags: texts(&f[4], at)?.iter().map(|t| sanitize(t)).collect(),
        enabled: flag(&f[5], at)?,
        import_values: list(&f[6], at)?.to_vec(),
        alias: text(&f[7], at)?,
    };
    let alias_ok = |a: &str| {
        a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !d.alias.is_empty() && !alias_ok(&d.alias) {
        return Err(at.err(format!(
            "(dependency {:?}) has an alias with characters other than letters, digits, '_' and '-'",
            d.name
        )));
    }
    Ok(d)
}

fn dependencies(f: &Option<(String, &Value)>, at: &At) -> Result<Vec<Dependency>, ChartError> {
    list(f, at)?
        .iter()
        .enumerate()
        .map(|(i, v)| dependency(v, &at.child(&format!("dependencies[{i}]"))))
        .collect()
}

const METADATA: [&str; 18] = [
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
    // Never a field of Helm's; keeps the indexes below readable.
    "\0",
];

fn annotations(f: &Option<(String, &Value)>, at: &At) -> Result<Vec<(String, String)>, ChartError> {
    let map = match f {
        None | Some((_, Value::Null)) => return Ok(Vec::new()),
        Some((_, Value::Mapping(m))) => m,
        Some((k, _)) => return Err(at.child(k).err("must be a map of names to text")),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in map {
        let Ok(Some(k)) = go_string(k) else { continue };
        let v = go_string(v)
            .map(Option::unwrap_or_default)
            .map_err(|m| at.child("annotations").child(&k).err(m))?;
        out.retain(|(old, _)| *old != k);
        out.push((k, v));
    }
    Ok(out)
}

impl Metadata {
    /// Chart.yaml's text, read and checked as Helm's loader does (`file` names it in errors,
    /// with the subchart's path when it is one).
    pub fn parse(v: &Value, file: &str) -> Result<Metadata, ChartError> {
        let at = At {
            file,
            key: String::new(),
        };
        let f = fields(v, &METADATA, &at)?;
        let maintainers = list(&f[6], &at)?
            .iter()
            .enumerate()
            .map(|(i, m)| maintainer(m, &at.child(&format!("maintainers[{i}]"))))
            .collect::<Result<_, _>>()?;
        let mut md = Metadata {
            name: sanitize(&text(&f[0], &at)?),
            home: sanitize(&text(&f[1], &at)?),
            sources: texts(&f[2], &at)?.iter().map(|s| sanitize(s)).collect(),
            version: text(&f[3], &at)?,
            description: sanitize(&text(&f[4], &at)?),
            keywords: texts(&f[5], &at)?.iter().map(|s| sanitize(s)).collect(),
            maintainers,
            icon: sanitize(&text(&f[7], &at)?),
            api_version: text(&f[8], &at)?,
            condition: sanitize(&text(&f[9], &at)?),
            tags: sanitize(&text(&f[10], &at)?),
            app_version: sanitize(&text(&f[11], &at)?),
            deprecated: flag(&f[12], &at)?,
            annotations: annotations(&f[13], &at)?,
            kube_version: sanitize(&text(&f[14], &at)?),
            dependencies: dependencies(&f[15], &at)?,
            kind: text(&f[16], &at)?,
        };
        if md.api_version.is_empty() {
            // Helm 2 charts may leave it out; Helm 3 takes them as v1.
            md.api_version = "v1".into();
        }
        Ok(md)
    }

    /// requirements.yaml of an apiVersion v1 chart: its `dependencies` replace Chart.yaml's.
    pub fn add_requirements(&mut self, v: &Value, file: &str) -> Result<(), ChartError> {
        let at = At {
            file,
            key: String::new(),
        };
        let f = fields(v, &["dependencies"], &at)?;
        if f[0].is_some() {
            self.dependencies = dependencies(&f[0], &at)?;
        }
        Ok(())
    }

    /// `Metadata.Validate`'s checks, with messages naming Chart.yaml's key.
    pub fn validate(&self, file: &str) -> Result<(), ChartError> {
        let at = |key: &str| At {
            file,
            key: key.to_string(),
        };
        if self.name.is_empty() {
            return Err(at("name").err("is missing; every chart has a name"));
        }
        if self.name == "." || self.name == ".." || self.name.contains('/') {
            return Err(at("name").err(format!("{:?} is not a valid chart name", self.name)));
        }
        if self.version.is_empty() {
            return Err(at("version").err("is missing; every chart has a version"));
        }
        if !is_semver(&self.version) {
            return Err(at("version").err(format!(
                "{:?} is not a semantic version (like 1.2.3)",
                self.version
            )));
        }
        if !matches!(self.kind.as_str(), "" | "application" | "library") {
            return Err(at("type").err("must be application or library"));
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.dependencies {
            let key = if d.alias.is_empty() {
                &d.name
            } else {
                &d.alias
            };
            if !seen.insert(key.clone()) {
                return Err(at("dependencies").err(format!(
                    "name more than one dependency {key:?}; give each an alias of its own"
                )));
            }
        }
        Ok(())
    }

    /// `json.Marshal` of Helm's `chart.Metadata`, the bytes of the OCI config blob.
    pub fn to_json(&self) -> String {
        let mut o = Object::new();
        o.string_omitempty("name", &self.name);
        o.string_omitempty("home", &self.home);
        o.strings_omitempty("sources", &self.sources);
        o.string_omitempty("version", &self.version);
        o.string_omitempty("description", &self.description);
        o.strings_omitempty("keywords", &self.keywords);
        if !self.maintainers.is_empty() {
            let all: Vec<String> = self.maintainers.iter().map(maintainer_json).collect();
            o.raw("maintainers", &format!("[{}]", all.join(",")));
        }
        o.string_omitempty("icon", &self.icon);
        o.string_omitempty("apiVersion", &self.api_version);
        o.string_omitempty("condition", &self.condition);
        o.string_omitempty("tags", &self.tags);
        o.string_omitempty("appVersion", &self.app_version);
        if self.deprecated {
            o.raw("deprecated", "true");
        }
        o.map_omitempty("annotations", &self.annotations);
        o.string_omitempty("kubeVersion", &self.kube_version);
        if !self.dependencies.is_empty() {
            let all: Vec<String> = self.dependencies.iter().map(dependency_json).collect();
            o.raw("dependencies", &format!("[{}]", all.join(",")));
        }
        o.string_omitempty("type", &self.kind);
        o.finish()
    }
}

fn maintainer_json(m: &Maintainer) -> String {
    let mut o = Object::new();
    o.string_omitempty("name", &m.name);
    o.string_omitempty("email", &m.email);
    o.string_omitempty("url", &m.url);
    o.finish()
}

fn dependency_json(d: &Dependency) -> String {
    let mut o = Object::new();
    o.string("name", &d.name);
    o.string_omitempty("version", &d.version);
    o.string("repository", &d.repository);
    o.string_omitempty("condition", &d.condition);
    o.strings_omitempty("tags", &d.tags);
    if d.enabled {
        o.raw("enabled", "true");
    }
    if !d.import_values.is_empty() {
        let mut json = String::new();
        gojson::any(&mut json, &Value::Sequence(d.import_values.clone()));
        o.raw("import-values", &json);
    }
    o.string_omitempty("alias", &d.alias);
    o.finish()
}

/// Helm's `sanitizeString`: white space becomes a plain space and what Go does not print
/// (control and format characters, private use) is dropped. Unassigned code points, which
/// Go also drops, are kept: that would need Unicode's tables.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_format_or_private(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Unicode's Cf (format) and Co (private use) characters.
fn is_format_or_private(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F | 0xE000..=0xF8FF
        | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// What Masterminds/semver (Helm's) accepts: `v`, one to three numbers, a pre-release and
/// build metadata of dot-separated [0-9A-Za-z-] identifiers.
fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (v, build) = match v.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match v.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let idents = |s: &str| {
        s.split('.')
            .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() <= 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(idents)
        && build.is_none_or(idents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::yaml;

    fn md(text: &str) -> Metadata {
        Metadata::parse(&yaml::parse(text).unwrap(), "Chart.yaml").unwrap()
    }

    #[test]
    fn keys_match_as_go_matches_them_and_numbers_read_as_go_prints_them() {
        let m = md("Name: web\nversion: 1.0\nappversion: 1.10\napiVersion: v2\n");
        assert_eq!((m.name.as_str(), m.version.as_str()), ("web", "1"));
        assert_eq!(m.app_version, "1.1");
        assert_eq!(
            m.to_json(),
            r#"{"name":"web","version":"1","apiVersion":"v2","appVersion":"1.1"}"#
        );
    }

    #[test]
    fn a_chart_helm_would_refuse_is_refused_naming_the_key() {
        let e = Metadata::parse(&yaml::parse("name: [a]").unwrap(), "Chart.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Chart.yaml: name is a list where text belongs"
        );
        let e = md("name: web\nversion: one\n")
            .validate("Chart.yaml")
            .unwrap_err();
        assert!(
            e.to_string().contains("version \"one\" is not a semantic"),
            "{e}"
        );
        assert!(md("name: w\nversion: v1.2.3-rc.1+b5\n")
            .validate("x")
            .is_ok());
    }
}
