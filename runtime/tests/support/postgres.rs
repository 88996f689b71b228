//! Databases for tests: a fresh database on the Postgres server of `DATABASE_URL`, a fresh
//! SQLite file, and a private Postgres server (initdb and pg_ctl on a free port of
//! 127.0.0.1) that a test may stop and start again. Shared by the runtime's tests and the
//! shop example's (included there with `#[path]`); it needs only std and the `psql`,
//! `initdb` and `pg_ctl` commands.
#![allow(dead_code)] // each test file uses its own share

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(name: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("specjet_{name}_{}_{n}", std::process::id())
}

/// A database that exists for one test; a Postgres one is dropped with it.
pub(crate) struct TestDatabase {
    /// Its URL, for `Database::connect`.
    pub(crate) url: String,
    /// `postgres` or `sqlite`, for messages.
    pub(crate) backend: &'static str,
    drop_with: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_with {
            let _ = psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

fn psql(url: &str, statement: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", statement])
        .output()
        .map_err(|error| format!("psql: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A fresh SQLite file in the temporary folder.
pub(crate) fn sqlite(name: &str) -> TestDatabase {
    let file = std::env::temp_dir().join(format!("{}.sqlite3", unique(name)));
    TestDatabase {
        url: format!("sqlite://{}?mode=rwc", file.display()),
        backend: "sqlite",
        drop_with: None,
        file: Some(file),
    }
}

/// A fresh database on the server of `DATABASE_URL`; `None` (said on stderr) without it.
pub(crate) fn postgres(name: &str) -> Option<TestDatabase> {
    let Some(admin) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped on Postgres: DATABASE_URL is not set");
        return None;
    };
    let name = unique(name);
    psql(&admin, &format!("CREATE DATABASE {name}")).expect("creates a test database");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Some(TestDatabase {
        url: format!("{base}/{name}"),
        backend: "postgres",
        drop_with: Some((admin.clone(), name)),
        file: None,
    })
}

/// A fresh SQLite file, and a fresh Postgres database when `DATABASE_URL` is set.
pub(crate) fn every_backend(name: &str) -> Vec<TestDatabase> {
    let mut databases = vec![sqlite(name)];
    databases.extend(postgres(name));
    databases
}

/// A Postgres server of the test's own, on a free port; stopped and removed on drop.
pub(crate) struct PrivatePostgres {
    root: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// initdb into a temporary folder and start the server; `None` (said on stderr) when
    /// the PostgreSQL binaries are not installed.
    pub(crate) fn start() -> Option<PrivatePostgres> {
        if Command::new("initdb").arg("--version").output().is_err() {
            eprintln!("skipped: the PostgreSQL binaries (initdb, pg_ctl) are not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let root = std::env::temp_dir().join(unique("pg"));
        std::fs::create_dir_all(&root).expect("creates the server's folder");
        // initdb refuses to run as root; the server then runs as `postgres`.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777))
            .expect("opens the folder to the server's user");
        let server = PrivatePostgres { root, port };
        let data = server.data();
        server
            .run(
                "initdb",
                &["-D", &data, "-U", "postgres", "--auth=trust", "-N"],
            )
            .expect("initdb");
        server.resume();
        Some(server)
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
        let mut command = if as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]);
            command
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .output()
            .map_err(|error| format!("{program}: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// The URL of its `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): connections drop mid-query.
    pub(crate) fn kill(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
        .expect("pg_ctl stop");
    }

    /// Stops the server as `pg_ctl stop -m fast` does: every session is terminated
    /// (`57P01`, "terminating connection due to administrator command"), mid-query or not.
    pub(crate) fn stop_fast(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
            .expect("pg_ctl stop");
    }

    /// Starts the server (again), on the same port, and waits until it accepts connections.
    pub(crate) fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.root.display()
        );
        let log = self.root.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )
        .expect("pg_ctl start");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
