//! The code generated for a spec that declares a database and an HTTP client: the settings
//! are the spec's, the migrations are embedded byte for byte (raw-string delimiters in the SQL
//! included), and the services start and migrate on a fresh SQLite file.

use std::time::Duration;

use specjet::sqlx;
use specjet_compile_tests::connections::settings;

fn migration(name: &str) -> String {
    let path = format!(
        "{}/specs/connections-migrations/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_settings_are_the_specs() {
    let settings = settings();
    let database = settings.database.expect("declared");
    assert_eq!(database.max_connections, 4);
    assert_eq!(database.acquire_timeout, Duration::from_millis(750));
    assert_eq!(database.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(database.sqlite_file, "connections.sqlite3");
    let versions: Vec<_> = database
        .migrations
        .iter()
        .map(|m| (m.version, m.only))
        .collect();
    use specjet::database::Backend;
    assert_eq!(
        versions,
        [
            (1, None),
            (2, Some(Backend::Postgres)),
            (2, Some(Backend::Sqlite))
        ]
    );
    assert_eq!(database.migrations[0].sql, migration("1_hostile.sql"));
    let client = settings.http_client.expect("declared");
    assert_eq!(client.connect_timeout, Duration::from_secs(1));
    assert_eq!(client.timeout, Duration::from_secs(4));
    assert_eq!(client.max_idle_per_host, 8);
    assert_eq!(client.user_agent, "connections-test/1.0");
}

#[tokio::test]
async fn the_database_starts_and_migrates_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("specjet-connections-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/db.sqlite3?mode=rwc", dir.display());
    let declared = settings().database.expect("declared");
    let database = specjet::Database::connect(&declared, Some(&url))
        .await
        .expect("starts");
    sqlx::query("INSERT INTO notes DEFAULT VALUES")
        .execute(database.pool())
        .await
        .unwrap();
    let (body,): (String,) = sqlx::query_as("SELECT body FROM notes")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(body, "say \"#hi\"");
    sqlx::query("INSERT INTO serials DEFAULT VALUES")
        .execute(database.pool())
        .await
        .expect("the SQLite spelling of the table ran");
    let _ = std::fs::remove_dir_all(&dir);
}
