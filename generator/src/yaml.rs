//! YAML read straight into JSON values.
//!
//! Real specs hold YAML that a JSON value cannot take as it is: integer keys (`200:`),
//! integers beyond 64 bits, tags, merge keys. Reading through this visitor keeps every
//! document loadable: keys become their text, big integers become floats, tags are dropped,
//! and `<<` merge keys are applied afterwards.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value read from YAML.
pub(crate) struct JsonValue(pub Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(JsonValue)
    }
}

struct ValueVisitor;

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(JsonValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(JsonValue(key)) = map.next_key()? {
            let JsonValue(value) = map.next_value()?;
            object.insert(key_text(key), value);
        }
        Ok(Value::Object(object))
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A tagged value (`!Tag value`): keep the value, drop the tag.
        use serde::de::VariantAccess;
        let (_tag, variant): (JsonValue, _) = data.variant()?;
        variant.newtype_variant::<JsonValue>().map(|v| v.0)
    }
}

fn key_text(key: Value) -> String {
    match key {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// Applies YAML merge keys (`<<: *base`, `<<: [*a, *b]`): merged members never override the
/// mapping's own.
pub(crate) fn apply_merge_keys(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(object) => {
                if let Some(merge) = object.shift_remove("<<") {
                    let sources = match merge {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        if let Value::Object(source) = source {
                            for (key, member) in source {
                                object.entry(key).or_insert(member);
                            }
                        }
                    }
                }
                stack.extend(object.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        let JsonValue(mut value) = serde_norway::from_str(text).unwrap();
        apply_merge_keys(&mut value);
        value
    }

    #[test]
    fn integer_keys_big_numbers_and_merges() {
        let value = parse("200:\n  a: 1\nmin: -9223372036854776000\nbase: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n");
        assert_eq!(value["200"]["a"], 1);
        assert!(value["min"].as_f64().unwrap() < -9.2e18);
        assert_eq!(value["use"]["x"], 1);
        assert_eq!(value["use"]["y"], 3);
    }

    #[test]
    fn tags_are_dropped() {
        assert_eq!(parse("a: !custom 5\n")["a"], 5);
    }
}
