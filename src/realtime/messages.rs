//! `message:send`, `dm:send`, `message:history`.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use crate::error::{Error, Result};
use crate::hub::MessageInput;
use crate::model::RoomName;

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
    let posted = ctx
        .state
        .hub
        .post_message(&caller, &row, req.message)
        .await?;
    if !posted.duplicate {
        ctx.state
            .hub
            .fanout
            .deliver(&row.0, &posted.message, Some(ctx.socket.id))
            .await;
    }
    Ok(json!({"message": posted.message, "duplicate": posted.duplicate}))
}

pub async fn dm<A: Adapter>(ctx: &EventCtx<'_, A>, req: DmRequest) -> Result<Value> {
    let caller = ctx.session.caller();
    let row = ctx.state.hub.dm_room(&caller, &req.to).await?;
    tracing::Span::current().record("room", row.0.name.as_str());
    let posted = ctx
        .state
        .hub
        .post_message(&caller, &row, req.message)
        .await?;
    if !posted.duplicate {
        ctx.state
            .hub
            .fanout
            .deliver(&row.0, &posted.message, Some(ctx.socket.id))
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
