//! `specjet init`: a complete service crate for a spec, from the askama templates in
//! `templates/init/`: Cargo.toml, main.rs, handlers.rs (every operation answering 501),
//! README and .gitignore, plus the generated module in `src/api`.

use std::path::{Component, Path, PathBuf};

use askama::Template;

use crate::ir::Api;

/// Where the scaffold takes the runtime crate from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// The runtime crate of the checkout this binary was built from.
    Path(PathBuf),
    /// A published version.
    Version(String),
}

impl Runtime {
    /// The checkout's runtime crate when it is still there, else the published version of
    /// this generator.
    pub fn default_for_this_build() -> Runtime {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
        match checkout.canonicalize() {
            Ok(path) if path.join("Cargo.toml").exists() => Runtime::Path(path),
            _ => Runtime::Version(env!("CARGO_PKG_VERSION").to_owned()),
        }
    }

    /// The `specjet` line of Cargo.toml, with the runtime's features for the connections
    /// the spec declares (`database`, `http-client`).
    fn dependency(&self, features: &[&str]) -> String {
        let features = if features.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
            format!(", features = [{}]", quoted.join(", "))
        };
        match self {
            Runtime::Path(path) => format!(
                "specjet = {{ path = {:?}{features} }}",
                path.display().to_string()
            ),
            Runtime::Version(version) => {
                format!("specjet = {{ version = \"{version}\"{features} }}")
            }
        }
    }
}

/// What `init` wrote.
#[derive(Debug, Default)]
pub struct InitReport {
    /// Files written, relative to the crate directory (`src/api/` for the generated module).
    pub written: Vec<String>,
    /// Files that already held the user's code and were left alone.
    pub kept: Vec<String>,
    /// Where the service answers once started with the default address: (what, URL).
    pub urls: Vec<(&'static str, String)>,
}

/// The address a scaffolded service listens on without `ADDR`.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Where a service of `api` answers at the default address: its operations (under the base
/// path), its docs and its document, when it serves them.
fn urls(api: &crate::ir::Api) -> Vec<(&'static str, String)> {
    let base = format!("http://{DEFAULT_ADDR}{}", api.settings.base_path);
    let docs = &api.settings.docs;
    let mut urls = vec![("the API", format!("{base}/"))];
    if let Some(openapi) = &docs.openapi {
        if let Some(ui) = &docs.ui {
            urls.push(("its docs", format!("{base}{ui}")));
        }
        urls.push(("its document", format!("{base}{openapi}")));
    }
    urls
}

#[derive(Template)]
#[template(path = "init/Cargo.toml.txt", escape = "none")]
struct CargoToml<'a> {
    package: &'a str,
    runtime_dependency: String,
}

#[derive(Template)]
#[template(path = "init/main.rs.txt", escape = "none")]
struct MainRs<'a> {
    title: &'a str,
    package: &'a str,
    spec_label: &'a str,
    database: bool,
}

struct OperationView {
    name: String,
    /// The `operationId` as the inside of a Rust string literal.
    id: String,
    method: String,
    path: String,
}

/// A scheme whose credentials the handlers verify (no built-in verifier in the spec).
struct VerifierView {
    method: String,
    /// The scheme's name as the inside of a Rust string literal.
    scheme: String,
}

#[derive(Template)]
#[template(path = "init/handlers.rs.txt", escape = "none")]
struct HandlersRs<'a> {
    title: &'a str,
    spec_path: &'a str,
    database: bool,
    http_client: bool,
    operations: Vec<OperationView>,
    verifiers: Vec<VerifierView>,
}

#[derive(Template)]
#[template(path = "init/README.md.txt", escape = "none")]
struct Readme<'a> {
    package: &'a str,
    title: &'a str,
    spec_label: &'a str,
    spec_path: &'a str,
    urls: &'a [(&'static str, String)],
}

#[derive(Template)]
#[template(path = "init/gitignore.txt", escape = "none")]
struct Gitignore;

