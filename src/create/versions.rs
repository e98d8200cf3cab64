//! Which chart version a `version:` means, among those a repository has: an exact version, or
//! the newest match of a range written as Helm writes them (Masterminds/semver: `^1.2`,
//! `~1.2.3`, `>=1.0 <2.0`, `1.2.x`, `>=1 || 0.9.x`). Pure.

use semver::{Version, VersionReq};

/// The version `wanted` picks among `available` (as the repository writes them); None:
/// the newest that is not a pre-release. Err says what is wrong with `wanted`.
pub fn pick<'a>(wanted: Option<&str>, available: &[&'a str]) -> Result<Option<&'a str>, String> {
    let Some(wanted) = wanted.map(str::trim) else {
        return Ok(newest(available, |v| v.pre.is_empty()));
    };
    if let Some(exact) = available.iter().find(|v| **v == wanted) {
        return Ok(Some(exact));
    }
    if let Ok(w) = version(wanted) {
        // A bare version is exact in Helm (not Cargo's caret): `1.2` is no range.
        return Ok(available
            .iter()
            .copied()
            .find(|v| version(v).is_ok_and(|v| v == w)));
    }
    let alternatives = requirements(wanted)?;
    Ok(newest(available, |v| {
        alternatives.iter().any(|r| r.matches(v))
    }))
}

/// A version, not a range: the one tag to ask a registry for.
pub fn is_exact(s: &str) -> bool {
    version(s).is_ok()
}

fn newest<'a>(available: &[&'a str], keep: impl Fn(&Version) -> bool) -> Option<&'a str> {
    available
        .iter()
        .filter_map(|s| version(s).ok().map(|v| (v, *s)))
        .filter(|(v, _)| keep(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, s)| s)
}

/// `v1.2.3` and `1.2.3` alike; `1.2` is `1.2.0` as Helm reads it.
fn version(s: &str) -> Result<Version, semver::Error> {
    let s = s.trim().trim_start_matches('v');
    Version::parse(s).or_else(|e| {
        let (core, rest) = s.split_at(s.find(['-', '+']).unwrap_or(s.len()));
        match core.split('.').count() {
            1 => Version::parse(&format!("{core}.0.0{rest}")),
            2 => Version::parse(&format!("{core}.0{rest}")),
            _ => Err(e),
        }
    })
}

/// `||` separates alternatives; inside one, comparators are separated by commas or spaces.
fn requirements(wanted: &str) -> Result<Vec<VersionReq>, String> {
    wanted
        .split("||")
        .map(|alt| {
            let cargo = comparators(alt).join(", ");
            VersionReq::parse(&cargo).map_err(|e| {
                format!("version {wanted:?} is neither a version nor a range Helm accepts ({e})")
            })
        })
        .collect()
}

/// `>= 1.0 <2.0` -> [">=1.0", "<2.0"]; `1.2.x` -> "1.2.*"; a `v` before a version is dropped.
fn comparators(alt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for word in alt.split([' ', ',']).filter(|w| !w.is_empty()) {
        let op_len = word
            .find(|c: char| !"<>=~^!".contains(c))
            .unwrap_or(word.len());
        let (op, v) = word.split_at(op_len);
        if v.is_empty() {
            pending_op = op.to_string();
            continue;
        }
        let op = format!("{pending_op}{op}");
        pending_op.clear();
        let v = v.trim_start_matches('v').replace(['x', 'X'], "*");
        out.push(match op.is_empty() && !v.contains('*') {
            // A bare version inside a range is exact, as in Helm.
            true => format!("={v}"),
            false => format!("{op}{v}"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVAILABLE: &[&str] = &["v1.15.0", "v1.16.1", "v1.16.2", "v1.17.0-rc.1", "v2.0.0"];

    #[test]
    fn exact_versions_and_helm_ranges() {
        let p = |w: Option<&str>| pick(w, AVAILABLE).unwrap();
        assert_eq!(p(None), Some("v2.0.0"));
        assert_eq!(p(Some("v1.16.1")), Some("v1.16.1"));
        assert_eq!(p(Some("1.16.1")), Some("v1.16.1"));
        assert_eq!(p(Some("1.16")), None);
        assert_eq!(p(Some("^1.15")), Some("v1.16.2"));
        assert_eq!(p(Some("~1.16.0")), Some("v1.16.2"));
        assert_eq!(p(Some(">= 1.0 < 1.16.2")), Some("v1.16.1"));
        assert_eq!(p(Some(">=1.0, <2")), Some("v1.16.2"));
        assert_eq!(p(Some("1.15.x")), Some("v1.15.0"));
        assert_eq!(p(Some("1.15.x || >=2")), Some("v2.0.0"));
        assert_eq!(p(Some(">=3")), None);
        assert!(pick(Some("^^nonsense"), AVAILABLE).is_err());
    }
}
