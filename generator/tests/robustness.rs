//! Hostile input: real documents mutated at random, and random bytes. The generator must
//! answer every one with generated code or with diagnostics — never a panic, never a hang.
//! Mutations are drawn from fixed seeds, so a failure names the seed that reproduces it.
//! Invisible and bidirectional characters spread through every text of a document (names,
//! paths, descriptions, examples, enum values) must never reach the generated code as
//! themselves, where rustc and clippy refuse them.

use std::path::Path;

use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*): no dependency, same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BASES: &[&str] = &[
    "../specs/petstore.yaml",
    "../tests/compile/specs/features.yaml",
    "tests/fixtures/oai/oai-petstore-expanded.yaml",
    "tests/fixtures/oai/oai-link-example.yaml",
    "../../shared/corpus/api2pdf-api.yaml",
    "../../shared/corpus/canada-holidays.yaml",
];

const ODD_NAMES: &[&str] = &[
    "",
    "type",
    "self",
    "Self",
    "Option",
    "Result",
    "*/",
    "\"#",
    "`",
    "</script>",
    "1st",
    "-",
    "über",
    "a\nb",
    "#/x",
    "~1",
    "{id}",
    "/",
    "\u{200B}",
    "a\u{200D}b",
    "\u{202E}type",
    "\u{2066}x\u{2069}",
    "soft\u{AD}hyphen",
];

/// Characters that show nothing or reorder the text around them: zero-width space, non-joiner
/// and joiner, word joiner, soft hyphen, byte-order mark, the bidirectional marks, embeddings,
/// overrides, isolates and pops, a variation selector and a tag character.
const HIDDEN: &[char] = &[
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{AD}',
    '\u{FEFF}',
    '\u{200E}',
    '\u{200F}',
    '\u{61C}',
    '\u{202A}',
    '\u{202B}',
    '\u{202C}',
    '\u{202D}',
    '\u{202E}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{FE0F}',
    '\u{E0041}',
];

/// `iterations` copies of each base document, each with its seed (from `first_seed`, so that
/// a failure names the seed that reproduces it) and a generator drawn from it.
fn seeded_copies(
    first_seed: u64,
    iterations: usize,
) -> impl Iterator<Item = (&'static str, u64, Rng, Value)> {
    BASES
        .iter()
        .enumerate()
        .flat_map(move |(base_index, base)| {
            let original = load(base);
            (0..iterations).map(move |iteration| {
                let seed = first_seed + (base_index as u64) * 100_000 + iteration as u64;
                (*base, seed, Rng(seed), original.clone())
            })
        })
}

fn load(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    specjet_generator::load::parse_document(&text).unwrap_or_else(|d| panic!("{relative}: {d}"))
}

/// Every node's JSON pointer.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn random_value(rng: &mut Rng, pointers: &[String]) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => json!(rng.below(1000) as i64 - 500),
        2 => json!(ODD_NAMES[rng.below(ODD_NAMES.len())]),
        3 => json!(true),
        4 => json!([]),
        5 => json!({}),
        6 => json!({"$ref": format!("#{}", pointers[rng.below(pointers.len())])}),
        7 => json!({"$ref": "#/components/schemas/Nowhere"}),
        8 => json!({"$ref": "missing-file.yaml#/x"}),
        9 => {
            let types = ["string", "integer", "object", "array", "null", "nonsense"];
            json!({ "type": types[rng.below(types.len())] })
        }
        10 => {
            json!({"oneOf": [{"type": "string"}, {"$ref": format!("#{}", pointers[rng.below(pointers.len())])}], "discriminator": {"propertyName": "kind"}})
        }
        _ => {
            json!({"allOf": [{"type": "object", "properties": {"a": {"enum": [1, "x", null]}}}, {"type": "string"}]})
        }
    }
}

/// Applies one random mutation somewhere in `document`.
fn mutate(document: &mut Value, rng: &mut Rng) {
    let mut all = Vec::new();
    pointers(document, String::new(), &mut all);
    let target = all[rng.below(all.len())].clone();
    let replacement = random_value(rng, &all);
    let copied = document
        .pointer(&all[rng.below(all.len())])
        .cloned()
        .unwrap_or(Value::Null);
    let choice = rng.below(5);
    let Some(node) = document.pointer_mut(&target) else {
        return;
    };
    match (choice, node) {
        (0, Value::Object(map)) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            map.shift_remove(&key);
        }
        (1, Value::Object(map)) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            if let Some(value) = map.shift_remove(&key) {
                map.insert(ODD_NAMES[rng.below(ODD_NAMES.len())].to_owned(), value);
            }
        }
        (2, node) => *node = copied,
        (3, Value::Object(map)) => {
            map.insert(
                [
                    "type",
                    "items",
                    "properties",
                    "required",
                    "enum",
                    "$ref",
                    "nullable",
                    "default",
                    "style",
                    "in",
                ][rng.below(10)]
                .to_owned(),
                replacement,
            );
        }
        (_, node) => *node = replacement,
    }
}

