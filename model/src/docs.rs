//! `x-specjet.docs`: where the service serves its own document and its interactive docs.

/// `x-specjet.docs`. The document itself is the generated `openapi` module's (the runtime's
/// `ServiceSettings::document`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsSettings {
    /// Where the document is served as JSON (`openapi`; `None`: off).
    pub openapi: Option<String>,
    /// Where it is served as YAML: the JSON path with `.yaml` for `.json` (`None`: off).
    pub openapi_yaml: Option<String>,
    /// Where the interactive docs are served (`ui`; `None`: off). They read the served
    /// document, so they need `openapi`.
    pub ui: Option<String>,
    /// The served document leaves out specjet's annotations (`strip-annotations`; applied
    /// when the document is embedded, at generation).
    pub strip_annotations: bool,
}

impl Default for DocsSettings {
    fn default() -> Self {
        DocsSettings {
            openapi: Some("/openapi.json".to_owned()),
            openapi_yaml: Some("/openapi.yaml".to_owned()),
            ui: Some("/docs".to_owned()),
            strip_annotations: false,
        }
    }
}

impl DocsSettings {
    /// The document served as JSON at `path` (`None`: off), and as YAML at its twin.
    pub fn serve_document_at(&mut self, path: Option<String>) {
        self.openapi_yaml = path.as_deref().map(yaml_twin);
        self.openapi = path;
    }
}

/// The YAML twin of the JSON document's path: `.yaml` for `.json`, else `.yaml` added.
pub fn yaml_twin(json: &str) -> String {
    match json.strip_suffix(".json") {
        Some(stem) => format!("{stem}.yaml"),
        None => format!("{json}.yaml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_yaml_path_is_the_twin_of_the_default_json_path() {
        let defaults = DocsSettings::default();
        assert_eq!(
            defaults.openapi.as_deref().map(yaml_twin),
            defaults.openapi_yaml
        );
        let mut moved = DocsSettings::default();
        moved.serve_document_at(Some("/spec".to_owned()));
        assert_eq!(moved.openapi_yaml.as_deref(), Some("/spec.yaml"));
        moved.serve_document_at(None);
        assert_eq!(moved.openapi_yaml, None);
    }
}
