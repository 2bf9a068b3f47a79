//! `message:send`, `dm:send`, `message:history`.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::hub::MessageInput;
use crate::model::RoomName;
use crate::store::RoomRow;

#[derive(Deserialize)]
pub struct SendRequest {
    room: String,
    #[serde(flatten)]
    message: MessageInput,
}

#[derive(Deserialize)]
pub struct DmRequest {
    to: String,
    #[serde(flatten)]
    message: MessageInput,
}

#[derive(Deserialize)]
pub struct HistoryRequest {
    room: String,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn send<A: Adapter>(ctx: &EventCtx<'_, A>, req: SendRequest) -> Result<Value> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let name = RoomName::parse(&req.room)?;
    caller.require_writer()?;
    if !ctx.session.has_joined(name.as_str()) {
        // A room the caller cannot see does not exist for it.
        ctx.state.hub.readable_room(&caller, name.as_str()).await?;
        return Err(Error::forbidden("join the room before sending to it"));
    }
    let row = ctx.state.hub.readable_room(&caller, name.as_str()).await?;
    post(ctx, &caller, &row, req.message).await
}

pub async fn dm<A: Adapter>(ctx: &EventCtx<'_, A>, req: DmRequest) -> Result<Value> {
    let caller = ctx.session.caller();
    caller.require_writer()?;
    // Refuse a bad message before the DM room is opened for it.
    req.message.validate(ctx.state.settings.max_message_bytes)?;
    let row = ctx.state.hub.dm_room(&caller, &req.to).await?;
    tracing::Span::current().record("room", row.0.name.as_str());
    post(ctx, &caller, &row, req.message).await
}

/// Stores the message, broadcasts it unless it repeats a `client_id`, and builds the ack.
async fn post<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    caller: &Caller,
    row: &RoomRow,
    message: MessageInput,
) -> Result<Value> {
    let hub = &ctx.state.hub;
    let posted = hub.post_message(caller, row, message, ctx.received).await?;
    if !posted.duplicate {
        hub.fanout
            .deliver(&row.0, &posted.message, Some(&ctx.session.sid))
            .await;
    }
    Ok(json!({"message": posted.message, "duplicate": posted.duplicate}))
}

pub async fn history<A: Adapter>(ctx: &EventCtx<'_, A>, req: HistoryRequest) -> Result<Value> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let row = ctx.state.hub.readable_room(&caller, &req.room).await?;
    let (messages, has_more) = ctx
        .state
        .hub
        .history(&row, req.before, req.after, req.limit)
        .await?;
    Ok(json!({"messages": messages, "has_more": has_more}))
}
