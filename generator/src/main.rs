//! The `specjet` command: a thin shell over the generator library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use specjet_generator::diag::{Diagnostics, Severity};
use specjet_generator::emit;
use specjet_generator::Options;

// Generation allocates many small values (tokens, strings, JSON nodes); glibc's allocator
// spent a third of a Stripe run in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Generate a typed axum service from an OpenAPI document.
#[derive(Parser)]
#[command(name = "specjet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the generated Rust module for SPEC into a directory.
    ///
    /// The directory receives `mod.rs`, `types.rs`, `server.rs` and `operations/`. Include it
    /// in a crate with `mod api;` (for `-o src/api`). Only files with specjet's header are
    /// written or removed; nothing else in the directory is touched.
    Generate {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
        /// Output directory.
        #[arg(short, long)]
        output: PathBuf,
        /// Do not print warnings.
        #[arg(short, long)]
        quiet: bool,
        /// Also generate the typed client (`client.rs`), as `x-specjet.client: true` does.
        #[arg(long)]
        client: bool,
    },
    /// Write a typed client of SPEC alone into a directory, for a crate that calls the
    /// service: types, each operation's request and responses, and `Client` (no server, no
    /// axum; the crate depends on `specjet` with `default-features = false, features =
    /// ["client"]`).
    Client {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
        /// Output directory.
        #[arg(short, long)]
        output: PathBuf,
        /// Do not print warnings.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Exit 0 when the files in the output directory are exactly what `generate` would write,
    /// 1 (listing stale, missing and extra files) otherwise.
    Check {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
        /// Directory that `generate` wrote.
        #[arg(short, long)]
        output: PathBuf,
        /// The module was generated with `--client`.
        #[arg(long)]
        client: bool,
        /// The module was written by `specjet client`.
        #[arg(long, conflicts_with = "client")]
        client_only: bool,
    },
    /// Scaffold a service crate for SPEC in DIR: Cargo.toml, main.rs, handlers.rs (every
    /// operation answering 501 until written), README, .gitignore and the generated module.
    ///
    /// `cargo run` in DIR serves at once. The crate depends on the runtime crate of the
    /// checkout this binary was built from, unless --runtime-version names a published one.
    Init {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
        /// The directory of the new crate (created; must be empty unless --force).
        dir: PathBuf,
        /// Scaffold into a non-empty directory (an existing src/handlers.rs is kept).
        #[arg(long)]
        force: bool,
        /// Depend on this published version of the runtime crate instead of a path.
        #[arg(long)]
        runtime_version: Option<String>,
    },
    /// Regenerate into a directory on every save of SPEC (or of any file it references),
    /// printing one line per run with the operations added (+), removed (-) and changed (~).
    /// A broken spec prints its diagnostics; the watch goes on.
    Watch {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
        /// Output directory.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Operations and types added (+), removed (-) and changed (~) from OLD to NEW, each
    /// marked `[breaking]` when it breaks existing clients; exit 1 when any does.
    Diff {
        /// The earlier version of the spec.
        old: PathBuf,
        /// The later version of the spec.
        new: PathBuf,
    },
    /// Print a Grafana dashboard (JSON) of the service SPEC describes: request rate, errors and
    /// latency per operation (per tag for large specs), its `x-slo` objectives as threshold
    /// lines, cache hit ratio, 429s and database pool saturation where it has them.
    Dashboard {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
    },
    /// Print Prometheus rules (YAML) with multi-window burn-rate alerts for every `x-slo`
    /// objective of SPEC; exit 1 when it declares none. Check them with `promtool check rules`.
    Alerts {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
    },
    /// Print Kubernetes manifests (YAML) for the service SPEC describes: a Deployment (probes on
    /// /readyz and /healthz, grace from the shutdown settings, secrets from a Secret named like
    /// the service), a Service, a PodDisruptionBudget, a HorizontalPodAutoscaler (CPU and
    /// requests in flight), a ServiceMonitor, its `x-slo` alerts as a PrometheusRule and its
    /// dashboard as a ConfigMap.
    Deploy {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
        /// The container image (default: NAME:latest).
        #[arg(long)]
        image: Option<String>,
        /// Replicas to start with; the autoscaler scales between this and five times it.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
        replicas: u32,
        /// The namespace the objects name (default: none, kubectl's).
        #[arg(long)]
        namespace: Option<String>,
        /// The port the service listens on in the pod.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Print every problem in SPEC with its location; exit 1 when there are errors.
    ///
    /// Warnings mark parts that will be generated loosely (typed as JSON values, shadowed
    /// routes); errors are breaks of the OpenAPI rules.
    Validate {
        /// The OpenAPI 3 document (YAML or JSON).
        spec: PathBuf,
    },
}

fn main() -> ExitCode {
    run(Cli::parse())
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate {
            spec,
            output,
            quiet,
            client,
        } => generate(
            &spec,
            &output,
            quiet,
            Options {
                client,
                client_only: false,
            },
        ),
        Command::Client {
            spec,
            output,
            quiet,
        } => generate(
            &spec,
            &output,
            quiet,
            Options {
                client: true,
                client_only: true,
            },
        ),
        Command::Check {
            spec,
            output,
            client,
            client_only,
        } => check(
            &spec,
            &output,
            Options {
                client,
                client_only,
            },
        ),
        Command::Validate { spec } => validate(&spec),
        Command::Dashboard { spec } => monitoring(&spec, |api| {
            let dashboard = specjet_generator::monitoring::dashboard(api);
            serde_json::to_string_pretty(&dashboard).map_err(|error| error.to_string())
        }),
        Command::Alerts { spec } => monitoring(&spec, |api| {
            specjet_generator::monitoring::alerts(api).ok_or_else(|| {
                format!(
                    "no operation of {} has an `x-slo` objective; nothing to alert on",
                    spec.display()
                )
            })
        }),
        Command::Deploy {
            spec,
            image,
            replicas,
            namespace,
            port,
        } => {
            let options = specjet_generator::deploy::DeployOptions {
                image,
                replicas,
                namespace,
                port,
            };
            monitoring(&spec, |api| {
                specjet_generator::deploy::manifests(api, &options)
            })
        }
        Command::Diff { old, new } => diff(&old, &new),
        Command::Watch { spec, output } => match specjet_generator::watch::watch(&spec, &output) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Init {
            spec,
            dir,
            force,
            runtime_version,
        } => init(&spec, &dir, force, runtime_version),
    }
}

fn print(diagnostics: &Diagnostics, warnings: bool) {
    for diagnostic in diagnostics.items() {
        if warnings || diagnostic.severity != Severity::Warning {
            eprintln!("{diagnostic}");
        }
    }
}

fn summary(diagnostics: &Diagnostics) -> String {
    let errors = diagnostics.count(Severity::Error) + diagnostics.count(Severity::Fatal);
    let warnings = diagnostics.count(Severity::Warning) + diagnostics.count(Severity::Nonstandard);
    format!(
        "{errors} error{}, {warnings} warning{}",
        plural(errors),
        plural(warnings)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn generate(spec: &Path, output: &Path, quiet: bool, options: Options) -> ExitCode {
    let generated = match specjet_generator::generate_with(spec, options) {
        Ok(generated) => generated,
        Err(diagnostics) => {
            print(&diagnostics, true);
            eprintln!("error: nothing generated ({})", summary(&diagnostics));
            return ExitCode::FAILURE;
        }
    };
    print(&generated.diagnostics, !quiet);
    match emit::write(output, &generated.files) {
        Ok(report) => {
            let operations = generated.api.operations.len();
            let types = generated.api.types.len();
            println!(
                "generated {operations} operation{}, {types} type{} into {} ({} written, {} unchanged, {} removed; {})",
                plural(operations),
                plural(types),
                output.display(),
                report.written,
                report.unchanged,
                report.removed.len(),
                summary(&generated.diagnostics)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write into {}: {error}", output.display());
            ExitCode::FAILURE
        }
    }
}

fn check(spec: &Path, output: &Path, options: Options) -> ExitCode {
    let generated = match specjet_generator::generate_with(spec, options) {
        Ok(generated) => generated,
        Err(diagnostics) => {
            print(&diagnostics, true);
            return ExitCode::from(2);
        }
    };
    let report = emit::check(output, &generated.files);
    if report.is_fresh() {
        println!("{}: up to date", output.display());
        return ExitCode::SUCCESS;
    }
    for (label, files) in [
        ("stale", &report.stale),
        ("missing", &report.missing),
        ("extra", &report.extra),
    ] {
        for file in files {
            println!("{label}: {}", output.join(file).display());
        }
    }
    println!(
        "{}: out of date; run `specjet generate {} -o {}`",
        output.display(),
        spec.display(),
        output.display()
    );
    ExitCode::FAILURE
}

fn init(spec: &Path, dir: &Path, force: bool, runtime_version: Option<String>) -> ExitCode {
    use specjet_generator::scaffold::{self, Runtime};
    let runtime = runtime_version.map_or_else(Runtime::default_for_this_build, Runtime::Version);
    match scaffold::init(spec, dir, force, &runtime) {
        Ok(report) => {
            for kept in &report.kept {
                println!("kept {kept} (your code)");
            }
            println!(
                "created {} ({}); run `cargo run` in it",
                dir.display(),
                report.written.join(", ")
            );
            for (what, url) in &report.urls {
                println!("  {what}: {url}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn diff(old: &Path, new: &Path) -> ExitCode {
    let load = |path: &Path| {
        specjet_generator::analyze(path).map_err(|diagnostics| {
            print(&diagnostics, false);
            ExitCode::from(2)
        })
    };
    let (old_api, new_api) = match (load(old), load(new)) {
        (Ok(old), Ok(new)) => (old.api, new.api),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let changes = specjet_generator::diff::diff(&old_api, &new_api);
    for change in &changes {
        println!("{change}");
    }
    let breaking = changes.iter().filter(|c| c.breaking).count();
    println!(
        "{} change{}, {breaking} breaking",
        changes.len(),
        plural(changes.len())
    );
    if breaking > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn validate(spec: &Path) -> ExitCode {
    let diagnostics = match specjet_generator::validate(spec) {
        Ok(analysis) => analysis.diagnostics,
        Err(diagnostics) => diagnostics,
    };
    print(&diagnostics, true);
    println!("{}: {}", spec.display(), summary(&diagnostics));
    if diagnostics.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `dashboard` and `alerts`: what `make` builds from the analysed spec, on stdout. Problems of
/// the spec go to stderr (a broken objective is left out of what is printed, and said so).
fn monitoring(
    spec: &Path,
    make: impl FnOnce(&specjet_generator::ir::Api) -> Result<String, String>,
) -> ExitCode {
    let analysis = match specjet_generator::analyze(spec) {
        Ok(analysis) => analysis,
        Err(diagnostics) => {
            print(&diagnostics, false);
            eprintln!(
                "error: {} cannot be read ({})",
                spec.display(),
                summary(&diagnostics)
            );
            return ExitCode::FAILURE;
        }
    };
    print(&analysis.diagnostics, false);
    match make(&analysis.api) {
        Ok(text) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
