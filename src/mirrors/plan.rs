//! Which source prefixes map to which site paths. `load` put `REGISTRY/REPO` at
//! `SITE/naming(REPO)`; a mirror says "`REGISTRY/SOURCE_PATH/REST` is at `SITE/SITE_PATH/REST`",
//! and runtimes pick the longest source prefix that matches a pull. The plan finds, for every
//! image, the most general such prefix that still maps it right, and adds an exact one for each
//! image a more general rule would send astray.

use crate::naming::Naming;
use crate::reference::Reference;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A TOML basic string (JSON's escapes are TOML's): containerd's and containers' files.
pub fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The site registry and how runtimes reach it.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The load's `registry://HOST/PREFIX` prefix (may be empty).
    pub prefix: String,
    pub plain_http: bool,
    /// An absolute path: the runtime reads it on the node.
    pub ca_file: Option<PathBuf>,
    pub skip_verify: bool,
}

impl Site {
    pub fn scheme(&self) -> &'static str {
        if self.plain_http {
            "http"
        } else {
            "https"
        }
    }
}

/// `registry/source_path/REST` is at `site/site_path/REST`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// As references name it: `docker.io`, `quay.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// A repository path prefix, whole components; empty for the whole registry.
    pub source_path: String,
    /// The site repository path it maps to; empty for the site's root.
    pub site_path: String,
    /// The source repositories of the bundle this mirror is the one to serve, sorted.
    pub repositories: Vec<String>,
}

impl Mirror {
    /// `registry[/source_path]`.
    pub fn source(&self) -> String {
        join(&self.registry, &self.source_path)
    }

    /// `site[/site_path]`.
    pub fn site(&self, site: &Site) -> String {
        join(&site.host, &self.site_path)
    }

    /// The whole registry, as containerd and Docker can mirror it.
    pub fn whole_registry(&self) -> bool {
        self.source_path.is_empty()
    }

    /// Where a source repository of this mirror is on the site.
    pub fn site_repository(&self, repository: &str) -> String {
        let rest = strip_components(repository, &self.source_path).unwrap_or(repository);
        join_path(&self.site_path, rest)
    }
}

#[derive(Debug, Clone)]
pub struct MirrorPlan {
    pub site: Site,
    /// Sorted by registry, then source path.
    pub mirrors: Vec<Mirror>,
}

impl MirrorPlan {
    /// The registries, each with its mirrors (most general first).
    pub fn by_registry(&self) -> BTreeMap<&str, Vec<&Mirror>> {
        let mut out: BTreeMap<&str, Vec<&Mirror>> = BTreeMap::new();
        for m in &self.mirrors {
            out.entry(&m.registry).or_default().push(m);
        }
        out
    }
}

/// One runtime's files for a plan: paths under the output directory and their bytes, what
/// to tell the operator, and how many images the runtime could have mirrored but this
/// configuration does not (which makes the command fail once the files are written).
#[derive(Debug, Default)]
pub struct Rendered {
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub notes: Vec<String>,
    pub not_covered: usize,
}

/// `# ` before each line, a blank line after.
pub fn comment(lines: &[String]) -> String {
    let mut out: String = lines.iter().map(|l| format!("# {l}\n")).collect();
    out.push('\n');
    out
}

fn join(host: &str, path: &str) -> String {
    join_path(host, path)
}

fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// `path` with `prefix` and its `/` taken off the front, if `prefix` is whole components of it
/// (an empty prefix is a prefix of everything).
pub fn strip_components<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    if path == prefix {
        return Some("");
    }
    path.strip_prefix(prefix)?.strip_prefix('/')
}

