//! Cluster presence in Redis (SPEC §5, §8): the same operations as [`LocalPresence`], counted
//! across every node. Each change is one Lua script, so concurrent nodes never see half of
//! one. Every key starts with `REDIS_PREFIX` (`{prefix}:p:…`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `a:{agent}` | hash | `name`, `dn`, `status`, `note`, `since` (online since) |
//! | `a:{agent}:s` | set | the agent's socket ids, every node (the cap counts these) |
//! | `a:{agent}:r` | set | rooms where the agent has a socket |
//! | `r:{room}` | hash | agent id → since (when its first socket joined) |
//! | `r:{room}:{agent}` | set | the agent's socket ids in the room |
//! | `n:{node}` | hash | socket id → `{"agent","rooms"}`: what a dead node leaves behind |
//! | `nodes` | sorted set | node id → last heartbeat (Redis time, ms) |
//! | `reaper` | string | the reaper lock (`SET NX PX`) |
//!
//! The scripts (`lua/*.lua`, run with EVALSHA) build key names from the prefix, so they need
//! a standalone Redis (or one shard), as the adapter's sharded pub/sub does not.
//!
//! Redis failing never fails the hub: each operation that fails is logged, counted
//! (`redis_errors_total`) and answered from this node's own sockets, which it always keeps
//! (the mirror) — that is also what it writes back when Redis returns empty.
//!
//! [`LocalPresence`]: super::LocalPresence

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use fred::clients::Client;
use fred::interfaces::SortedSetsInterface;
use fred::interfaces::{HashesInterface, KeysInterface, SetsInterface};
use fred::types::scripts::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::presence::{RoomChange, TooManyConnections};
use crate::model::{AgentRef, MemberView, timestamp};
use crate::telemetry::Metrics;

/// A node whose heartbeat is older than this is dead; its sockets leave presence.
pub const NODE_STALE: Duration = Duration::from_secs(8);
/// How often a node writes its heartbeat and looks for dead nodes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// After Redis comes back, wait this long before reaping: every live node needs a chance to
/// write a heartbeat first, or an outage would make them all look dead.
const REAP_GRACE_AFTER_OUTAGE: Duration = Duration::from_secs(10);

/// The presence scripts, loaded from `lua/*.lua` and run with EVALSHA (reloaded on
/// NOSCRIPT, after a Redis restart), so each call sends a hash instead of the script.
struct Scripts {
    connect: Script,
    join: Script,
    leave: Script,
    disconnect: Script,
    set_status: Script,
    members: Script,
    heartbeat: Script,
    reap_list: Script,
    reap_unlock: Script,
    evict: Script,
}

impl Scripts {
    fn load() -> Self {
        Self {
            connect: Script::from_lua(include_str!("lua/connect.lua")),
            join: Script::from_lua(include_str!("lua/join.lua")),
            leave: Script::from_lua(include_str!("lua/leave.lua")),
            disconnect: Script::from_lua(include_str!("lua/disconnect.lua")),
            set_status: Script::from_lua(include_str!("lua/set_status.lua")),
            members: Script::from_lua(include_str!("lua/members.lua")),
            heartbeat: Script::from_lua(include_str!("lua/heartbeat.lua")),
            reap_list: Script::from_lua(include_str!("lua/reap_list.lua")),
            reap_unlock: Script::from_lua(include_str!("lua/reap_unlock.lua")),
            evict: Script::from_lua(include_str!("lua/evict.lua")),
        }
    }
}

/// One socket of this node, as the mirror and Redis' node record keep it.
struct LocalSocket {
    agent: AgentRef,
    rooms: BTreeSet<String>,
}

#[derive(Serialize, Deserialize)]
struct SocketRecord {
    agent: Uuid,
    rooms: Vec<String>,
}

/// Presence left by a socket of a dead node: the rooms its agent left entirely.
pub struct Reaped {
    pub agent: AgentRef,
    pub rooms: Vec<String>,
}

pub struct RedisPresence {
    client: Client,
    /// `{REDIS_PREFIX}:p:`.
    kp: String,
    node: String,
    metrics: Arc<Metrics>,
    mirror: Mutex<HashMap<String, LocalSocket>>,
    /// When Redis last failed an operation (reaping waits a grace period after it).
    last_failure: Mutex<Option<Instant>>,
    scripts: Scripts,
}

