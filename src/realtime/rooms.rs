//! `room:join`, `room:leave`, and what a disconnect leaves behind.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::dispatch::EventCtx;
use super::room_key;
use super::session::Session;
use crate::app::AppState;
use crate::cluster::RoomChange;
use crate::error::{Error, Result};
use crate::model::{RoomName, RoomView};

/// At most this many messages come back in `missed`; the client pages on with history.
const MAX_MISSED: u64 = 500;

#[derive(Deserialize)]
pub struct JoinRequest {
    room: String,
    since: Option<i64>,
}

#[derive(Deserialize)]
pub struct LeaveRequest {
    room: String,
}

pub async fn join<A: Adapter>(ctx: &EventCtx<'_, A>, req: JoinRequest) -> Result<Value> {
    tracing::Span::current().record("room", req.room.as_str());
    if req.since.is_some_and(|s| s < 0) {
        return Err(Error::bad_request("since must be a seq, 0 or more"));
    }
    let max = ctx.state.settings.max_rooms_per_socket;
    if ctx.session.joined_count() >= max && !ctx.session.has_joined(&req.room) {
        return Err(Error::forbidden(format!(
            "a socket may be in at most {max} rooms (MAX_ROOMS_PER_SOCKET)"
        )));
    }
    let caller = ctx.session.caller();
    let row = ctx.state.hub.room_for_join(&caller, &req.room).await?;
    let (room, _) = &row;
    // Join the broadcast room before reading history: whatever commits after the read is
    // delivered live, so nothing acknowledged falls between `missed` and `message:new`.
    ctx.socket.join(room_key(&room.name));
    if ctx.session.join(&room.name, room.id, room.private)
        && let Some(change) = ctx
            .state
            .presence
            .join(&room.name, caller.agent.id, &ctx.session.sid)
            .await
    {
        emit_presence(
            ctx.socket,
            "presence:join",
            &change,
            json!({"room": change.room, "member": change.member}),
        )
        .await;
    }
    let members = ctx.state.presence.members(&room.name).await;
    let (missed, missed_truncated) = match req.since {
        Some(since) => ctx.state.hub.missed_since(&row, since, MAX_MISSED).await?,
        None => (Vec::new(), false),
    };
    Ok(json!({
        "room": RoomView::from_model(&row.0, &row.1),
        "members": members,
        "missed": missed,
        "missed_truncated": missed_truncated,
    }))
}

pub async fn leave<A: Adapter>(ctx: &EventCtx<'_, A>, req: LeaveRequest) -> Result<Value> {
    tracing::Span::current().record("room", req.room.as_str());
    let name = RoomName::parse(&req.room)?;
    if ctx.session.leave(name.as_str()) {
        ctx.socket.leave(room_key(name.as_str()));
        if let Some(change) = ctx
            .state
            .presence
            .leave(name.as_str(), ctx.session.agent_id(), &ctx.session.sid)
            .await
        {
            announce_leave(ctx.socket, &change).await;
        }
    }
    Ok(json!({}))
}

/// Takes one local socket out of a private room its agent no longer belongs to (the periodic
/// re-check's half of SPEC §5's removal; REST removals reach every node at once).
pub async fn remove_from_room<A: Adapter>(
    socket: &SocketRef<A>,
    session: &Session,
    state: &AppState,
    room: &str,
) {
    if !session.leave(room) {
        return;
    }
    socket.leave(room_key(room));
    let _ = socket.emit("room:removed", &json!({"room": room}));
    if let Some(change) = state
        .presence
        .leave(room, session.agent_id(), &session.sid)
        .await
    {
        announce_leave(socket, &change).await;
    }
}

/// After the socket's last event: leave presence everywhere it was.
pub async fn on_disconnect<A: Adapter>(
    socket: &SocketRef<A>,
    session: &Arc<Session>,
    state: &AppState,
) {
    if !session.take_cleanup() {
        return;
    }
    state.metrics.ws_connections.dec();
    let left = state
        .presence
        .disconnect(session.agent_id(), &session.sid, &session.joined_rooms())
        .await;
    for change in &left {
        announce_leave(socket, change).await;
    }
}

async fn announce_leave<A: Adapter>(socket: &SocketRef<A>, change: &RoomChange) {
    emit_presence(
        socket,
        "presence:leave",
        change,
        json!({"room": change.room, "agent": change.member.agent}),
    )
    .await;
}

/// Sends a presence event to the room's other sockets, on every node.
pub async fn emit_presence<A: Adapter>(
    socket: &SocketRef<A>,
    event: &'static str,
    change: &RoomChange,
    body: Value,
) {
    if let Err(e) = socket.to(room_key(&change.room)).emit(event, &body).await {
        tracing::warn!(error = %e, event, "presence broadcast failed");
    }
}
