//! `activity:set` and `cursor:set` (SPEC §11).

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::messages::joined;
use super::protocol::{ActivityAck, ActivitySetRequest, CursorAck, CursorSetRequest};
use crate::error::Result;
use crate::model::RoomName;

pub async fn set<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    req: ActivitySetRequest,
) -> Result<ActivityAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let room = joined(ctx, &RoomName::parse(&req.room)?).await?;
    let expires_at =
        ctx.state
            .hub
            .set_activity(&caller, &room, &req.state, req.detail, &ctx.session.sid)?;
    Ok(ActivityAck { expires_at })
}

pub async fn cursor<A: Adapter>(ctx: &EventCtx<'_, A>, req: CursorSetRequest) -> Result<CursorAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let hub = &ctx.state.hub;
    let room = hub
        .readable_room(&caller, &RoomName::parse(&req.room)?)
        .await?;
    let cursor = hub
        .set_cursor(&caller, &room, req.seq, Some(&ctx.session.sid))
        .await?;
    Ok(CursorAck { cursor })
}
