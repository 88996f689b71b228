//! How requests are checked against the spec's schemas (`x-specjet.validation`) and which
//! serde traits the generated types derive (`x-specjet.types`).

use serde_json::Value;

use super::Annotations;
use crate::diag::Severity;
use crate::ir::{AlsoDerive, TypeSettings, ValidationSettings};
use crate::load::Location;

impl Annotations<'_> {
    /// `x-specjet.validation`: `formats` (`true` by default) checks strings against the
    /// formats whose check is cheap and sure; `false` leaves them annotations.
    pub(super) fn validation_settings(
        &mut self,
        location: &Location,
        value: &Value,
    ) -> ValidationSettings {
        let mut settings = ValidationSettings::default();
        let Value::Object(map) = value else {
            self.report(
                Severity::Error,
                location,
                "`validation` must be an object such as `{formats: false}`",
            );
            return settings;
        };
        for (key, value) in map {
            let at = location.child(key);
            match (key.as_str(), value) {
                ("formats", Value::Bool(on)) => settings.formats = *on,
                ("formats", _) => self.report(Severity::Error, &at, "`formats` is true or false"),
                (other, _) => self.report(
                    Severity::Error,
                    &at,
                    format!("unknown key `{other}` in `x-specjet.validation` (known: `formats`)"),
                ),
            }
        }
        settings
    }

    /// `x-specjet.types`: `{deserialize: [OrderItem], serialize: all}`. A type derives only the
    /// traits the service uses; these add the ones the handlers use themselves.
    pub(super) fn type_settings(&mut self, location: &Location, value: &Value) -> TypeSettings {
        let mut settings = TypeSettings::default();
        let Value::Object(map) = value else {
            self.report(
                Severity::Error,
                location,
                "`types` must be an object such as `{deserialize: [OrderItem]}`",
            );
            return settings;
        };
        for (key, value) in map {
            let at = location.child(key);
            let slot = match key.as_str() {
                "serialize" => &mut settings.serialize,
                "deserialize" => &mut settings.deserialize,
                other => {
                    self.report(
                        Severity::Error,
                        &at,
                        format!(
                            "unknown key `{other}` in `x-specjet.types` (known: `serialize`, `deserialize`)"
                        ),
                    );
                    continue;
                }
            };
            *slot = self.also_derive(&at, value);
        }
        settings
    }

    fn also_derive(&mut self, location: &Location, value: &Value) -> AlsoDerive {
        let names = match value {
            Value::String(all) if all == "all" => return AlsoDerive::All,
            Value::Array(names) => names,
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "a list of schema names from `components/schemas`, or `all`",
                );
                return AlsoDerive::default();
            }
        };
        let schemas = Location::component_schemas();
        let mut known = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let at = location.child(&index.to_string());
            match name.as_str() {
                Some(name) if self.spec.get(&schemas.child(name)).is_some() => {
                    known.push(name.to_owned())
                }
                Some(name) => self.report(
                    Severity::Error,
                    &at,
                    format!("no schema `{name}` in `components/schemas`"),
                ),
                None => self.report(Severity::Error, &at, "a schema name"),
            }
        }
        AlsoDerive::Schemas(known)
    }
}