fn args(items: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl RedisPresence {
    pub fn new(client: Client, prefix: &str, node: String, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            kp: format!("{prefix}:p:"),
            node,
            metrics,
            mirror: Mutex::default(),
            last_failure: Mutex::new(None),
            scripts: Scripts::load(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    fn mirror(&self) -> MutexGuard<'_, HashMap<String, LocalSocket>> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, op: &'static str, e: &fred::error::Error) {
        self.metrics.redis_errors.inc();
        self.metrics.redis_up.set(0);
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        tracing::warn!(error = %e, op, "redis presence operation failed; answering locally");
    }

    async fn eval<R: fred::types::FromValue>(
        &self,
        script: &Script,
        argv: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        script
            .evalsha_with_reload::<R, _, _>(&self.client, Vec::<String>::new(), argv)
            .await
    }

    fn record(&self, sid: &str) -> String {
        let mirror = self.mirror();
        let record = mirror.get(sid).map(|s| SocketRecord {
            agent: s.agent.id,
            rooms: s.rooms.iter().cloned().collect(),
        });
        serde_json::to_string(&record).unwrap_or_default()
    }

    fn agent_ref(&self, sid: &str) -> Option<AgentRef> {
        self.mirror().get(sid).map(|s| s.agent.clone())
    }

    pub async fn connect(
        &self,
        agent: &AgentRef,
        sid: &str,
        max: u32,
    ) -> Result<(), TooManyConnections> {
        self.mirror().insert(
            sid.to_owned(),
            LocalSocket {
                agent: agent.clone(),
                rooms: BTreeSet::new(),
            },
        );
        let record = self.record(sid);
        let res = self
            .eval::<i64>(
                &self.scripts.connect,
                args([
                    self.kp.clone(),
                    agent.id.to_string(),
                    sid.to_owned(),
                    max.to_string(),
                    agent.name.clone(),
                    agent.display_name.clone(),
                    timestamp(Utc::now()),
                    self.node.clone(),
                    record,
                ]),
            )
            .await;
        match res {
            Ok(1) => Ok(()),
            Ok(_) => {
                self.mirror().remove(sid);
                Err(TooManyConnections)
            }
            Err(e) => {
                // The cluster-wide cap cannot be checked: let the socket in.
                self.failed("connect", &e);
                Ok(())
            }
        }
    }

    pub async fn disconnect(&self, agent_id: Uuid, sid: &str, rooms: &[String]) -> Vec<RoomChange> {
        let agent = self.agent_ref(sid);
        self.mirror().remove(sid);
        let mut argv = args([
            self.kp.clone(),
            agent_id.to_string(),
            sid.to_owned(),
            self.node.clone(),
        ]);
        argv.extend(rooms.iter().cloned());
        match self
            .eval::<Vec<String>>(&self.scripts.disconnect, argv)
            .await
        {
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

    pub async fn join(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let agent = {
            let mut mirror = self.mirror();
            let entry = mirror.get_mut(sid)?;
            entry.rooms.insert(room.to_owned());
            entry.agent.clone()
        };
        let record = self.record(sid);
        let now = timestamp(Utc::now());
        let res = self
            .eval::<Vec<String>>(
                &self.scripts.join,
                args([
                    self.kp.clone(),
                    agent_id.to_string(),
                    room.to_owned(),
                    sid.to_owned(),
                    now,
                    self.node.clone(),
                    record,
                ]),
            )
            .await;
        match res {
            Ok(v) if v.len() == 6 => {
                if v[0] != "1" {
                    return None;
                }
                Some(RoomChange {
                    room: room.to_owned(),
                    member: MemberView {
                        agent,
                        status: v[3].clone(),
                        note: (v[4] == "1").then(|| v[5].clone()),
                        connections: v[1].parse().unwrap_or(1),
                        since: v[2].clone(),
                    },
                })
            }
            Ok(v) => {
                tracing::error!(reply = ?v, "unexpected presence join reply");
                None
            }
            Err(e) => {
                self.failed("join", &e);
                None
            }
        }
    }

    pub async fn leave(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let agent = {
            let mut mirror = self.mirror();
            let entry = mirror.get_mut(sid)?;
            entry.rooms.remove(room);
            entry.agent.clone()
        };
        let record = self.record(sid);
        let res = self
            .eval::<i64>(
                &self.scripts.leave,
                args([
                    self.kp.clone(),
                    agent_id.to_string(),
                    room.to_owned(),
                    sid.to_owned(),
                    self.node.clone(),
                    record,
                ]),
            )
            .await;
        match res {
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
        for socket in self.mirror().values_mut() {
            if socket.agent.id == agent.id {
                socket.rooms.remove(room);
            }
        }
        let res = self
            .eval::<i64>(
                &self.scripts.evict,
                args([self.kp.clone(), agent.id.to_string(), room.to_owned()]),
            )
            .await;
        match res {
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
        let res = self
            .eval::<Vec<String>>(
                &self.scripts.set_status,
                args([
                    self.kp.clone(),
                    agent_id.to_string(),
                    status.to_owned(),
                    if note.is_some() { "1" } else { "0" }.to_owned(),
                    note.clone().unwrap_or_default(),
                    now.clone(),
                ]),
            )
            .await;
        let agent = self
            .mirror()
            .values()
            .find(|s| s.agent.id == agent_id)
            .map(|s| s.agent.clone())?;
        let view = |connections: u32, since: String| MemberView {
            agent: agent.clone(),
            status: status.to_owned(),
            note: note.clone(),
            connections,
            since,
        };
        match res {
            Ok(v) if v.len() >= 2 => {
                let overall = view(v[1].parse().unwrap_or(1), v[0].clone());
                let rooms = v[2..]
                    .chunks_exact(3)
                    .map(|c| RoomChange {
                        room: c[0].clone(),
                        member: view(c[1].parse().unwrap_or(1), c[2].clone()),
                    })
                    .collect();
                Some((overall, rooms))
            }
            Ok(_) => None,
            Err(e) => {
                self.failed("set_status", &e);
                let local = self
                    .mirror()
                    .values()
                    .filter(|s| s.agent.id == agent_id)
                    .count() as u32;
                Some((view(local, now), Vec::new()))
            }
        }
    }

    pub async fn members(&self, room: &str) -> Vec<MemberView> {
        let res = self
            .eval::<Vec<String>>(
                &self.scripts.members,
                args([self.kp.clone(), room.to_owned()]),
            )
            .await;
        let flat = match res {
            Ok(flat) => flat,
            Err(e) => {
                self.failed("members", &e);
                return Vec::new();
            }
        };
        let mut members: Vec<MemberView> = flat
            .chunks_exact(8)
            .filter_map(|m| {
                Some(MemberView {
                    agent: AgentRef {
                        id: m[0].parse().ok()?,
                        name: m[3].clone(),
                        display_name: m[4].clone(),
                    },
                    status: m[5].clone(),
                    note: (m[6] == "1").then(|| m[7].clone()),
                    connections: m[1].parse().unwrap_or(1),
                    since: m[2].clone(),
                })
            })
            .collect();
        members.sort_by(|a, b| a.agent.name.cmp(&b.agent.name));
        members
    }

    pub async fn is_online(&self, agent_id: Uuid) -> bool {
        let key = format!("{}a:{agent_id}:s", self.kp);
        match self.client.scard::<u64, _>(key).await {
            Ok(n) => n > 0,
            Err(e) => {
                self.failed("is_online", &e);
                self.mirror().values().any(|s| s.agent.id == agent_id)
            }
        }
    }

    /// Writes the heartbeat; when the node was not registered, writes its sockets back.
    pub async fn heartbeat(&self) -> Result<(), fred::error::Error> {
        let added: i64 = self
            .eval(
                &self.scripts.heartbeat,
                args([self.kp.clone(), self.node.clone()]),
            )
            .await?;
        self.metrics.redis_up.set(1);
        if added == 1 {
            self.resync().await?;
        }
        Ok(())
    }

    /// Writes every socket of this node back into Redis (after Redis lost them).
    async fn resync(&self) -> Result<(), fred::error::Error> {
        let sockets: Vec<(String, AgentRef, Vec<String>)> = self
            .mirror()
            .iter()
            .map(|(sid, s)| {
                (
                    sid.clone(),
                    s.agent.clone(),
                    s.rooms.iter().cloned().collect(),
                )
            })
            .collect();
        if !sockets.is_empty() {
            tracing::info!(
                sockets = sockets.len(),
                "writing this node's presence back to redis"
            );
        }
        for (sid, agent, rooms) in sockets {
            let record = self.record(&sid);
            let now = timestamp(Utc::now());
            self.eval::<i64>(
                &self.scripts.connect,
                args([
                    self.kp.clone(),
                    agent.id.to_string(),
                    sid.clone(),
                    u32::MAX.to_string(),
                    agent.name.clone(),
                    agent.display_name.clone(),
                    now.clone(),
                    self.node.clone(),
                    record.clone(),
                ]),
            )
            .await?;
            for room in rooms {
                self.eval::<Vec<String>>(
                    &self.scripts.join,
                    args([
                        self.kp.clone(),
                        agent.id.to_string(),
                        room,
                        sid.clone(),
                        now.clone(),
                        self.node.clone(),
                        record.clone(),
                    ]),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Removes every socket a node left in Redis from presence; returns what was left.
    pub async fn reap_node(&self, node: &str) -> Result<Vec<Reaped>, fred::error::Error> {
        let key = format!("{}n:{node}", self.kp);
        let sockets: HashMap<String, String> = self.client.hgetall(&key).await?;
        let mut reaped = Vec::new();
        for (sid, record) in sockets {
            let Ok(Some(record)) = serde_json::from_str::<Option<SocketRecord>>(&record) else {
                continue;
            };
            let name: Vec<Option<String>> = self
                .client
                .hmget(format!("{}a:{}", self.kp, record.agent), vec!["name", "dn"])
                .await?;
            let mut argv = args([
                self.kp.clone(),
                record.agent.to_string(),
                sid,
                node.to_owned(),
            ]);
            argv.extend(record.rooms);
            let left: Vec<String> = self.eval(&self.scripts.disconnect, argv).await?;
            if !left.is_empty() {
                let mut name = name.into_iter();
                let n = name.next().flatten().unwrap_or_default();
                let dn = name.next().flatten().unwrap_or_else(|| n.clone());
                reaped.push(Reaped {
                    agent: AgentRef {
                        id: record.agent,
                        name: n,
                        display_name: dn,
                    },
                    rooms: left,
                });
            }
        }
        let _: i64 = self.client.del(&key).await?;
        if node != self.node {
            let _: i64 = self.client.zrem(format!("{}nodes", self.kp), node).await?;
        }
        Ok(reaped)
    }

    /// Under the reaper lock, reaps every node whose heartbeat is stale.
    pub async fn reap_dead_nodes(&self) -> Result<Vec<Reaped>, fred::error::Error> {
        let since_failure = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed());
        if since_failure.is_some_and(|d| d < REAP_GRACE_AFTER_OUTAGE) {
            return Ok(Vec::new());
        }
        let dead: Vec<String> = self
            .eval(
                &self.scripts.reap_list,
                args([
                    self.kp.clone(),
                    self.node.clone(),
                    NODE_STALE.as_millis().to_string(),
                    "10000".to_owned(),
                ]),
            )
            .await?;
        let mut reaped = Vec::new();
        for node in &dead {
            tracing::warn!(node = %node, "node heartbeat is stale: removing its sockets from presence");
            reaped.extend(self.reap_node(node).await?);
        }
        let _: i64 = self
            .eval(
                &self.scripts.reap_unlock,
                args([self.kp.clone(), self.node.clone()]),
            )
            .await?;
        Ok(reaped)
    }

    /// Records that Redis failed outside a presence operation (heartbeat, reaper).
    pub fn note_failure(&self, op: &'static str, e: &fred::error::Error) {
        self.failed(op, e);
    }

    /// Forgets this node's heartbeat (graceful shutdown: its sockets are already gone).
    pub async fn unregister(&self) {
        let _: Result<i64, _> = self
            .client
            .zrem(format!("{}nodes", self.kp), self.node.as_str())
            .await;
        let _: Result<i64, _> = self.client.del(format!("{}n:{}", self.kp, self.node)).await;
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
