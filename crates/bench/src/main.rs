//! `grantor-bench`: the load benchmark's seeder and load generator.
//!
//! `scripts/bench-load` runs the whole benchmark (both servers, both
//! databases); this binary does the two parts that need code:
//!
//! - `seed-grantor` prepares a running grantor and writes a fixture;
//! - `run` drives one workload against whatever server a fixture names,
//!   with N closed-loop connections for a fixed window, and reports
//!   throughput, latency percentiles, the server's CPU and its peak RSS.

mod fixture;
mod http;
mod procfs;
mod seed;
mod workloads;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use fixture::Fixture;
use workloads::{Window, Workload};

#[derive(Parser)]
#[command(about = "grantor's load benchmark: seeder and load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed a running grantor and write the fixture.
    SeedGrantor(seed::SeedArgs),
    /// Run workloads against the server a fixture names.
    Run(RunArgs),
    /// Time bulk revocations (`DELETE /api/v2/users/{id}/refresh-tokens`),
    /// one call at a time, for the users the fixture lists.
    BulkRevoke(BulkArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long)]
    fixture: std::path::PathBuf,
    /// Workloads, comma-separated: client-credentials:RS256,
    /// client-credentials:EdDSA, refresh:RS256, refresh:EdDSA, revoke,
    /// authorization-code.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 25.0)]
    duration: f64,
    /// Seconds sent but not measured before each window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// The server's process, for CPU and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also count the CPU of this process and its children, living and
    /// exited (PostgreSQL's postmaster, when the database shares the
    /// server's core).
    #[arg(long)]
    cpu_also_tree: Option<u32>,
    /// Appends one JSON line per workload here.
    #[arg(long)]
    results: Option<std::path::PathBuf>,
    /// A label for the results (e.g. the stored-token count).
    #[arg(long, default_value = "")]
    label: String,
    /// Requests a second in all connections together (default: as fast as
    /// they go); a soak runs at a fixed rate.
    #[arg(long)]
    rate: Option<f64>,
    /// Every this many seconds, count the rows of the growing tables
    /// (`Store::table_sizes`, through `--database-url`) and the server's
    /// RSS; each sample is printed and appended to the results.
    #[arg(long)]
    sample_seconds: Option<f64>,
    #[arg(long)]
    database_url: Option<String>,
    /// The revoke workload starts at this token of the fixture's list, so a
    /// second run against the same server revokes tokens the first did not.
    #[arg(long, default_value_t = 0)]
    revoke_skip: usize,
}

#[derive(clap::Args)]
struct BulkArgs {
    #[arg(long)]
    fixture: std::path::PathBuf,
    #[arg(long)]
    results: Option<std::path::PathBuf>,
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the generator has one core of its own and must not
    // compete with the server for the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::SeedGrantor(args) => seed::seed(args).await,
            Command::Run(args) => run(args).await,
            Command::BulkRevoke(args) => bulk_revoke(args).await,
        }
    })
}

/// The CPU seconds of the server (and of the process tree counted with it).
#[derive(Clone)]
struct CpuProbe {
    pid: Option<u32>,
    tree: Option<u32>,
}

impl CpuProbe {
    fn seconds(&self) -> f64 {
        self.pid.map(procfs::cpu_seconds).unwrap_or(0.0)
            + self.tree.map(procfs::tree_cpu_seconds).unwrap_or(0.0)
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    match (args.sample_seconds, &args.database_url) {
        (Some(every), Some(_)) if every.is_finite() && every > 0.0 => {}
        (Some(_), Some(_)) => anyhow::bail!("--sample-seconds must be a positive number"),
        (Some(_), None) => anyhow::bail!("--sample-seconds needs --database-url"),
        (None, _) => {}
    }
    if args.rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        anyhow::bail!("--rate must be a positive number");
    }
    let mut loaded = Fixture::load(&args.fixture).context("reading the fixture")?;
    let skip = args.revoke_skip.min(loaded.revoke.tokens.len());
    loaded.revoke.tokens.drain(..skip);
    let mut fixture = Arc::new(loaded);
    let mut failed = false;
    let probe = CpuProbe {
        pid: args.server_pid,
        tree: args.cpu_also_tree,
    };
    for name in &args.workloads {
        let workload = Workload::parse(name)?;
        let window = Arc::new(
            Window::new(
                Duration::from_secs_f64(args.warmup),
                Duration::from_secs_f64(args.duration),
            )
            .paced(args.rate),
        );
        let storage = match (&args.database_url, args.sample_seconds) {
            (Some(url), Some(every)) => Some(tokio::spawn(sample_storage(
                url.clone(),
                Duration::from_secs_f64(every),
                window.clone(),
                args.server_pid,
                json!({"target": fixture.target, "label": args.label, "workload": "storage",
                       "during": workload.name(), "rate": args.rate}),
                args.results.clone(),
            ))),
            _ => None,
        };
        // CPU and peak RSS are sampled when the measured window starts.
        let sampler = {
            let window = window.clone();
            let pid = args.server_pid;
            let probe = probe.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(window.measure_from.into()).await;
                if let Some(pid) = pid {
                    procfs::reset_peak_rss(pid);
                }
                let cpu = probe.seconds();
                (Instant::now(), cpu)
            })
        };
        let mut tally =
            workloads::run(fixture.clone(), &workload, args.connections, window.clone()).await?;
        let finished = Instant::now();
        let cpu_end = probe.seconds();
        if let Some(storage) = storage {
            storage.await??;
        }
        if let Workload::Refresh(alg) = &workload {
            // The chains moved on: the next run presents their current tokens.
            let mut moved = (*fixture).clone();
            if let Some(chains) = moved.refresh.get_mut(alg) {
                for (index, token) in &tally.chain_heads {
                    chains.tokens[*index] = token.clone();
                }
            }
            moved.save(&args.fixture)?;
            fixture = Arc::new(moved);
        }
        let (measured_from, cpu_start) = sampler.await?;
        let elapsed = finished
            .min(window.end)
            .saturating_duration_since(measured_from)
            .as_secs_f64()
            .max(1e-9);
        if tally.ok == 0 && tally.exhausted && tally.first_error.is_none() {
            tally.first_error = Some("the tokens ran out during the warm-up".to_owned());
        }
        let h = &tally.histogram;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let throughput = tally.ok as f64 / elapsed;
        let cpu = (cpu_end - cpu_start) / elapsed;
        let peak_rss_mib = args
            .server_pid
            .map(|p| procfs::peak_rss_kib(p) as f64 / 1024.0);
        let rss_mib = args.server_pid.map(|p| procfs::rss_kib(p) as f64 / 1024.0);
        let record = json!({
            "target": fixture.target,
            "label": args.label,
            "workload": workload.name(),
            "connections": args.connections,
            "seconds": elapsed,
            "ok": tally.ok,
            "errors": tally.errors,
            "first_error": tally.first_error,
            "exhausted": tally.exhausted,
            "throughput": throughput,
            "p50_ms": ms(0.50),
            "p90_ms": ms(0.90),
            "p99_ms": ms(0.99),
            "max_ms": h.max() as f64 / 1000.0,
            "server_cpu_cores": cpu,
            "cpu_ms_per_request": if tally.ok > 0 { cpu * 1000.0 / throughput } else { 0.0 },
            "peak_rss_mib": peak_rss_mib,
            "rss_after_mib": rss_mib,
        });
        println!(
            "{:<28} {:<26} {:>9.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  cpu {:>4.2}  peak rss {:>6.0} MiB  errors {}{}",
            fixture.target,
            workload.name(),
            throughput,
            ms(0.50),
            ms(0.99),
            cpu,
            peak_rss_mib.unwrap_or(0.0),
            tally.errors,
            if tally.exhausted { " (tokens ran out)" } else { "" },
        );
        if let Some(e) = &tally.first_error {
            println!("  first error: {e}");
        }
        failed |= tally.errors > 0 || tally.ok == 0;
        append_result(args.results.as_deref(), &record)?;
    }
    if failed {
        anyhow::bail!("some requests failed");
    }
    Ok(())
}

