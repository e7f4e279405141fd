//! Log setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info`),
//! as text or as JSON lines (`--log-format`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines are written (`--log-format`, `GRANTOR_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Text when standard error is a terminal, JSON otherwise.
    #[default]
    Auto,
    /// One human-readable line per event, with its spans' fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's
    /// fields at the top level (`message` among them), `span` (the innermost)
    /// and `spans` (all, outermost first).
    Json,
}

impl LogFormat {
    /// `Auto` settled against standard error.
    pub fn resolve(self) -> Self {
        match self {
            LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests spawning several servers) keeps the first subscriber.
    let _ = match format.resolve() {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        _ => builder.try_init(),
    };
}
