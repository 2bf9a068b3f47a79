//! `/rooms`: listing, creation, changes, private-room membership and presence.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ClientIp;
use super::extract::{ApiJson, ApiPath, ApiQuery, ListParams, encode_cursor};
use crate::auth::Caller;
use crate::error::{ErrorResponse, Result};
use crate::model::{MemberView, RoomName, RoomPatch, RoomView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rooms, create_room))
        .routes(routes!(get_room, update_room))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(presence))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RoomListParams {
    /// `true` lists archived rooms too.
    archived: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RoomList {
    rooms: Vec<RoomView>,
    next_cursor: Option<String>,
}

/// Rooms the caller may see, by name.
#[utoipa::path(get, path = "/rooms", tag = "rooms", params(RoomListParams),
    responses((status = 200, body = RoomList), (status = 400, body = ErrorResponse)))]
async fn list_rooms(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<RoomListParams>,
) -> Result<Json<RoomList>> {
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let page = state
        .hub
        .list_rooms(
            caller.viewer(),
            params.archived.unwrap_or(false),
            list.cursor()?.as_deref(),
            list.limit()?,
        )
        .await?;
    Ok(Json(RoomList {
        rooms: page.items.iter().map(|r| r.view()).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRoom {
    name: String,
    topic: Option<String>,
    #[serde(default)]
    private: bool,
}

/// Create a room (agents and admins).
#[utoipa::path(post, path = "/rooms", tag = "rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomView), (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn create_room(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<RoomView>)> {
    let room = state
        .hub
        .create_room(
            &caller,
            ip.actor(&caller),
            &body.name,
            body.topic.as_deref(),
            body.private,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(room.view())))
}

/// A room the caller may see.
#[utoipa::path(get, path = "/rooms/{name}", params(("name" = String, Path, description = "room name")), tag = "rooms",
    responses((status = 200, body = RoomView), (status = 404, body = ErrorResponse)))]
async fn get_room(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RoomView>> {
    let name = RoomName::parse(&name)?;
    Ok(Json(state.hub.readable_room(&caller, &name).await?.view()))
}

/// `null` clears the topic; absent leaves it.
fn some_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateRoom {
    #[serde(default, deserialize_with = "some_nullable")]
    #[schema(value_type = Option<String>)]
    topic: Option<Option<String>>,
    archived: Option<bool>,
}

/// Change a room's topic or archive it (its creator or an admin).
#[utoipa::path(patch, path = "/rooms/{name}", params(("name" = String, Path, description = "room name")), tag = "rooms", request_body = UpdateRoom,
    responses((status = 200, body = RoomView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_room(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateRoom>,
) -> Result<Json<RoomView>> {
    let patch = RoomPatch {
        topic: body.topic,
        archived: body.archived,
    };
    let name = RoomName::parse(&name)?;
    let room = state
        .hub
        .update_room(&caller, ip.actor(&caller), &name, patch)
        .await?;
    Ok(Json(room.view()))
}

/// Add a member to a private room (its creator or an admin): 204.
#[utoipa::path(put, path = "/rooms/{name}/members/{agent}", params(("name" = String, Path, description = "room name"), ("agent" = String, Path, description = "agent name")), tag = "rooms",
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((room, agent)): ApiPath<(String, String)>,
) -> Result<StatusCode> {
    let room = RoomName::parse(&room)?;
    state.hub.set_member(&caller, &room, &agent, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from a private room (its creator or an admin): 204.
#[utoipa::path(delete, path = "/rooms/{name}/members/{agent}", params(("name" = String, Path, description = "room name"), ("agent" = String, Path, description = "agent name")), tag = "rooms",
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((room, agent)): ApiPath<(String, String)>,
) -> Result<StatusCode> {
    let room = RoomName::parse(&room)?;
    state.hub.set_member(&caller, &room, &agent, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct MemberList {
    members: Vec<MemberView>,
}

/// Who is in the room now, ordered by agent name.
#[utoipa::path(get, path = "/rooms/{name}/presence", params(("name" = String, Path, description = "room name")), tag = "rooms",
    responses((status = 200, body = MemberList), (status = 404, body = ErrorResponse)))]
async fn presence(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<MemberList>> {
    let room = state
        .hub
        .readable_room(&caller, &RoomName::parse(&name)?)
        .await?;
    Ok(Json(MemberList {
        members: state.presence.members(room.name.as_str()).await,
    }))
}
