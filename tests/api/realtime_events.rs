//! Socket.IO rooms (SPEC §5): `room:join` (auto-create, visibility, archived rooms, names) and
//! recovery with `since`. Sends and history are in `realtime_sends`, DMs in `realtime_dms`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// room:join

async fn joining_a_room_answers_the_room_its_members_and_no_missed_messages(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    let ack = a.emit("room:join", json!({"room": "lobby"})).await;
    assert_eq!(
        keys(&ack),
        key_set(&[
            "ok",
            "room",
            "members",
            "missed",
            "missed_truncated",
            "streams",
            "cursor"
        ]),
        "{ack}"
    );
    assert_eq!(ack["ok"], true);
    // SPEC §11: no open streams, no cursor yet.
    assert_eq!(ack["streams"], json!([]));
    assert_eq!(ack["cursor"], Value::Null);
    let room = &ack["room"];
    assert_eq!(keys(room), key_set(&ROOM_FIELDS));
    assert_eq!(room["name"], "lobby");
    assert_eq!(room["topic"], Value::Null);
    assert_eq!(room["private"], false);
    assert_eq!(room["archived"], false);
    assert_eq!(room["created_by"], "bob", "bob's join created it");
    assert_eq!(room["last_seq"], 0);
    assert_timestamp(&room["created_at"]);

    let members = ack["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{ack}");
    for (m, name) in members.iter().zip(["amy", "bob"]) {
        assert_eq!(keys(m), key_set(&MEMBER_FIELDS));
        assert_ref(&m["agent"], name);
        assert_eq!(m["status"], "online");
        assert_eq!(m["note"], Value::Null);
        assert_eq!(m["connections"], 1);
        assert_timestamp(&m["since"]);
    }
    assert_eq!(ack["missed"], json!([]));
    assert_eq!(ack["missed_truncated"], false);

    // After a message, a join without `since` still misses nothing; last_seq moved on.
    send(&b, "lobby", "one").await;
    let again = Sio::connect(app.addr, &amy).await;
    let ack = again.emit("room:join", json!({"room": "lobby"})).await;
    assert_eq!(ack["missed"], json!([]));
    assert_eq!(ack["missed_truncated"], false);
    assert_eq!(ack["room"]["last_seq"], 1);
}

async fn joining_a_missing_room_creates_it_as_a_public_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let res = app.get("/api/v1/rooms/fresh", &amy).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let _a = joined(&app, &amy, "fresh").await;
    let listed = json_of(app.get("/api/v1/rooms", &bob).await).await;
    let room = listed["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fresh")
        .unwrap_or_else(|| panic!("fresh is listed: {listed}"))
        .clone();
    assert_eq!(room["private"], false);
    assert_eq!(room["created_by"], "amy");
    // Public: another agent joins it.
    let _b = joined(&app, &bob, "fresh").await;
}

async fn joining_a_missing_room_with_auto_create_off_is_not_found(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let watcher = app.create_agent("olga", "observer").await;
    let a = Sio::connect(app.addr, &amy).await;
    let ack = a.emit("room:join", json!({"room": "nowhere"})).await;
    assert_error(&ack, "not_found");
    let res = app.get("/api/v1/rooms/nowhere", &amy).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nothing was created");
    let o = Sio::connect(app.addr, &watcher).await;
    assert_error(
        &o.emit("room:join", json!({"room": "nowhere"})).await,
        "not_found",
    );
    // An existing room still joins.
    app.create_room(&amy, "plan").await;
    join(&a, "plan").await;
    join(&o, "plan").await;
}

async fn an_observer_joining_a_missing_room_is_forbidden_but_may_join_an_existing_one(
    app: TestApp,
) {
    let olga = app.create_agent("olga", "observer").await;
    let amy = app.create_agent("amy", "agent").await;
    let o = Sio::connect(app.addr, &olga).await;
    assert_error(
        &o.emit("room:join", json!({"room": "ghost"})).await,
        "forbidden",
    );
    let res = app.get("/api/v1/rooms/ghost", &amy).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nothing was created");
    let _a = joined(&app, &amy, "lobby").await;
    let ack = o.emit("room:join", json!({"room": "lobby"})).await;
    assert_ok(&ack);
    assert_eq!(ack["members"].as_array().unwrap().len(), 2, "{ack}");
}

