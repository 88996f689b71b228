//! What the generated client costs a call (BENCHMARKS.md, "The typed client"): one call at a
//! time of `GET /pets/{id}` against the petstore served on a free port of 127.0.0.1, made
//!
//! - with a bare reqwest client that decodes the JSON itself (the baseline);
//! - with the generated `api::Client` over HTTP, its revalidation off (the same bytes on
//!   the wire), and on (its 304s);
//!
//! and, in process, the generated client through the router and every policy against the
//! handler called directly. The calls are paired (one of each kind in turn, the order
//! rotating); each figure is the median call.
//!
//! `cargo run --release -p petstore-example --example client_overhead [-- CALLS ROUNDS]`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use petstore_example::api::operations::{create_pet, show_pet_by_id};
use petstore_example::api::types::{NewPet, Pet};
use petstore_example::api::{self, Api, Client};
use petstore_example::handlers::PetStore;
use specjet::client::Http;

#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

type Failure = Box<dyn std::error::Error>;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let calls: u32 = args.next().map_or(Ok(2000), |n| n.parse())?;
    let rounds: usize = args.next().map_or(Ok(9), |n| n.parse())?;

    let store = PetStore::default();
    let services = specjet::Services::new(api::settings(), None);
    let router = api::router_with(store.clone(), &services);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = listener.local_addr()?;
    drop(listener);
    tokio::spawn(specjet::serve::serve_on(addr, router.clone()));
    let base = format!("http://{addr}");
    let typed = Client::new(Http::new(&base)?).with_retry_off();
    for _ in 0..50 {
        if typed
            .show_pet_by_id(show_pet_by_id::Request::new(1))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pet = match typed
        .create_pet(create_pet::Request::new(NewPet {
            name: "Rex".to_owned(),
            tag: Some("dog".to_owned()),
            status: None,
        }))
        .await?
    {
        create_pet::Response::Created(pet) => pet,
        other => return Err(format!("expected 201, got {other:?}").into()),
    };
    let id = pet.id;
    let url = format!("{base}/pets/{id}");
    let bare = specjet::reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()?;
    let whole = typed.clone().configure(|core| core.with_cache(0));
    let in_process = Client::in_process(router).with_retry_off();

    let bare_call = || async {
        let response = bare.get(&url).send().await?;
        if response.status() != 200 {
            return Err::<(), Failure>(format!("bare: {}", response.status()).into());
        }
        let found: Pet = serde_json::from_slice(&response.bytes().await?)?;
        (found.id == id)
            .then_some(())
            .ok_or_else(|| "bare: another pet".into())
    };
    let typed_call = |client: &Client| {
        let client = client.clone();
        async move {
            match client
                .show_pet_by_id(show_pet_by_id::Request::new(id))
                .await?
            {
                show_pet_by_id::Response::Ok(found) if found.id == id => Ok(()),
                other => Err::<(), Failure>(format!("typed: {other:?}").into()),
            }
        }
    };
    let whole_call = || typed_call(&whole);
    let revalidated_call = || typed_call(&typed);
    let in_process_call = || typed_call(&in_process);
    let direct_call = || {
        let store = store.clone();
        async move {
            match store.show_pet_by_id(show_pet_by_id::Request::new(id)).await {
                show_pet_by_id::Response::Ok(found) if found.id == id => Ok(()),
                other => Err::<(), Failure>(format!("direct: {other:?}").into()),
            }
        }
    };

    // Warm every path.
    for _ in 0..calls / 10 {
        bare_call().await?;
        whole_call().await?;
        revalidated_call().await?;
        in_process_call().await?;
    }
    // Paired: each iteration times one call of every kind, in an order that turns, so that
    // a noisy moment of the machine falls on all of them alike.
    let mut times: [Vec<Duration>; 5] = Default::default();
    for iteration in 0..calls as usize * rounds {
        for step in 0..5 {
            let kind = (iteration + step) % 5;
            let started = Instant::now();
            match kind {
                0 => bare_call().await?,
                1 => whole_call().await?,
                2 => revalidated_call().await?,
                3 => in_process_call().await?,
                _ => direct_call().await?,
            }
            times[kind].push(started.elapsed());
        }
    }
    let [bare_m, whole_m, revalidated_m, in_process_m, direct_m] = times.map(median);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "{} calls of each kind, paired; median per call:",
        calls as usize * rounds
    );
    println!("  bare reqwest + serde_json        {bare_m:>10.2?}");
    println!(
        "  api::Client over HTTP            {whole_m:>10.2?}  ({:.3}x bare)",
        ratio(whole_m, bare_m)
    );
    println!(
        "  api::Client, revalidated (304)   {revalidated_m:>10.2?}  ({:.3}x bare)",
        ratio(revalidated_m, bare_m)
    );
    println!("  handler called directly          {direct_m:>10.2?}");
    println!(
        "  api::Client in process           {in_process_m:>10.2?}  ({:.1}x direct)",
        ratio(in_process_m, direct_m)
    );
    Ok(())
}

/// Retries off: a benchmark call that fails should fail, not wait.
trait RetryOff {
    fn with_retry_off(self) -> Self;
}

impl RetryOff for Client {
    fn with_retry_off(self) -> Self {
        self.configure(|core| core.with_retry(specjet::client::Retry::never()))
    }
}