/// The mirrors that serve `images` from the site as `naming` named them there.
pub fn plan(images: &[Reference], site: Site, naming: &Naming) -> MirrorPlan {
    // Each distinct source repository and the site repository load gave it.
    let repos: BTreeMap<(String, String), String> = images
        .iter()
        .map(|r| {
            let at = naming.repository(&site.prefix, r);
            ((r.registry.clone(), r.repository.clone()), at)
        })
        .collect();
    // The most general mapping of each: the longest common tail of the two paths is kept,
    // the heads are the prefixes.
    let general = |source: &str, at: &str| -> (String, String) {
        let s: Vec<&str> = source.split('/').collect();
        let t: Vec<&str> = at.split('/').filter(|c| !c.is_empty()).collect();
        let common = s
            .iter()
            .rev()
            .zip(t.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        (
            s[..s.len() - common].join("/"),
            t[..t.len() - common].join("/"),
        )
    };
    // (registry, source prefix) -> site path; a prefix wanted for two site paths is not
    // general: its repositories get exact entries.
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ((registry, repo), at) in &repos {
        let (sp, tp) = general(repo, at);
        wanted.entry((registry.clone(), sp)).or_default().insert(tp);
    }
    let mut rules: BTreeMap<(String, String), String> = BTreeMap::new();
    for ((registry, repo), at) in &repos {
        let (sp, tp) = general(repo, at);
        if wanted[&(registry.clone(), sp.clone())].len() == 1 {
            rules.insert((registry.clone(), sp), tp);
        } else {
            rules.insert((registry.clone(), repo.clone()), at.clone());
        }
    }
    // Longest prefix wins: where a more general rule takes a repository elsewhere, an exact
    // rule for it. Each repository gets at most one, so this ends.
    loop {
        let astray: Vec<((String, String), String)> = repos
            .iter()
            .filter(|((registry, repo), at)| {
                serving(&rules, registry, repo).map(|(_, mapped)| mapped) != Some((*at).clone())
            })
            .map(|(k, at)| (k.clone(), at.clone()))
            .collect();
        if astray.is_empty() {
            break;
        }
        rules.extend(astray);
    }
    let mut served: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (registry, repo) in repos.keys() {
        if let Some((sp, _)) = serving(&rules, registry, repo) {
            served
                .entry((registry.clone(), sp))
                .or_default()
                .push(repo.clone());
        }
    }
    let mirrors = rules
        .into_iter()
        .filter_map(|((registry, source_path), site_path)| {
            let repositories = served.remove(&(registry.clone(), source_path.clone()))?;
            // The site itself, at the same path: nothing to redirect.
            if registry == site.host && source_path == site_path {
                return None;
            }
            Some(Mirror {
                registry,
                source_path,
                site_path,
                repositories,
            })
        })
        .collect();
    MirrorPlan { site, mirrors }
}

/// The rule a runtime would pick for `registry/repo` (its source prefix) and where it sends it.
fn serving(
    rules: &BTreeMap<(String, String), String>,
    registry: &str,
    repo: &str,
) -> Option<(String, String)> {
    rules
        .iter()
        .filter(|((r, _), _)| r == registry)
        .filter_map(|((_, sp), tp)| {
            let rest = strip_components(repo, sp)?;
            Some((sp.clone(), join_path(tp, rest)))
        })
        .max_by_key(|(sp, _)| if sp.is_empty() { 0 } else { sp.len() + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(names: &[&str]) -> Vec<Reference> {
        names.iter().map(|n| Reference::parse(n).unwrap()).collect()
    }

    fn site(prefix: &str) -> Site {
        Site {
            host: "site:5000".into(),
            prefix: prefix.into(),
            ..Default::default()
        }
    }

    fn naming(rules: &[(&str, &str)], keep_registry: bool) -> Naming {
        Naming {
            keep_registry,
            rewrites: rules
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    fn triples(p: &MirrorPlan) -> Vec<(String, String)> {
        p.mirrors
            .iter()
            .map(|m| (m.source(), m.site(&p.site)))
            .collect()
    }

    fn t(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn whole_registries_under_the_prefix() {
        let images = refs(&["nginx:1.27", "quay.io/team/app:1", "quay.io/other/x:2"]);
        let p = plan(&images, site("mirror"), &naming(&[], false));
        assert_eq!(
            triples(&p),
            vec![
                t("docker.io", "site:5000/mirror"),
                t("quay.io", "site:5000/mirror")
            ]
        );
        assert_eq!(p.mirrors[1].repositories, vec!["other/x", "team/app"]);
        let p = plan(&images, site(""), &naming(&[], true));
        assert_eq!(
            triples(&p),
            vec![
                t("docker.io", "site:5000/docker.io"),
                t("quay.io", "site:5000/quay.io")
            ]
        );
    }

    #[test]
    fn a_rewrite_that_changes_a_path_gets_its_own_prefix() {
        let images = refs(&["quay.io/team/a:1", "quay.io/team/b:1", "quay.io/charts/c:1"]);
        let p = plan(&images, site("site"), &naming(&[("team", "apps")], false));
        assert_eq!(
            triples(&p),
            vec![
                t("quay.io", "site:5000/site"),
                t("quay.io/team", "site:5000/site/apps")
            ]
        );
        assert_eq!(p.mirrors[1].site_repository("team/a"), "site/apps/a");
    }

    #[test]
    fn where_a_general_prefix_would_go_astray_the_repository_is_exact() {
        // team/app -> apps/app only (an exact rewrite); team/lib keeps its path. The general
        // rule for team/app (team -> apps) would send team/lib to apps/lib.
        let images = refs(&["quay.io/team/app:1", "quay.io/team/lib:1"]);
        let p = plan(
            &images,
            site(""),
            &naming(&[("team/app", "apps/app")], false),
        );
        for m in &p.mirrors {
            for r in &m.repositories {
                let want = naming(&[("team/app", "apps/app")], false)
                    .repository("", &Reference::parse(&format!("quay.io/{r}:1")).unwrap());
                assert_eq!(m.site_repository(r), want, "{m:?}");
            }
        }
        assert!(
            triples(&p).contains(&t("quay.io/team/lib", "site:5000/team/lib")),
            "{p:?}"
        );
        // Two repositories of one prefix sent to different places: each exact.
        let images = refs(&["quay.io/team/a:1", "quay.io/team/b:1"]);
        let rules = [("team/a", "x/a"), ("team/b", "y/b")];
        let p = plan(&images, site(""), &naming(&rules, false));
        assert_eq!(
            triples(&p),
            vec![
                t("quay.io/team/a", "site:5000/x/a"),
                t("quay.io/team/b", "site:5000/y/b")
            ]
        );
    }

    #[test]
    fn the_site_itself_needs_no_mirror() {
        let images = refs(&["site:5000/team/app:1", "quay.io/x/y:1"]);
        let p = plan(&images, site(""), &naming(&[], false));
        assert_eq!(triples(&p), vec![t("quay.io", "site:5000")]);
    }
}
