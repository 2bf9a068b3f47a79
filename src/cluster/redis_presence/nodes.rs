//! This node in the cluster's presence: its heartbeat, writing its sockets back after Redis
//! lost them, and reaping the sockets of nodes that died (SPEC §8).

use std::collections::HashMap;
use std::time::Duration;

use fred::interfaces::{HashesInterface, KeysInterface, SortedSetsInterface};

use super::mirror::SocketRecord;
use super::scripts::strings;
use super::{Reaped, RedisPresence};
use crate::model::AgentRef;

/// A node whose heartbeat is older than this is dead; its sockets leave presence.
pub const NODE_STALE: Duration = Duration::from_secs(8);
/// How often a node writes its heartbeat and looks for dead nodes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// After Redis comes back, wait this long before reaping: every live node needs a chance to
/// write a heartbeat first, or an outage would make them all look dead.
const REAP_GRACE_AFTER_OUTAGE: Duration = Duration::from_secs(10);
/// The reaper lock expires after this long, should its holder die while reaping.
const REAPER_LOCK: Duration = Duration::from_secs(10);

impl RedisPresence {
    /// Writes the heartbeat; when the node was not registered, writes its sockets back.
    pub async fn heartbeat(&self) -> Result<(), fred::error::Error> {
        let keys = vec![self.keys.nodes()];
        let added: i64 = self
            .eval(&self.scripts.heartbeat, keys, strings([self.node.as_str()]))
            .await?;
        self.metrics.redis_up.set(1);
        if added == 1 {
            self.resync().await?;
        }
        Ok(())
    }

    /// Writes every socket of this node back into Redis (after Redis lost them).
    async fn resync(&self) -> Result<(), fred::error::Error> {
        let sockets = self.mirror.snapshot();
        if !sockets.is_empty() {
            tracing::info!(
                sockets = sockets.len(),
                "writing this node's presence back to redis"
            );
        }
        for (sid, agent, rooms) in sockets {
            self.register(&agent, &sid, u32::MAX).await?;
            for room in rooms {
                self.add_to_room(&room, agent.id, &sid).await?;
            }
        }
        Ok(())
    }

    /// Removes every socket a node left in Redis from presence; returns what was left.
    pub async fn reap_node(&self, node: &str) -> Result<Vec<Reaped>, fred::error::Error> {
        let key = self.keys.node(node);
        let sockets: HashMap<String, String> = self.client.hgetall(&key).await?;
        let mut reaped = Vec::new();
        for (sid, record) in sockets {
            let Ok(Some(record)) = serde_json::from_str::<Option<SocketRecord>>(&record) else {
                continue;
            };
            let name: Vec<Option<String>> = self
                .client
                .hmget(self.keys.agent(record.agent), vec!["name", "dn"])
                .await?;
            let left = self.forget(node, record.agent, &sid, &record.rooms).await?;
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
            let _: i64 = self.client.zrem(self.keys.nodes(), node).await?;
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
        let keys = vec![self.keys.reaper(), self.keys.nodes()];
        let argv = strings([
            self.node.clone(),
            NODE_STALE.as_millis().to_string(),
            REAPER_LOCK.as_millis().to_string(),
        ]);
        let dead: Vec<String> = self.eval(&self.scripts.reap_list, keys, argv).await?;
        let mut reaped = Vec::new();
        for node in &dead {
            tracing::warn!(node = %node, "node heartbeat is stale: removing its sockets from presence");
            reaped.extend(self.reap_node(node).await?);
        }
        let keys = vec![self.keys.reaper()];
        let _: i64 = self
            .eval(
                &self.scripts.reap_unlock,
                keys,
                strings([self.node.as_str()]),
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
        let nodes = self.keys.nodes();
        let _: Result<i64, _> = self.client.zrem(nodes, self.node.as_str()).await;
        let _: Result<i64, _> = self.client.del(self.keys.node(&self.node)).await;
    }
}
