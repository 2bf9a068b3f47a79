//! Read cursors (SPEC §11): `cursor:set` and its paced `cursor:update`, the joining agent's
//! `cursor` in the `room:join` ack, `PUT /rooms/{name}/cursor`, `GET /rooms/{name}/cursors`
//! and `GET /me/unread`.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// The fields of a cursor (the `cursor:set` ack's `cursor`, `PUT /rooms/{name}/cursor`).
const CURSOR_FIELDS: [&str; 3] = ["room", "seq", "updated_at"];

/// `cursor:set` on `s`, asserting an ok ack of the documented shape: the cursor.
async fn cursor_set(s: &Sio, room: &str, seq: i64) -> Value {
    let ack = s
        .emit("cursor:set", json!({"room": room, "seq": seq}))
        .await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["ok", "cursor"]), "ack {ack}");
    assert_cursor(&ack["cursor"], room);
    ack["cursor"].clone()
}

#[track_caller]
fn assert_cursor(c: &Value, room: &str) {
    assert_eq!(keys(c), key_set(&CURSOR_FIELDS), "cursor {c}");
    assert_eq!(c["room"], room, "cursor {c}");
    assert!(c["seq"].is_i64(), "cursor {c}");
    assert_recent_timestamp(&c["updated_at"]);
}

/// `PUT /rooms/{room}/cursor` with `body` as `key`.
async fn put_cursor(app: &TestApp, key: &str, room: &str, body: Value) -> Response {
    Call::put(format!("/api/v1/rooms/{room}/cursor"), key)
        .with_body(body)
        .send(app)
        .await
}

/// `PUT /rooms/{room}/cursor {"seq"}` as `key`, asserting 200: the cursor.
async fn put_cursor_ok(app: &TestApp, key: &str, room: &str, seq: i64) -> Value {
    let res = put_cursor(app, key, room, json!({"seq": seq})).await;
    let cursor = expect_json(res, StatusCode::OK).await;
    assert_cursor(&cursor, room);
    cursor
}

/// A `cursor:update` of `agent` in `room` at `seq`.
#[track_caller]
fn assert_cursor_update(v: &Value, room: &str, agent: &str, seq: i64) {
    assert_eq!(
        keys(v),
        key_set(&["room", "agent", "seq"]),
        "cursor:update {v}"
    );
    assert_eq!(v["room"], room, "cursor:update {v}");
    assert_ref(&v["agent"], agent);
    assert_eq!(v["seq"], seq, "cursor:update {v}");
}

/// The next `cursor:update` on `s`, which must arrive within `within`.
async fn update_within(s: &Sio, within: Duration) -> Value {
    tokio::time::timeout(within, s.next_event_quiet("cursor:update"))
        .await
        .unwrap_or_else(|_| panic!("no cursor:update within {within:?}"))
}

/// `GET /rooms/{room}/cursors` as `key`, asserting 200: the cursors.
async fn room_cursors(app: &TestApp, key: &str, room: &str) -> Vec<Value> {
    let list = app
        .get_ok(&format!("/api/v1/rooms/{room}/cursors"), key)
        .await;
    list["cursors"]
        .as_array()
        .expect("cursors is an array")
        .clone()
}

/// `GET /me/unread` as `key`: the rooms.
async fn unread(app: &TestApp, key: &str) -> Vec<Value> {
    let list = app.get_ok("/api/v1/me/unread", key).await;
    let rooms = list["rooms"].as_array().expect("rooms is an array").clone();
    for r in &rooms {
        assert_eq!(
            keys(r),
            key_set(&["room", "last_seq", "cursor", "unread"]),
            "unread room {r}"
        );
    }
    rooms
}

fn unread_room(room: &str, last_seq: i64, cursor: i64) -> Value {
    json!({"room": room, "last_seq": last_seq, "cursor": cursor, "unread": last_seq - cursor})
}

/// Posts `n` messages to `room` as `key`.
async fn post_n(app: &TestApp, key: &str, room: &str, n: usize) {
    for i in 1..=n {
        app.post_message(key, room, &format!("m{i}")).await;
    }
}

