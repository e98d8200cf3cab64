//! Every image a chart uses, each with where it was found: the chart's values merged as Helm
//! merges them for `helm install -f FILE…`, its subcharts enabled or not as Helm decides
//! (`condition:`, `tags:`, `alias:`), then each enabled chart's values, templates and
//! annotation read for images.

use super::chart::Chart;
use super::found::{Collector, Discovery};
use super::metadata::Dependency;
use super::values::{self, at, Seg};
use super::walk::{self, Context};
use serde_yaml::{Mapping, Value};

/// Aliases copy a subchart, so a small chart could name millions (each alias of an alias):
/// past this many the rest are not read.
const MAX_SCOPES: usize = 1000;

/// One of the entry's `values:` files, in order (later ones win).
#[derive(Clone, Debug)]
pub struct ValuesFile {
    pub name: String,
    pub text: String,
}

/// A chart in the install tree, under the name its parent's values know it by.
struct Scope<'c> {
    chart: &'c Chart,
    /// Keys from the top values to this chart's values (`["redis"]`).
    keys: Vec<String>,
    /// The dependency that brought it in (conditions, tags); `None` for the top chart and
    /// for a vendored subchart Chart.yaml does not list.
    dependency: Option<&'c Dependency>,
    children: Vec<Scope<'c>>,
}

/// Every image the chart uses, each with where it was found.
pub fn discover(chart: &Chart, values: &[ValuesFile]) -> Discovery {
    let mut out = Collector::default();
    let mut user = Value::Mapping(Mapping::new());
    let mut files = Vec::new();
    for f in values {
        match super::yaml::parse(&f.text) {
            Ok(v @ (Value::Mapping(_) | Value::Null)) => {
                values::merge_files(&mut user, &v);
                files.push((f.name.as_str(), v));
            }
            Ok(_) => out.problem("", f.name.clone(), "is not a map of keys and values".into()),
            Err(e) => out.problem("", f.name.clone(), format!("is not YAML: {e}")),
        }
    }
    let mut tree = match user {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    let mut left = MAX_SCOPES + 1;
    let top = build(chart, &mut tree, Vec::new(), None, &mut left);
    if left == 0 {
        out.problem(
            "",
            "Chart.yaml dependencies".into(),
            format!("the chart uses more than {MAX_SCOPES} subcharts (aliases count each time); the rest were not read"),
        );
    }
    let tree = Value::Mapping(tree);
    let reader = Reader {
        tree: &tree,
        files: &files,
    };
    reader.read(&top, &[], &mut out);
    out.finish()
}

/// Coalesces the chart's defaults into `vals` and builds its subcharts' scopes, handing down
/// globals, as Helm's `coalesceDeps` does. Every vendored subchart is built, enabled or
/// not: conditions are read from the whole tree afterwards, as Helm reads them.
fn build<'c>(
    chart: &'c Chart,
    vals: &mut Mapping,
    keys: Vec<String>,
    dependency: Option<&'c Dependency>,
    left: &mut usize,
) -> Scope<'c> {
    values::coalesce(vals, &chart.values);
    let mut children = Vec::new();
    for (sub, name, dep) in subcharts(chart) {
        if *left == 0 {
            break;
        }
        *left -= 1;
        let parent_global = vals.get("global").cloned();
        let entry = vals
            .entry(name.clone().into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if entry.is_null() {
            *entry = Value::Mapping(Mapping::new());
        }
        // A subchart's key holding text instead of a map: Helm fails the install.
        let Value::Mapping(sub_vals) = entry else {
            continue;
        };
        values::hand_down_globals(sub_vals, parent_global.as_ref());
        let mut sub_keys = keys.clone();
        sub_keys.push(name);
        children.push(build(sub, sub_vals, sub_keys, dep, left));
    }
    Scope {
        chart,
        keys,
        dependency,
        children,
    }
}

/// The chart's subcharts as Helm's `processDependencyEnabled` lists them: each dependency of
/// Chart.yaml that is vendored (by name; a second alias of one chart is a second copy), under
/// its alias, then the vendored charts no dependency names.
fn subcharts(chart: &Chart) -> Vec<(&Chart, String, Option<&Dependency>)> {
    let deps = &chart.metadata.dependencies;
    let mut out = Vec::new();
    for d in deps {
        let vendored = chart
            .subcharts
            .iter()
            .find(|c| c.name == d.name && c.version == d.version)
            .or_else(|| chart.subcharts.iter().find(|c| c.name == d.name));
        if let Some(c) = vendored {
            let name = if d.alias.is_empty() {
                &d.name
            } else {
                &d.alias
            };
            out.push((c, name.clone(), Some(d)));
        }
    }
    for c in &chart.subcharts {
        if !deps.iter().any(|d| d.name == c.name) {
            out.push((c, c.name.clone(), None));
        }
    }
    out
}