/// Appends one JSON line to the results file, if there is one.
fn append_result(path: Option<&std::path::Path>, record: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(path) = path {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{record}")?;
    }
    Ok(())
}

/// Samples the growing tables' row counts and the server's RSS every
/// `every` until the window ends (and once more at its end).
async fn sample_storage(
    database_url: String,
    every: Duration,
    window: Arc<Window>,
    server_pid: Option<u32>,
    base: serde_json::Value,
    results: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let store = grantor_store::Store::connect(&database_url)
        .await
        .context("opening the database to sample its tables")?;
    let started = Instant::now();
    loop {
        let at = Instant::now();
        let sizes = store.table_sizes().await?;
        let rss = server_pid.map(|p| procfs::rss_kib(p) as f64 / 1024.0);
        let seconds = at.duration_since(started).as_secs_f64();
        println!(
            "  storage at {seconds:>5.0} s: families {:>9}  secrets {:>9}  access tokens {:>9}  sessions {:>7}  logs {:>9}  rss {:>5.0} MiB",
            sizes.refresh_token_families,
            sizes.refresh_token_secrets,
            sizes.access_tokens,
            sizes.sessions,
            sizes.logs,
            rss.unwrap_or(0.0)
        );
        let mut record = base.clone();
        record["seconds"] = json!(seconds);
        record["sizes"] = serde_json::to_value(&sizes)?;
        record["rss_mib"] = json!(rss);
        append_result(results.as_deref(), &record)?;
        if at >= window.end {
            break;
        }
        tokio::time::sleep_until((Instant::now() + every).min(window.end).into()).await;
    }
    store.close().await;
    Ok(())
}

async fn bulk_revoke(args: BulkArgs) -> anyhow::Result<()> {
    let fixture = Fixture::load(&args.fixture)?;
    let bulk = fixture
        .bulk_revoke
        .clone()
        .context("this fixture has no bulk revocation")?;
    let mut conn = http::Connection::open(&fixture.base_url).await?;
    for (user, tokens) in &bulk.users {
        let path = format!(
            "/api/v2/users/{}/refresh-tokens",
            url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
        );
        let started = Instant::now();
        let answer = conn
            .json(
                hyper::Method::DELETE,
                &path,
                Some(&bulk.management_token),
                None,
            )
            .await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !answer.status.is_success() {
            anyhow::bail!(
                "{path}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        // The effect, not only the status: the user has no live token left.
        let listed = conn
            .json(
                hyper::Method::GET,
                &path,
                Some(&bulk.management_token),
                None,
            )
            .await?;
        let body: serde_json::Value = serde_json::from_slice(&listed.body)?;
        let left = body["tokens"].as_array().map_or(usize::MAX, Vec::len);
        println!(
            "{:<28} bulk revoke of {user}'s {tokens} refresh tokens: {ms:.2} ms ({}), {left} left",
            fixture.target, answer.status
        );
        if left != 0 {
            anyhow::bail!("{user} still lists {left} tokens after the revocation");
        }
        append_result(
            args.results.as_deref(),
            &json!({"target": fixture.target, "label": args.label, "workload": "bulk-revoke",
                       "tokens": tokens, "latency_ms": ms, "status": answer.status.as_u16()}),
        )?;
    }
    Ok(())
}
