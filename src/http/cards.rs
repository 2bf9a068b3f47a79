//! Agent cards over REST (SPEC §12): `PUT`/`GET /agents/{name}/card`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::{ErrorResponse, Result};
use crate::hub::CardInput;
use crate::model::CardView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_card, put_card))
}

/// Publish (replace) an agent's card: admins, or the agent itself.
#[utoipa::path(put, path = "/agents/{name}/card", params(("name" = String, Path, description = "agent name")), tag = "agents", request_body = CardInput,
    responses((status = 200, body = CardView), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
async fn put_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<CardInput>,
) -> Result<Json<CardView>> {
    Ok(Json(state.hub.put_card(&caller, &name, input).await?))
}

/// An agent's card (any caller); 404 when the agent has published none.
#[utoipa::path(get, path = "/agents/{name}/card", params(("name" = String, Path, description = "agent name")), tag = "agents",
    responses((status = 200, body = CardView), (status = 404, body = ErrorResponse)))]
async fn get_card(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<CardView>> {
    Ok(Json(state.hub.card(&name).await?))
}
