//! Direct messages over Socket.IO (SPEC §5): `dm:send`, who receives and may read a `dm:`
//! room, and REST posts to one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn a_dm_reaches_every_socket_of_both_agents_once_except_the_sending_one(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    // Some sockets share a room too: that must not double the delivery.
    let [a1, a2, b1] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let b2 = Sio::connect(app.addr, &bob).await;
    let c_room = joined(&app, &carl, "lobby").await;
    let c_none = Sio::connect(app.addr, &carl).await;
    let ack = a1
        .send_dm(json!({"to": "bob", "body": "psst", "client_id": "d-1"}))
        .await;
    let message = assert_new_message(&ack);
    assert_eq!(message["room"], "dm:amy:bob");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["body"], "psst");
    assert_ref(&message["sender"], "amy");
    let everyone = [&a1, &a2, &b1, &b2, &c_room, &c_none];
    let what = "once per socket, to nobody else";
    assert_delivered_once(message, &[&a2, &b1, &b2], &everyone, what).await;
    // A repeat of the client_id: the stored DM, delivered to nobody.
    let again = a2
        .send_dm(json!({"to": "bob", "body": "other", "client_id": "d-1"}))
        .await;
    assert_ok(&again);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"], *message);
    b1.assert_no_event("message:new", QUIET).await;
}

async fn a_dm_room_is_named_after_both_agents_sorted_whoever_sends(app: TestApp) {
    let [amy, zed] = app.create_agents(["amy", "zed"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let z = Sio::connect(app.addr, &zed).await;
    let ack = z.send_dm(json!({"to": "amy", "body": "one"})).await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["room"], "dm:amy:zed");
    assert_eq!(ack["message"]["seq"], 1);
    assert_eq!(a.next_event("message:new").await, ack["message"]);
    let ack = a.send_dm(json!({"to": "zed", "body": "two"})).await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["room"], "dm:amy:zed");
    assert_eq!(ack["message"]["seq"], 2);
    assert_eq!(z.next_event("message:new").await, ack["message"]);
    let room = json_of(app.get("/api/v1/rooms/dm:amy:zed", &amy).await).await;
    assert_eq!(room["private"], true, "{room}");
    assert_eq!(room["created_by"], "zed", "created by the first sender");
}

async fn a_dm_to_oneself_is_bad_request_and_to_unknown_or_disabled_agents_not_found(app: TestApp) {
    let [amy, _bob] = app.create_agents(["amy", "bob"]).await;
    set_disabled(&app, "bob", true).await;
    let a = Sio::connect(app.addr, &amy).await;
    for (payload, code) in [
        (json!({"to": "amy", "body": "me"}), "bad_request"),
        (json!({"to": "ghost", "body": "boo"}), "not_found"),
        (json!({"to": "bob", "body": "hello?"}), "not_found"),
        (json!({"to": "Bad Name", "body": "x"}), "bad_request"),
        (json!({"to": 5, "body": "x"}), "bad_request"),
        (json!({"body": "x"}), "bad_request"),
    ] {
        assert_error(&a.send_dm(payload).await, code);
    }
    let listed = json_of(app.get("/api/v1/rooms", &amy).await).await;
    assert_eq!(
        listed["rooms"],
        json!([]),
        "no dm room was created: {listed}"
    );
}

async fn a_dm_that_fails_validation_is_not_half_stored(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    for (payload, code) in [
        (json!({"to": "bob", "body": ""}), "bad_request"),
        (json!({"to": "bob", "body": 1}), "bad_request"),
        (
            json!({"to": "bob", "body": "x", "metadata": "no"}),
            "bad_request",
        ),
        (json!({"to": "bob", "body": "nul \u{0000}"}), "bad_request"),
        (
            json!({"to": "bob", "body": "x".repeat(16_385)}),
            "payload_too_large",
        ),
    ] {
        assert_error(&a.send_dm(payload).await, code);
    }
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
        &o.send_dm(json!({"to": "amy", "body": "hi"})).await,
        "forbidden",
    );
    a.assert_no_event("message:new", QUIET).await;
}

async fn only_the_two_agents_and_admins_read_or_join_a_dm_room(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    for i in 1..=3 {
        assert_ok(
            &a.send_dm(json!({"to": "bob", "body": format!("d{i}")}))
                .await,
        );
    }
    let c = Sio::connect(app.addr, &carl).await;
    expect_ack_errors(
        &c,
        "not_found",
        [
            ("message:history", json!({"room": "dm:amy:bob"})),
            ("room:join", json!({"room": "dm:amy:bob", "since": 0})),
            ("presence:list", json!({"room": "dm:amy:bob"})),
        ],
    )
    .await;
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
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.send_dm(json!({"to": "amy", "body": "hey"})).await);
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
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    let c = Sio::connect(app.addr, &carl).await;
    // bob opens the DM from his socket; amy's socket is in no room.
    let opened = b.send_dm(json!({"to": "amy", "body": "open"})).await;
    assert_ok(&opened);
    assert_eq!(a.next_event("message:new").await, opened["message"]);
    let posted = app.post_message(&amy, "dm:amy:bob", "via REST").await;
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
    let res = post_to(&app, &carl, "dm:amy:bob", json!({"body": "intrude"})).await;
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
