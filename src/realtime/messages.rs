//! `message:send`, `dm:send`, `message:history`.

use std::sync::Arc;

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::protocol::{DmRequest, HistoryAck, HistoryRequest, SendAck, SendRequest};
use super::room_key;
use crate::error::{Error, Result};
use crate::hub::{Origin, Submitted};
use crate::model::{Room, RoomName};

/// Checks a `message:send` and queues it for the write path. The socket's worker answers it
/// once [`Submitted::posted`] resolves, and may submit the socket's next sends meanwhile.
pub async fn submit<A: Adapter>(ctx: &EventCtx<'_, A>, req: SendRequest) -> Result<Submitted> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let name = RoomName::parse(&req.room)?;
    caller.require_writer()?;
    let room = joined(ctx, &name).await?;
    let message = req.message.validate(ctx.state.settings.max_message_bytes)?;
    ctx.state
        .hub
        .submit_message(&caller, &room, message, origin(ctx))
        .await
}

/// The room as this socket joined it, while the socket is still in its broadcast room (a
/// removal from a private room takes it out of that on every node at once); `forbidden`
/// for a room it did not join, `not_found` for one the caller cannot see.
pub async fn joined<A: Adapter>(ctx: &EventCtx<'_, A>, name: &RoomName) -> Result<Arc<Room>> {
    match ctx.session.joined_room(name.as_str()) {
        Some(room) if in_broadcast_room(ctx, name.as_str()) => Ok(room),
        _ => {
            // A room the caller cannot see does not exist for it.
            let caller = ctx.session.caller();
            ctx.state.hub.readable_room(&caller, name).await?;
            Err(Error::forbidden("join the room first"))
        }
    }
}

/// Whether the socket is still in the room's broadcast room.
pub fn in_broadcast_room<A: Adapter>(ctx: &EventCtx<'_, A>, room: &str) -> bool {
    ctx.socket.rooms().contains(&room_key(room).into())
}

pub async fn dm<A: Adapter>(ctx: &EventCtx<'_, A>, req: DmRequest) -> Result<SendAck> {
    let caller = ctx.session.caller();
    caller.require_writer()?;
    // Refuse a bad message before the DM room is opened for it.
    let message = req.message.validate(ctx.state.settings.max_message_bytes)?;
    let room = ctx
        .state
        .hub
        .dm_room(&caller, &req.to, message.reply_to())
        .await?;
    tracing::Span::current().record("room", room.name.as_str());
    ctx.state
        .hub
        .post_message(&caller, &room, message, origin(ctx))
        .await
        .map(SendAck::from)
}

/// Posts from this socket, which gets the ack instead of a `message:new`.
pub fn origin<'a, A: Adapter>(ctx: &'a EventCtx<'_, A>) -> Origin<'a> {
    Origin {
        received: ctx.received,
        socket: Some(&ctx.session.sid),
    }
}

pub async fn history<A: Adapter>(ctx: &EventCtx<'_, A>, req: HistoryRequest) -> Result<HistoryAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let room = ctx
        .state
        .hub
        .readable_room(&caller, &RoomName::parse(&req.room)?)
        .await?;
    let (messages, has_more) = ctx
        .state
        .hub
        .history(&room, req.thread, req.before, req.after, req.limit)
        .await?;
    Ok(HistoryAck { messages, has_more })
}
