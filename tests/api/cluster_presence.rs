//! Presence across the nodes of a cluster (SPEC §8): an agent counts once whichever nodes its
//! sockets are on, the socket cap is cluster-wide, a killed node's sockets leave presence (and
//! nothing acknowledged is lost), and a node restarting with its `NODE_ID` clears what its
//! previous life left at once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cluster::{CLUSTER_QUIET, Cluster, about, next_within, send_seq};
use crate::support::services::shared_redis_url;
use crate::support::sio::token_refusal;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_counts_an_agent_once_across_nodes() {
    let c = Cluster::start(3, shared_redis_url(), &[("MAX_SOCKETS_PER_AGENT", "2")]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    c.api(0).create_room(&c.admin_key, "hall").await;
    let mut watchers = Vec::new();
    for (i, name) in ["w1", "w2", "w3"].iter().enumerate() {
        let (key, _) = c.agent(name, "observer").await;
        watchers.push(Sio::joined(c.addr(i), &key, "hall").await);
    }
    let a1 = Sio::joined(c.addr(0), &amy, "hall").await;
    let a2 = Sio::joined(c.addr(1), &amy, "hall").await;
    for w in &watchers {
        let e = tokio::time::timeout(
            Duration::from_secs(5),
            about(w, "presence:join", |e| {
                e["member"]["agent"]["name"] == "amy"
            }),
        )
        .await
        .expect("presence:join for amy on every node");
        assert_eq!(e["member"]["connections"], 1);
    }
    tokio::time::sleep(CLUSTER_QUIET).await;
    for w in &watchers {
        assert!(
            tokio::time::timeout(
                Duration::from_millis(50),
                about(w, "presence:join", |e| e["member"]["agent"]["name"]
                    == "amy")
            )
            .await
            .is_err(),
            "one presence:join for amy's two sockets"
        );
    }

    // One member with two connections, seen from a third node.
    let list = watchers[2]
        .emit("presence:list", json!({"room": "hall"}))
        .await;
    let members = assert_ok(&list)["members"].as_array().unwrap().clone();
    let amy_member = members
        .iter()
        .find(|m| m["agent"]["name"] == "amy")
        .expect("amy is a member");
    assert_eq!(amy_member["connections"], 2);
    assert_eq!(members.len(), 4, "{members:?}");
    let rest = c.get(2, "/api/v1/rooms/hall/presence").await;
    assert_eq!(rest["members"].as_array().unwrap().len(), 4);
    let agent = c.get(2, "/api/v1/agents/amy").await;
    assert_eq!(agent["online"], true);

    // The socket cap is cluster-wide: a third socket on a third node is refused.
    assert_eq!(
        token_refusal(c.addr(2), &amy).await,
        "too_many_connections",
        "a third socket over a cap of 2"
    );

    // Status is the agent's, cluster-wide.
    assert_ok(
        &a1.emit(
            "presence:set",
            json!({"status": "busy", "note": "deep work"}),
        )
        .await,
    );
    let update = watchers[1].next_event("presence:update").await;
    assert_eq!(update["member"]["status"], "busy");
    assert_eq!(update["member"]["connections"], 2);

    // Closing one socket emits nothing; closing the second, one leave seen on every node.
    a1.close().await;
    for w in &watchers {
        w.assert_no_event("presence:leave", CLUSTER_QUIET).await;
    }
    a2.close().await;
    for w in &watchers {
        let e = w.next_event("presence:leave").await;
        assert_eq!(e["agent"]["name"], "amy");
        assert_eq!(e["room"], "hall");
        w.assert_no_event("presence:leave", CLUSTER_QUIET).await;
    }
    let agent = c.get(0, "/api/v1/agents/amy").await;
    assert_eq!(agent["online"], false);

    // Status and note reset once the last socket anywhere is gone.
    let again = Sio::joined(c.addr(2), &amy, "hall").await;
    let list = again.emit("presence:list", json!({"room": "hall"})).await;
    let amy_member = assert_ok(&list)["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["agent"]["name"] == "amy")
        .cloned()
        .unwrap();
    assert_eq!(amy_member["status"], "online");
    assert_eq!(amy_member["note"], Value::Null);
    assert_eq!(amy_member["connections"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_leaves_presence_and_loses_nothing_acknowledged() {
    let mut c = Cluster::start(3, shared_redis_url(), &[]).await;
    let [amy, bob, cat] = c.agents(["amy", "bob", "cat"]).await;
    let b = Sio::joined(c.addr(0), &bob, "ops").await;
    let k = Sio::joined(c.addr(2), &cat, "ops").await;
    let a = Sio::joined(c.addr(1), &amy, "ops").await;
    b.next_event("presence:join").await;
    k.next_event("presence:join").await;

    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(send_seq(&a, "ops", &format!("before {i}")).await);
    }
    let last_seen = *acked.last().unwrap();

    c.nodes[1].kill9();
    let killed = Instant::now();
    assert!(a.closed_within(Duration::from_secs(5)).await);
    // Messages sent while amy is away.
    let mut missed = Vec::new();
    for i in 0..3 {
        let seq = send_seq(&b, "ops", &format!("while away {i}")).await;
        acked.push(seq);
        missed.push(seq);
    }
    // Both live nodes see amy leave within 15 s.
    for s in [&b, &k] {
        let limit = Duration::from_secs(15).saturating_sub(killed.elapsed());
        let what = "presence:leave within 15 s of the kill";
        let left = next_within(s, "presence:leave", limit, what).await;
        assert_eq!(left["agent"]["name"], "amy");
        assert_eq!(left["room"], "ops");
    }
    let members = c.get(0, "/api/v1/rooms/ops/presence").await;
    let names = member_names(members["members"].as_array().unwrap());
    assert_eq!(names, ["bob", "cat"]);

    // Nothing acknowledged before the kill is missing from history.
    let history = c.history_seqs(2, "ops").await;
    for seq in &acked {
        assert!(history.contains(seq), "seq {seq} is in history {history:?}");
    }
    assert_eq!(history, (1..=history.len() as i64).collect::<Vec<_>>());

    // Amy reconnects to another node and gets exactly what she missed.
    let a = Sio::connect(c.addr(2), &amy).await;
    let ack = a
        .emit("room:join", json!({"room": "ops", "since": last_seen}))
        .await;
    let got = seqs(assert_ok(&ack)["missed"].as_array().unwrap());
    assert_eq!(got, missed);
    assert_eq!(ack["missed_truncated"], false);
}

/// A node that comes back with the same `NODE_ID` clears what its previous life left in
/// Redis at once, well before the reaper would (a node is dead after ~8 s of silence).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarting_with_its_id_clears_its_stale_presence_at_once() {
    let mut c = Cluster::start(1, shared_redis_url(), &[]).await;
    let [amy, bob] = c.agents(["amy", "bob"]).await;
    c.extra_env
        .push(("NODE_ID".into(), "restarting-node".into()));
    let first = c.add_node().await;
    let b = Sio::joined(c.addr(0), &bob, "ops").await;
    let a = Sio::joined(c.addr(first), &amy, "ops").await;
    b.next_event("presence:join").await;

    c.nodes[first].kill9();
    let killed = Instant::now();
    assert!(a.closed_within(Duration::from_secs(5)).await);
    let again = c.add_node().await;
    c.extra_env.pop();
    let limit = Duration::from_secs(6).saturating_sub(killed.elapsed());
    let what = "the restarted node cleared amy's stale presence before any reaper could";
    let left = next_within(&b, "presence:leave", limit, what).await;
    assert_eq!(left["agent"]["name"], "amy");

    // Back on the restarted node, amy is one member with one connection.
    let _a = Sio::joined(c.addr(again), &amy, "ops").await;
    let members = c.get(0, "/api/v1/rooms/ops/presence").await;
    let amy_member: Vec<&Value> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["agent"]["name"] == "amy")
        .collect();
    assert_eq!(amy_member.len(), 1, "{members}");
    assert_eq!(amy_member[0]["connections"], 1, "{members}");
}
