//! specjet's generator: an OpenAPI document in, a typed axum service module out.
//!
//! The pipeline has one direction: [`load`] reads the document and every file it references,
//! lowering turns it into the [`ir`] (plain data, no OpenAPI types), code generation turns the
//! IR into Rust tokens, and [`emit`] formats them into files. Every problem in the document
//! becomes a [`diag::Diagnostic`] with its location; nothing in here panics on input.
//!
//! The CLI and the macros use this facade: [`analyze`], [`generate`] and their variants,
//! [`emit`] for files on disk, and [`attributes`] for handler attributes, which the spec's own
//! annotation parser reads. ARCHITECTURE.md draws the whole pipeline.

pub mod attributes;
mod bundle;
mod codegen;
pub mod deploy;
pub mod diag;
pub mod diff;
pub mod emit;
mod formatting;
pub mod ir;
mod lint;
pub mod load;
mod lower;
pub mod monitoring;
mod naming;
mod pointer;
mod position;
#[cfg(feature = "cli")]
pub mod scaffold;
mod source_text;
mod swagger2;
#[cfg(feature = "cli")]
pub mod watch;
mod yaml;

use std::path::{Path, PathBuf};

use diag::{Diagnostics, Severity};
use ir::Api;
use load::Spec;
use serde_json::Value;

/// Re-exported for the proc macros, which hand annotation values to the parsers here.
pub use serde_json;

/// A loaded and lowered document with its problems (warnings and recoverable errors).
#[derive(Debug)]
pub struct Analysis {
    /// The document and every file it references.
    pub spec: Spec,
    /// The API lowered from it.
    pub api: Api,
    /// Its problems, located by line:column where found.
    pub diagnostics: Diagnostics,
}

impl Analysis {
    /// Every file the generated code is made from: the document, each file it references,
    /// and the database migrations it embeds. A change to any of them regenerates.
    pub fn sources(&self) -> Vec<PathBuf> {
        let mut sources = self.spec.sources();
        if let Some(database) = &self.api.settings.database {
            sources.extend(database.migrations.iter().map(|m| m.path.clone()));
        }
        sources
    }
}

/// Stack for the pipeline: documents nest as deep as their authors like, and loading,
/// lowering and formatting recurse with them.
const STACK_SIZE: usize = 512 * 1024 * 1024;

/// Runs `work` on a thread with a large stack, so no document can overflow the caller's.
fn on_large_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, work);
        match handle {
            Ok(handle) => match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // The OS refused a thread: not an input problem, and nothing sensible remains.
            Err(_) => unreachable_thread(),
        }
    })
}

#[cold]
fn unreachable_thread() -> ! {
    panic!("cannot start a thread for the generator")
}

/// Loads and lowers the document at `path`. `Err` holds the diagnostics when nothing can be
/// generated (unreadable, unparseable, or not OpenAPI 3).
pub fn analyze(path: &Path) -> Result<Analysis, Diagnostics> {
    on_large_stack(|| analyze_here(path))
}

fn analyze_here(path: &Path) -> Result<Analysis, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let Some(spec) = Spec::load(path, &mut diagnostics) else {
        return Err(diagnostics);
    };
    finish_analysis(spec, diagnostics)
}

/// [`analyze`], then the checks of `specjet validate`: answers the service gives that an
/// operation does not document, and `pattern`s it cannot check (warnings); what generation
/// reads leniently (an operation written as `[]`) is an error here.
pub fn validate(path: &Path) -> Result<Analysis, Diagnostics> {
    on_large_stack(|| validate_here(path))
}

fn validate_here(path: &Path) -> Result<Analysis, Diagnostics> {
    let mut analysis = analyze_here(path)?;
    let mut found = Diagnostics::default();
    lint::contract(&analysis.spec, &analysis.api, &mut found);
    locate(&analysis.spec, &mut found);
    for diagnostic in found.items() {
        analysis.diagnostics.push_diagnostic(diagnostic.clone());
    }
    analysis.diagnostics.strict();
    Ok(analysis)
}

/// Like [`analyze`], for a document given as text (`name` labels diagnostics).
pub fn analyze_text(name: &str, text: &str) -> Result<Analysis, Diagnostics> {
    on_large_stack(|| analyze_text_here(name, text))
}

fn analyze_text_here(name: &str, text: &str) -> Result<Analysis, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let Some(spec) = Spec::load_text(name, Path::new(name), text.to_owned(), &mut diagnostics)
    else {
        return Err(diagnostics);
    };
    finish_analysis(spec, diagnostics)
}

