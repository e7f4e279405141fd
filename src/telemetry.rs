//! Log setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info`),
//! as text or as JSON lines (`--log-format`); and, with `--otlp-endpoint`
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), OpenTelemetry trace export over
//! OTLP/HTTP with protobuf.
//!
//! Spans exported: each request's `request` span (`http/mod.rs`: method,
//! path without the query, route, request id, client id), and, below it,
//! the `debug` spans of the flow entry points (`#[instrument(level =
//! "debug", skip_all)]`) and of every store operation (`store.<operation>`,
//! `crates/store/src/lib.rs`). Those carry no fields, so no secret.
//!
//! One global filter for both outputs ([`WithSpans`]): `RUST_LOG`'s, plus,
//! while exporting, the `debug` spans of `grantor` and `grantor_store`
//! (never their `debug` events). Without `--otlp-endpoint` it is
//! `RUST_LOG`'s alone, so the `debug` spans' callsites are switched off and
//! cost nothing. (Per-layer filters, the obvious alternative, lost `info`
//! lines next to filtered spans: tokio-rs/tracing#2704.)

use std::io::IsTerminal as _;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

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

/// The trace exporter, when one runs; [`Telemetry::shutdown`] sends the
/// spans still queued.
#[derive(Default)]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the trace exporter (a no-op without one).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces {
            if let Err(e) = provider.shutdown() {
                eprintln!("grantor: exporting the last traces failed: {e}");
            }
        }
    }
}

/// The OTLP/HTTP traces URL for a base endpoint (`http://collector:4318`),
/// as the OpenTelemetry specification builds it from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: `<endpoint>/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// Installs the subscriber. A second call (tests spawning several servers)
/// keeps the first one.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Telemetry, String> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.trim().is_empty()) else {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(fmt_layer(format))
            .try_init();
        return Ok(Telemetry::default());
    };
    let url = traces_url(endpoint.trim());
    // reqwest is built with rustls and no default crypto provider (see the
    // outbox): the exporter's client needs the process's one before it is built.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(&url)
        .build()
        .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("grantor")
                .build(),
        )
        .build();
    let filter = WithSpans {
        env: filter,
        spans: Targets::new()
            .with_target("grantor", tracing::Level::DEBUG)
            .with_target("grantor_store", tracing::Level::DEBUG),
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("grantor"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer(format))
        .with(otel)
        .try_init();
    tracing::info!(traces = %url, "exporting traces over OTLP/HTTP");
    Ok(Telemetry {
        traces: Some(provider),
    })
}

/// The log output: text or JSON lines on stderr.
fn fmt_layer<S>(format: LogFormat) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format.resolve() {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
        _ => fmt.boxed(),
    }
}

/// The global filter while exporting traces: `RUST_LOG`'s (`env`), and
/// also the spans (not events) that `spans` enables.
struct WithSpans {
    env: EnvFilter,
    spans: Targets,
}

impl WithSpans {
    fn wants_span(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_span() && self.spans.would_enable(metadata.target(), metadata.level())
    }
}

impl<S> tracing_subscriber::Layer<S> for WithSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants_span(metadata) {
            return Interest::always();
        }
        tracing_subscriber::Layer::<S>::register_callsite(&self.env, metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let env = tracing_subscriber::Layer::<S>::max_level_hint(&self.env)?;
        Some(env.max(LevelFilter::DEBUG))
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.wants_span(metadata) || self.env.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.env.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.env.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.env.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.env.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.env.on_close(id, ctx);
    }
}
