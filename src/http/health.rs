//! Liveness (`/healthz`) and readiness (`/readyz`) for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// 200 while the process runs.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers; 503 when it does not or while draining for shutdown.
/// Redis failing alone is 200 `degraded`: every node shares it, so taking them all out of
/// the load balancer would turn a degraded hub into a dead one.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let checks = state.readiness.checks().await;
    let database_ok = checks.database;
    let redis = match checks.redis {
        None => "disabled",
        Some(true) => "ok",
        Some(false) => "error",
    };
    let mut checks = json!({
        "database": if database_ok { "ok" } else { "error" },
        "redis": redis,
    });
    let draining = state.shutdown.is_cancelled();
    if draining {
        checks["shutdown"] = json!("draining");
    }
    if database_ok && !draining {
        let status = if redis == "error" {
            "degraded"
        } else {
            "ready"
        };
        (
            StatusCode::OK,
            Json(json!({"status": status, "checks": checks})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "checks": checks})),
        )
    }
}
