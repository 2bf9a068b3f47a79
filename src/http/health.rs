//! Liveness (`/healthz`) and readiness (`/readyz`) for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;

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
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database_ok = state.hub.store.ping().await.is_ok();
    let mut checks = json!({
        "database": if database_ok { "ok" } else { "error" },
        "redis": "disabled",
    });
    let draining = state.shutdown.is_cancelled();
    if draining {
        checks["shutdown"] = json!("draining");
    }
    if database_ok && !draining {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "checks": checks})),
        )
    }
}
