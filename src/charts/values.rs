//! Values merged the way Helm 3 merges them: the user's files into each other
//! (`cli/values.mergeMaps`: later files win, maps merge deeply), then a chart's values.yaml
//! under them (`chartutil.coalesce`: a `null` from above removes the key), and `global`
//! handed from a parent to its subcharts (`coalesceGlobals`: the parent's win).

use serde_yaml::{Mapping, Value};

/// One step of a key path: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `webhook.image`, `sidecars[0].image`.
pub fn show(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The value at `path`, if every step exists.
pub fn at<'v>(v: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.as_mapping()?.get(k.as_str()),
        Seg::Index(i) => v.as_sequence()?.get(*i),
    })
}

/// `b` over `a`: Helm's `mergeMaps` of two `-f` files.
pub fn merge_files(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, bv) in b {
                match a.get_mut(k) {
                    Some(av @ Value::Mapping(_)) if bv.is_mapping() => merge_files(av, bv),
                    _ => {
                        a.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

/// A chart's defaults under what is already set: missing keys are filled in, maps merge
/// deeply, a `null` set above a default removes the key, and what is set wins otherwise.
pub fn coalesce(dst: &mut Mapping, defaults: &Value) {
    let Some(src) = defaults.as_mapping() else {
        return;
    };
    for (k, sv) in src {
        match dst.get_mut(k) {
            None => {
                dst.insert(k.clone(), sv.clone());
            }
            Some(Value::Null) => {
                if !sv.is_null() {
                    dst.shift_remove(k);
                }
            }
            Some(Value::Mapping(dv)) => coalesce(dv, sv),
            Some(_) => {}
        }
    }
}

/// The parent's `global` into a subchart's values: the parent's keys win, maps merge.
pub fn hand_down_globals(sub: &mut Mapping, parent: Option<&Value>) {
    let Some(Value::Mapping(pg)) = parent else {
        return;
    };
    let mut dg = match sub.get("global") {
        None => Mapping::new(),
        Some(Value::Mapping(m)) => m.clone(),
        Some(_) => return,
    };
    for (k, v) in pg {
        match (v, dg.get(k)) {
            (Value::Mapping(pm), Some(Value::Mapping(own))) => {
                let mut merged = pm.clone();
                coalesce(&mut merged, &Value::Mapping(own.clone()));
                dg.insert(k.clone(), Value::Mapping(merged));
            }
            (Value::Mapping(_), Some(_)) | (_, Some(Value::Mapping(_))) => {}
            (v, _) => {
                dg.insert(k.clone(), v.clone());
            }
        }
    }
    sub.insert("global".into(), Value::Mapping(dg));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::yaml::parse;

    #[test]
    fn user_files_merge_deeply_and_defaults_fill_in_under_them() {
        let mut user = parse("image: {tag: '1'}\nweb: {replicas: 2}").unwrap();
        merge_files(
            &mut user,
            &parse("image: {registry: r.example}\nweb: null").unwrap(),
        );
        let mut m = user.as_mapping().unwrap().clone();
        coalesce(
            &mut m,
            &parse("image: {repository: app, tag: '0'}\nweb: {image: x}\nkeep: 1").unwrap(),
        );
        let v = Value::Mapping(m);
        let key = |k: &str| Seg::Key(k.into());
        assert_eq!(at(&v, &[key("image"), key("tag")]).unwrap(), "1");
        assert_eq!(at(&v, &[key("image"), key("repository")]).unwrap(), "app");
        assert_eq!(
            at(&v, &[key("image"), key("registry")]).unwrap(),
            "r.example"
        );
        assert!(at(&v, &[key("web")]).is_none(), "a null removes the key");
        assert_eq!(at(&v, &[key("keep")]).unwrap().as_u64(), Some(1));
    }
}
