//! `room:join`, `room:leave`, and what a disconnect leaves behind.

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::dispatch::EventCtx;
use super::fanout::broadcast_failed;
use super::protocol::{
    Done, JoinAck, JoinRequest, LeaveRequest, MemberChanged, MemberLeft, RoomRemoved, server,
};
use super::room_key;
use super::session::Session;
use crate::cluster::RoomChange;
use crate::error::{Error, Result};
use crate::hub::AbortReason;
use crate::model::RoomName;
use crate::state::AppState;

/// At most this many messages come back in `missed`; the client pages on with history.
const MAX_MISSED: u64 = 500;

pub async fn join<A: Adapter>(ctx: &EventCtx<'_, A>, req: JoinRequest) -> Result<JoinAck> {
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
    let name = RoomName::parse(&req.room)?;
    let room = ctx.state.hub.room_for_join(&caller, &name).await?;
    let name = room.name.as_str();
    // Join the broadcast room before reading history: whatever commits after the read is
    // delivered live, so nothing acknowledged falls between `missed` and `message:new`.
    ctx.socket.join(room_key(name));
    if ctx.session.join(room.clone())
        && let Some(change) = ctx
            .state
            .presence
            .join(name, caller.agent.id, &ctx.session.sid)
            .await
    {
        announce_changed(ctx.socket, server::PRESENCE_JOIN, &change).await;
    }
    let members = ctx.state.presence.members(name).await;
    let (missed, missed_truncated) = match req.since {
        Some(since) => ctx.state.hub.missed_since(&room, since, MAX_MISSED).await?,
        None => (Vec::new(), false),
    };
    let streams = ctx.state.hub.open_streams(name).await;
    let cursor = ctx.state.hub.cursor_of(caller.agent.id, &room).await?;
    Ok(JoinAck {
        room: room.view(),
        members,
        missed,
        missed_truncated,
        streams,
        cursor,
    })
}

pub async fn leave<A: Adapter>(ctx: &EventCtx<'_, A>, req: LeaveRequest) -> Result<Done> {
    tracing::Span::current().record("room", req.room.as_str());
    let name = RoomName::parse(&req.room)?;
    if ctx.session.leave(name.as_str()) {
        ctx.socket.leave(room_key(name.as_str()));
        let hub = &ctx.state.hub;
        hub.abort_streams_of(&ctx.session.sid, Some(name.as_str()), AbortReason::Left);
        if let Some(change) = ctx
            .state
            .presence
            .leave(name.as_str(), ctx.session.agent_id(), &ctx.session.sid)
            .await
        {
            announce_leave(ctx.socket, ctx.state, &change).await;
        }
    }
    Ok(Done {})
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
    state
        .hub
        .abort_streams_of(&session.sid, Some(room), AbortReason::Left);
    let _ = socket.emit(server::ROOM_REMOVED, &RoomRemoved { room });
    if let Some(change) = state
        .presence
        .leave(room, session.agent_id(), &session.sid)
        .await
    {
        announce_leave(socket, state, &change).await;
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
    state
        .hub
        .abort_streams_of(&session.sid, None, AbortReason::Disconnected);
    state.hub.cancel_calls_of(&session.sid);
    let left = state
        .presence
        .disconnect(session.agent_id(), &session.sid, &session.joined_rooms())
        .await;
    for change in &left {
        announce_leave(socket, state, change).await;
    }
}

/// `presence:leave` to the room's other sockets, on every node; the agent's activity there
/// ends with its last socket.
async fn announce_leave<A: Adapter>(socket: &SocketRef<A>, state: &AppState, change: &RoomChange) {
    state.hub.activity_left(&change.member.agent, &change.room);
    let body = MemberLeft {
        room: &change.room,
        agent: &change.member.agent,
    };
    let to = socket.to(room_key(&change.room));
    if let Err(e) = to.emit(server::PRESENCE_LEAVE, &body).await {
        broadcast_failed(&e, server::PRESENCE_LEAVE);
    }
}

/// `presence:join` or `presence:update` to the room's other sockets, on every node.
pub async fn announce_changed<A: Adapter>(
    socket: &SocketRef<A>,
    event: &'static str,
    change: &RoomChange,
) {
    let body = MemberChanged {
        room: &change.room,
        member: &change.member,
    };
    if let Err(e) = socket.to(room_key(&change.room)).emit(event, &body).await {
        broadcast_failed(&e, event);
    }
}
