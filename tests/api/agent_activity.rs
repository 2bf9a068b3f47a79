//! Activity (SPEC §11): `activity:set` (typing, thinking, calling a tool, idle) and the
//! `activity` readers get — its validation, who hears it, and what ends a state: `idle`, the
//! agent's next message in the room, its last socket leaving. Never stored.

use serde_json::{Value, json};

use crate::support::*;

/// `activity:set` on `s` with `payload`, asserting an ok ack of the documented shape: the ack.
async fn activity_set(s: &Sio, payload: Value) -> Value {
    let ack = s.emit("activity:set", payload.clone()).await;
    assert_ok(&ack);
    assert_eq!(
        keys(&ack),
        key_set(&["ok", "expires_at"]),
        "{payload}: {ack}"
    );
    assert_timestamp(&ack["expires_at"]);
    ack
}

/// An `activity` of `agent` in `room`.
#[track_caller]
fn assert_activity(v: &Value, room: &str, agent: &str, state: &str, detail: Option<&str>) {
    assert_eq!(
        keys(v),
        key_set(&["room", "agent", "state", "detail", "expires_at"]),
        "activity {v}"
    );
    assert_eq!(v["room"], room, "activity {v}");
    assert_ref(&v["agent"], agent);
    assert_eq!(v["state"], state, "activity {v}");
    assert_eq!(
        v["detail"],
        detail.map_or(Value::Null, |d| json!(d)),
        "activity {v}"
    );
    assert_timestamp(&v["expires_at"]);
}

/// Milliseconds from now to the timestamp `v` (negative when past).
fn millis_from_now(v: &Value) -> i64 {
    let t =
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp")).expect("RFC 3339");
    t.signed_duration_since(chrono::Utc::now())
        .num_milliseconds()
}

async fn activity_set_answers_when_it_expires_and_tells_the_rooms_other_sockets(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let elsewhere = joined(&app, &carl, "side").await;
    let nowhere = Sio::connect(app.addr, &carl).await;
    for (state, detail) in [
        ("typing", None),
        ("thinking", Some("planning the answer")),
        ("tool", Some("web_search")),
    ] {
        let mut payload = json!({"room": "lobby", "state": state});
        if let Some(d) = detail {
            payload["detail"] = json!(d);
        }
        let ack = activity_set(&a1, payload).await;
        let ahead = millis_from_now(&ack["expires_at"]);
        assert!(
            (8_000..=12_000).contains(&ahead),
            "{state} lasts about 10 s: expires in {ahead} ms"
        );
        // Every socket in the room but the setter's, the agent's other socket included.
        for s in [&b, &a2] {
            let got = s.next_event("activity").await;
            assert_activity(&got, "lobby", "amy", state, detail);
            assert_eq!(got["expires_at"], ack["expires_at"], "{got}");
        }
    }
    a1.assert_no_event("activity", QUIET).await;
    for s in [&elsewhere, &nowhere] {
        assert_eq!(s.count("activity").await, 0, "not in the room");
    }
    // Never stored.
    assert_eq!(last_seq(&app, "lobby").await, 0);
    assert_eq!(all_messages(&app, "lobby").await, Vec::<Value>::new());
    assert_eq!(count_rows(&app, "messages").await, 0);
}

async fn idle_ends_a_state_at_once(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    activity_set(&a, json!({"room": "lobby", "state": "typing"})).await;
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "typing",
        None,
    );
    let ack = activity_set(&a, json!({"room": "lobby", "state": "idle"})).await;
    let ahead = millis_from_now(&ack["expires_at"]);
    assert!(
        (-2_000..=1_000).contains(&ahead),
        "idle expires now: {ahead} ms from now"
    );
    let got = b.next_event("activity").await;
    assert_activity(&got, "lobby", "amy", "idle", None);
    assert_eq!(got["expires_at"], ack["expires_at"]);
    a.assert_no_event("activity", QUIET).await;
}

