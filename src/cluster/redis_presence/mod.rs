//! Cluster presence in Redis (SPEC §5, §8): the same operations as [`LocalPresence`], counted
//! across every node.
//!
//! - [`keys`]: the key names (one hash tag per hub, so a Redis Cluster could run it)
//! - [`scripts`]: the Lua scripts, one per change, run with EVALSHA
//! - [`replies`]: the scripts' answers as named types
//! - `mirror`: this node's own sockets, kept beside Redis
//! - `nodes`: this node's heartbeat, writing its sockets back, reaping dead nodes
//!
//! Redis failing never fails the hub: each operation that fails is logged, counted
//! (`redis_errors_total`) and answered from this node's own sockets, which it always keeps
//! (the mirror) — that is also what it writes back when Redis returns empty.
//!
//! [`LocalPresence`]: super::LocalPresence

mod keys;
mod mirror;
mod nodes;
mod replies;
mod scripts;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use fred::clients::Client;
use fred::interfaces::SetsInterface;
use uuid::Uuid;

pub use nodes::HEARTBEAT_EVERY;

use self::keys::Keys;
use self::mirror::Mirror;
use self::replies::{Joined, Members, StatusSet, decode};
use self::scripts::{Scripts, strings};
use super::presence::{RoomChange, TooManyConnections};
use crate::model::{AgentRef, MemberView, timestamp};
use crate::telemetry::Metrics;

/// Presence left by a socket of a dead node: the rooms its agent left entirely.
pub struct Reaped {
    pub agent: AgentRef,
    pub rooms: Vec<String>,
}

pub struct RedisPresence {
    client: Client,
    keys: Keys,
    node: String,
    metrics: Arc<Metrics>,
    mirror: Mirror,
    /// When Redis last failed an operation (reaping waits a grace period after it).
    last_failure: Mutex<Option<Instant>>,
    scripts: Scripts,
}

