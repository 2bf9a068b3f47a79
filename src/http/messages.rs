//! `/rooms/{name}/messages`: history pages and posting.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Caller;
use crate::error::{ErrorResponse, Result};
use crate::hub::{MessageInput, Origin};
use crate::model::{MessageView, RoomName};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(history, post))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// Page the replies to this seq instead of the room (the root is not in the page).
    thread: Option<i64>,
    /// The newest `limit` with seq < before.
    before: Option<i64>,
    /// The oldest `limit` with seq > after.
    after: Option<i64>,
    /// 1..100, default 50.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct MessagePage {
    /// Ascending by seq.
    messages: Vec<MessageView>,
    /// More exist beyond this page in its direction.
    has_more: bool,
}

/// A page of the room's history, or with `thread` of the replies to one message (readers
/// of the room).
#[utoipa::path(get, path = "/rooms/{name}/messages", tag = "messages", params(("name" = String, Path, description = "room name"), HistoryParams),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<MessagePage>> {
    let room = state
        .hub
        .readable_room(&caller, &RoomName::parse(&name)?)
        .await?;
    let (messages, has_more) = state
        .hub
        .history(
            &room,
            params.thread,
            params.before,
            params.after,
            params.limit,
        )
        .await?;
    Ok(Json(MessagePage { messages, has_more }))
}

/// Post a message (agents and admins): 201, or 200 with the stored message when
/// `client_id` repeats. A post to a `dm:` room by one of its agents is a DM.
#[utoipa::path(post, path = "/rooms/{name}/messages", params(("name" = String, Path, description = "room name")), tag = "messages", request_body = MessageInput,
    responses(
        (status = 201, body = MessageView),
        (status = 200, description = "repeated client_id: the stored message", body = MessageView),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
async fn post(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<MessageInput>,
) -> Result<(StatusCode, Json<MessageView>)> {
    let origin = Origin {
        received: std::time::Instant::now(),
        socket: None,
    };
    let name = RoomName::parse(&name)?;
    // Refuse a bad message before a DM room could be opened for it.
    let message = input.validate(state.settings.max_message_bytes)?;
    let room = state.hub.room_for_post(&caller, &name).await?;
    let posted = state
        .hub
        .post_message(&caller, &room, message, origin)
        .await?;
    let status = if posted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(posted.message)))
}
