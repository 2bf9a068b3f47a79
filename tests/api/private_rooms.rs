//! Removing an agent from a private room reaches its sockets on every node (SPEC §5): two
//! `agenthub` processes over Redis, the removal made on one, the removed agent's sockets on
//! both.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::processes::NodePair;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_member_leaves_the_room_on_every_node_within_two_seconds() {
    let db = TestDb::new(Backend::Postgres).await;
    let nodes = NodePair::start(&db).await;
    let (one, two, admin) = (&nodes.one, &nodes.two, nodes.admin.clone());
    let api = one.api();
    let amy = api.create_agent(&admin, "amy", "agent").await.0;
    let bob = api.create_agent(&admin, "bob", "agent").await.0;
    api.create_private_room(&bob, "ops").await;
    let res = api.put("/api/v1/rooms/ops/members/amy", &bob).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let amy_one = Sio::joined(one.addr(), &amy, "ops").await;
    let amy_two = Sio::joined(two.addr(), &amy, "ops").await;
    let bob_two = Sio::joined(two.addr(), &bob, "ops").await;

    // Removed on node 1: both of amy's sockets hear it, bob (node 2) sees her leave.
    let started = std::time::Instant::now();
    let res = api.delete("/api/v1/rooms/ops/members/amy", &bob).await;
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
        .send_message(json!({"room": "ops", "body": "after"}))
        .await;
    assert_eq!(ack["ok"], true);
    api.post_message(&bob, "ops", "after, over REST").await;
    for s in [&amy_one, &amy_two] {
        s.assert_no_event("message:new", Duration::from_millis(700))
            .await;
    }
    // And neither of her sockets can send to it any more, on the node that made the removal
    // or the other one (a joined room is not looked up again on send).
    for s in [&amy_one, &amy_two] {
        let ack = s
            .send_message(json!({"room": "ops", "body": "still here?"}))
            .await;
        assert_eq!(ack["ok"], false, "{ack}");
        assert_eq!(ack["error"]["code"], "not_found", "{ack}");
    }
}
