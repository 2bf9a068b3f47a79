//! `stream:start`, `stream:delta`, `stream:end`, `stream:abort` (SPEC §11).

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::messages::{in_broadcast_room, joined, origin};
use super::protocol::{
    DeltaAck, Done, SendAck, StreamAbortRequest, StreamAck, StreamDeltaRequest, StreamEndRequest,
    StreamStartRequest,
};
use crate::error::{Error, Result};
use crate::hub::AbortReason;
use crate::model::RoomName;

pub async fn start<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    req: StreamStartRequest,
) -> Result<StreamAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let name = RoomName::parse(&req.room)?;
    caller.require_writer()?;
    let room = joined(ctx, &name).await?;
    let stream = ctx
        .state
        .hub
        .start_stream(&caller, &room, &ctx.session.sid, req.metadata, req.reply_to)
        .await?;
    Ok(StreamAck { stream })
}

/// The stream's room while this socket still is in it; a socket taken out of the room (a
/// removal from a private room) has its streams there aborted.
fn still_in_room<A: Adapter>(ctx: &EventCtx<'_, A>, id: &str) -> Result<()> {
    let room = ctx.state.hub.stream_room(&ctx.session.sid, id)?;
    if in_broadcast_room(ctx, room.name.as_str()) {
        return Ok(());
    }
    let hub = &ctx.state.hub;
    hub.abort_streams_of(
        &ctx.session.sid,
        Some(room.name.as_str()),
        AbortReason::Left,
    );
    Err(Error::forbidden(
        "the socket is no longer in the stream's room",
    ))
}

pub async fn delta<A: Adapter>(ctx: &EventCtx<'_, A>, req: StreamDeltaRequest) -> Result<DeltaAck> {
    still_in_room(ctx, &req.id)?;
    let index = ctx
        .state
        .hub
        .feed_stream(&ctx.session.sid, &req.id, &req.text)?;
    Ok(DeltaAck { index })
}

pub async fn end<A: Adapter>(ctx: &EventCtx<'_, A>, req: StreamEndRequest) -> Result<SendAck> {
    still_in_room(ctx, &req.id)?;
    let caller = ctx.session.caller();
    ctx.state
        .hub
        .end_stream(
            &caller,
            &ctx.session.sid,
            &req.id,
            req.client_id,
            origin(ctx),
        )
        .await
        .map(SendAck::from)
}

pub async fn abort<A: Adapter>(ctx: &EventCtx<'_, A>, req: StreamAbortRequest) -> Result<Done> {
    ctx.state
        .hub
        .abort_stream(&ctx.session.sid, &req.id, req.reason)?;
    Ok(Done {})
}
