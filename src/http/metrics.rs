//! `GET /metrics` (Prometheus/OpenMetrics text) and the HTTP request metrics.
//!
//! Requests are counted by route template: the REST router tags each response with its
//! matched route, and the outer tracker records it (so 429s from the rate limiter, which
//! answer before routing, count too, as `unmatched`). Socket.IO and `/metrics` are not counted.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::bearer;
use crate::error::Error;
use crate::telemetry::metrics::PoolLabels;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

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

/// Outer layer: counts and times every HTTP request except Socket.IO and `/metrics`.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/socket.io") || path == "/metrics" {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |r| r.0.as_str());
    state.metrics.http_request(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Compares secrets by their digests, so timing says nothing about the token.
fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    if let Some(token) = &state.settings.secrets.metrics_token
        && !bearer(req.headers()).is_some_and(|given| same_secret(given, token))
    {
        return Error::unauthorized().into_response();
    }
    let (open, idle) = state.hub.store.pool_stats();
    let m = &state.metrics;
    m.db_pool_connections
        .get_or_create(&PoolLabels { state: "idle" })
        .set(idle as i64);
    m.db_pool_connections
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(open).saturating_sub(idle as i64));
    m.db_up.set(i64::from(state.hub.store.ping().await.is_ok()));
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        m.render(),
    )
        .into_response()
}
