//! YAML from untrusted charts, parsed with a bound on what it may expand to. serde_yaml limits
//! nesting (128) and alias jumps (100 per event), but one alias can still replay a large
//! anchored list many times over: each node built here is charged against a budget, so an
//! alias bomb fails with an error instead of taking the machine's memory.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Mapping, Value};
use std::cell::Cell;
use std::fmt;

/// What one node costs: about the memory a `Value` and its map slot take.
const NODE_COST: usize = 64;
/// A file may expand to this many times its size (plus a floor for small files with anchors).
const EXPANSION: usize = 8;
const FLOOR: usize = 1 << 20;

struct Budget(Cell<usize>);

impl Budget {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let left = self.0.get().checked_sub(NODE_COST + bytes).ok_or_else(|| {
            E::custom("it expands (through anchors and aliases) to far more than it holds")
        })?;
        self.0.set(left);
        Ok(())
    }
}

fn budget_for(text: &str) -> Budget {
    Budget(Cell::new(text.len().saturating_mul(EXPANSION) + FLOOR))
}

/// One YAML document; empty text is `Null`. Merge keys (`<<`) are applied, as Go's YAML does.
pub fn parse(text: &str) -> Result<Value, serde_yaml::Error> {
    let budget = budget_for(text);
    let mut v = Seed(&budget).deserialize(serde_yaml::Deserializer::from_str(text))?;
    // A failed merge (a `<<` onto a non-map) leaves the value as it was: Go's YAML would have
    // refused the file, and we only read it.
    let _ = v.apply_merge();
    Ok(v)
}

/// Every document of a multi-document stream, one budget for them all.
pub fn parse_all(text: &str) -> Result<Vec<Value>, serde_yaml::Error> {
    let budget = budget_for(text);
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut v = Seed(&budget).deserialize(doc)?;
        let _ = v.apply_merge();
        docs.push(v);
    }
    Ok(docs)
}

struct Seed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Seed(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            out.push(v);
        }
        Ok(Value::Sequence(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut out = Mapping::new();
        while let Some(k) = map.next_key_seed(Seed(self.0))? {
            let v = map.next_value_seed(Seed(self.0))?;
            // A repeated key: the later one wins, as Go's YAML v2 decoding into a map does.
            out.insert(k, v);
        }
        Ok(Value::Mapping(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A custom tag (`!foo value`): what it tags is what a chart means.
        use de::VariantAccess;
        let (_tag, variant): (de::IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(Seed(self.0))
    }
}

/// A map's value under a string key.
pub fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_mapping()?.get(key)
}

/// The value at a dotted path (`webhook.image.tag`), as Helm's `Values.PathValue` reads it.
pub fn path<'v>(v: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted.split('.').try_fold(v, |at, key| get(at, key))
}

/// A scalar as Go's `sigs.k8s.io/yaml` turns it into a string field: integers in decimal,
/// floats the way Go's `strconv.FormatFloat(f, 'g', -1, 32)` writes them (so `1.10` is
/// `1.1`, as Helm shows it), booleans as `true`/`false`. `Err` names what it is instead.
pub fn go_string(v: &Value) -> Result<Option<String>, &'static str> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float32_g(f),
            _ => n.to_string(),
        })),
        Value::Sequence(_) => Err("is a list where text belongs"),
        Value::Mapping(_) => Err("is a map where text belongs"),
        Value::Tagged(t) => go_string(&t.value),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that read back as the same
/// float32, in exponent form when the exponent is below -4 or at least 6.
pub fn go_float32_g(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    shortest_g(&format!("{x:e}"), 6)
}

/// Go's `%g` layout from Rust's shortest `{:e}` form (`-1.2345e6`): decimal when
/// -4 <= exponent < `eprec`, else `d.ddde±XX` with at least two exponent digits.
pub fn shortest_g(e_form: &str, eprec: i32) -> String {
    let (mant, exp) = e_form.split_once('e').unwrap_or((e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{es}{:02}", exp.abs());
    }
    let point = exp + 1;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_into_text_the_way_go_writes_them() {
        for (f, want) in [
            (1.10, "1.1"),
            (1.0, "1"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1.23456789, "1.2345679"),
        ] {
            assert_eq!(go_float32_g(f), want, "{f}");
        }
    }

    #[test]
    fn an_alias_bomb_is_refused_not_expanded() {
        let mut text = String::from("a: &a [");
        text.push_str(&"x,".repeat(1000));
        text.push_str("x]\nb: &b [");
        text.push_str(&"*a,".repeat(1000));
        text.push_str("*a]\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("expands"), "{e}");
    }

    #[test]
    fn anchors_and_merge_keys_within_bounds_read_as_go_reads_them() {
        let v =
            parse("base: &b {repository: nginx, tag: '1'}\nweb:\n  <<: *b\n  tag: '2'\n").unwrap();
        assert_eq!(path(&v, "web.repository").unwrap(), "nginx");
        assert_eq!(path(&v, "web.tag").unwrap(), "2");
    }
}
