//! The database pool against real servers: a fresh SQLite file always, a fresh database on
//! the Postgres of `DATABASE_URL` when it is set, and a private Postgres that a test stops.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use specjet::database::{DatabaseSettings, Migration};
use specjet::sqlx::Executor;
use specjet::{Database, Problem, ServiceSettings, Services};
use support::postgres::{every_backend, postgres, PrivatePostgres, TestDatabase};
use tower::ServiceExt;

fn settings(max_connections: u32, acquire_timeout: Duration) -> DatabaseSettings {
    DatabaseSettings {
        max_connections,
        min_connections: 1,
        acquire_timeout,
        connect_timeout: Duration::from_secs(5),
        ..DatabaseSettings::named("test")
    }
}

async fn connect(database: &TestDatabase, settings: &DatabaseSettings) -> Database {
    Database::connect(settings, Some(&database.url))
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", database.backend))
}

/// Holds a pool connection for 1.5 s, as a slow query would.
async fn hold(State(database): State<Database>) -> Result<&'static str, Problem> {
    let mut connection = database.acquire().await?;
    connection.execute("SELECT 1").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok("done")
}

/// `/hold` and `/readyz` over `database`.
fn router(database: &Database) -> Router {
    let services = Services::new(ServiceSettings::default(), None).with_database(database.clone());
    Router::new()
        .route("/hold", get(hold))
        .with_state(database.clone())
        .merge(
            Router::new()
                .route("/readyz", get(specjet::health::readyz))
                .with_state(services),
        )
}

