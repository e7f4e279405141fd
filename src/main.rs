use grantor::config::Command;
use grantor::{telemetry, Application, Config};

/// mimalloc instead of glibc's allocator: cheaper per allocation on the
/// request path, and it returns freed memory to the system instead of
/// keeping every arena's high-water mark (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match grantor::config_file::parse() {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("grantor: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    // Installed before anything else, so an early SIGTERM still exits
    // cleanly and an early SIGHUP does not end the process.
    let shutdown = grantor::app::shutdown_signal();
    let hangups = grantor::tls::hangups();
    match cli.command {
        Command::Serve(args) => {
            let telemetry = match telemetry::init(args.log_format, args.otlp_endpoint.as_deref()) {
                Ok(t) => t,
                Err(message) => {
                    eprintln!("grantor: {message}");
                    return std::process::ExitCode::from(2);
                }
            };
            let config = match Config::from_args(args) {
                Ok(c) => c,
                Err(message) => {
                    eprintln!("grantor: {message}");
                    return std::process::ExitCode::from(2);
                }
            };
            let result = async {
                let app = Application::build(config).await?;
                tracing::info!(issuer = %app.issuer().as_str(), "listening on {}", app.local_addr());
                app.run(shutdown, Some(hangups)).await
            }
            .await;
            if let Err(e) = result.as_ref() {
                tracing::error!("grantor stopped: {e:#}");
            }
            // The spans still queued are sent before the process exits.
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(_) => std::process::ExitCode::FAILURE,
            }
        }
    }
}
