//! `x-fan-out: {field: operationId, ...}` and `x-fan-out-optional: [field, ...]` on an
//! operation: read here as written; the operations they name are resolved and checked once
//! every operation is known (`lower/fan_out.rs`).

use serde_json::Value;

use super::Annotations;
use crate::diag::Severity;
use crate::load::Location;

/// A fan-out annotation as written.
#[derive(Debug)]
pub(crate) struct FanOutAnnotation {
    /// Where `x-fan-out` is.
    pub(crate) location: Location,
    /// (where, field, operationId), in the annotation's order.
    pub(crate) parts: Vec<(Location, String, String)>,
    /// The fields named by `x-fan-out-optional`.
    pub(crate) optional: Vec<String>,
}

impl Annotations<'_> {
    /// The operation's `x-fan-out`, when it has one that reads as an object of operationIds.
    pub(crate) fn fan_out(&mut self, own: (&Location, &Value)) -> Option<FanOutAnnotation> {
        let (location, value) = self.concern(own.0, own.1, "fan-out")?;
        let Value::Object(map) = &value else {
            self.report(
                Severity::Error,
                &location,
                "`x-fan-out` maps each field of the answer to the operationId that fills it",
            );
            return None;
        };
        let mut parts = Vec::new();
        for (field, id) in map {
            let at = location.child(field);
            match id.as_str() {
                Some(id) => parts.push((at, field.clone(), id.to_owned())),
                None => self.report(Severity::Error, &at, "expected an operationId"),
            }
        }
        let mut optional = Vec::new();
        if let Some((at, value)) = self.concern(own.0, own.1, "fan-out-optional") {
            match value.as_array() {
                Some(fields) => {
                    for (index, field) in fields.iter().enumerate() {
                        let item = at.child(&index.to_string());
                        match field.as_str() {
                            Some(name) if map.contains_key(name) => optional.push(name.to_owned()),
                            _ => self.report(
                                Severity::Error,
                                &item,
                                format!("{field} is not a field of `x-fan-out`"),
                            ),
                        }
                    }
                }
                None => self.report(
                    Severity::Error,
                    &at,
                    "`x-fan-out-optional` is a list of fields of `x-fan-out`",
                ),
            }
        }
        if parts.is_empty() {
            self.report(Severity::Error, &location, "`x-fan-out` names no operation");
            return None;
        }
        Some(FanOutAnnotation {
            location,
            parts,
            optional,
        })
    }
}
