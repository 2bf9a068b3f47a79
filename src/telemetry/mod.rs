//! Logs (through `tracing`: human-readable lines in development, JSON lines in production),
//! traces over OTLP when configured, and metrics.

pub mod metrics;
pub mod otlp;
mod rate;

pub use metrics::{Metrics, OutcomeLabels};
pub use rate::Rate;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace pipeline alive; `shutdown` flushes it (dropping does not).
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {e}");
        }
    }
}

/// Crates whose debug and trace output holds what clients sent, word for word (tungstenite
/// logs every WebSocket message: CONNECT auth payloads with API keys, `auth:refresh` JWTs).
const PAYLOAD_LOGGERS: [&str; 2] = ["tungstenite", "tokio_tungstenite"];

/// Drops those crates' debug and trace events whatever `RUST_LOG` asks for: no key, JWT or
/// secret may reach the logs at any level.
fn no_payloads() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta: &tracing::Metadata<'_>| {
        *meta.level() <= tracing::Level::INFO
            || !PAYLOAD_LOGGERS
                .iter()
                .any(|crate_name| meta.target().starts_with(crate_name))
    })
}

/// Installs the global subscriber: logs filtered by `RUST_LOG` (default `info`), and spans
/// to OTLP when an endpoint is set. Call inside the Tokio runtime.
pub fn init(json_logs: bool) -> Result<Telemetry, String> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"))
    };
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match json_logs {
        true => logs
            .json()
            .with_filter(filter())
            .with_filter(no_payloads())
            .boxed(),
        false => logs
            .with_filter(filter())
            .with_filter(no_payloads())
            .boxed(),
    };
    let provider = otlp::provider()?;
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("agenthub"))
            // Our spans and sea-orm's statement spans; not every crate's internals.
            .with_filter(EnvFilter::new("agenthub=info,sea_orm=info"))
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Telemetry { provider })
}
