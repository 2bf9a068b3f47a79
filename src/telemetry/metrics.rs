//! The Prometheus registry and every metric AgentHub exports (SPEC §9), names exact.
//!
//! Served as OpenMetrics text at `/metrics`; counters carry the `_total` suffix there.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `rest` or `ws`.
    pub scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template, never a raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `idle` or `in_use`.
    pub state: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub ws_connections: Gauge,
    pub messages_sent: Counter,
    pub message_send_latency: Histogram,
    /// Messages committed together in one transaction by the write path (group commit).
    pub message_write_batch_size: Histogram,
    pub rate_limited: Family<ScopeLabels, Counter>,
    pub auth_failures: Counter,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_request_duration: Family<HttpRouteLabels, Histogram>,
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    pub db_up: Gauge,
    /// 1 when Redis answered the last check, 0 when not; absent without `REDIS_URL`.
    pub redis_up: Gauge,
    /// Redis commands and publishes that failed (the hub went on without them).
    pub redis_errors: Counter,
    /// Database (and Redis) probes run for readiness, metrics and the Socket.IO guard: at
    /// most about one a second, however many ask.
    pub readiness_probes: Counter,
    /// Adapter messages received from Redis and dropped (a full buffer or a lagging reader).
    pub redis_dropped_messages: Counter,
    /// Streams open on this node (SPEC §11).
    pub streams_open: Gauge,
    /// Streams that ended (`ended`: committed as a message) or were aborted.
    pub streams_total: Family<OutcomeLabels, Counter>,
    /// Calls between agents by outcome (SPEC §12): `ok`, `error`, `timeout`, `canceled`,
    /// `unavailable`.
    pub rpc_calls_total: Family<OutcomeLabels, Counter>,
    /// From `rpc:call` to its answer.
    pub rpc_call_duration: Histogram,
    /// `messages_sent` a second lately (`GET /api/v1/stats`), sampled by the app.
    pub message_rate: super::Rate,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ended` or `aborted` (streams); `ok`, `error`, `timeout`, `canceled`, `unavailable`
    /// (calls).
    pub outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let ws_connections = Gauge::default();
        registry.register(
            "ws_connections",
            "Connected Socket.IO sockets on this node",
            ws_connections.clone(),
        );
        let messages_sent = Counter::default();
        registry.register(
            "messages_sent",
            "Messages stored (socket, DM and REST)",
            messages_sent.clone(),
        );
        let message_send_latency = latency_histogram();
        registry.register(
            "message_send_latency_seconds",
            "From receipt of a send to its acknowledgement",
            message_send_latency.clone(),
        );
        // 1, 2, 4 … 256: the write path's largest batch.
        let message_write_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "message_write_batch_size",
            "Messages committed together in one transaction (group commit)",
            message_write_batch_size.clone(),
        );
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        // Both scopes are exported from the start, at zero.
        for scope in ["rest", "ws"] {
            let _ = rate_limited.get_or_create(&ScopeLabels { scope });
        }
        registry.register(
            "rate_limited",
            "Requests and events refused by a rate limit",
            rate_limited.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Refused credentials (REST, token exchange, handshakes)",
            auth_failures.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template and status",
            http_requests.clone(),
        );
        let http_request_duration = Family::<HttpRouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request durations by route template",
            http_request_duration.clone(),
        );
        let db_pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state, sampled at scrape",
            db_pool_connections.clone(),
        );
        let db_up = Gauge::default();
        registry.register(
            "db_up",
            "1 when the database answered the last scrape's ping",
            db_up.clone(),
        );
        let redis_up = Gauge::default();
        registry.register(
            "redis_up",
            "1 when Redis answered the last check (0 while it is down; 1 without REDIS_URL)",
            redis_up.clone(),
        );
        let redis_errors = Counter::default();
        registry.register(
            "redis_errors",
            "Redis commands and publishes that failed",
            redis_errors.clone(),
        );
        let readiness_probes = Counter::default();
        registry.register(
            "readiness_probes",
            "Database and Redis probes run for /readyz, /metrics and new Socket.IO sessions",
            readiness_probes.clone(),
        );
        let redis_dropped_messages = Counter::default();
        registry.register(
            "redis_dropped_messages",
            "Adapter messages from Redis dropped by a full buffer or a lagging reader",
            redis_dropped_messages.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "streams_open",
            "Streams open on this node",
            streams_open.clone(),
        );
        let streams_total = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["ended", "aborted"] {
            let _ = streams_total.get_or_create(&OutcomeLabels { outcome });
        }
        registry.register(
            "streams",
            "Streams that ended as a message or were aborted",
            streams_total.clone(),
        );
        let rpc_calls_total = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["ok", "error", "timeout", "canceled", "unavailable"] {
            let _ = rpc_calls_total.get_or_create(&OutcomeLabels { outcome });
        }
        registry.register(
            "rpc_calls",
            "Calls between agents by outcome",
            rpc_calls_total.clone(),
        );
        let rpc_call_duration = latency_histogram();
        registry.register(
            "rpc_call_duration_seconds",
            "From rpc:call to its answer",
            rpc_call_duration.clone(),
        );
        Self {
            registry,
            ws_connections,
            messages_sent,
            message_send_latency,
            message_write_batch_size,
            rate_limited,
            auth_failures,
            http_requests,
            http_request_duration,
            db_pool_connections,
            db_up,
            redis_up,
            redis_errors,
            readiness_probes,
            redis_dropped_messages,
            streams_open,
            streams_total,
            rpc_calls_total,
            rpc_call_duration,
            message_rate: super::Rate::default(),
        }
    }
}

/// The method as a label: the standard ones by name, anything a client made up as `other`,
/// so no client can add series (`curl -X XMETHOD1` would otherwise add one per name).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl Metrics {
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
    }

    pub fn message_sent(&self, latency: Duration) {
        self.messages_sent.inc();
        self.message_send_latency.observe(latency.as_secs_f64());
    }

    /// Records one HTTP request. `method` must be a bounded label ([`method_label`]).
    pub fn http_request(&self, method: &str, route: &str, status: u16, duration: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_request_duration
            .get_or_create(&HttpRouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
