//! The body-contract benchmark in BENCHMARKS.md: reading the petstore's `NewPet` body
//! with serde alone (the baseline) and checked against its schema first, in process, on one
//! core; prints requests per second of each and the ratio.
//!
//! `cargo run --release -p specjet --example contract_bench [ITERATIONS]`

use std::hint::black_box;
use std::time::Instant;

use serde::Deserialize;
use specjet::contract::{json_body, BodySchema, Contract};

const DOCUMENT: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "Petstore", "version": "1"},
  "paths": {"/pets": {"post": {
    "requestBody": {"content": {"application/json": {
      "schema": {"$ref": "#/components/schemas/NewPet"}}}},
    "responses": {"201": {"description": "created"}}}}},
  "components": {"schemas": {
    "NewPet": {"type": "object", "required": ["name"], "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 64},
      "tag": {"type": "string", "nullable": true},
      "status": {"type": "string", "enum": ["available", "pending", "sold"]},
      "owner": {"$ref": "#/components/schemas/Owner"}}},
    "Owner": {"type": "object", "required": ["id"], "properties": {
      "id": {"type": "integer", "minimum": 1},
      "emails": {"type": "array", "maxItems": 5, "uniqueItems": true,
                 "items": {"type": "string", "pattern": "^[^@]+@[^@]+$"}}}}}}
}"##;

static CONTRACT: Contract = Contract::new(DOCUMENT);
static SCHEMA: BodySchema = BodySchema::new(&CONTRACT, "/pets", "post", "application/json");

const BODY: &[u8] = br#"{"name":"Rex","tag":"dog","status":"available","owner":{"id":7,"emails":["ada@example.com","ada@example.org"]}}"#;

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read, not used
struct NewPet {
    name: String,
    tag: Option<String>,
    status: Option<String>,
    owner: Option<Owner>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Owner {
    id: i64,
    #[serde(default)]
    emails: Vec<String>,
}

fn rate(iterations: u32, read: impl Fn() -> NewPet) -> f64 {
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(read());
    }
    f64::from(iterations) / started.elapsed().as_secs_f64()
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let plain = || specjet::extract::json_body::<NewPet>(BODY).expect("valid");
    let checked = || json_body::<NewPet>(BODY, &SCHEMA).expect("valid");
    checked(); // compiles the schema once, as the first request does
    let (mut plain_rates, mut checked_rates) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain_rates.push(rate(iterations, plain));
        checked_rates.push(rate(iterations, checked));
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let (plain, checked) = (mean(&plain_rates), mean(&checked_rates));
    println!("| read | bodies/s (mean of 3 rounds) | vs serde alone |");
    println!("| --- | ---: | ---: |");
    println!("| serde alone (baseline) | {plain:.0} | 100% |");
    println!(
        "| checked against the schema, then serde | {checked:.0} | {:.0}% |",
        checked / plain * 100.0
    );
}
