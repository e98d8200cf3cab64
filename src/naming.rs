//! How `load` names a source image at a site registry: `docker.io/library/nginx` goes to
//! `PREFIX/library/nginx` (the source host dropped, or kept with `--keep-registry`), after
//! `--rewrite OLD=NEW` rules on the path. `load` pushes under these names and `mirrors` writes
//! the runtimes' configuration that finds them again, so both use this one definition.

use crate::reference::Reference;

/// How source names map to repositories on the target.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    /// Keep the source registry host as the first path component (`HOST/PREFIX/docker.io/...`).
    pub keep_registry: bool,
    /// `OLD=NEW` prefix rewrites of the repository path, first match wins.
    pub rewrites: Vec<(String, String)>,
}

impl Naming {
    /// `docker.io/library/nginx` -> `PREFIX/library/nginx`: the path is kept, the source
    /// registry's host is dropped (kept with --keep-registry); --rewrite then maps prefixes,
    /// and the target's PREFIX (may be empty) goes in front.
    pub fn repository(&self, prefix: &str, r: &Reference) -> String {
        let path = if self.keep_registry {
            // A port's ':' is not allowed in a repository path: 127.0.0.1:5000 -> 127.0.0.1_5000.
            format!("{}/{}", r.registry.replace(':', "_"), r.repository)
        } else {
            r.repository.clone()
        };
        let path = rewrite(&path, &self.rewrites);
        match (prefix.is_empty(), path.is_empty()) {
            (true, _) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}/{path}"),
        }
    }
}

/// Apply the first `OLD=NEW` whose OLD is a whole-component prefix of `path`.
pub fn rewrite(path: &str, rules: &[(String, String)]) -> String {
    for (old, new) in rules {
        if path == old {
            return new.clone();
        }
        if let Some(rest) = path
            .strip_prefix(old.as_str())
            .and_then(|r| r.strip_prefix('/'))
        {
            return if new.is_empty() {
                rest.to_string()
            } else {
                format!("{new}/{rest}")
            };
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_whole_components_only() {
        let rules = vec![
            ("library".to_string(), "mirror/lib".to_string()),
            ("team".to_string(), String::new()),
        ];
        assert_eq!(rewrite("library/nginx", &rules), "mirror/lib/nginx");
        assert_eq!(rewrite("librarything/x", &rules), "librarything/x");
        assert_eq!(rewrite("team/app1", &rules), "app1");
        assert_eq!(rewrite("other/x", &rules), "other/x");
    }

    #[test]
    fn prefix_keep_registry_and_rewrite_in_that_order() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        let n = |keep_registry, rules: &[(&str, &str)]| Naming {
            keep_registry,
            rewrites: rules
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        assert_eq!(n(false, &[]).repository("", &r), "team/app");
        assert_eq!(n(false, &[]).repository("site", &r), "site/team/app");
        assert_eq!(
            n(true, &[]).repository("site", &r),
            "site/127.0.0.1_5000/team/app"
        );
        assert_eq!(
            n(false, &[("team", "apps")]).repository("site", &r),
            "site/apps/app"
        );
        let hub = Reference::parse("nginx:1.27").unwrap();
        assert_eq!(n(false, &[]).repository("", &hub), "library/nginx");
    }
}