/// Whether Helm installs a dependency: its tags (`tags.NAME` at the top of the values; off
/// only when every tag set is false), then the first of its comma-separated conditions that
/// is a boolean, read in the declaring chart's values.
fn enabled(dep: &Dependency, tree: &Value, parent_keys: &[String]) -> bool {
    let mut on = true;
    if let Some(Value::Mapping(tags)) = tree.get("tags") {
        let set: Vec<bool> = dep
            .tags
            .iter()
            .filter_map(|t| tags.get(t.as_str())?.as_bool())
            .collect();
        on = set.is_empty() || set.contains(&true);
    }
    for cond in dep.condition.trim().split(',').filter(|c| !c.is_empty()) {
        let mut path: Vec<Seg> = parent_keys.iter().map(|k| Seg::Key(k.clone())).collect();
        path.extend(cond.split('.').map(|k| Seg::Key(k.to_string())));
        if let Some(Value::Bool(b)) = at(tree, &path) {
            return *b;
        }
    }
    on
}

struct Reader<'a> {
    tree: &'a Value,
    files: &'a [(&'a str, Value)],
}

impl Reader<'_> {
    /// `ancestors`: the scopes above this one, top first.
    fn read(&self, scope: &Scope, ancestors: &[&Scope], out: &mut Collector) {
        let chart = scope.chart;
        let label = scope_label(scope);
        let here: Vec<Seg> = scope.keys.iter().map(|k| Seg::Key(k.clone())).collect();
        let vals = at(self.tree, &here).cloned().unwrap_or(Value::Null);
        let global_registry = at(&vals, &[key("global"), key("imageRegistry")])
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let ctx = Context {
            global_registry,
            app_version: chart.app_version.as_deref(),
        };
        let mut skip: Vec<String> = scope
            .children
            .iter()
            .map(|c| c.keys.last().cloned().unwrap_or_default())
            .collect();
        skip.extend(chart.metadata.dependencies.iter().map(|d| {
            if d.alias.is_empty() {
                d.name.clone()
            } else {
                d.alias.clone()
            }
        }));
        if !scope.keys.is_empty() {
            // Handed down from the top, and read there.
            skip.push("global".into());
        }
        for c in walk::values_images(&vals, &skip, &ctx) {
            let place = self.origin(scope, ancestors, &c.path, &c.fields);
            out.add(&c.image, place);
        }
        for (name, text) in &chart.templates {
            for (line, image) in walk::template_images(text) {
                out.add(&image, format!("{label}{name}:{line} image"));
            }
        }
        self.annotation(chart, &label, out);
        let mut line: Vec<&Scope> = ancestors.to_vec();
        line.push(scope);
        for child in &scope.children {
            let on = child
                .dependency
                .is_none_or(|d| enabled(d, self.tree, &scope.keys));
            if on {
                self.read(child, &line, out);
            }
        }
    }

    fn annotation(&self, chart: &Chart, label: &str, out: &mut Collector) {
        const KEY: &str = "artifacthub.io/images";
        let Some((_, text)) = chart.metadata.annotations.iter().find(|(k, _)| k == KEY) else {
            return;
        };
        match walk::annotation_images(text) {
            Ok(images) => {
                for (name, image) in images {
                    let which = if name.is_empty() {
                        String::new()
                    } else {
                        format!(" ({name})")
                    };
                    out.add(&image, format!("{label}Chart.yaml {KEY}{which}"));
                }
            }
            Err(why) => out.problem(text, format!("{label}Chart.yaml {KEY}"), why),
        }
    }

    /// Which file set the image: the user's files (last first), then the values.yaml of each
    /// chart above (top first), then the chart's own; the first that has any of the keys.
    fn origin(&self, scope: &Scope, ancestors: &[&Scope], path: &[Seg], fields: &[&str]) -> String {
        let has = |base: &Value, offset: &[String]| {
            let mut p: Vec<Seg> = offset.iter().map(|k| Seg::Key(k.clone())).collect();
            p.extend_from_slice(path);
            let Some(v) = at(base, &p) else { return false };
            fields.is_empty()
                || fields
                    .iter()
                    .any(|f| v.get(*f).is_some_and(|x| !x.is_null()))
        };
        for (name, v) in self.files.iter().rev() {
            if has(v, &scope.keys) {
                return format!("{name} {}", show(&scope.keys, path));
            }
        }
        for a in ancestors {
            let rel = &scope.keys[a.keys.len()..];
            if has(&a.chart.values, rel) {
                return format!("{}values.yaml {}", scope_label(a), show(rel, path));
            }
        }
        format!("{}values.yaml {}", scope_label(scope), values::show(path))
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// `charts/redis ` for a subchart known as `redis` (its alias when it has one), nested as
/// `charts/redis/charts/common `; empty for the top chart.
fn scope_label(scope: &Scope) -> String {
    scope
        .keys
        .iter()
        .map(|k| format!("charts/{k}"))
        .collect::<Vec<_>>()
        .join("/")
        + if scope.keys.is_empty() { "" } else { " " }
}

fn show(keys: &[String], path: &[Seg]) -> String {
    let mut p: Vec<Seg> = keys.iter().map(|k| Seg::Key(k.clone())).collect();
    p.extend_from_slice(path);
    values::show(&p)
}