impl RedisPresence {
    pub fn new(client: Client, prefix: &str, node: String, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            keys: Keys::new(prefix),
            node,
            metrics,
            mirror: Mirror::default(),
            last_failure: Mutex::new(None),
            scripts: Scripts::load(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    fn failed(&self, op: &'static str, e: &fred::error::Error) {
        self.metrics.redis_errors.inc();
        self.metrics.redis_up.set(0);
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        tracing::warn!(error = %e, op, "redis presence operation failed; answering locally");
    }

    async fn eval<R: fred::types::FromValue>(
        &self,
        script: &fred::types::scripts::Script,
        keys: Vec<String>,
        argv: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        scripts::run(&self.client, script, keys, argv).await
    }

    pub async fn connect(
        &self,
        agent: &AgentRef,
        sid: &str,
        max: u32,
    ) -> Result<(), TooManyConnections> {
        self.mirror.connect(sid, agent);
        match self.register(agent, sid, max).await {
            Ok(1) => Ok(()),
            Ok(_) => {
                self.mirror.disconnect(sid);
                Err(TooManyConnections)
            }
            Err(e) => {
                // The cluster-wide cap cannot be checked: let the socket in.
                self.failed("connect", &e);
                Ok(())
            }
        }
    }

    /// `connect.lua`: 1 when the socket is admitted under the cap of `max`.
    async fn register(
        &self,
        agent: &AgentRef,
        sid: &str,
        max: u32,
    ) -> Result<i64, fred::error::Error> {
        let keys = vec![
            self.keys.agent(agent.id),
            self.keys.agent_sockets(agent.id),
            self.keys.node(&self.node),
        ];
        let argv = strings([
            sid.to_owned(),
            max.to_string(),
            agent.name.clone(),
            agent.display_name.clone(),
            timestamp(Utc::now()),
            self.mirror.record(sid),
        ]);
        self.eval(&self.scripts.connect, keys, argv).await
    }

    pub async fn disconnect(&self, agent_id: Uuid, sid: &str, rooms: &[String]) -> Vec<RoomChange> {
        let agent = self.mirror.disconnect(sid);
        match self.forget(&self.node, agent_id, sid, rooms).await {
            Ok(left) => match agent {
                Some(agent) => left
                    .into_iter()
                    .map(|room| leave_change(room, &agent))
                    .collect(),
                None => Vec::new(),
            },
            Err(e) => {
                self.failed("disconnect", &e);
                Vec::new()
            }
        }
    }

    /// `disconnect.lua` for a socket of `node`: the rooms its agent left entirely.
    async fn forget(
        &self,
        node: &str,
        agent: Uuid,
        sid: &str,
        rooms: &[String],
    ) -> Result<Vec<String>, fred::error::Error> {
        let mut keys = vec![
            self.keys.agent(agent),
            self.keys.agent_sockets(agent),
            self.keys.agent_rooms(agent),
            self.keys.node(node),
        ];
        for room in rooms {
            keys.push(self.keys.room(room));
            keys.push(self.keys.room_agent(room, agent));
        }
        let mut argv = strings([agent.to_string(), sid.to_owned()]);
        argv.extend(rooms.iter().cloned());
        self.eval(&self.scripts.disconnect, keys, argv).await
    }

    pub async fn join(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let agent = self.mirror.set_room(sid, room, true)?;
        match self.add_to_room(room, agent_id, sid).await {
            Ok(reply) => {
                let joined: Joined = decode("join", &reply)?;
                joined.first.then(|| RoomChange {
                    room: room.to_owned(),
                    member: MemberView {
                        agent,
                        status: joined.status,
                        note: joined.note,
                        connections: joined.connections,
                        since: joined.since,
                    },
                })
            }
            Err(e) => {
                self.failed("join", &e);
                None
            }
        }
    }

    /// `join.lua`: the JSON of a [`Joined`].
    async fn add_to_room(
        &self,
        room: &str,
        agent: Uuid,
        sid: &str,
    ) -> Result<String, fred::error::Error> {
        let keys = vec![
            self.keys.agent(agent),
            self.keys.agent_rooms(agent),
            self.keys.room(room),
            self.keys.room_agent(room, agent),
            self.keys.node(&self.node),
        ];
        let argv = strings([
            agent.to_string(),
            room.to_owned(),
            sid.to_owned(),
            timestamp(Utc::now()),
            self.mirror.record(sid),
        ]);
        self.eval(&self.scripts.join, keys, argv).await
    }

    pub async fn leave(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let agent = self.mirror.set_room(sid, room, false)?;
        let keys = vec![
            self.keys.room(room),
            self.keys.room_agent(room, agent_id),
            self.keys.agent_rooms(agent_id),
            self.keys.node(&self.node),
        ];
        let argv = strings([
            agent_id.to_string(),
            room.to_owned(),
            sid.to_owned(),
            self.mirror.record(sid),
        ]);
        match self.eval::<i64>(&self.scripts.leave, keys, argv).await {
            Ok(1) => Some(leave_change(room.to_owned(), &agent)),
            Ok(_) => None,
            Err(e) => {
                self.failed("leave", &e);
                None
            }
        }
    }

    /// Takes `agent` out of `room` with all its sockets on every node; `Some` when it was in.
    pub async fn evict(&self, room: &str, agent: &AgentRef) -> Option<RoomChange> {
        self.mirror.evict(agent.id, room);
        let keys = vec![
            self.keys.room(room),
            self.keys.room_agent(room, agent.id),
            self.keys.agent_rooms(agent.id),
        ];
        let argv = strings([agent.id.to_string(), room.to_owned()]);
        match self.eval::<i64>(&self.scripts.evict, keys, argv).await {
            Ok(1) => Some(leave_change(room.to_owned(), agent)),
            Ok(_) => None,
            Err(e) => {
                self.failed("evict", &e);
                None
            }
        }
    }

    pub async fn set_status(
        &self,
        agent_id: Uuid,
        status: &'static str,
        note: Option<String>,
    ) -> Option<(MemberView, Vec<RoomChange>)> {
        let now = timestamp(Utc::now());
        let keys = vec![
            self.keys.agent(agent_id),
            self.keys.agent_sockets(agent_id),
            self.keys.agent_rooms(agent_id),
        ];
        let argv = strings([
            self.keys.prefix().to_owned(),
            agent_id.to_string(),
            status.to_owned(),
            if note.is_some() { "1" } else { "0" }.to_owned(),
            note.clone().unwrap_or_default(),
            now.clone(),
        ]);
        let res = self
            .eval::<String>(&self.scripts.set_status, keys, argv)
            .await;
        let agent = self.mirror.agent(agent_id)?;
        let view = |connections: u32, since: String| MemberView {
            agent: agent.clone(),
            status: status.to_owned(),
            note: note.clone(),
            connections,
            since,
        };
        match res {
            // No socket of the agent anywhere.
            Ok(reply) if reply.is_empty() => None,
            Ok(reply) => {
                let set: StatusSet = decode("set_status", &reply)?;
                let rooms = set
                    .rooms
                    .into_iter()
                    .map(|r| RoomChange {
                        room: r.room,
                        member: view(r.connections, r.since),
                    })
                    .collect();
                Some((view(set.connections, set.since), rooms))
            }
            Err(e) => {
                self.failed("set_status", &e);
                let local = self.mirror.sockets_of(agent_id) as u32;
                Some((view(local, now), Vec::new()))
            }
        }
    }

    pub async fn members(&self, room: &str) -> Vec<MemberView> {
        let keys = vec![self.keys.room(room)];
        let argv = strings([self.keys.prefix()]);
        let reply = match self.eval::<String>(&self.scripts.members, keys, argv).await {
            Ok(reply) => reply,
            Err(e) => {
                self.failed("members", &e);
                return Vec::new();
            }
        };
        let Some(Members(members)) = decode("members", &reply) else {
            return Vec::new();
        };
        let mut members: Vec<MemberView> = members.into_iter().filter_map(|m| m.view()).collect();
        members.sort_by(|a, b| a.agent.name.cmp(&b.agent.name));
        members
    }

    pub async fn is_online(&self, agent_id: Uuid) -> bool {
        let key = self.keys.agent_sockets(agent_id);
        match self.client.scard::<u64, _>(key).await {
            Ok(n) => n > 0,
            Err(e) => {
                self.failed("is_online", &e);
                self.mirror.sockets_of(agent_id) > 0
            }
        }
    }
}

impl RedisPresence {
    /// Whether `sid` is a live socket of the agent on any node (a dead node's sockets are
    /// gone once the reaper has run, SPEC §8). Unknown while Redis does not answer: true.
    /// The agent's socket ids on every node (empty when Redis does not answer).
    pub async fn sockets_of(&self, agent_id: Uuid) -> Vec<String> {
        let key = self.keys.agent_sockets(agent_id);
        match self.client.smembers::<Vec<String>, _>(key).await {
            Ok(sids) => sids,
            Err(e) => {
                self.failed("sockets_of", &e);
                Vec::new()
            }
        }
    }

    pub async fn has_socket(&self, agent_id: Uuid, sid: &str) -> bool {
        let key = self.keys.agent_sockets(agent_id);
        match self.client.sismember::<bool, _, _>(key, sid).await {
            Ok(live) => live,
            Err(e) => {
                self.failed("has_socket", &e);
                true
            }
        }
    }
}

fn leave_change(room: String, agent: &AgentRef) -> RoomChange {
    RoomChange {
        room,
        member: MemberView {
            agent: agent.clone(),
            status: "online".into(),
            note: None,
            connections: 0,
            since: timestamp(Utc::now()),
        },
    }
}
