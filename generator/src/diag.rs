//! Diagnostics: every problem found in a document, each with where it is and what is wrong.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Generated, but loosely (typed as `serde_json::Value`, a route shadowed, ...).
    Warning,
    /// The document breaks the OpenAPI rules in a way other tools accept (an operation written
    /// as `[]`): read leniently, a warning when generating; `specjet validate` makes it an
    /// error ([`Diagnostics::strict`]).
    Nonstandard,
    /// The document breaks the OpenAPI rules; generation goes on where it can.
    Error,
    /// Nothing can be generated (unreadable file, unsupported version).
    Fatal,
}

/// One problem, located by file, JSON pointer and, where the loader knows it, line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// The document's name as the loader knows it (see [`crate::load::Document::name`]).
    pub file: String,
    /// A JSON pointer into the document; empty for the whole document.
    pub pointer: String,
    /// Line and column (1-based), when known.
    pub line_col: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Warning | Severity::Nonstandard => "warning",
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
    /// Adds a problem at `pointer` in `file` (its line:column is found later).
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

    /// Adds a problem already built (one the parser located itself).
    pub fn push_diagnostic(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Every problem, in the order found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Every problem, to fill in what is learned later (line:column).
    pub fn items_mut(&mut self) -> &mut [Diagnostic] {
        &mut self.items
    }

    /// How many problems have exactly this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// Every nonstandard construct as the error it is (what `specjet validate` reports).
    pub fn strict(&mut self) {
        for diagnostic in &mut self.items {
            if diagnostic.severity == Severity::Nonstandard {
                diagnostic.severity = Severity::Error;
            }
        }
    }

    /// Whether any problem is an error or fatal.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity >= Severity::Error)
    }

    /// Whether any problem is fatal: nothing can be generated.
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
