//! The batch benchmark's server (BENCHMARKS.md, "Batches"): `GET /items/{id}` answers after
//! 5 ms (a handler that waits on a database or an upstream), in batch group `reads`, served
//! with specjet's layers and `POST /batch` on `ADDR`. `scripts/bench-batch` calls it 20 times
//! one after another, then once with a batch of the same 20 calls.

use std::time::Duration;

use specjet::axum::extract::Path;
use specjet::axum::routing::get;
use specjet::axum::Router;
use specjet::http::Method;
use specjet::{OperationInfo, Policies, ServiceSettings, Services};

static GET_ITEM: OperationInfo = OperationInfo::new("getItem", Method::GET, "/items/{id}")
    .with_params(&[("id", "id")])
    .with_policies(Policies {
        batch_group: Some("reads"),
        ..Policies::NONE
    });

async fn get_item(Path(id): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    format!("{{\"id\": {id}}}")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut settings = ServiceSettings::named("batching");
    settings.batch.concurrency = 20;
    let services = Services::new(settings, None);
    let router = Router::new().route("/items/{id}", get(get_item));
    let operations = [(&GET_ITEM, GET_ITEM.policies)];
    specjet::serve(specjet::__private::finish(
        router,
        &services,
        specjet::__private::Finish::of(
            operations.to_vec(),
            std::sync::Arc::new(specjet::reject::problem_json),
        ),
    ))
    .await
}
