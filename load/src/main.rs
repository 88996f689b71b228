//! `specjet-load SPEC --url URL`: a load test from an OpenAPI document. It calls the
//! document's operations (reads; writes with `--writes`) with requests made valid from the
//! spec, through specjet's client, at a fixed number of connections or a fixed rate, and ends
//! with a table per operation judged against its `x-slo`: the exit status is 1 when an
//! objective is missed, so that CI can fail on it. Only loopback addresses are accepted.

mod drive;
mod plan;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use specjet::client::{Client, Http, Retry};

/// A load test of the service SPEC describes, judged against its `x-slo` objectives.
#[derive(Debug, Parser)]
#[command(name = "specjet-load", version)]
struct Args {
    /// The OpenAPI document (YAML or JSON).
    spec: PathBuf,
    /// The service's origin (`http://127.0.0.1:8080`); loopback only.
    #[arg(long)]
    url: String,
    /// How long to measure (`30s`, `2m`).
    #[arg(long, default_value = "10s", value_parser = duration)]
    duration: Duration,
    /// How long to send before measuring (connections open, caches fill).
    #[arg(long, default_value = "1s", value_parser = duration)]
    warmup: Duration,
    /// Calls in flight at all times; with `--rate`, the most in flight at once.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Calls a second, whatever the service does (latency counts from when a call should
    /// have been sent); without it, as fast as `--connections` allow.
    #[arg(long)]
    rate: Option<f64>,
    /// Only these operations (`operationId`s, comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Call writes too (POST, PUT, PATCH, DELETE), not only reads.
    #[arg(long)]
    writes: bool,
    /// A header sent with every call (`X-API-Key: ...`); repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// How long a call may take before it counts as timed out.
    #[arg(long, default_value = "10s", value_parser = duration)]
    timeout: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

// glibc's allocator is a fifth of a call's client-side cost; mimalloc's is a fraction of it.
#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

fn duration(text: &str) -> Result<Duration, String> {
    specjet_model::duration::parse(text)
}

/// Whether `url` names this machine (the only place a load test may be pointed at).
fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("an objective was missed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// The run `args` ask for: whether every objective was met, or why it could not run.
fn run(args: &Args) -> Result<bool, String> {
    if !is_loopback(&args.url) {
        return Err(format!(
            "{} is not a loopback address (127.0.0.1, ::1, localhost)",
            args.url
        ));
    }
    let analysis = specjet_generator::analyze(&args.spec).map_err(|diagnostics| {
        for diagnostic in diagnostics.items() {
            eprintln!("{diagnostic}");
        }
        format!("cannot read {}", args.spec.display())
    })?;
    let selection = plan::Selection {
        only: args.only.clone(),
        writes: args.writes,
    };
    let (targets, left_out) = plan::targets(&analysis.api, &selection);
    for (id, why) in &left_out {
        eprintln!("not called: {id} ({why})");
    }
    if targets.is_empty() {
        return Err("no operation to call".to_owned());
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    let client = client(args)?;
    let pace = match args.rate {
        Some(per_second) => drive::Pace::Rate {
            per_second,
            in_flight: args.connections,
        },
        None => drive::Pace::Connections(args.connections),
    };
    eprintln!(
        "calling {} operation{} of {} at {} for {:?} (after {:?} of warm-up)",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        args.url,
        match args.rate {
            Some(rate) => format!("{rate} calls/s"),
            None => format!("{} connections", args.connections),
        },
        args.duration,
        args.warmup
    );
    let record = runtime.block_on(drive::run(
        client,
        targets.clone(),
        pace,
        args.warmup,
        args.duration,
        |elapsed, calls, failed| {
            eprintln!(
                "{:>5}s {calls:>10} calls {failed:>8} failed",
                elapsed.as_secs()
            );
        },
    ));
    print!("{}", report::table(&targets, &record));
    if let Some(path) = &args.json {
        let text = report::json(&targets, &record).to_string();
        std::fs::write(path, text)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(report::all_met(&targets, &record))
}

/// The client of the run: retries and revalidation off (each call is one measured call),
/// the run's deadline and headers.
fn client(args: &Args) -> Result<Client, String> {
    let transport = Http::new(&args.url).map_err(|error| error.to_string())?;
    let mut client = Client::new(transport)
        .with_retry(Retry::never())
        .with_cache(0)
        .with_timeout(args.timeout);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("a header is `NAME: VALUE`, not {header:?}"))?;
        client = client.with_header(name.trim(), value.trim());
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_this_machine_is_a_target() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://[::1]:8080/base"));
        assert!(is_loopback("http://localhost:3000"));
        assert!(!is_loopback("http://10.0.0.1:8080"));
        assert!(!is_loopback("https://example.com"));
        assert!(!is_loopback("127.0.0.1:8080"));
    }
}
