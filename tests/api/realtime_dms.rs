//! Direct messages over Socket.IO (SPEC §5): `dm:send`, who receives and may read a `dm:`
//! room, and REST posts to one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{assert_ok, joined, json_of, key_set, keys};
use crate::helpers::TestApp;
use crate::sio::Sio;

use crate::realtime_events::*;

async fn a_dm_reaches_every_socket_of_both_agents_once_except_the_sending_one(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    // Some sockets share a room too: that must not double the delivery.
    let a1 = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let b1 = joined(&app, &bob, "lobby").await;
    let b2 = Sio::connect(app.addr, &bob).await;
    let c_room = joined(&app, &carl, "lobby").await;
    let c_none = Sio::connect(app.addr, &carl).await;
    let ack = a1
        .emit(
            "dm:send",
            json!({"to": "bob", "body": "psst", "client_id": "d-1"}),
        )
        .await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["ok", "message", "duplicate"]));
    assert_eq!(ack["duplicate"], false);
    let message = &ack["message"];
    assert_message_shape(message);
    assert_eq!(message["room"], "dm:amy:bob");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["body"], "psst");
    assert_ref(&message["sender"], "amy");
    for s in [&a2, &b1, &b2] {
        assert_eq!(s.next_event("message:new").await, *message);
    }
    tokio::time::sleep(QUIET).await;
    for s in [&a1, &a2, &b1, &b2, &c_room, &c_none] {
        assert_eq!(
            s.count("message:new").await,
            0,
            "once per socket, to nobody else"
        );
    }
    // A repeat of the client_id: the stored DM, delivered to nobody.
    let again = a2
        .emit(
            "dm:send",
            json!({"to": "bob", "body": "other", "client_id": "d-1"}),
        )
        .await;
    assert_ok(&again);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"], *message);
    b1.assert_no_event("message:new", QUIET).await;
}

async fn a_dm_room_is_named_after_both_agents_sorted_whoever_sends(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let zed = app.create_agent("zed", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let z = Sio::connect(app.addr, &zed).await;
    let ack = z.emit("dm:send", json!({"to": "amy", "body": "one"})).await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["room"], "dm:amy:zed");
    assert_eq!(ack["message"]["seq"], 1);
    assert_eq!(a.next_event("message:new").await, ack["message"]);
    let ack = a.emit("dm:send", json!({"to": "zed", "body": "two"})).await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["room"], "dm:amy:zed");
    assert_eq!(ack["message"]["seq"], 2);
    assert_eq!(z.next_event("message:new").await, ack["message"]);
    let room = json_of(app.get("/api/v1/rooms/dm:amy:zed", &amy).await).await;
    assert_eq!(room["private"], true, "{room}");
    assert_eq!(room["created_by"], "zed", "created by the first sender");
}

