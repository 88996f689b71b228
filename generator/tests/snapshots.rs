//! Snapshots of the code generated for `specs/` and the OpenAPI Initiative examples (copied
//! into `tests/fixtures/oai`, so the snapshots depend on nothing outside the repository). A change
//! in generated code shows up here as a reviewable diff (`cargo insta review`); that the same
//! code compiles warning-free is checked by the `tests/compile` crate.

use std::path::Path;

const SPECS: &[(&str, &str)] = &[
    ("petstore", "../specs/petstore.yaml"),
    ("oai_petstore", "tests/fixtures/oai/oai-petstore.yaml"),
    (
        "oai_petstore_expanded",
        "tests/fixtures/oai/oai-petstore-expanded.yaml",
    ),
    ("oai_uspto", "tests/fixtures/oai/oai-uspto.yaml"),
    (
        "oai_api_with_examples",
        "tests/fixtures/oai/oai-api-with-examples.yaml",
    ),
    (
        "oai_link_example",
        "tests/fixtures/oai/oai-link-example.yaml",
    ),
];

fn generated_text(relative: &str) -> String {
    generated_with(relative, specjet_generator::Options::default())
}

fn generated_with(relative: &str, options: specjet_generator::Options) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let generated =
        specjet_generator::generate_with(&path, options).unwrap_or_else(|diagnostics| {
            panic!("{relative} does not generate: {:?}", diagnostics.items())
        });
    generated
        .files
        .iter()
        .map(|file| format!("// ===== {} =====\n{}", file.path, file.contents))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generated_code() {
    for (name, relative) in SPECS {
        insta::assert_snapshot!(*name, generated_text(relative));
    }
}

#[test]
fn generation_is_deterministic() {
    for (_, relative) in SPECS {
        assert_eq!(
            generated_text(relative),
            generated_text(relative),
            "{relative}"
        );
    }
}

/// `specjet client`: the petstore's client alone (no server code, no `parts`, no principal).
#[test]
fn client_alone() {
    let options = specjet_generator::Options {
        client: true,
        client_only: true,
    };
    let text = generated_with("../specs/petstore.yaml", options);
    for server_only in ["axum", "router", "__private", "extract::", "policies"] {
        assert!(
            !text.contains(server_only),
            "the client alone mentions `{server_only}`"
        );
    }
    insta::assert_snapshot!("petstore_client_alone", text);
}
