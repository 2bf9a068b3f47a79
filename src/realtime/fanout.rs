//! The hub's outbound port ([`crate::hub::Fanout`]) over Socket.IO: new messages, removals
//! from private rooms, kicks and shutdown, on every node through the adapter.

use std::str::FromStr;
use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;

use super::protocol::{MemberLeft, RoomRemoved, server};
use super::session::SocketCtx;
use super::{agent_key, agent_name_key, room_key, token_key};
use crate::cluster::Presence;
use crate::cluster::Reaped;
use crate::hub::{BoxFuture, Fanout, KickTarget, RoomEvent};
use crate::model::{AgentRef, MessageView, RoomName};

pub struct SocketIoFanout<A: Adapter> {
    pub io: SocketIo<A>,
    pub presence: Arc<Presence>,
}

impl<A: Adapter> SocketIoFanout<A> {
    /// Emits `event` to a room's sockets on every node but `except`: for a `dm:` room, to
    /// every socket of its two agents, named in its name.
    async fn emit_to_room<T: serde::Serialize + ?Sized>(
        &self,
        room: &RoomName,
        event: &'static str,
        payload: &T,
        except: Option<&str>,
    ) {
        let targets: Vec<String> = match room.dm_agents() {
            Some((a, b)) => vec![agent_name_key(a), agent_name_key(b)],
            None => vec![room_key(room.as_str())],
        };
        // The namespace is gone once shutdown closed it: nobody is left to tell.
        let Some(root) = self.io.of("/") else {
            return;
        };
        let mut op = root.to(targets);
        if let Some(sid) = except.and_then(|s| Sid::from_str(s).ok()) {
            op = op.except(sid);
        }
        if let Err(e) = op.emit(event, payload).await {
            broadcast_failed(&e, event);
        }
    }
}

impl<A: Adapter> Fanout for SocketIoFanout<A> {
    fn deliver<'a>(
        &'a self,
        room: &'a RoomName,
        message: &'a MessageView,
        except: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.emit_to_room(room, server::MESSAGE_NEW, message, except))
    }

    fn broadcast<'a>(
        &'a self,
        room: &'a RoomName,
        event: &'a RoomEvent,
        except: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match event {
                RoomEvent::StreamStarted(s) => {
                    self.emit_to_room(room, server::STREAM_START, s, except)
                        .await;
                }
                RoomEvent::StreamDelta(d) => {
                    self.emit_to_room(room, server::STREAM_DELTA, d, except)
                        .await;
                }
                RoomEvent::StreamAborted(a) => {
                    self.emit_to_room(room, server::STREAM_ABORT, a, except)
                        .await;
                }
                RoomEvent::Activity(a) => {
                    self.emit_to_room(room, server::ACTIVITY, a, except).await;
                }
                RoomEvent::CursorMoved(c) => {
                    self.emit_to_room(room, server::CURSOR_UPDATE, c, except)
                        .await;
                }
            }
        })
    }

    fn removed_from_room<'a>(&'a self, room: &'a str, agent: &'a AgentRef) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(root) = self.io.of("/") else {
                return;
            };
            let sockets = agent_key(agent.id);
            // Out of the broadcast room first: from here on nothing of the room reaches them.
            if let Err(e) = root.clone().to(sockets.clone()).leave(room_key(room)).await {
                tracing::warn!(error = %e, room, "leaving a room on some node failed");
            }
            // Sessions on this node forget the room; other nodes' do at their next re-check
            // (the store refuses their sends and reads meanwhile).
            for socket in root.clone().to(sockets.clone()).local().sockets() {
                if let Some(ctx) = SocketCtx::<A>::of(&socket) {
                    ctx.session.leave(room);
                }
            }
            let body = RoomRemoved { room };
            let to = root.clone().to(sockets);
            if let Err(e) = to.emit(server::ROOM_REMOVED, &body).await {
                tracing::warn!(error = %e, room, "room:removed failed on some node");
            }
            if let Some(change) = self.presence.evict(room, agent).await {
                announce_left(&self.io, &change.room, &change.member.agent).await;
            }
        })
    }

    fn kick(&self, target: KickTarget) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let key = match target {
                KickTarget::Token(id) => token_key(id),
                KickTarget::Agent(id) => agent_key(id),
            };
            let Some(root) = self.io.of("/") else {
                return 0;
            };
            let count = match root.clone().to(key.clone()).fetch_sockets().await {
                Ok(sockets) => sockets.len(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count sockets to kick");
                    0
                }
            };
            if let Err(e) = root.to(key).disconnect().await {
                tracing::warn!(error = %e, "kick failed on some node");
            }
            count
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.io.close())
    }
}

/// `presence:leave` for an agent that left `room` without a socket of its own saying so
/// (an eviction, a dead node's sockets), to the room on every node.
pub async fn announce_left<A: Adapter>(io: &SocketIo<A>, room: &str, agent: &AgentRef) {
    // The namespace is gone once shutdown closed it: nobody is left to tell.
    let Some(root) = io.of("/") else {
        return;
    };
    let body = MemberLeft { room, agent };
    if let Err(e) = root
        .to(room_key(room))
        .emit(server::PRESENCE_LEAVE, &body)
        .await
    {
        broadcast_failed(&e, server::PRESENCE_LEAVE);
    }
}

/// Logs a broadcast that failed. Sockets that were already closing when it reached them are
/// no news (a room whose sockets all leave at once): DEBUG; anything else: WARN.
pub fn broadcast_failed(e: &socketioxide::BroadcastError, event: &'static str) {
    use socketioxide::{BroadcastError, SocketError};
    let closing = matches!(e, BroadcastError::Socket(errors)
        if errors.iter().all(|e| matches!(e, SocketError::Closed)));
    if closing {
        tracing::debug!(error = %e, event, "broadcast reached sockets already closing");
    } else {
        tracing::warn!(error = %e, event, "broadcast failed");
    }
}

/// Announces the rooms the agents of a dead node's sockets left (the reaper's report).
pub async fn announce_reaped<A: Adapter>(io: SocketIo<A>, reaped: Vec<Reaped>) {
    for r in reaped {
        for room in &r.rooms {
            announce_left(&io, room, &r.agent).await;
        }
    }
}