async fn cursor_set_answers_the_cursor_and_tells_the_rooms_other_sockets(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let elsewhere = joined(&app, &bob, "side").await;
    let nowhere = Sio::connect(app.addr, &bob).await;
    post_n(&app, &amy, "lobby", 3).await;
    let cursor = cursor_set(&a1, "lobby", 2).await;
    assert_eq!(cursor["seq"], 2);
    // The room's other sockets, the setter's other socket included.
    for s in [&b, &a2] {
        assert_cursor_update(&s.next_event("cursor:update").await, "lobby", "amy", 2);
    }
    a1.assert_no_event("cursor:update", QUIET).await;
    for s in [&elsewhere, &nowhere] {
        assert_eq!(s.count("cursor:update").await, 0, "not in the room");
    }
    assert_eq!(b.count("cursor:update").await, 0, "one update per move");
    let cursors = room_cursors(&app, &bob, "lobby").await;
    assert_eq!(cursors.len(), 1, "{cursors:?}");
    assert_ref(&cursors[0]["agent"], "amy");
    assert_eq!(cursors[0]["seq"], 2);
    assert_eq!(cursors[0]["updated_at"], cursor["updated_at"]);
}

async fn a_cursor_only_moves_forward(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 3).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stored = cursor_set(&a, "lobby", 3).await;
    assert_eq!(stored["seq"], 3);
    assert_cursor_update(&b.next_event("cursor:update").await, "lobby", "amy", 3);
    // A lower (or the same) seq answers the stored cursor, untouched.
    for seq in [2, 0, 3] {
        assert_eq!(cursor_set(&a, "lobby", seq).await, stored, "seq {seq}");
    }
    assert_eq!(put_cursor_ok(&app, &amy, "lobby", 1).await, stored);
    // Nothing moved: no update now, nor when the pacing second is over.
    b.assert_no_event("cursor:update", Duration::from_millis(1_300))
        .await;
    a.assert_no_event("cursor:update", Duration::ZERO).await;
    let cursors = room_cursors(&app, &bob, "lobby").await;
    assert_eq!(cursors.len(), 1, "{cursors:?}");
    assert_eq!(cursors[0]["seq"], 3);
    assert_eq!(cursors[0]["updated_at"], stored["updated_at"]);
}

async fn cursor_set_refuses_a_seq_past_the_rooms_last_seq_or_below_zero(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 2).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    expect_ack_errors(
        &a,
        "bad_request",
        [
            json!({"room": "lobby", "seq": 3}),
            json!({"room": "lobby", "seq": 1000}),
            json!({"room": "lobby", "seq": -1}),
            json!({"room": "lobby", "seq": "2"}),
            json!({"room": "lobby", "seq": 1.5}),
            json!({"room": "lobby", "seq": null}),
            json!({"room": "lobby"}),
            json!({"seq": 1}),
            json!({"room": 5, "seq": 1}),
            json!({"room": "Not A Name", "seq": 1}),
        ]
        .map(|p| ("cursor:set", p)),
    )
    .await;
    expect_ack_errors(
        &a,
        "not_found",
        [("cursor:set", json!({"room": "nowhere", "seq": 0}))],
    )
    .await;
    for args in [vec![json!("lobby")], vec![json!(2)], vec![]] {
        let ack = a.emit_args("cursor:set", args.clone()).await;
        assert_error(&ack, "bad_request");
    }
    b.assert_no_event("cursor:update", QUIET).await;
    assert_eq!(room_cursors(&app, &amy, "lobby").await, Vec::<Value>::new());

    // `last_seq` is the room's as it is now: a new message makes seq 3 acceptable.
    send(&b, "lobby", "three").await;
    assert_eq!(cursor_set(&a, "lobby", 3).await["seq"], 3);
    // An empty room takes seq 0 and nothing past it.
    app.create_room(&amy, "empty").await;
    assert_eq!(cursor_set(&a, "empty", 0).await["seq"], 0);
    assert_error(
        &a.emit("cursor:set", json!({"room": "empty", "seq": 1}))
            .await,
        "bad_request",
    );
    // Without an ack callback, a failure is a hub:error.
    let quiet = Sio::connect(app.addr, &amy).await;
    quiet.emit_noack("cursor:set", json!({"room": "lobby", "seq": 99}));
    let err = quiet.next_event("hub:error").await;
    assert_eq!(err["event"], "cursor:set", "{err}");
    assert_eq!(err["code"], "bad_request", "{err}");
    assert!(err["message"].is_string(), "{err}");
}

