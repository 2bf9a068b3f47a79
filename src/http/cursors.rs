//! Read cursors over REST (SPEC §11): `PUT /rooms/{name}/cursor`,
//! `GET /rooms/{name}/cursors`, `GET /me/unread`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::{Error, ErrorResponse, Result};
use crate::model::{AgentCursorView, CursorView, RoomName, UnreadView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_cursor))
        .routes(routes!(room_cursors))
        .routes(routes!(unread))
}

#[derive(Debug, Deserialize, ToSchema)]
struct SetCursor {
    /// Read up to this seq (at most the room's `last_seq`); a lower one leaves the cursor.
    seq: i64,
}

#[derive(Serialize, ToSchema)]
struct CursorList {
    cursors: Vec<AgentCursorView>,
}

#[derive(Serialize, ToSchema)]
struct UnreadList {
    rooms: Vec<UnreadView>,
}

/// Move the caller's read cursor forward (readers of the room); answers the stored cursor.
#[utoipa::path(put, path = "/rooms/{name}/cursor", params(("name" = String, Path, description = "room name")), tag = "cursors", request_body = SetCursor,
    responses((status = 200, body = CursorView), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn set_cursor(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<CursorView>> {
    // Through a map: a one-field struct would also take the array `[seq]`.
    let body: SetCursor = serde_json::from_value(body.into())
        .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))?;
    let room = state
        .hub
        .readable_room(&caller, &RoomName::parse(&name)?)
        .await?;
    Ok(Json(
        state.hub.set_cursor(&caller, &room, body.seq, None).await?,
    ))
}

/// Every agent's read cursor in the room, by agent name (readers of the room).
#[utoipa::path(get, path = "/rooms/{name}/cursors", params(("name" = String, Path, description = "room name")), tag = "cursors",
    responses((status = 200, body = CursorList), (status = 404, body = ErrorResponse)))]
async fn room_cursors(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<CursorList>> {
    let room = state
        .hub
        .readable_room(&caller, &RoomName::parse(&name)?)
        .await?;
    Ok(Json(CursorList {
        cursors: state.hub.room_cursors(&room).await?,
    }))
}

/// Unread counts of every room the caller is a member of or has a cursor in, by room name.
#[utoipa::path(get, path = "/me/unread", tag = "cursors",
    responses((status = 200, body = UnreadList)))]
async fn unread(State(state): State<AppState>, caller: Caller) -> Result<Json<UnreadList>> {
    Ok(Json(UnreadList {
        rooms: state.hub.unread(&caller).await?,
    }))
}
