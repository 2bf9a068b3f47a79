//! `GET /metrics`: Prometheus/OpenMetrics text, optionally behind `METRICS_TOKEN`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::net::bearer;
use crate::state::AppState;
use crate::telemetry::metrics::PoolLabels;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
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
    let (open, idle) = state.hub.pool_stats();
    let m = &state.metrics;
    m.db_pool_connections
        .get_or_create(&PoolLabels { state: "idle" })
        .set(idle as i64);
    m.db_pool_connections
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(open).saturating_sub(idle as i64));
    // Sets `db_up` and `redis_up` (probed at most once a second).
    state.readiness.checks().await;
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
