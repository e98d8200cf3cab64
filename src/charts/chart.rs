//! A chart read from its archive the way Helm's `loader.LoadFiles` reads it: Chart.yaml
//! (and requirements.yaml for apiVersion v1), values.yaml, the templates, and each subchart
//! under `charts/` (a folder or a .tgz), recursively.

use super::archive::{self, File, MAX_TOTAL};
use super::error::ChartError;
use super::metadata::Metadata;
use super::yaml;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Subcharts deeper than this are not a chart `helm dependency build` makes.
const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug)]
pub struct Chart {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    /// Chart.yaml as Helm reads it.
    pub metadata: Metadata,
    /// values.yaml (`Null` when the chart has none).
    pub values: Value,
    /// `templates/…` files, by name, as text.
    pub templates: Vec<(String, String)>,
    /// The charts under `charts/`, in name order.
    pub subcharts: Vec<Chart>,
    /// Where this chart is inside its parent: `charts/redis` or `charts/redis-1.0.0.tgz`;
    /// empty for the chart itself.
    pub path: String,
}

impl Chart {
    /// A packaged chart (`helm package` output): untrusted bytes, bounded like Helm's own
    /// loader (5 MiB a file, 100 MiB in all), every error naming what is wrong.
    pub fn from_tgz(tgz: &[u8]) -> Result<Chart, ChartError> {
        let mut remaining = MAX_TOTAL;
        from_archive(tgz, &mut remaining, "", 0)
    }

    /// Chart.yaml's metadata as `helm push` puts it in the OCI config blob (media type
    /// application/vnd.cncf.helm.config.v1+json): `json.Marshal` of Helm's `chart.Metadata`.
    pub fn config_json(&self) -> Vec<u8> {
        self.metadata.to_json().into_bytes()
    }
}

fn from_archive(
    tgz: &[u8],
    remaining: &mut u64,
    path: &str,
    depth: usize,
) -> Result<Chart, ChartError> {
    let files = archive::files(tgz, remaining).map_err(|e| within(path, e))?;
    from_files(files, remaining, path, depth)
}

/// An error inside a subchart's archive, named by the subchart's path.
fn within(path: &str, e: ChartError) -> ChartError {
    if path.is_empty() {
        return e;
    }
    match e {
        ChartError::Yaml { .. } | ChartError::Field { .. } => e,
        other => ChartError::Yaml {
            file: path.to_string(),
            message: other.to_string(),
        },
    }
}

fn parse_yaml(file: &File, label: &str) -> Result<Value, ChartError> {
    let text = String::from_utf8_lossy(&file.data);
    yaml::parse(&text).map_err(|e| ChartError::Yaml {
        file: label.to_string(),
        message: e.to_string(),
    })
}

fn from_files(
    files: Vec<File>,
    remaining: &mut u64,
    path: &str,
    depth: usize,
) -> Result<Chart, ChartError> {
    let label = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}/{name}")
        }
    };
    let chart_yaml = files
        .iter()
        .find(|f| f.name == "Chart.yaml")
        .ok_or_else(|| ChartError::NoChartYaml(label("")))?;
    let mut metadata = Metadata::parse(
        &parse_yaml(chart_yaml, &label("Chart.yaml"))?,
        &label("Chart.yaml"),
    )?;
    let mut values = Value::Null;
    let mut templates = Vec::new();
    let mut sub: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {}
            "values.yaml" => {
                values = parse_yaml(&f, &label("values.yaml"))?;
                if !matches!(values, Value::Mapping(_) | Value::Null) {
                    return Err(ChartError::Yaml {
                        file: label("values.yaml"),
                        message: "is not a map of keys and values".into(),
                    });
                }
            }
            "requirements.yaml" => {
                let v = parse_yaml(&f, &label("requirements.yaml"))?;
                metadata.add_requirements(&v, &label("requirements.yaml"))?;
            }
            n if n.starts_with("templates/") => templates.push((
                f.name.clone(),
                String::from_utf8_lossy(&f.data).into_owned(),
            )),
            n if n.starts_with("charts/") && !n.ends_with(".prov") => {
                let rest = &n["charts/".len()..];
                let dir = rest.split('/').next().unwrap_or_default().to_string();
                let inner = rest[dir.len()..].trim_start_matches('/').to_string();
                sub.entry(dir).or_default().push(File {
                    name: inner,
                    data: f.data,
                });
            }
            _ => {}
        }
    }
    metadata.validate(&label("Chart.yaml"))?;
    let mut subcharts = Vec::new();
    for (dir, files) in sub {
        if dir.starts_with(['_', '.']) {
            continue;
        }
        if depth + 1 > MAX_DEPTH {
            return Err(ChartError::TooDeep(MAX_DEPTH));
        }
        let sub_path = label(&format!("charts/{dir}"));
        let chart = if dir.ends_with(".tgz") {
            let data = files
                .into_iter()
                .find(|f| f.name.is_empty())
                .map(|f| f.data)
                .unwrap_or_default();
            from_archive(&data, remaining, &sub_path, depth + 1)?
        } else {
            let files: Vec<File> = files.into_iter().filter(|f| !f.name.is_empty()).collect();
            from_files(files, remaining, &sub_path, depth + 1)?
        };
        subcharts.push(chart);
    }
    Ok(Chart {
        name: metadata.name.clone(),
        version: metadata.version.clone(),
        app_version: Some(metadata.app_version.clone()).filter(|a| !a.is_empty()),
        metadata,
        values,
        templates,
        subcharts,
        path: path.to_string(),
    })
}