/// Scaffolds a service crate for `spec` in `dir`. Refuses a non-empty `dir` unless `force`;
/// even then an existing `src/handlers.rs` (the user's code) is kept.
pub fn init(spec: &Path, dir: &Path, force: bool, runtime: &Runtime) -> Result<InitReport, String> {
    let non_empty = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if non_empty && !force {
        return Err(format!(
            "{} is not empty; pass --force to scaffold into it anyway",
            dir.display()
        ));
    }
    let generated = crate::generate(spec).map_err(|diagnostics| {
        diagnostics
            .items()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let api = &generated.api;
    std::fs::create_dir_all(dir.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let crate_dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let spec_file = spec
        .canonicalize()
        .map_err(|e| format!("{}: {e}", spec.display()))?;
    let spec_path = relative_path(&crate_dir, &spec_file);
    // Both are written into comments (`//!`) as well as the README.
    let spec_label = crate::source_text::comment_line(&crate::spec_label(spec));
    let package = package_name(&crate_dir);
    let title = crate::source_text::comment_line(&api.title);
    let title = title.as_str();
    let database = api.settings.database.is_some();
    let http_client = api.settings.http_client.is_some();
    let urls = urls(api);
    let jwt = api
        .settings
        .security
        .schemes
        .iter()
        .any(|scheme| matches!(scheme.builtin, crate::ir::BuiltIn::Jwt(_)));
    let features: Vec<&str> = [
        (database, "database"),
        (http_client, "http-client"),
        (jwt, "jwt"),
    ]
    .into_iter()
    .filter_map(|(on, feature)| on.then_some(feature))
    .collect();

    let files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            render(&CargoToml {
                package: &package,
                runtime_dependency: runtime.dependency(&features),
            })?,
        ),
        (".gitignore", render(&Gitignore)?),
        (
            "README.md",
            render(&Readme {
                package: &package,
                title,
                spec_label: &spec_label,
                spec_path: &spec_path,
                urls: &urls,
            })?,
        ),
        (
            "src/main.rs",
            render(&MainRs {
                title,
                package: &package,
                spec_label: &spec_label,
                database,
            })?,
        ),
        (
            "src/handlers.rs",
            render(&HandlersRs {
                title,
                spec_path: &spec_path,
                database,
                http_client,
                operations: operation_views(api),
                verifiers: api
                    .security_schemes
                    .iter()
                    .filter(|scheme| !scheme.builtin)
                    .map(|scheme| VerifierView {
                        method: scheme.method.clone(),
                        scheme: literal_inside(&scheme.name),
                    })
                    .collect(),
            })?,
        ),
    ];
    let mut report = InitReport {
        urls,
        ..InitReport::default()
    };
    for (path, contents) in files {
        let target = crate_dir.join(path);
        if path == "src/handlers.rs" && target.exists() {
            report.kept.push(path.to_owned());
            continue;
        }
        std::fs::write(&target, contents)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        report.written.push(path.to_owned());
    }
    crate::emit::write(&crate_dir.join("src/api"), &generated.files)
        .map_err(|e| format!("cannot write src/api: {e}"))?;
    report.written.push("src/api/".to_owned());
    Ok(report)
}

fn render(template: &impl Template) -> Result<String, String> {
    let mut text = template
        .render()
        .map_err(|e| format!("internal error: template: {e}"))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

fn operation_views(api: &Api) -> Vec<OperationView> {
    api.handled_operations()
        .map(|op| OperationView {
            name: op.name.clone(),
            id: literal_inside(&op.id),
            method: op.method.as_str().to_uppercase(),
            path: crate::source_text::comment_line(&op.path.replace('`', "'")),
        })
        .collect()
}

/// The inside of the string literal for `text`, escaped as the generated code escapes its
/// literals (quotes, backslashes, and characters that show nothing, as `\u{..}`).
fn literal_inside(text: &str) -> String {
    let literal = proc_macro2::Literal::string(text).to_string();
    literal
        .strip_prefix('"')
        .and_then(|inside| inside.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// A cargo package name from a directory name (`My Service` → `my-service`).
fn package_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "service-");
    }
    name.trim_end_matches('-').to_owned()
}

/// `to` relative to the directory `from`, with `/` separators (both absolute).
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_owned(), from.len() - common).collect();
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(package_name(Path::new("/x/My Service")), "my-service");
        assert_eq!(package_name(Path::new("/x/9lives")), "service-9lives");
        assert_eq!(
            relative_path(Path::new("/a/b/svc"), Path::new("/a/specs/p.yaml")),
            "../../specs/p.yaml"
        );
        assert_eq!(
            relative_path(Path::new("/a/svc"), Path::new("/a/svc/openapi.yaml")),
            "openapi.yaml"
        );
    }

    #[test]
    fn operation_ids_are_escaped_for_their_literal() {
        assert_eq!(literal_inside("showPetById"), "showPetById");
        assert_eq!(literal_inside("a\"b\\"), "a\\\"b\\\\");
        assert_eq!(
            literal_inside("list\u{200B}Pets\u{202E}"),
            "list\\u{200b}Pets\\u{202e}"
        );
    }
}