/// `text` with one to three hidden characters put in at random places.
fn hide(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        chars.insert(at, HIDDEN[rng.below(HIDDEN.len())]);
    }
    chars.into_iter().collect()
}

/// Hidden characters in every text of `value` that generated code writes: string values
/// (descriptions, names, examples, enum values, defaults, paths of servers), the keys of
/// `paths`, `properties` and `schemas` (a schema's `$ref`s follow its new name), each with a
/// chance of one half. Values that only steer the reading (`$ref`, `type`, `in`, `format`,
/// `openapi`) are left alone, so that the document still means what it did.
fn hide_everywhere(
    value: &mut Value,
    key: &str,
    rng: &mut Rng,
    renamed: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(text) => {
            let steering = [
                "$ref", "type", "in", "format", "openapi", "style", "required",
            ];
            if !steering.contains(&key) && rng.below(2) == 0 {
                *text = hide(text, rng);
            }
        }
        Value::Array(items) => {
            for item in items {
                hide_everywhere(item, key, rng, renamed);
            }
        }
        Value::Object(map) => {
            let names = matches!(key, "paths" | "properties" | "schemas");
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (name, mut child) in entries {
                hide_everywhere(&mut child, &name, rng, renamed);
                let name = if names && !name.starts_with("x-") && rng.below(2) == 0 {
                    let hidden = hide(&name, rng);
                    if key == "schemas" {
                        renamed.push((name, hidden.clone()));
                    }
                    hidden
                } else {
                    name
                };
                map.insert(name, child);
            }
        }
        _ => {}
    }
}

/// Points `$ref`s at the schemas' new names.
fn follow_renames(value: &mut Value, renamed: &[(String, String)]) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                for (old, new) in renamed {
                    if target == &format!("#/components/schemas/{old}") {
                        *target = format!("#/components/schemas/{new}");
                    }
                }
            }
            for child in map.values_mut() {
                follow_renames(child, renamed);
            }
        }
        Value::Array(items) => {
            for item in items {
                follow_renames(item, renamed);
            }
        }
        _ => {}
    }
}

#[test]
fn hidden_characters_never_reach_the_generated_code_as_themselves() {
    let iterations = if cfg!(debug_assertions) { 20 } else { 200 };
    let mut failures = Vec::new();
    let mut generated = 0;
    for (base, seed, mut rng, mut document) in seeded_copies(0x41dd_0000, iterations) {
        let mut renamed = Vec::new();
        hide_everywhere(&mut document, "", &mut rng, &mut renamed);
        follow_renames(&mut document, &renamed);
        let text = serde_json::to_string(&document).unwrap_or_default();
        let Ok(output) = specjet_generator::generate_text("hidden.json", &text) else {
            failures.push(format!("{base} seed {seed:#x}: not generated"));
            continue;
        };
        generated += 1;
        for file in &output.files {
            for (number, line) in file.contents.lines().enumerate() {
                if let Some(c) = line.chars().find(|c| HIDDEN.contains(c)) {
                    failures.push(format!(
                        "{base} seed {seed:#x}: {:?} in {}:{}: {line:?}",
                        c,
                        file.path,
                        number + 1
                    ));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(generated, BASES.len() * iterations);
}

fn survives(name: &str, text: &str) -> Result<(), String> {
    std::panic::catch_unwind(|| {
        let _ = specjet_generator::generate_text(name, text);
    })
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[test]
fn mutated_real_documents_never_panic() {
    let iterations = if cfg!(debug_assertions) { 60 } else { 600 };
    let mut failures = Vec::new();
    for (base, seed, mut rng, mut document) in seeded_copies(0x5eed_0000, iterations) {
        for _ in 0..1 + rng.below(4) {
            mutate(&mut document, &mut rng);
        }
        let text = serde_json::to_string(&document).unwrap_or_default();
        if let Err(message) = survives("mutant.json", &text) {
            failures.push(format!("{base} seed {seed:#x}: {message}"));
        }
    }
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}

#[test]
fn random_bytes_and_broken_text_are_diagnosed() {
    let mut rng = Rng(42);
    let mut samples: Vec<String> = vec![
        String::new(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "openapi: [".into(),
        "openapi: 3.0.0\npaths: 5\n".into(),
        "openapi: 3.0.0\npaths:\n  /a:\n    get: 7\n".into(),
        "a: &x [*x]".into(),
        "\u{feff}{\"openapi\": \"3.0.0\", \"paths\": {}}".into(),
        "openapi: 3.0.0\n".to_owned() + &"x:\n ".repeat(300),
    ];
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..rng.below(200))
            .map(|_| (rng.next() % 128) as u8)
            .collect();
        samples.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for sample in samples {
        let result =
            std::panic::catch_unwind(|| specjet_generator::generate_text("sample.yaml", &sample));
        assert!(result.is_ok(), "panic on {sample:?}");
    }
}
