//! `GET /api/v1/stats` (admins): the live numbers the dashboard shows, from what the server
//! already keeps — this node's connections and messages a second, and the hub's rooms and
//! agents.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ErrorResponse, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Serialize, ToSchema)]
struct Stats {
    /// Socket.IO sockets connected to this node.
    connections: i64,
    /// Messages stored through this node a second, over the last 10 s.
    messages_per_second: f64,
    /// Rooms of the hub, archived and DM rooms included.
    rooms: u64,
    /// Agents of the hub, disabled ones included.
    agents: u64,
}

/// Live numbers for the dashboard (admins).
#[utoipa::path(get, path = "/stats", tag = "observability",
    responses((status = 200, body = Stats), (status = 403, body = ErrorResponse)))]
async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Json<Stats>> {
    caller.require_admin()?;
    let rate = state.metrics.message_rate.per_second();
    Ok(Json(Stats {
        connections: state.metrics.ws_connections.get(),
        messages_per_second: (rate * 10.0).round() / 10.0,
        rooms: state.hub.count_rooms().await?,
        agents: state.hub.count_agents().await?,
    }))
}
