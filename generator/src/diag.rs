//! Diagnostics: every problem found in a document, each with where it is and what is wrong.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Generated, but loosely (typed as `serde_json::Value`, a route shadowed, ...).
    Warning,
    /// The document breaks the OpenAPI rules; generation goes on where it can.
    Error,
    /// Nothing can be generated (unreadable file, unsupported version).
    Fatal,
}

/// One problem, located by file, JSON pointer and, where the loader knows it, line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub pointer: String,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Warning => "warning",
            Severity::Error | Severity::Fatal => "error",
        };
        write!(f, "{label}: {}", self.file)?;
        if let Some((line, column)) = self.line_col {
            write!(f, ":{line}:{column}")?;
        }
        if !self.pointer.is_empty() {
            write!(f, " #{}", self.pointer)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The problems of one run, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(
        &mut self,
        severity: Severity,
        file: &str,
        pointer: &str,
        message: impl Into<String>,
    ) {
        self.items.push(Diagnostic {
            severity,
            file: file.to_owned(),
            pointer: pointer.to_owned(),
            line_col: None,
            message: message.into(),
        });
    }

    pub fn push_diagnostic(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    pub fn items_mut(&mut self) -> &mut [Diagnostic] {
        &mut self.items
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity >= Severity::Error)
    }

    pub fn has_fatal(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Fatal)
    }

    /// Drops exact repeats (the same schema reached twice reports once).
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.items
            .retain(|d| seen.insert((d.file.clone(), d.pointer.clone(), d.message.clone())));
    }
}
