//! `message:send`, `dm:send`, `message:history`.

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::protocol::{DmRequest, HistoryAck, HistoryRequest, SendAck, SendRequest};
use super::room_key;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::hub::{Origin, Posted, ValidMessage};
use crate::model::{Room, RoomName};

pub async fn send<A: Adapter>(ctx: &EventCtx<'_, A>, req: SendRequest) -> Result<SendAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let name = RoomName::parse(&req.room)?;
    caller.require_writer()?;
    // The room as this socket joined it, while the socket is still in its broadcast room: a
    // removal from a private room takes it out of that on every node at once.
    let room = match ctx.session.joined_room(name.as_str()) {
        Some(room) if ctx.socket.rooms().contains(&room_key(name.as_str()).into()) => room,
        _ => {
            // A room the caller cannot see does not exist for it.
            ctx.state.hub.readable_room(&caller, &name).await?;
            return Err(Error::forbidden("join the room before sending to it"));
        }
    };
    let message = req.message.validate(ctx.state.settings.max_message_bytes)?;
    post(ctx, &caller, &room, message).await
}

pub async fn dm<A: Adapter>(ctx: &EventCtx<'_, A>, req: DmRequest) -> Result<SendAck> {
    let caller = ctx.session.caller();
    caller.require_writer()?;
    // Refuse a bad message before the DM room is opened for it.
    let message = req.message.validate(ctx.state.settings.max_message_bytes)?;
    let room = ctx.state.hub.dm_room(&caller, &req.to).await?;
    tracing::Span::current().record("room", room.name.as_str());
    post(ctx, &caller, &room, message).await
}

/// Posts from this socket, which gets the ack instead of a `message:new`.
async fn post<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    caller: &Caller,
    room: &Room,
    message: ValidMessage,
) -> Result<SendAck> {
    let origin = Origin {
        received: ctx.received,
        socket: Some(&ctx.session.sid),
    };
    let Posted { message, duplicate } = ctx
        .state
        .hub
        .post_message(caller, room, message, origin)
        .await?;
    Ok(SendAck { message, duplicate })
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
        .history(&room, req.before, req.after, req.limit)
        .await?;
    Ok(HistoryAck { messages, has_more })
}
