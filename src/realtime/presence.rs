//! `presence:set` and `presence:list`.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::rooms::emit_presence;
use crate::cluster::STATUSES;
use crate::error::{Error, Result};

/// A presence note may not exceed this many characters (SPEC §5).
const MAX_NOTE_CHARS: usize = 140;

#[derive(Deserialize)]
pub struct SetRequest {
    status: String,
    note: Option<String>,
}

#[derive(Deserialize)]
pub struct ListRequest {
    room: String,
}

pub async fn set<A: Adapter>(ctx: &EventCtx<'_, A>, req: SetRequest) -> Result<Value> {
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
        emit_presence(
            ctx.socket,
            "presence:update",
            change,
            json!({"room": change.room, "member": change.member}),
        )
        .await;
    }
    Ok(json!({"member": member}))
}

pub async fn list<A: Adapter>(ctx: &EventCtx<'_, A>, req: ListRequest) -> Result<Value> {
    tracing::Span::current().record("room", req.room.as_str());
    let caller = ctx.session.caller();
    let (room, _) = ctx.state.hub.readable_room(&caller, &req.room).await?;
    Ok(json!({"members": ctx.state.presence.members(&room.name).await}))
}
