//! Batching: per operation `x-batch-group` (the operation's beats its path item's, which
//! beats the document root's; `false` takes an inherited one away), and root
//! `x-specjet.batch` (where the batch endpoint is and how much a batch may hold).

use serde_json::Value;

use super::{is_fixed_path, parse_size, Annotations, Vocabulary};
use crate::diag::Severity;
use crate::ir::BatchSettings;
use crate::load::Location;

impl Annotations<'_> {
    pub(super) fn batch_settings(&mut self, location: &Location, value: &Value) -> BatchSettings {
        let mut settings = BatchSettings::default();
        let Value::Object(map) = value else {
            self.report(
                Severity::Error,
                location,
                "`batch` is an object: `path`, `max-requests`, `concurrency`, `max-body-size`",
            );
            return settings;
        };
        for (key, value) in map {
            let at = location.child(key);
            let result = match key.as_str() {
                "path" => match value.as_str() {
                    Some(path) if is_fixed_path(path) => {
                        settings.path = path.to_owned();
                        Ok(())
                    }
                    _ => Err("`path` is a fixed path such as `/batch`".to_owned()),
                },
                "max-requests" => count(value, 1000).map(|n| settings.max_requests = n),
                "concurrency" => count(value, 1000).map(|n| settings.concurrency = n),
                "max-body-size" => parse_size(value).and_then(|bytes| {
                    settings.max_body_size = usize::try_from(bytes)
                        .ok()
                        .filter(|bytes| *bytes > 0)
                        .ok_or_else(|| "`max-body-size` must be above zero".to_owned())?;
                    Ok(())
                }),
                other => Err(format!("unknown key `{other}` in `x-specjet.batch`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        settings
    }
}

fn count(value: &Value, most: usize) -> Result<usize, String> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| format!("expected a whole number from 1 to {most}, found {value}"))
}

impl Vocabulary {
    /// An operation's batch group (`x-batch-group`): a name, or `false` for none.
    /// `Some(None)` takes an inherited group away; `None` is a value in error (reported).
    pub(crate) fn batch_group(
        &mut self,
        location: &Location,
        value: &Value,
    ) -> Option<Option<String>> {
        match value {
            Value::Bool(false) => Some(None),
            Value::String(name)
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Some(Some(name.clone()))
            }
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "`x-batch-group` is a group name (letters, digits, `-`, `_`) or `false`",
                );
                None
            }
        }
    }
}