async fn cursor_set_needs_read_access_only(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 2).await;
    app.create_private_room(&amy, "secret").await;
    post_n(&app, &amy, "secret", 1).await;
    let watcher = joined(&app, &amy, "lobby").await;
    // Sockets that joined nothing.
    let b = Sio::connect(app.addr, &bob).await;
    let o = Sio::connect(app.addr, &olga).await;
    let c = Sio::connect(app.addr, &carl).await;
    assert_ok(&b.send_dm(json!({"to": "amy", "body": "hi"})).await);

    assert_eq!(cursor_set(&b, "lobby", 2).await["seq"], 2);
    assert_cursor_update(
        &watcher.next_event("cursor:update").await,
        "lobby",
        "bob",
        2,
    );
    assert_eq!(cursor_set(&o, "lobby", 1).await["seq"], 1, "observers read");
    assert_cursor_update(
        &watcher.next_event("cursor:update").await,
        "lobby",
        "olga",
        1,
    );
    assert_eq!(cursor_set(&b, "dm:amy:bob", 1).await["seq"], 1);
    let a = Sio::connect(app.addr, &amy).await;
    assert_eq!(cursor_set(&a, "secret", 1).await["seq"], 1);

    // Rooms carl cannot read do not exist for him.
    for room in ["secret", "dm:amy:bob"] {
        assert_error(
            &c.emit("cursor:set", json!({"room": room, "seq": 1})).await,
            "not_found",
        );
        expect_refusals(
            &app,
            StatusCode::NOT_FOUND,
            [
                Call::put(format!("/api/v1/rooms/{room}/cursor"), &carl)
                    .with_body(json!({"seq": 1})),
                Call::get(format!("/api/v1/rooms/{room}/cursors"), &carl),
            ],
        )
        .await;
    }
    assert_eq!(unread(&app, &carl).await, Vec::<Value>::new());
}

async fn room_join_answers_the_joining_agents_own_cursor(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 4).await;
    let first = join(&Sio::connect(app.addr, &amy).await, "lobby").await;
    assert_eq!(first["cursor"], Value::Null, "no cursor yet: {first}");
    put_cursor_ok(&app, &amy, "lobby", 2).await;
    let b = Sio::connect(app.addr, &bob).await;
    cursor_set(&b, "lobby", 3).await;
    for (key, cursor) in [(&amy, json!(2)), (&bob, json!(3)), (&carl, Value::Null)] {
        let ack = join(&Sio::connect(app.addr, key).await, "lobby").await;
        assert_eq!(ack["cursor"], cursor, "{ack}");
    }
    // A client that keeps no state rejoins with since = cursor.
    let s = Sio::connect(app.addr, &amy).await;
    let ack = s
        .emit("room:join", json!({"room": "lobby", "since": 2}))
        .await;
    assert_ok(&ack);
    assert_eq!(ack["cursor"], 2);
    assert_eq!(seqs(ack["missed"].as_array().unwrap()), [3, 4]);
}

async fn cursor_updates_are_paced_to_one_a_second_and_the_last_value_wins(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 5).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    cursor_set(&a1, "lobby", 1).await;
    let first_sent = Instant::now();
    assert_cursor_update(&b.next_event("cursor:update").await, "lobby", "amy", 1);
    assert_cursor_update(&a2.next_event("cursor:update").await, "lobby", "amy", 1);
    // Two more moves inside the second, from two sockets of the agent: acked at once.
    assert_eq!(cursor_set(&a1, "lobby", 2).await["seq"], 2);
    assert_eq!(cursor_set(&a2, "lobby", 3).await["seq"], 3);
    b.assert_no_event("cursor:update", QUIET).await;
    // When the second is over: one update with the last value, to every socket in the room.
    let delayed = update_within(&b, Duration::from_secs(2)).await;
    let waited = first_sent.elapsed();
    assert_cursor_update(&delayed, "lobby", "amy", 3);
    assert!(
        waited >= Duration::from_millis(800),
        "the delayed update came {waited:?} after the first"
    );
    for s in [&a1, &a2] {
        let got = update_within(s, Duration::from_millis(500)).await;
        assert_cursor_update(&got, "lobby", "amy", 3);
    }
    tokio::time::sleep(QUIET).await;
    for s in [&a1, &a2, &b] {
        assert_eq!(
            s.count("cursor:update").await,
            0,
            "exactly one delayed update"
        );
    }
    // A second after that update, a move goes out at once again.
    tokio::time::sleep(Duration::from_millis(1_100).saturating_sub(QUIET)).await;
    cursor_set(&a1, "lobby", 4).await;
    let again = update_within(&b, Duration::from_millis(500)).await;
    assert_cursor_update(&again, "lobby", "amy", 4);
    a1.assert_no_event("cursor:update", QUIET).await;
}

