//! The regeneration workflow as a user lives it: `specjet init` a crate, build and run it
//! (every operation answers 501), change the spec, regenerate, and read the compiler errors
//! that name the new operation and the handler that no longer fits.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn specjet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_specjet"))
        .args(args)
        .output()
        .expect("specjet runs")
}

/// The workspace's target directory, so the scaffolded crate reuses compiled dependencies.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
}

fn cargo_build(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

/// Starts a built service on a free port of 127.0.0.1; its process and the address it
/// printed once bound.
fn serve(mut command: Command) -> (std::process::Child, String) {
    let mut child = command
        .env("ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the service starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("the service prints its address");
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_owned();
    (child, addr)
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn init_build_run_change_regenerate() {
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("openapi.yaml");
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/petstore.yaml"),
    )
    .unwrap();
    std::fs::write(&spec, &original).unwrap();
    let dir = work.path().join("pets");
    let (spec_arg, dir_arg) = (spec.display().to_string(), dir.display().to_string());

    let init = specjet(&["init", &spec_arg, &dir_arg]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        specjet(&["init", &spec_arg, &dir_arg]).status.code() == Some(1),
        "refuses a non-empty directory"
    );

    // A handler written against the spec as it is: petId is an integer.
    let handlers = dir.join("src/handlers.rs");
    // With a handler attribute too: the scaffold's impl names the trait so that the
    // attribute's policy hook finds `OperationId`.
    let written = std::fs::read_to_string(&handlers)
        .unwrap()
        .replacen(
            "_request: operations::show_pet_by_id::Request,\n    ) -> operations::show_pet_by_id::Response {\n        specjet::Problem::not_implemented(\"showPetById\").into()",
            "request: operations::show_pet_by_id::Request,\n    ) -> operations::show_pet_by_id::Response {\n        let next: i64 = request.pet_id + 1;\n        specjet::Problem::not_implemented(&format!(\"showPetById {next}\")).into()",
            1,
        )
        .replacen(
            "    async fn show_pet_by_id(",
            "    #[timeout(\"5s\")]\n    async fn show_pet_by_id(",
            1,
        );
    assert!(
        written.contains("request.pet_id + 1") && written.contains("#[timeout(\"5s\")]"),
        "the scaffold's handler shape changed"
    );
    std::fs::write(&handlers, written).unwrap();

    let build = cargo_build(&dir);
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    // It serves at once: every operation answers 501 problem+json.
    // The spec's API keys come from the environment (`x-specjet.security`): the service does
    // not start without them.
    let mut pets = Command::new(target_dir().join("debug/pets"));
    pets.env_remove("REDIS_URL").env(
        "PETSTORE_API_KEYS",
        "staff:db79e91d2d3c2370ea45699cf00a5fde04897dd9b59d5f8d5d12db2d53794b2e",
    );
    let (mut child, addr) = serve(pets);
    let reply = http_get(&addr, "/pets");
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 501"), "{reply}");
    assert!(
        reply.contains("application/problem+json") && reply.contains("listPets"),
        "{reply}"
    );

    // The spec changes: a new operation, and petId becomes a string.
    let changed = original
        .replace("        schema:\n          type: integer\n          format: int64\n    get:", "        schema:\n          type: string\n    get:")
        .replace(
            "components:\n",
            "  /pets/{petId}/adopt:\n    post:\n      operationId: adoptPet\n      parameters:\n        - {name: petId, in: path, required: true, schema: {type: string}}\n      responses:\n        '204': {description: Adopted.}\ncomponents:\n",
        );
    assert_ne!(changed, original);
    std::fs::write(&spec, changed).unwrap();
    let regenerate = specjet(&[
        "generate",
        &spec_arg,
        "-o",
        &dir.join("src/api").display().to_string(),
    ]);
    assert!(
        regenerate.status.success(),
        "{}",
        String::from_utf8_lossy(&regenerate.stderr)
    );
    assert!(
        std::fs::read_to_string(&handlers)
            .unwrap()
            .contains("request.pet_id + 1"),
        "generate never touches handlers.rs"
    );

    let broken = cargo_build(&dir);
    assert!(!broken.status.success());
    let errors = String::from_utf8_lossy(&broken.stderr);
    assert!(
        errors.contains("adoptPet") && errors.contains("adopt_pet"),
        "the new operation is named:\n{errors}"
    );
    assert!(
        errors.contains("src/handlers.rs") && errors.contains("request.pet_id + 1"),
        "the changed handler is shown:\n{errors}"
    );
}

/// A spec with `x-specjet.database` and `x-specjet.http-client`: `init` writes a crate with
/// the runtime's features for both, whose `main` starts the services first and hands their
/// handles to the handlers' state; it runs on an embedded SQLite file with no environment at
/// all, and a database it cannot reach ends the start with exit code 1.
#[test]
fn init_a_database_service_that_starts_anywhere() {
    let work = tempfile::tempdir().unwrap();
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let spec = work.path().join("shop.yaml");
    // The shop, with an HTTP client declared too.
    let shop = std::fs::read_to_string(specs.join("shop.yaml")).unwrap();
    let with_client = shop.replacen(
        "x-specjet:\n",
        "x-specjet:\n  http-client: {timeout: 5s}\n",
        1,
    );
    assert_ne!(shop, with_client);
    std::fs::write(&spec, with_client).unwrap();
    std::fs::create_dir(work.path().join("shop-migrations")).unwrap();
    for entry in std::fs::read_dir(specs.join("shop-migrations")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            work.path()
                .join("shop-migrations")
                .join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let dir = work.path().join("store");
    let init = specjet(&[
        "init",
        &spec.display().to_string(),
        &dir.display().to_string(),
    ]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("features = [\"database\", \"http-client\", \"jwt\"]"),
        "{manifest}"
    );
    let build = cargo_build(&dir);
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    // No DATABASE_URL: an SQLite file in the working directory, migrated at start.
    let run_dir = work.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let mut store = Command::new(target_dir().join("debug/store"));
    store
        .current_dir(&run_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("SHOP_JWT_SECRET", "the-workflow-test-signing-key");
    let (mut child, addr) = serve(store);
    let ready = http_get(&addr, "/readyz");
    let products = http_get(&addr, "/products");
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(products.starts_with("HTTP/1.1 501"), "{products}");
    assert!(
        run_dir.join("shop.sqlite3").exists(),
        "the embedded database file"
    );

    // A database it cannot reach: a message and exit code 1, after a bounded wait.
    let unreachable = Command::new(target_dir().join("debug/store"))
        .current_dir(&run_dir)
        .env("ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/shop")
        .env("DATABASE_CONNECT_TIMEOUT", "300ms")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains("cannot start: cannot connect to the database at `postgres://postgres@127.0.0.1:1/shop`"),
        "{stderr}"
    );
}