async fn send(router: &Router, path: &str) -> (StatusCode, Option<String>) {
    let request = Request::get(path).body(axum::body::Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_pool_answers_503_within_the_acquire_timeout() {
    for database in every_backend("exhausted") {
        let acquire_timeout = Duration::from_millis(300);
        let pool = connect(&database, &settings(2, acquire_timeout)).await;
        let router = router(&pool);
        let busy: Vec<_> = (0..2)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move { send(&router, "/hold").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let (status, retry_after) = send(&router, "/hold").await;
        let waited = started.elapsed();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            database.backend
        );
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert!(
            waited >= acquire_timeout - Duration::from_millis(20)
                && waited <= acquire_timeout + Duration::from_millis(100),
            "{}: the third request answered after {waited:?}",
            database.backend
        );
        for request in busy {
            assert_eq!(
                request.await.unwrap().0,
                StatusCode::OK,
                "the two holders finish"
            );
        }
    }
}

#[tokio::test]
async fn postgres_cancels_a_statement_past_the_statement_timeout() {
    let Some(database) = postgres("statement_timeout") else {
        return;
    };
    let settings = DatabaseSettings {
        statement_timeout: Some(Duration::from_millis(200)),
        ..settings(2, Duration::from_secs(2))
    };
    let pool = connect(&database, &settings).await;
    let started = Instant::now();
    let error = specjet::sqlx::query("SELECT pg_sleep(3)")
        .execute(pool.pool())
        .await
        .expect_err("the statement is cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(Problem::from(error).status, 504);
}

static FIRST: &[Migration] = &[Migration {
    version: 1,
    description: "create items",
    sql: "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    only: None,
}];

static BROKEN: &[Migration] = &[
    FIRST[0],
    Migration {
        version: 2,
        description: "broken",
        sql: "CREATE TABLE broken (",
        only: None,
    },
];

static EDITED: &[Migration] = &[Migration {
    sql: "CREATE TABLE items (id BIGINT PRIMARY KEY)",
    ..FIRST[0]
}];

#[tokio::test]
async fn migrations_run_once_and_a_failing_one_stops_the_start() {
    for database in every_backend("migrations") {
        let with = |migrations| DatabaseSettings {
            migrations,
            ..settings(2, Duration::from_secs(2))
        };
        connect(&database, &with(FIRST)).await;
        // A second start finds version 1 applied and does not run it again (it would fail:
        // the table exists).
        let pool = connect(&database, &with(FIRST)).await;
        specjet::sqlx::query("INSERT INTO items (id, name) VALUES (1, 'one')")
            .execute(pool.pool())
            .await
            .expect("the migrated table is there");

        let error = Database::connect(&with(BROKEN), Some(&database.url))
            .await
            .expect_err("a broken migration stops the start");
        assert!(
            error.to_string().starts_with("a database migration failed"),
            "{}: {error}",
            database.backend
        );
        let error = Database::connect(&with(EDITED), Some(&database.url))
            .await
            .expect_err("an applied migration that was edited stops the start");
        assert!(error.to_string().contains("migration 1"), "{error}");
    }
}

#[tokio::test]
async fn sqlx_errors_become_the_problems_a_client_can_act_on() {
    for database in every_backend("errors") {
        let pool = connect(&database, &settings(2, Duration::from_secs(2))).await;
        let run = |sql: &'static str| {
            let pool = pool.clone();
            async move { specjet::sqlx::query(sql).execute(pool.pool()).await }
        };
        run("CREATE TABLE owners (id BIGINT PRIMARY KEY)")
            .await
            .unwrap();
        run(
            "CREATE TABLE pets (id BIGINT PRIMARY KEY, owner BIGINT REFERENCES owners (id), \
             age BIGINT CHECK (age >= 0))",
        )
        .await
        .unwrap();
        run("INSERT INTO owners (id) VALUES (1)").await.unwrap();
        let status = |result: Result<_, specjet::sqlx::Error>| {
            Problem::from(result.expect_err("the statement fails")).status
        };
        let backend = database.backend;
        assert_eq!(
            status(run("INSERT INTO owners (id) VALUES (1)").await),
            409,
            "{backend}: unique"
        );
        assert_eq!(
            status(run("INSERT INTO pets (id, owner) VALUES (1, 99)").await),
            409,
            "{backend}: foreign key"
        );
        assert_eq!(
            status(run("INSERT INTO pets (id, age) VALUES (2, -1)").await),
            422,
            "{backend}: check"
        );
        let missing = specjet::sqlx::query("SELECT id FROM owners WHERE id = 42")
            .fetch_one(pool.pool())
            .await
            .err()
            .expect("no row");
        assert_eq!(Problem::from(missing).status, 404, "{backend}: no row");
        let wrong = run("SELECT nope FROM owners")
            .await
            .expect_err("no such column");
        let problem = Problem::from(wrong);
        assert_eq!(problem.status, 500, "{backend}");
        assert_eq!(problem.detail, None, "the SQL error is logged, not sent");
    }
}

#[tokio::test]
async fn pool_gauges_and_acquire_times_are_in_the_metrics() {
    let database = support::postgres::sqlite("metrics");
    let pool = connect(&database, &settings(3, Duration::from_secs(2))).await;
    drop(pool.acquire().await.expect("a connection"));
    let response = specjet::metrics::render().await;
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    for metric in [
        "specjet_db_connections{state=\"idle\"}",
        "specjet_db_connections{state=\"in_use\"}",
        "specjet_db_waiting",
        "specjet_db_acquire_seconds_count",
    ] {
        assert!(text.contains(metric), "no {metric} in:\n{text}");
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_at_start_is_a_clear_error() {
    let mut unreachable = settings(2, Duration::from_millis(200));
    unreachable.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let error = Database::connect(&unreachable, Some("postgres://app:secret@127.0.0.1:1/shop"))
        .await
        .expect_err("nothing listens on port 1");
    let message = error.to_string();
    assert!(
        message.contains("cannot connect to the database at `postgres://app@127.0.0.1:1/shop`"),
        "{message}"
    );
    assert!(
        !message.contains("secret"),
        "the password stays out: {message}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it retried with backoff"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let error = Database::connect(&unreachable, Some("mysql://127.0.0.1/shop"))
        .await
        .expect_err("not a database specjet speaks to");
    assert!(
        error
            .to_string()
            .contains("neither `postgres://...` nor `sqlite:...`"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_that_goes_away_answers_503_and_is_used_again_when_back() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    let mut settings = settings(4, Duration::from_secs(1));
    settings.min_connections = 2;
    let pool = Database::connect(&settings, Some(&server.url()))
        .await
        .expect("connects");
    let router = router(&pool);
    assert_eq!(send(&router, "/readyz").await.0, StatusCode::OK);

    server.kill();
    let started = Instant::now();
    let (status, retry_after) = send(&router, "/hold").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a request while it is gone"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no hang: {:?}",
        started.elapsed()
    );
    assert_eq!(
        send(&router, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    server.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(&router, "/readyz").await.0 != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "ready again within 10 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(send(&router, "/hold").await.0, StatusCode::OK, "used again");
}

/// Runs a statement that takes a while, so that a restart finds sessions mid-query.
async fn query(State(database): State<Database>) -> Result<&'static str, Problem> {
    let mut connection = database.acquire().await?;
    connection.execute("SELECT pg_sleep(0.02)").await?;
    Ok("done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restarted_or_stopped_under_load_answers_503_never_500() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    let mut settings = settings(6, Duration::from_secs(1));
    settings.min_connections = 6;
    let pool = Database::connect(&settings, Some(&server.url()))
        .await
        .expect("connects");
    let router = Router::new()
        .route("/query", get(query))
        .with_state(pool.clone());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (router, stop) = (router.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers: Vec<(StatusCode, Option<String>)> = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    answers.push(send(&router, "/query").await);
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    // `pg_ctl restart -m fast`: sessions terminated mid-query, the server back at once.
    let restart = {
        let server = &server;
        move || {
            server.stop_fast();
            server.resume();
        }
    };
    tokio::task::block_in_place(restart);
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| server.stop_fast());
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| server.resume());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut by_status: std::collections::BTreeMap<u16, usize> = Default::default();
    let mut last = Vec::new();
    for task in load {
        let answers = task.await.unwrap();
        for (status, retry_after) in &answers {
            *by_status.entry(status.as_u16()).or_default() += 1;
            if *status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(retry_after.as_deref(), Some("1"), "503 says when to retry");
            }
        }
        last.extend(answers.last().cloned());
    }
    eprintln!("answers by status: {by_status:?}");
    assert_eq!(
        by_status.keys().copied().collect::<Vec<_>>(),
        [200, 503],
        "only 200 and 503 through a restart and a stop: {by_status:?}"
    );
    assert!(
        last.iter().all(|(status, _)| *status == StatusCode::OK),
        "served again once the server is back: {last:?}"
    );
}