async fn cursor_updates_are_paced_per_agent_and_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    for room in ["lobby", "side"] {
        app.create_room(&amy, room).await;
        post_n(&app, &amy, room, 2).await;
    }
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    for room in ["lobby", "side"] {
        join(&a, room).await;
        join(&b, room).await;
    }
    let soon = Duration::from_millis(500);
    cursor_set(&a, "lobby", 1).await;
    assert_cursor_update(&update_within(&b, soon).await, "lobby", "amy", 1);
    // Another room of the same agent, and another agent in the same room: not held back.
    cursor_set(&a, "side", 2).await;
    assert_cursor_update(&update_within(&b, soon).await, "side", "amy", 2);
    cursor_set(&b, "lobby", 2).await;
    assert_cursor_update(&update_within(&a, soon).await, "lobby", "bob", 2);
    cursor_set(&b, "side", 1).await;
    assert_cursor_update(&update_within(&a, soon).await, "side", "bob", 1);
}

async fn put_cursor_follows_the_same_rules_and_tells_every_socket_in_the_room(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 3).await;
    app.create_private_room(&amy, "secret").await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stored = put_cursor_ok(&app, &amy, "lobby", 2).await;
    assert_eq!(stored["seq"], 2);
    // No socket set it: every socket in the room hears of it, the agent's own included.
    for s in [&a, &b] {
        assert_cursor_update(&s.next_event("cursor:update").await, "lobby", "amy", 2);
    }
    assert_eq!(put_cursor_ok(&app, &amy, "lobby", 1).await, stored);
    let bad = [
        json!({"seq": 4}),
        json!({"seq": -1}),
        json!({"seq": "2"}),
        json!({"seq": 1.5}),
        json!({"seq": null}),
        json!({}),
    ];
    for body in bad {
        let res = put_cursor(&app, &amy, "lobby", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::put("/api/v1/rooms/nowhere/cursor", &amy).with_body(json!({"seq": 0})),
            Call::put("/api/v1/rooms/secret/cursor", &carl).with_body(json!({"seq": 0})),
        ],
    )
    .await;
    // The socket and REST move one and the same cursor.
    assert_eq!(cursor_set(&a, "lobby", 1).await, stored);
    b.assert_no_event("cursor:update", Duration::from_millis(1_200))
        .await;
    for (method, path) in [
        (Method::PUT, "/api/v1/rooms/lobby/cursor"),
        (Method::GET, "/api/v1/rooms/lobby/cursors"),
        (Method::GET, "/api/v1/me/unread"),
    ] {
        let body = (method == Method::PUT).then(|| json!({"seq": 3}));
        expect_unauthenticated(&app, method, path, body).await;
    }
    assert_eq!(room_cursors(&app, &bob, "lobby").await[0]["seq"], 2);
}

async fn a_cursor_body_that_is_not_a_json_object_is_refused(app: TestApp) {
    let amy = agent_with_room(&app, "amy", "lobby").await;
    post_n(&app, &amy, "lobby", 3).await;
    for body in [json!(2), json!("2"), json!(null), json!([]), json!([2])] {
        let res = put_cursor(&app, &amy, "lobby", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(room_cursors(&app, &amy, "lobby").await, Vec::<Value>::new());
}

async fn room_cursors_lists_every_agents_cursor_by_agent_name(app: TestApp) {
    let [zed, amy, _bob, carl] = app.create_agents(["zed", "amy", "bob", "carl"]).await;
    app.create_room(&amy, "lobby").await;
    post_n(&app, &amy, "lobby", 3).await;
    assert_eq!(
        room_cursors(&app, &carl, "lobby").await,
        Vec::<Value>::new()
    );
    let z = put_cursor_ok(&app, &zed, "lobby", 3).await;
    let a = put_cursor_ok(&app, &amy, "lobby", 1).await;
    // Any reader of the room lists them; bob has no cursor and is not listed.
    let cursors = room_cursors(&app, &carl, "lobby").await;
    assert_eq!(cursors.len(), 2, "{cursors:?}");
    for (c, (name, mine)) in cursors.iter().zip([("amy", &a), ("zed", &z)]) {
        assert_eq!(keys(c), key_set(&["agent", "seq", "updated_at"]), "{c}");
        assert_ref(&c["agent"], name);
        assert_eq!(c["seq"], mine["seq"], "{c}");
        assert_eq!(c["updated_at"], mine["updated_at"], "{c}");
    }
    // A private room's cursors are for its readers only.
    app.create_private_room(&amy, "secret").await;
    put_cursor_ok(&app, &amy, "secret", 0).await;
    for key in [&amy, &app.admin_key] {
        let cursors = room_cursors(&app, key, "secret").await;
        assert_eq!(cursors.len(), 1, "{cursors:?}");
        assert_ref(&cursors[0]["agent"], "amy");
        assert_eq!(cursors[0]["seq"], 0);
    }
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::get("/api/v1/rooms/secret/cursors", &carl),
            Call::get("/api/v1/rooms/nowhere/cursors", &carl),
        ],
    )
    .await;
}

