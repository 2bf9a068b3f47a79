//! Removing an agent from a private room reaches its sockets on every node (SPEC §5): two
//! `agenthub` processes over Redis, the removal made on one, the removed agent's sockets on
//! both.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::fleet::{NodePair, agent_key};
use crate::helpers::{Backend, TestDb};
use crate::sio::Sio;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_member_leaves_the_room_on_every_node_within_two_seconds() {
    let db = TestDb::new(Backend::Postgres).await;
    let nodes = NodePair::start(&db).await;
    let (one, two, admin) = (&nodes.one, &nodes.two, nodes.admin.clone());
    let base = one.base();
    let amy = agent_key(&base, &admin, "amy").await;
    let bob = agent_key(&base, &admin, "bob").await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/api/v1/rooms"))
        .bearer_auth(&bob)
        .json(&json!({"name": "ops", "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = http
        .put(format!("{base}/api/v1/rooms/ops/members/amy"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let join = async |addr, key: &str| {
        let s = Sio::connect(addr, key).await;
        assert_eq!(
            s.emit("room:join", json!({"room": "ops"})).await["ok"],
            true
        );
        s
    };
    let amy_one = join(one.addr(), &amy).await;
    let amy_two = join(two.addr(), &amy).await;
    let bob_two = join(two.addr(), &bob).await;

    // Removed on node 1: both of amy's sockets hear it, bob (node 2) sees her leave.
    let started = std::time::Instant::now();
    let res = http
        .delete(format!("{base}/api/v1/rooms/ops/members/amy"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for s in [&amy_one, &amy_two] {
        assert_eq!(s.next_event("room:removed").await, json!({"room": "ops"}));
    }
    let left = bob_two.next_event("presence:leave").await;
    assert_eq!(left["agent"]["name"], "amy");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Nothing of the room reaches either of amy's sockets any more, from either node.
    let ack = bob_two
        .emit("message:send", json!({"room": "ops", "body": "after"}))
        .await;
    assert_eq!(ack["ok"], true);
    let res = http
        .post(format!("{}/api/v1/rooms/ops/messages", one.base()))
        .bearer_auth(&bob)
        .json(&json!({"body": "after, over REST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    for s in [&amy_one, &amy_two] {
        s.assert_no_event("message:new", Duration::from_millis(700))
            .await;
    }
}