async fn the_agents_next_message_in_the_room_ends_its_activity_right_after_the_message(
    app: TestApp,
) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    join(&a1, "side").await;
    join(&b, "side").await;
    activity_set(&a1, json!({"room": "lobby", "state": "thinking"})).await;
    activity_set(&a1, json!({"room": "side", "state": "typing"})).await;
    for _ in 0..2 {
        b.next_event("activity").await;
    }
    a2.next_event("activity").await;

    // The idle follows the message:new on every socket but the sending one.
    let (message, seen) = tokio::join!(send(&a1, "lobby", "here it is"), async {
        let mut seen = Vec::new();
        for s in [&b, &a2] {
            let idle = s.next_event("activity").await;
            seen.push((idle, s.count("message:new").await));
        }
        seen
    });
    for (idle, messages_before) in seen {
        assert_activity(&idle, "lobby", "amy", "idle", None);
        assert_eq!(messages_before, 1, "the message:new came before the idle");
    }
    for s in [&b, &a2] {
        assert_eq!(s.next_event("message:new").await, message);
    }
    a1.assert_no_event("activity", QUIET).await;
    assert_eq!(a1.count("message:new").await, 0);
    // The state in the other room is still on: no idle for it.
    assert_eq!(b.count("activity").await, 0, "side keeps its state");

    // With nothing on, a message ends nothing.
    send(&a1, "lobby", "and more").await;
    b.next_event("message:new").await;
    b.assert_no_event("activity", QUIET).await;

    // Another agent's message does not end amy's state.
    activity_set(&a1, json!({"room": "lobby", "state": "tool"})).await;
    b.next_event("activity").await;
    a2.next_event("activity").await;
    send(&b, "lobby", "bob talks").await;
    a1.next_event("message:new").await;
    a1.assert_no_event("activity", QUIET).await;
    for body in ["and more", "bob talks"] {
        assert_eq!(a2.next_event("message:new").await["body"], body);
    }
    // A REST post is the agent's message too; it has no sending socket.
    let posted = app.post_message(&amy, "lobby", "via REST").await;
    for s in [&a1, &a2, &b] {
        assert_eq!(s.next_event("message:new").await["seq"], posted["seq"]);
        assert_activity(
            &s.next_event("activity").await,
            "lobby",
            "amy",
            "idle",
            None,
        );
    }
}

async fn a_finished_stream_ends_its_senders_activity(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    activity_set(&a, json!({"room": "lobby", "state": "thinking"})).await;
    b.next_event("activity").await;
    let ack = a.emit("stream:start", json!({"room": "lobby"})).await;
    assert_ok(&ack);
    let id = ack["stream"]["id"].as_str().unwrap().to_owned();
    assert_ok(
        &a.emit("stream:delta", json!({"id": id, "text": "tokens"}))
            .await,
    );
    // Streaming is not yet the message.
    b.next_event("stream:delta").await;
    assert_eq!(b.count("activity").await, 0, "the stream has not ended it");
    let ended = a.emit("stream:end", json!({"id": id})).await;
    let message = assert_new_message(&ended).clone();
    assert_eq!(b.next_event("message:new").await, message);
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "idle",
        None,
    );
}

async fn the_agents_last_socket_leaving_the_room_ends_its_activity(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    activity_set(&a1, json!({"room": "lobby", "state": "typing"})).await;
    b.next_event("activity").await;
    // The setter leaves, but another socket of the agent is still in the room.
    assert_ok(&a1.emit("room:leave", json!({"room": "lobby"})).await);
    b.assert_no_event("activity", QUIET).await;
    assert_ok(&a2.emit("room:leave", json!({"room": "lobby"})).await);
    assert_ref(&b.next_event("presence:leave").await["agent"], "amy");
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "idle",
        None,
    );

    // A disconnect is a leave.
    let a3 = joined(&app, &amy, "lobby").await;
    activity_set(
        &a3,
        json!({"room": "lobby", "state": "thinking", "detail": "hm"}),
    )
    .await;
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "thinking",
        Some("hm"),
    );
    a3.close().await;
    assert_ref(&b.next_event("presence:leave").await["agent"], "amy");
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "idle",
        None,
    );

    // Leaving with nothing on ends nothing.
    let a4 = joined(&app, &amy, "lobby").await;
    assert_ok(&a4.emit("room:leave", json!({"room": "lobby"})).await);
    b.next_event("presence:leave").await;
    b.assert_no_event("activity", QUIET).await;
}

