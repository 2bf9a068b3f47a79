//! `presence:set` and `presence:list`.

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::protocol::{MemberAck, MembersAck, PresenceListRequest, PresenceSetRequest, server};
use super::rooms::announce_changed;
use crate::cluster::STATUSES;
use crate::error::{Error, Result};
use crate::model::RoomName;

/// A presence note may not exceed this many characters (SPEC §5).
const MAX_NOTE_CHARS: usize = 140;

pub async fn set<A: Adapter>(ctx: &EventCtx<'_, A>, req: PresenceSetRequest) -> Result<MemberAck> {
    let status = STATUSES
        .into_iter()
        .find(|s| *s == req.status)
        .ok_or_else(|| Error::bad_request("status must be online, away or busy"))?;
    if let Some(note) = &req.note
        && (note.chars().count() > MAX_NOTE_CHARS || note.contains('\0'))
    {
        return Err(Error::bad_request(
            "note must be at most 140 characters without U+0000",
        ));
    }
    let (member, rooms) = ctx
        .state
        .presence
        .set_status(ctx.session.agent_id(), status, req.note)
        .await
        .ok_or_else(|| Error::internal("a connected agent has no presence entry"))?;
    for change in &rooms {
        announce_changed(ctx.socket, server::PRESENCE_UPDATE, change).await;
    }
    Ok(MemberAck { member })
}

pub async fn list<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    req: PresenceListRequest,
) -> Result<MembersAck> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let name = RoomName::parse(&req.room)?;
    let room = ctx.state.hub.readable_room(&caller, &name).await?;
    let members = ctx.state.presence.members(room.name.as_str()).await;
    Ok(MembersAck { members })
}
