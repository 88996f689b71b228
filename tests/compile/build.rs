//! Generates the modules that this crate compiles with warnings denied: every spec in
//! `specs/` and the OpenAPI Initiative examples (`generator/tests/fixtures/oai`).

use std::path::{Path, PathBuf};

/// (module name, spec path relative to the workspace root).
const SPECS: &[(&str, &str)] = &[
    ("petstore", "specs/petstore.yaml"),
    ("features", "tests/compile/specs/features.yaml"),
    ("connections", "tests/compile/specs/connections.yaml"),
    ("fanout", "tests/compile/specs/fanout.yaml"),
    ("serving", "tests/compile/specs/serving.yaml"),
    ("contract", "tests/compile/specs/contract.yaml"),
    ("swagger2", "tests/compile/specs/swagger2.yaml"),
    ("observability", "tests/compile/specs/observability.yaml"),
    ("empty", "tests/compile/specs/empty.yaml"),
    ("invisible", "tests/compile/specs/invisible.yaml"),
    ("security", "tests/compile/specs/security.yaml"),
    ("streams", "tests/compile/specs/streams.yaml"),
    (
        "empty_operations",
        "tests/compile/specs/empty-operations.yaml",
    ),
    (
        "contract_no_formats",
        "tests/compile/specs/contract-no-formats.yaml",
    ),
    (
        "oai_petstore",
        "generator/tests/fixtures/oai/oai-petstore.yaml",
    ),
    (
        "oai_petstore_expanded",
        "generator/tests/fixtures/oai/oai-petstore-expanded.yaml",
    ),
    ("oai_uspto", "generator/tests/fixtures/oai/oai-uspto.yaml"),
    (
        "oai_api_with_examples",
        "generator/tests/fixtures/oai/oai-api-with-examples.yaml",
    ),
    (
        "oai_link_example",
        "generator/tests/fixtures/oai/oai-link-example.yaml",
    ),
    (
        "oai_callback_example",
        "generator/tests/fixtures/oai/oai-callback-example.yaml",
    ),
];

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The specs and the migrations they embed.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("tests/compile/specs").display()
    );
    for (name, relative) in SPECS {
        let spec = workspace.join(relative);
        println!("cargo:rerun-if-changed={}", spec.display());
        let code = generate(&spec).unwrap_or_else(|message| panic!("{relative}: {message}"));
        std::fs::write(out.join(format!("{name}.rs")), code).expect("OUT_DIR is writable");
    }
}

fn generate(spec: &Path) -> Result<String, String> {
    specjet_generator::generate_inline(spec)
        .map(|(code, _warnings)| code)
        .map_err(|diagnostics| {
            diagnostics
                .items()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
}