async fn a_member_removed_from_a_private_room_has_its_activity_ended_and_hears_no_more(
    app: TestApp,
) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_private_room(&alice, "secret").await;
    let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let al = joined(&app, &alice, "secret").await;
    let bo = joined(&app, &bob, "secret").await;
    activity_set(&bo, json!({"room": "secret", "state": "typing"})).await;
    al.next_event("activity").await;
    let res = app.delete("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(
        bo.next_event("room:removed").await,
        json!({"room": "secret"})
    );
    assert_activity(
        &al.next_event("activity").await,
        "secret",
        "bob",
        "idle",
        None,
    );
    activity_set(&al, json!({"room": "secret", "state": "thinking"})).await;
    bo.assert_no_event("activity", QUIET).await;
    assert_error(
        &bo.emit("activity:set", json!({"room": "secret", "state": "typing"}))
            .await,
        "not_found",
    );
    al.assert_no_event("activity", QUIET).await;
}

async fn activity_set_needs_the_socket_in_the_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&bob, "lobby").await;
    app.create_private_room(&bob, "secret").await;
    let b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    let typing = |room: &str| json!({"room": room, "state": "typing"});
    expect_ack_errors(&a, "forbidden", [("activity:set", typing("lobby"))]).await;
    expect_ack_errors(
        &a,
        "not_found",
        [
            ("activity:set", typing("nowhere")),
            ("activity:set", typing("secret")),
            ("activity:set", typing("dm:amy:bob")),
        ],
    )
    .await;
    b.assert_no_event("activity", QUIET).await;

    join(&a, "lobby").await;
    activity_set(&a, typing("lobby")).await;
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "typing",
        None,
    );
    // Another socket of the agent in the room does not let a socket that left set it.
    let a2 = joined(&app, &amy, "lobby").await;
    assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
    expect_ack_errors(&a, "forbidden", [("activity:set", typing("lobby"))]).await;
    b.assert_no_event("activity", QUIET).await;
    activity_set(&a2, typing("lobby")).await;
    b.next_event("activity").await;
}

async fn bad_activity_payloads_are_refused(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let with = |state: Value, detail: Option<Value>| {
        let mut p = json!({"room": "lobby", "state": state});
        if let Some(d) = detail {
            p["detail"] = d;
        }
        p
    };
    let cases = [
        with(json!("dancing"), None),
        with(json!("TYPING"), None),
        with(json!(""), None),
        with(json!(5), None),
        with(json!(null), None),
        with(json!(["typing"]), None),
        json!({"room": "lobby"}),
        json!({"state": "typing"}),
        json!({"room": 5, "state": "typing"}),
        with(json!("typing"), Some(json!("x".repeat(141)))),
        with(json!("tool"), Some(json!("é".repeat(141)))),
        with(json!("tool"), Some(json!("nul \u{0000} here"))),
        with(json!("tool"), Some(json!(5))),
        with(json!("tool"), Some(json!({"name": "search"}))),
    ];
    expect_ack_errors(&a, "bad_request", cases.map(|p| ("activity:set", p))).await;
    for args in [vec![json!("lobby")], vec![json!(["typing"])], vec![]] {
        let ack = a.emit_args("activity:set", args.clone()).await;
        assert_error(&ack, "bad_request");
    }
    b.assert_no_event("activity", QUIET).await;

    // 140 characters are fine, however many bytes they take; a null detail is none.
    let long = "🙂".repeat(140);
    activity_set(&a, with(json!("tool"), Some(json!(long)))).await;
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "tool",
        Some(&long),
    );
    activity_set(&a, with(json!("typing"), Some(Value::Null))).await;
    assert_activity(
        &b.next_event("activity").await,
        "lobby",
        "amy",
        "typing",
        None,
    );

    // Without an ack callback, a failure is a hub:error.
    let quiet = joined(&app, &amy, "lobby").await;
    quiet.emit_noack("activity:set", with(json!("dancing"), None));
    let err = quiet.next_event("hub:error").await;
    assert_eq!(
        keys(&err),
        key_set(&["event", "code", "message"]),
        "hub:error {err}"
    );
    assert_eq!(err["event"], "activity:set", "{err}");
    assert_eq!(err["code"], "bad_request", "{err}");
    b.assert_no_event("activity", QUIET).await;
}

crate::on_both_backends!(
    activity_set_answers_when_it_expires_and_tells_the_rooms_other_sockets,
    idle_ends_a_state_at_once,
    the_agents_next_message_in_the_room_ends_its_activity_right_after_the_message,
    a_finished_stream_ends_its_senders_activity,
    the_agents_last_socket_leaving_the_room_ends_its_activity,
    a_member_removed_from_a_private_room_has_its_activity_ended_and_hears_no_more,
    activity_set_needs_the_socket_in_the_room,
    bad_activity_payloads_are_refused,
);