fn finish_analysis(spec: Spec, mut diagnostics: Diagnostics) -> Result<Analysis, Diagnostics> {
    check_version(&spec, &mut diagnostics);
    if diagnostics.has_fatal() {
        locate(&spec, &mut diagnostics);
        return Err(diagnostics);
    }
    let api = lower::lower(&spec, &mut diagnostics);
    diagnostics.dedup();
    locate(&spec, &mut diagnostics);
    Ok(Analysis {
        spec,
        api,
        diagnostics,
    })
}

fn locate(spec: &Spec, diagnostics: &mut Diagnostics) {
    for diagnostic in diagnostics.items_mut() {
        spec.locate(diagnostic);
    }
}

/// Accepts OpenAPI 3.0 and 3.1 (Swagger 2.0 arrives upgraded to 3.0); refuses anything else
/// with a clear message.
fn check_version(spec: &Spec, diagnostics: &mut Diagnostics) {
    let root = spec.root();
    let file = spec.doc_name(0).to_owned();
    if !root.is_object() {
        diagnostics.push(
            Severity::Fatal,
            &file,
            "",
            "not an OpenAPI document: the top level is not an object",
        );
        return;
    }
    if let Some(swagger) = root.get("swagger") {
        diagnostics.push(
            Severity::Fatal,
            &file,
            "/swagger",
            format!(
                "Swagger {} documents are not supported (Swagger 2.0 and OpenAPI 3.0 and 3.1 are)",
                swagger.as_str().unwrap_or("?")
            ),
        );
        return;
    }
    match root.get("openapi") {
        Some(Value::String(version))
            if version.starts_with("3.0") || version.starts_with("3.1") => {}
        Some(version) => diagnostics.push(
            Severity::Fatal,
            &file,
            "/openapi",
            format!("OpenAPI version {version} is not supported; specjet reads 3.0 and 3.1"),
        ),
        None => diagnostics.push(
            Severity::Fatal,
            &file,
            "",
            "not an OpenAPI document: it has no `openapi` version field",
        ),
    }
    if root.get("paths").is_none() {
        diagnostics.push(
            Severity::Warning,
            &file,
            "",
            "the document has no `paths`: the service will have no operations",
        );
    }
}

/// What a run generates beyond what the document says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The typed client too, as `x-specjet.client: true` asks.
    pub client: bool,
    /// The typed client alone (no server): a module for a crate that calls the service.
    pub client_only: bool,
}

/// The generated files for the document at `path`, with the diagnostics of the run.
pub fn generate(path: &Path) -> Result<emit::Generated, Diagnostics> {
    generate_with(path, Options::default())
}

/// [`generate`], with `options`.
pub fn generate_with(path: &Path, options: Options) -> Result<emit::Generated, Diagnostics> {
    on_large_stack(|| {
        let mut analysis = analyze_here(path)?;
        if options.client || options.client_only {
            lower::enable_client(&mut analysis.api, options.client_only);
        }
        let sources = analysis.sources();
        emit::render(
            &analysis.api,
            &spec_label(path),
            analysis.diagnostics,
            sources,
        )
    })
}

/// Like [`generate`], for a document given as text.
pub fn generate_text(name: &str, text: &str) -> Result<emit::Generated, Diagnostics> {
    on_large_stack(|| {
        let analysis = analyze_text_here(name, text)?;
        let sources = analysis.sources();
        emit::render(
            &analysis.api,
            &spec_label(Path::new(name)),
            analysis.diagnostics,
            sources,
        )
    })
}

/// All generated modules in one formatted source (for `include!` and build scripts).
pub fn generate_inline(path: &Path) -> Result<(String, Diagnostics), Diagnostics> {
    on_large_stack(|| generate_inline_here(path))
}

fn generate_inline_here(path: &Path) -> Result<(String, Diagnostics), Diagnostics> {
    let analysis = analyze_here(path)?;
    let mut diagnostics = analysis.diagnostics;
    match emit::render_inline(&analysis.api, &spec_label(path)) {
        Ok(text) => Ok((text, diagnostics)),
        Err(message) => {
            diagnostics.push(Severity::Fatal, &spec_label(path), "", message);
            Err(diagnostics)
        }
    }
}

/// The spec's file name, as generated headers mention it (a full path would make output depend
/// on where the command runs).
pub fn spec_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
