//! How a walk over a document finds its schemas (to check each `pattern`, in the generator's
//! lint and in the service's contract): which keys hold literal data, which hold maps of
//! names whose every entry is a schema, and which are the document's own extensions.

/// Keys whose values are data, never schemas (an `enum` of objects has keys of its own).
const LITERALS: [&str; 5] = ["enum", "const", "default", "example", "examples"];

/// Keys whose values map names to schemas: every entry is one, whatever its name.
const NAME_MAPS: [&str; 7] = [
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "schemas",
    "dependentSchemas",
    "parameters",
];

/// What a walk does with the value under a key of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descend {
    /// Skip it: literal data or an `x-` extension.
    Skip,
    /// Walk it; `names` when it maps names to schemas (its keys are names, not keywords).
    Into {
        /// Whether the value's keys are names.
        names: bool,
    },
}

/// What a walk does with `key` of an object that is a schema (`in_names` false) or a map of
/// names (`in_names` true: every key is a name and every value a schema).
pub fn descend(key: &str, in_names: bool) -> Descend {
    if in_names {
        return Descend::Into { names: false };
    }
    if LITERALS.contains(&key) || key.starts_with("x-") {
        return Descend::Skip;
    }
    Descend::Into {
        names: NAME_MAPS.contains(&key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_names_and_literals_are_data() {
        assert_eq!(descend("enum", false), Descend::Skip);
        assert_eq!(descend("x-example", false), Descend::Skip);
        assert_eq!(descend("properties", false), Descend::Into { names: true });
        // A property called `enum` is a schema.
        assert_eq!(descend("enum", true), Descend::Into { names: false });
        assert_eq!(descend("items", false), Descend::Into { names: false });
    }
}
