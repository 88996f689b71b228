//! Serde helpers of generated types (the server's and the client's alike).

use serde::de::{Deserialize, DeserializeOwned, Deserializer, Error as _};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::Value;

/// `Option<Option<T>>` fields that tell an absent member (`None`) from an explicit `null`
/// (`Some(None)`): use with `#[serde(default, with = "...")]`.
pub mod double_option {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Deserializes the variant of a discriminated union picked by its tag property; the variant
/// sees the whole object, tag included.
pub fn tagged_variant<'de, D: Deserializer<'de>>(
    deserializer: D,
    property: &str,
) -> Result<(String, Value), D::Error> {
    let value = Value::deserialize(deserializer)?;
    let tag = value
        .get(property)
        .and_then(Value::as_str)
        .ok_or_else(|| D::Error::custom(format!("missing discriminator property `{property}`")))?
        .to_owned();
    Ok((tag, value))
}

/// Finishes [`tagged_variant`] for one variant.
pub fn from_tagged<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> Result<T, E> {
    serde_json::from_value(value).map_err(E::custom)
}

/// The error for a tag no variant declares.
pub fn unknown_tag<E: serde::de::Error>(property: &str, tag: &str, expected: &[&str]) -> E {
    E::custom(format!(
        "unknown `{property}` value `{tag}`; expected one of: {}",
        expected.join(", ")
    ))
}

/// Serializes a union variant, adding its tag property when the variant's own type lacks it.
pub fn serialize_tagged<T: Serialize, S: Serializer>(
    serializer: S,
    property: &str,
    tag: &str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut json = serde_json::to_value(value).map_err(S::Error::custom)?;
    if let Value::Object(object) = &mut json {
        object
            .entry(property.to_owned())
            .or_insert_with(|| Value::String(tag.to_owned()));
    }
    json.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Patch {
        #[serde(
            default,
            with = "super::double_option",
            skip_serializing_if = "Option::is_none"
        )]
        nickname: Option<Option<String>>,
    }

    #[test]
    fn double_option_tells_absent_from_null() {
        let absent: Patch = serde_json::from_str("{}").unwrap();
        let null: Patch = serde_json::from_str(r#"{"nickname":null}"#).unwrap();
        let set: Patch = serde_json::from_str(r#"{"nickname":"x"}"#).unwrap();
        assert_eq!(absent.nickname, None);
        assert_eq!(null.nickname, Some(None));
        assert_eq!(set.nickname, Some(Some("x".into())));
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"nickname":null}"#
        );
        assert_eq!(serde_json::to_string(&absent).unwrap(), "{}");
    }
}