async fn unread_counts_every_room_with_a_cursor_or_membership_by_room_name(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    // alpha: bob's public room, where amy has a cursor but is no member.
    app.create_room(&bob, "alpha").await;
    post_n(&app, &bob, "alpha", 5).await;
    put_cursor_ok(&app, &amy, "alpha", 3).await;
    // beta: amy created it, so she is a member; no cursor.
    app.create_room(&amy, "beta").await;
    post_n(&app, &amy, "beta", 4).await;
    // gamma: public, joined by amy's socket, but no member and no cursor: not listed.
    app.create_room(&bob, "gamma").await;
    post_n(&app, &bob, "gamma", 2).await;
    let a = joined(&app, &amy, "gamma").await;
    // delta: bob's private room, amy a member.
    app.create_private_room(&bob, "delta").await;
    post_n(&app, &bob, "delta", 1).await;
    let res = app.put("/api/v1/rooms/delta/members/amy", &bob).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The DM room of amy and bob.
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.send_dm(json!({"to": "amy", "body": "hi"})).await);

    assert_eq!(
        unread(&app, &amy).await,
        [
            unread_room("alpha", 5, 3),
            unread_room("beta", 4, 0),
            unread_room("delta", 1, 0),
            unread_room("dm:amy:bob", 1, 0),
        ]
    );
    // Reading and new messages move the counts.
    cursor_set(&a, "beta", 4).await;
    app.post_message(&bob, "alpha", "news").await;
    assert_eq!(
        unread(&app, &amy).await,
        [
            unread_room("alpha", 6, 3),
            unread_room("beta", 4, 4),
            unread_room("delta", 1, 0),
            unread_room("dm:amy:bob", 1, 0),
        ]
    );
    assert_eq!(
        unread(&app, &bob).await,
        [
            unread_room("alpha", 6, 0),
            unread_room("delta", 1, 0),
            unread_room("dm:amy:bob", 1, 0),
            unread_room("gamma", 2, 0),
        ]
    );
    assert_eq!(unread(&app, &carl).await, Vec::<Value>::new());
}

async fn a_private_rooms_cursor_is_no_longer_listed_once_its_agent_is_removed(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_private_room(&alice, "secret").await;
    post_n(&app, &alice, "secret", 2).await;
    let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    put_cursor_ok(&app, &bob, "secret", 1).await;
    assert_eq!(unread(&app, &bob).await, [unread_room("secret", 2, 1)]);

    let res = app.delete("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &bob).await, Vec::<Value>::new());
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::get("/api/v1/rooms/secret/cursors", &bob),
            Call::put("/api/v1/rooms/secret/cursor", &bob).with_body(json!({"seq": 2})),
        ],
    )
    .await;
    // An admin's cursor counts in a private room it is no member of.
    put_cursor_ok(&app, &app.admin_key, "secret", 2).await;
    assert_eq!(
        unread(&app, &app.admin_key).await,
        [unread_room("secret", 2, 2)]
    );
    // Added again, bob finds his cursor where he left it.
    let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &bob).await, [unread_room("secret", 2, 1)]);
}

crate::on_both_backends!(
    cursor_set_answers_the_cursor_and_tells_the_rooms_other_sockets,
    a_cursor_only_moves_forward,
    cursor_set_refuses_a_seq_past_the_rooms_last_seq_or_below_zero,
    cursor_set_needs_read_access_only,
    room_join_answers_the_joining_agents_own_cursor,
    cursor_updates_are_paced_to_one_a_second_and_the_last_value_wins,
    cursor_updates_are_paced_per_agent_and_room,
    put_cursor_follows_the_same_rules_and_tells_every_socket_in_the_room,
    a_cursor_body_that_is_not_a_json_object_is_refused,
    room_cursors_lists_every_agents_cursor_by_agent_name,
    unread_counts_every_room_with_a_cursor_or_membership_by_room_name,
    a_private_rooms_cursor_is_no_longer_listed_once_its_agent_is_removed,
);
