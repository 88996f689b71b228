//! How requests are checked against the spec's schemas: `x-specjet.validation`.

use serde_json::Value;

use super::Annotations;
use crate::diag::Severity;
use crate::ir::ValidationSettings;
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
}