async fn a_dm_to_oneself_is_bad_request_and_to_unknown_or_disabled_agents_not_found(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let _bob = app.create_agent("bob", "agent").await;
    let res = app
        .patch(
            "/api/v1/agents/bob",
            &app.admin_key,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let a = Sio::connect(app.addr, &amy).await;
    assert_error(
        &a.emit("dm:send", json!({"to": "amy", "body": "me"})).await,
        "bad_request",
    );
    assert_error(
        &a.emit("dm:send", json!({"to": "ghost", "body": "boo"}))
            .await,
        "not_found",
    );
    assert_error(
        &a.emit("dm:send", json!({"to": "bob", "body": "hello?"}))
            .await,
        "not_found",
    );
    for payload in [
        json!({"to": "Bad Name", "body": "x"}),
        json!({"to": 5, "body": "x"}),
        json!({"body": "x"}),
    ] {
        assert_error(&a.emit("dm:send", payload).await, "bad_request");
    }
    let listed = json_of(app.get("/api/v1/rooms", &amy).await).await;
    assert_eq!(
        listed["rooms"],
        json!([]),
        "no dm room was created: {listed}"
    );
}

async fn a_dm_that_fails_validation_is_not_half_stored(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    for payload in [
        json!({"to": "bob", "body": ""}),
        json!({"to": "bob", "body": 1}),
        json!({"to": "bob", "body": "x", "metadata": "no"}),
        json!({"to": "bob", "body": "nul \u{0000}"}),
    ] {
        assert_error(&a.emit("dm:send", payload).await, "bad_request");
    }
    assert_error(
        &a.emit("dm:send", json!({"to": "bob", "body": "x".repeat(16_385)}))
            .await,
        "payload_too_large",
    );
    b.assert_no_event("message:new", QUIET).await;
    // A failed send stores nothing: no message, and no dm room either.
    for key in [&amy, &bob] {
        let listed = json_of(app.get("/api/v1/rooms", key).await).await;
        assert_eq!(
            listed["rooms"],
            json!([]),
            "no dm room was created: {listed}"
        );
    }
    let res = app.get("/api/v1/rooms/dm:amy:bob", &amy).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn observers_cannot_send_dms(app: TestApp) {
    let olga = app.create_agent("olga", "observer").await;
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let o = Sio::connect(app.addr, &olga).await;
    assert_error(
        &o.emit("dm:send", json!({"to": "amy", "body": "hi"})).await,
        "forbidden",
    );
    a.assert_no_event("message:new", QUIET).await;
}

async fn only_the_two_agents_and_admins_read_or_join_a_dm_room(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    for i in 1..=3 {
        assert_ok(
            &a.emit("dm:send", json!({"to": "bob", "body": format!("d{i}")}))
                .await,
        );
    }
    let c = Sio::connect(app.addr, &carl).await;
    assert_error(
        &c.emit("message:history", json!({"room": "dm:amy:bob"}))
            .await,
        "not_found",
    );
    assert_error(
        &c.emit("room:join", json!({"room": "dm:amy:bob", "since": 0}))
            .await,
        "not_found",
    );
    assert_error(
        &c.emit("presence:list", json!({"room": "dm:amy:bob"})).await,
        "not_found",
    );
    let res = app.get("/api/v1/rooms/dm:amy:bob/messages", &carl).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Both agents and an admin read it, and join it to replay with `since`.
    for key in [&amy, &bob, &app.admin_key] {
        let s = Sio::connect(app.addr, key).await;
        let ack = s
            .emit("message:history", json!({"room": "dm:amy:bob"}))
            .await;
        assert_ok(&ack);
        assert_eq!(
            bodies(ack["messages"].as_array().unwrap()),
            ["d1", "d2", "d3"]
        );
        let ack = s
            .emit("room:join", json!({"room": "dm:amy:bob", "since": 1}))
            .await;
        assert_ok(&ack);
        assert_eq!(seqs(ack["missed"].as_array().unwrap()), [2, 3]);
    }
}

async fn the_dm_room_is_listed_for_its_two_agents_only(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.emit("dm:send", json!({"to": "amy", "body": "hey"})).await);
    let names = |v: Value| -> Vec<String> {
        v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for key in [&amy, &bob] {
        let listed = json_of(app.get("/api/v1/rooms", key).await).await;
        assert_eq!(names(listed), ["dm:amy:bob"]);
    }
    for key in [&carl, &app.admin_key] {
        let listed = json_of(app.get("/api/v1/rooms", key).await).await;
        assert!(names(listed).is_empty(), "not listed for others");
    }
}

async fn a_rest_post_to_a_dm_room_by_one_of_its_agents_is_delivered_as_a_dm(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    let c = Sio::connect(app.addr, &carl).await;
    // bob opens the DM from his socket; amy's socket is in no room.
    let opened = b
        .emit("dm:send", json!({"to": "amy", "body": "open"}))
        .await;
    assert_ok(&opened);
    assert_eq!(a.next_event("message:new").await, opened["message"]);
    let posted = rest_post(&app, &amy, "dm:amy:bob", "via REST").await;
    assert_eq!(posted["room"], "dm:amy:bob");
    assert_eq!(posted["seq"], 2);
    assert_eq!(b.next_event("message:new").await, posted);
    assert_eq!(
        a.next_event("message:new").await,
        posted,
        "no sending socket over REST"
    );
    c.assert_no_event("message:new", QUIET).await;
    // Anyone else posting to it: it does not exist for them.
    let res = app
        .post(
            "/api/v1/rooms/dm:amy:bob/messages",
            &carl,
            json!({"body": "intrude"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

crate::on_both_backends!(
    a_dm_reaches_every_socket_of_both_agents_once_except_the_sending_one,
    a_dm_room_is_named_after_both_agents_sorted_whoever_sends,
    a_dm_to_oneself_is_bad_request_and_to_unknown_or_disabled_agents_not_found,
    a_dm_that_fails_validation_is_not_half_stored,
    observers_cannot_send_dms,
    only_the_two_agents_and_admins_read_or_join_a_dm_room,
    the_dm_room_is_listed_for_its_two_agents_only,
    a_rest_post_to_a_dm_room_by_one_of_its_agents_is_delivered_as_a_dm,
);
