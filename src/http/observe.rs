//! Per-request observation: a server span (continuing an incoming W3C `traceparent`) and the
//! HTTP metrics, both keyed by the matched route template, never the raw path.
//!
//! The routers tag each response with its matched route (`tag_route`); the outer `observe`
//! layer reads it back, so requests answered before routing (a 429 from the rate limiter)
//! are recorded too, as `unmatched`. Socket.IO and `/metrics` requests are left out.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::state::AppState;
use crate::telemetry::otlp::remote_context;

/// The route template a response was produced by.
#[derive(Clone)]
struct RouteTemplate(String);

/// Inner layer: copies the matched route template into the response.
pub async fn tag_route(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Some(matched) = matched {
        response
            .extensions_mut()
            .insert(RouteTemplate(matched.as_str().to_owned()));
    }
    response
}

/// Outer layer: one server span and one metrics sample per HTTP request.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/socket.io") || path == "/metrics" {
        return next.run(req).await;
    }
    let method = crate::telemetry::metrics::method_label(req.method());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %method,
        otel.kind = "server",
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(remote_context(req.headers()));
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |r| r.0.as_str());
    let status = response.status().as_u16();
    // The name is known only now; the OpenTelemetry span has started, so rename it there.
    span.context()
        .span()
        .update_name(format!("{method} {route}"));
    span.record("http.route", route);
    span.record("http.response.status_code", status);
    state
        .metrics
        .http_request(method, route, status, started.elapsed());
    response
}
