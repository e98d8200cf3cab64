//! JSON written byte for byte as Go's `encoding/json` (Go 1.22 and later, what Helm 3 is built
//! with) writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, `\b` and `\f` short, map keys
//! in byte order, numbers as float64. Helm's OCI config and manifest are digested, so one
//! different byte is a different chart.

use super::yaml::{go_string, shortest_g};
use serde_yaml::Value;
use std::fmt::Write as _;

/// An object being written field by field, in the order of the Go struct's fields.
pub struct Object(String);

impl Object {
    pub fn new() -> Object {
        Object(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        string(&mut self.0, key);
        self.0.push(':');
    }

    /// A field already encoded as JSON.
    pub fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.0.push_str(json);
    }

    pub fn string(&mut self, key: &str, v: &str) {
        self.key(key);
        string(&mut self.0, v);
    }

    /// A `string` field tagged `omitempty`.
    pub fn string_omitempty(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.string(key, v);
        }
    }

    /// A `[]string` field tagged `omitempty`.
    pub fn strings_omitempty(&mut self, key: &str, v: &[String]) {
        if !v.is_empty() {
            self.key(key);
            strings(&mut self.0, v);
        }
    }

    /// A `map[string]string` field tagged `omitempty`.
    pub fn map_omitempty(&mut self, key: &str, v: &[(String, String)]) {
        if !v.is_empty() {
            self.key(key);
            string_map(&mut self.0, v);
        }
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A Go string, quoted and escaped as `encoding/json` does with HTML escaping on.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || "<>&\u{2028}\u{2029}".contains(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub fn strings(out: &mut String, v: &[String]) {
    out.push('[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, s);
    }
    out.push(']');
}

/// A Go `map[string]string`: keys sorted by their bytes.
pub fn string_map(out: &mut String, v: &[(String, String)]) {
    let mut sorted: Vec<&(String, String)> = v.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, k);
        out.push(':');
        string(out, v);
    }
    out.push('}');
}

/// A float64 as `encoding/json` writes it: shortest digits, exponent form below 1e-6 or from
/// 1e21, and a negative exponent without its leading zero (`1e-7`).
pub fn float(out: &mut String, f: f64) {
    let a = f.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        let _ = write!(out, "{f}");
        return;
    }
    let g = shortest_g(&format!("{f:e}"), 0);
    out.push_str(&g.replace("e-0", "e-"));
}

/// An `interface{}` field that went YAML → JSON → Go: maps with sorted string keys, numbers
/// as float64, anything else as itself.
pub fn any(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => float(out, f),
            // Go's json refuses NaN and infinities; Helm could not have loaded such a chart.
            _ => out.push_str("null"),
        },
        Value::String(s) => string(out, s),
        Value::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                any(out, item);
            }
            out.push(']');
        }
        Value::Mapping(m) => {
            let mut entries: Vec<(String, &Value)> = m
                .iter()
                .filter_map(|(k, v)| Some((go_string(k).ok()??, v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, &k);
                out.push(':');
                any(out, v);
            }
            out.push('}');
        }
        Value::Tagged(t) => any(out, &t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut out = String::new();
        string(&mut out, "a<b>&\"\\\n\u{1}\u{8}\u{2028}é");
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001\b\u2028é""#);
    }

    #[test]
    fn floats_are_written_as_go_writes_float64() {
        for (f, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123456789.0, "123456789"),
            (-0.000001, "-0.000001"),
        ] {
            let mut out = String::new();
            float(&mut out, f);
            assert_eq!(out, want, "{f}");
        }
    }
}
