//! The hub's outbound port: what use cases tell live sockets (new messages, removals, kicks,
//! shutdown). Defined here, implemented by `realtime` over Socket.IO, so the hub knows no
//! transport; a process without sockets (the CLI) uses [`NoSockets`].

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

use crate::model::{
    ActivityView, AgentRef, CursorMoved, MessageView, RoomName, StreamAborted, StreamDelta,
    StreamView,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whose sockets a kick disconnects.
#[derive(Debug, Clone, Copy)]
pub enum KickTarget {
    /// Sockets authenticated with this API token or a JWT minted from it.
    Token(Uuid),
    /// Every socket of this agent.
    Agent(Uuid),
}

/// What a room's sockets are told besides new messages (SPEC §11), never stored.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    StreamStarted(StreamView),
    StreamDelta(StreamDelta),
    StreamAborted(StreamAborted),
    Activity(ActivityView),
    CursorMoved(CursorMoved),
}

pub trait Fanout: Send + Sync {
    /// Tells a room's sockets (for a `dm:` room every socket of its two agents) on every
    /// node, but the `except` socket, about `event`.
    fn broadcast<'a>(
        &'a self,
        room: &'a RoomName,
        event: &'a RoomEvent,
        except: Option<&'a str>,
    ) -> BoxFuture<'a, ()>;

    /// Broadcasts `message:new` for a stored message: to the room's sockets, or for a `dm:`
    /// room to every socket of its two agents; never to the `except` socket (its id).
    fn deliver<'a>(
        &'a self,
        room: &'a RoomName,
        message: &'a MessageView,
        except: Option<&'a str>,
    ) -> BoxFuture<'a, ()>;

    /// Takes every socket of `agent_id`, on every node, out of `room` (a private room it was
    /// removed from): each is told `room:removed`, the room sees `presence:leave`.
    fn removed_from_room<'a>(&'a self, room: &'a str, agent: &'a AgentRef) -> BoxFuture<'a, ()>;

    /// Disconnects the target's sockets on every node; returns how many there were.
    fn kick(&self, target: KickTarget) -> BoxFuture<'_, usize>;

    /// Closes every socket (shutdown).
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The fan-out of a process that serves no sockets (the operator CLI): running servers'
/// periodic re-check of live sockets catches what it changes.
pub struct NoSockets;

impl Fanout for NoSockets {
    fn broadcast<'a>(
        &'a self,
        _: &'a RoomName,
        _: &'a RoomEvent,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn deliver<'a>(
        &'a self,
        _: &'a RoomName,
        _: &'a MessageView,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn removed_from_room<'a>(&'a self, _: &'a str, _: &'a AgentRef) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn kick(&self, _: KickTarget) -> BoxFuture<'_, usize> {
        Box::pin(async { 0 })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