async fn a_private_room_is_not_found_for_non_members_and_joinable_by_members(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_private_room(&bob, "secret").await;
    let a = Sio::connect(app.addr, &amy).await;
    expect_ack_errors(
        &a,
        "not_found",
        [
            ("room:join", json!({"room": "secret"})),
            ("message:history", json!({"room": "secret"})),
            ("presence:list", json!({"room": "secret"})),
            ("message:send", json!({"room": "secret", "body": "hi"})),
        ],
    )
    .await;
    // The creator and an admin may join; a member added over REST too.
    let _b = joined(&app, &bob, "secret").await;
    let _admin = joined(&app, &app.admin_key, "secret").await;
    let res = app.put("/api/v1/rooms/secret/members/amy", &bob).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let ack = a.emit("room:join", json!({"room": "secret"})).await;
    assert_ok(&ack);
    assert_eq!(ack["room"]["private"], true);
}

async fn an_archived_room_refuses_joins_and_sends_but_keeps_its_sockets_reading(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "old").await;
    send(&a, "old", "before archiving").await;
    let res = app
        .patch("/api/v1/rooms/old", &amy, json!({"archived": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = Sio::connect(app.addr, &bob).await;
    assert_error(
        &b.emit("room:join", json!({"room": "old"})).await,
        "forbidden",
    );
    assert_error(
        &a.send_message(json!({"room": "old", "body": "after"}))
            .await,
        "forbidden",
    );
    // amy's socket stays and keeps reading.
    assert!(!a.is_closed().await);
    let history = a.emit("message:history", json!({"room": "old"})).await;
    assert_ok(&history);
    assert_eq!(
        bodies(history["messages"].as_array().unwrap()),
        ["before archiving"]
    );
    let list = a.emit("presence:list", json!({"room": "old"})).await;
    assert_ok(&list);
    assert_eq!(list["members"][0]["agent"]["name"], "amy");
    // bob may read the history without joining.
    assert_ok(&b.emit("message:history", json!({"room": "old"})).await);
    assert_eq!(
        rest_history(&app, &bob, "old").await.len(),
        1,
        "nothing stored"
    );
}

async fn malformed_room_names_are_bad_requests(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let long = "a".repeat(65);
    let names = [
        json!(""),
        json!("Lobby"),
        json!("_lobby"),
        json!("-lobby"),
        json!("two words"),
        json!("café"),
        json!(long),
        json!("a/b"),
        json!("dm:zed:amy"),
        json!("dm:amy"),
        json!("dm:amy:amy"),
        json!(5),
        json!(null),
        json!(["lobby"]),
    ];
    let mut cases: Vec<(&str, Value)> = names
        .into_iter()
        .map(|name| ("room:join", json!({"room": name})))
        .collect();
    cases.extend([
        ("room:join", json!({})),
        ("room:leave", json!({"room": "Lobby"})),
        ("room:join", json!({"room": "lobby", "since": "yesterday"})),
    ]);
    expect_ack_errors(&a, "bad_request", cases).await;
    // None of them was created.
    let listed = json_of(app.get("/api/v1/rooms", &amy).await).await;
    assert_eq!(listed["rooms"], json!([]), "{listed}");
    // A well-formed dm: name that does not exist is not created by a join.
    let ack = a.emit("room:join", json!({"room": "dm:amy:zed"})).await;
    assert_error(&ack, "not_found");
}

async fn rejoining_with_since_delivers_exactly_the_missed_messages_in_order(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    for i in 1..=3 {
        send(&b, "lobby", &format!("live {i}")).await;
    }
    let mut last_seen = 0;
    for _ in 1..=3 {
        last_seen = a.next_event("message:new").await["seq"].as_i64().unwrap();
    }
    assert_eq!(last_seen, 3);
    assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
    for i in 4..=8 {
        send(&b, "lobby", &format!("missed {i}")).await;
    }
    a.assert_no_event("message:new", QUIET).await;
    let ack = a
        .emit("room:join", json!({"room": "lobby", "since": last_seen}))
        .await;
    assert_ok(&ack);
    let missed = ack["missed"].as_array().unwrap();
    assert_eq!(seqs(missed), [4, 5, 6, 7, 8]);
    assert_eq!(
        bodies(missed),
        ["missed 4", "missed 5", "missed 6", "missed 7", "missed 8"]
    );
    for m in missed {
        assert_message_shape(m);
        assert_eq!(m["room"], "lobby");
        assert_ref(&m["sender"], "bob");
    }
    assert_eq!(ack["missed_truncated"], false);
    // Live delivery resumes after the rejoin.
    let live = send(&b, "lobby", "after").await;
    assert_eq!(a.next_event("message:new").await, live);

    // `since` 0 from a fresh socket: everything; `since` at the head: nothing.
    let c = Sio::connect(app.addr, &amy).await;
    let ack = c
        .emit("room:join", json!({"room": "lobby", "since": 0}))
        .await;
    assert_eq!(
        seqs(ack["missed"].as_array().unwrap()),
        (1..=9).collect::<Vec<_>>()
    );
    let d = Sio::connect(app.addr, &amy).await;
    let ack = d
        .emit("room:join", json!({"room": "lobby", "since": 9}))
        .await;
    assert_eq!(ack["missed"], json!([]));
    assert_eq!(ack["missed_truncated"], false);
}

async fn more_than_500_missed_messages_are_truncated_and_paged_on_with_history(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let b = joined(&app, &bob, "busy").await;
    for chunk in (1..=510).collect::<Vec<_>>().chunks(100) {
        let acks = join_all(
            chunk
                .iter()
                .map(|i| b.send_message(json!({"room": "busy", "body": format!("m{i}")}))),
        )
        .await;
        for ack in &acks {
            assert_ok(ack);
        }
    }
    let a = Sio::connect(app.addr, &amy).await;
    let ack = a
        .emit("room:join", json!({"room": "busy", "since": 0}))
        .await;
    assert_ok(&ack);
    let missed = ack["missed"].as_array().unwrap();
    assert_eq!(missed.len(), 500);
    assert_eq!(
        seqs(missed),
        (1..=500).collect::<Vec<_>>(),
        "the oldest 500, ascending"
    );
    assert_eq!(ack["missed_truncated"], true);
    // Page on with message:history `after`.
    let page = a
        .emit(
            "message:history",
            json!({"room": "busy", "after": 500, "limit": 100}),
        )
        .await;
    assert_ok(&page);
    assert_eq!(
        seqs(page["messages"].as_array().unwrap()),
        (501..=510).collect::<Vec<_>>()
    );
    assert_eq!(page["has_more"], false);
    // Exactly 500 missed is not truncated.
    let c = Sio::connect(app.addr, &amy).await;
    let ack = c
        .emit("room:join", json!({"room": "busy", "since": 10}))
        .await;
    let missed = ack["missed"].as_array().unwrap();
    assert_eq!(seqs(missed), (11..=510).collect::<Vec<_>>());
    assert_eq!(ack["missed_truncated"], false);
}

async fn nothing_acknowledged_is_missing_from_missed_plus_live_delivery_around_rejoins(
    app: TestApp,
) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    const N: i64 = 200;
    let sender = async {
        for i in 1..=N {
            send(&b, "lobby", &format!("m{i}")).await;
        }
    };
    let mut seen = BTreeSet::new();
    let rejoiner = async {
        let mut done = 0;
        while done < 8 {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let n = a.count("message:new").await;
            for _ in 0..n {
                let m = a.next_event("message:new").await;
                seen.insert(m["seq"].as_i64().unwrap());
            }
            let since = seen.iter().next_back().copied().unwrap_or(0);
            assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
            tokio::time::sleep(Duration::from_millis(5)).await;
            let ack = a
                .emit("room:join", json!({"room": "lobby", "since": since}))
                .await;
            assert_ok(&ack);
            for m in ack["missed"].as_array().unwrap() {
                seen.insert(m["seq"].as_i64().unwrap());
            }
            done += 1;
        }
    };
    tokio::join!(sender, rejoiner);
    tokio::time::sleep(QUIET).await;
    let n = a.count("message:new").await;
    for _ in 0..n {
        seen.insert(a.next_event("message:new").await["seq"].as_i64().unwrap());
    }
    let ack = a
        .emit("room:join", json!({"room": "lobby", "since": 0}))
        .await;
    assert_eq!(ack["missed"].as_array().unwrap().len() as i64, N);
    let expected: BTreeSet<i64> = (1..=N).collect();
    let lost: Vec<&i64> = expected.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but never delivered: {lost:?}"
    );
}

crate::on_both_backends!(
    joining_a_room_answers_the_room_its_members_and_no_missed_messages,
    joining_a_missing_room_creates_it_as_a_public_room,
    an_observer_joining_a_missing_room_is_forbidden_but_may_join_an_existing_one,
    a_private_room_is_not_found_for_non_members_and_joinable_by_members,
    an_archived_room_refuses_joins_and_sends_but_keeps_its_sockets_reading,
    malformed_room_names_are_bad_requests,
    rejoining_with_since_delivers_exactly_the_missed_messages_in_order,
);

crate::on_both_backends_with!(
    with_a_high_event_rate,
    |s| s.rate_limit_ws_events_per_sec = 10_000,
    [
        more_than_500_missed_messages_are_truncated_and_paged_on_with_history,
        nothing_acknowledged_is_missing_from_missed_plus_live_delivery_around_rejoins,
    ]
);

crate::on_both_backends_with!(
    without_auto_create,
    |s| s.room_auto_create = false,
    [joining_a_missing_room_with_auto_create_off_is_not_found,]
);
