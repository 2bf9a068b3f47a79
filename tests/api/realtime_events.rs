//! Socket.IO rooms and messages (SPEC §5): `room:join` (auto-create, visibility, archived rooms,
//! names, `since` recovery), `message:send`, `message:history` and `dm:send`, their acks, error
//! codes and broadcasts.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{assert_ok, assert_timestamp, joined, json_of, key_set, keys, send};
use crate::helpers::TestApp;
use crate::sio::Sio;

/// Runs each named `async fn(TestApp)` on both backends against a server whose settings
/// `$configure` changed, in a module of its own.
#[macro_export]
macro_rules! on_both_backends_with {
    ($module:ident, $configure:expr, [$($name:ident),* $(,)?]) => {
        mod $module {
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::helpers::spawn_app_with(
                            $crate::helpers::Backend::Postgres,
                            $configure,
                        )
                        .await;
                        super::super::$name(app).await;
                    }
                )*
            }
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::helpers::spawn_app_with(
                            $crate::helpers::Backend::Sqlite,
                            $configure,
                        )
                        .await;
                        super::super::$name(app).await;
                    }
                )*
            }
        }
    };
}

const QUIET: Duration = Duration::from_millis(300);

const MESSAGE_KEYS: [&str; 8] = [
    "id",
    "room",
    "seq",
    "sender",
    "body",
    "metadata",
    "client_id",
    "created_at",
];

fn assert_ref(v: &Value, name: &str) {
    assert_eq!(
        keys(v),
        key_set(&["id", "name", "display_name"]),
        "ref: {v}"
    );
    assert_eq!(v["name"], name, "ref: {v}");
    assert!(
        v["id"].is_string() && v["display_name"].is_string(),
        "ref: {v}"
    );
}

fn assert_message_shape(m: &Value) {
    assert_eq!(keys(m), key_set(&MESSAGE_KEYS), "message: {m}");
    assert!(m["id"].is_i64(), "message id is an integer: {m}");
    assert!(m["seq"].is_i64(), "seq is an integer: {m}");
    assert!(
        m["room"].is_string() && m["body"].is_string(),
        "message: {m}"
    );
    assert!(m["metadata"].is_object() || m["metadata"].is_null());
    assert!(m["client_id"].is_string() || m["client_id"].is_null());
    assert!(m["sender"].is_object());
    assert_timestamp(&m["created_at"]);
}

/// An error ack: `{"ok":false,"error":{"code","message"}}` with this code.
#[track_caller]
fn assert_error(ack: &Value, code: &str) {
    assert_eq!(ack["ok"], false, "an error ack: {ack}");
    assert_eq!(ack["error"]["code"], code, "ack: {ack}");
    assert!(ack["error"]["message"].is_string(), "ack: {ack}");
}

/// The whole history of a room over REST, as `key` (at most 100).
async fn rest_history(app: &TestApp, key: &str, room: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/messages?limit=100"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "history of {room}");
    json_of(res).await["messages"].as_array().unwrap().clone()
}

async fn rest_post(app: &TestApp, key: &str, room: &str, body: &str) -> Value {
    let res = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            key,
            json!({"body": body}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "posting to {room}");
    json_of(res).await
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// room:join

async fn joining_a_room_answers_the_room_its_members_and_no_missed_messages(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    let ack = a.emit("room:join", json!({"room": "lobby"})).await;
    assert_eq!(
        keys(&ack),
        key_set(&["ok", "room", "members", "missed", "missed_truncated"]),
        "{ack}"
    );
    assert_eq!(ack["ok"], true);
    let room = &ack["room"];
    assert_eq!(
        keys(room),
        key_set(&[
            "name",
            "topic",
            "private",
            "created_by",
            "created_at",
            "archived",
            "last_seq"
        ])
    );
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
        assert_eq!(
            keys(m),
            key_set(&["agent", "status", "note", "connections", "since"])
        );
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
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
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
    let res = app
        .post("/api/v1/rooms", &amy, json!({"name": "plan"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_ok(&a.emit("room:join", json!({"room": "plan"})).await);
    assert_ok(&o.emit("room:join", json!({"room": "plan"})).await);
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
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let res = app
        .post(
            "/api/v1/rooms",
            &bob,
            json!({"name": "secret", "private": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let a = Sio::connect(app.addr, &amy).await;
    assert_error(
        &a.emit("room:join", json!({"room": "secret"})).await,
        "not_found",
    );
    assert_error(
        &a.emit("message:history", json!({"room": "secret"})).await,
        "not_found",
    );
    assert_error(
        &a.emit("presence:list", json!({"room": "secret"})).await,
        "not_found",
    );
    assert_error(
        &a.emit("message:send", json!({"room": "secret", "body": "hi"}))
            .await,
        "not_found",
    );
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
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
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
        &a.emit("message:send", json!({"room": "old", "body": "after"}))
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
    for name in [
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
    ] {
        let ack = a.emit("room:join", json!({"room": name})).await;
        assert_error(&ack, "bad_request");
    }
    let ack = a.emit("room:join", json!({})).await;
    assert_error(&ack, "bad_request");
    let ack = a.emit("room:leave", json!({"room": "Lobby"})).await;
    assert_error(&ack, "bad_request");
    let ack = a
        .emit("room:join", json!({"room": "lobby", "since": "yesterday"}))
        .await;
    assert_error(&ack, "bad_request");
    // None of them was created.
    let listed = json_of(app.get("/api/v1/rooms", &amy).await).await;
    assert_eq!(listed["rooms"], json!([]), "{listed}");
    // A well-formed dm: name that does not exist is not created by a join.
    let ack = a.emit("room:join", json!({"room": "dm:amy:zed"})).await;
    assert_error(&ack, "not_found");
}

async fn rejoining_with_since_delivers_exactly_the_missed_messages_in_order(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
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
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let b = joined(&app, &bob, "busy").await;
    for chunk in (1..=510).collect::<Vec<_>>().chunks(100) {
        let acks = join_all(chunk.iter().map(|i| {
            b.emit(
                "message:send",
                json!({"room": "busy", "body": format!("m{i}")}),
            )
        }))
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
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
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

// ---------------------------------------------------------------------------------------
// message:send

async fn a_send_is_acknowledged_only_once_it_is_stored(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    for i in 1..=10 {
        let ack = a
            .emit(
                "message:send",
                json!({"room": "lobby", "body": format!("n{i}"), "metadata": {"i": i}}),
            )
            .await;
        assert_ok(&ack);
        assert_eq!(keys(&ack), key_set(&["ok", "message", "duplicate"]));
        assert_eq!(ack["duplicate"], false);
        let message = &ack["message"];
        assert_message_shape(message);
        assert_eq!(message["seq"], i);
        assert_eq!(message["metadata"], json!({"i": i}));
        assert_eq!(message["client_id"], Value::Null);
        assert_ref(&message["sender"], "amy");
        // The moment the ack is here, another agent reads it over REST.
        let res = app
            .get(
                &format!("/api/v1/rooms/lobby/messages?after={}&limit=1", i - 1),
                &bob,
            )
            .await;
        let page = json_of(res).await;
        assert_eq!(page["messages"][0], *message, "stored before the ack");
    }
}

async fn seq_is_gap_free_across_sockets_agents_and_rest(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let from_a = join_all((0..8).map(|i| {
        a.emit(
            "message:send",
            json!({"room": "lobby", "body": format!("a{i}")}),
        )
    }));
    let from_b = join_all((0..8).map(|i| {
        b.emit(
            "message:send",
            json!({"room": "lobby", "body": format!("b{i}")}),
        )
    }));
    let from_rest = join_all((0..4).map(|i| {
        let key = if i % 2 == 0 { &amy } else { &bob };
        app.post(
            "/api/v1/rooms/lobby/messages",
            key,
            json!({"body": format!("r{i}")}),
        )
    }));
    let (acks_a, acks_b, rest) = tokio::join!(from_a, from_b, from_rest);
    let mut acked: Vec<i64> = acks_a
        .iter()
        .chain(&acks_b)
        .map(|ack| {
            assert_ok(ack);
            ack["message"]["seq"].as_i64().unwrap()
        })
        .collect();
    for res in rest {
        assert_eq!(res.status(), StatusCode::CREATED);
        acked.push(json_of(res).await["seq"].as_i64().unwrap());
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=20).collect::<Vec<_>>(), "gap-free, no repeats");
    let stored = rest_history(&app, &amy, "lobby").await;
    assert_eq!(seqs(&stored), (1..=20).collect::<Vec<_>>());
    let room = json_of(app.get("/api/v1/rooms/lobby", &amy).await).await;
    assert_eq!(room["last_seq"], 20);
}

async fn fifty_pipelined_sends_from_one_socket_get_increasing_seq_in_send_order(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    // Another socket sends at the same time, so the room's seq is contended.
    let (acks, other) = tokio::join!(
        join_all((0..50).map(|i| {
            a.emit(
                "message:send",
                json!({"room": "lobby", "body": format!("{i}")}),
            )
        })),
        join_all((0..20).map(|i| {
            b.emit(
                "message:send",
                json!({"room": "lobby", "body": format!("other {i}")}),
            )
        })),
    );
    for ack in acks.iter().chain(&other) {
        assert_ok(ack);
    }
    let mine: Vec<i64> = acks
        .iter()
        .map(|ack| ack["message"]["seq"].as_i64().unwrap())
        .collect();
    for (i, pair) in mine.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "send {i} got seq {} but send {} got {}: {mine:?}",
            pair[0],
            i + 1,
            pair[1]
        );
    }
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(ack["message"]["body"], format!("{i}"));
    }
    // Stored history agrees: amy's bodies appear in send order.
    let stored: Vec<String> = rest_history(&app, &amy, "lobby")
        .await
        .into_iter()
        .filter(|m| m["sender"]["name"] == "amy")
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
}

async fn a_send_right_after_a_join_is_handled_after_the_join(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    // Both go out before either is answered.
    let (join, sent) = tokio::join!(
        a.emit("room:join", json!({"room": "lobby"})),
        a.emit("message:send", json!({"room": "lobby", "body": "first!"})),
    );
    assert_ok(&join);
    assert_ok(&sent);
    assert_eq!(sent["message"]["seq"], 1);
    let (sent, left, refused) = tokio::join!(
        a.emit("message:send", json!({"room": "lobby", "body": "second"})),
        a.emit("room:leave", json!({"room": "lobby"})),
        a.emit("message:send", json!({"room": "lobby", "body": "third"})),
    );
    assert_ok(&sent);
    assert_ok(&left);
    assert_error(&refused, "forbidden");
}

async fn sending_without_joining_is_forbidden_and_to_a_missing_room_not_found(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let _b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    assert_error(
        &a.emit("message:send", json!({"room": "lobby", "body": "hi"}))
            .await,
        "forbidden",
    );
    assert_error(
        &a.emit("message:send", json!({"room": "nowhere", "body": "hi"}))
            .await,
        "not_found",
    );
    let res = app.get("/api/v1/rooms/nowhere", &amy).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a send creates no room"
    );
    // After a leave, sending is forbidden again.
    assert_ok(&a.emit("room:join", json!({"room": "lobby"})).await);
    send(&a, "lobby", "in").await;
    assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
    assert_error(
        &a.emit("message:send", json!({"room": "lobby", "body": "out"}))
            .await,
        "forbidden",
    );
    assert_eq!(bodies(&rest_history(&app, &bob, "lobby").await), ["in"]);
}

async fn observers_cannot_send_even_after_joining(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    let a = joined(&app, &amy, "lobby").await;
    let o = joined(&app, &olga, "lobby").await;
    assert_error(
        &o.emit("message:send", json!({"room": "lobby", "body": "hi"}))
            .await,
        "forbidden",
    );
    a.assert_no_event("message:new", QUIET).await;
    assert!(rest_history(&app, &amy, "lobby").await.is_empty());
    // It still reads.
    let m = send(&a, "lobby", "to the observer").await;
    assert_eq!(o.next_event("message:new").await, m);
    assert_ok(&o.emit("message:history", json!({"room": "lobby"})).await);
}

async fn a_body_over_the_message_limit_is_payload_too_large_and_the_socket_stays_usable(
    app: TestApp,
) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    for body in [
        "x".repeat(16_385),
        "x".repeat(40_000),
        // 5,462 characters but 16,386 UTF-8 bytes.
        "€".repeat(5_462),
    ] {
        let ack = a
            .emit("message:send", json!({"room": "lobby", "body": body}))
            .await;
        assert_error(&ack, "payload_too_large");
    }
    b.assert_no_event("message:new", QUIET).await;
    assert!(!a.is_closed().await, "the socket stays");
    // Exactly the limit is fine, and the socket keeps working.
    let exact = "y".repeat(16_384);
    let m = send(&a, "lobby", &exact).await;
    assert_eq!(m["seq"], 1, "nothing was stored before");
    assert_eq!(m["body"].as_str().unwrap().len(), 16_384);
    assert_eq!(b.next_event("message:new").await["seq"], 1);
    let m = send(&a, "lobby", "small").await;
    assert_eq!(m["seq"], 2);
    // Metadata over 4096 bytes serialized is payload_too_large as well.
    let ack = a
        .emit(
            "message:send",
            json!({"room": "lobby", "body": "meta", "metadata": {"k": "z".repeat(4_100)}}),
        )
        .await;
    assert_error(&ack, "payload_too_large");
}

async fn malformed_message_fields_are_bad_requests_and_store_nothing(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    for payload in [
        json!({"room": "lobby", "body": ""}),
        json!({"room": "lobby"}),
        json!({"room": "lobby", "body": null}),
        json!({"room": "lobby", "body": 42}),
        json!({"room": "lobby", "body": ["a"]}),
        json!({"room": "lobby", "body": {"text": "a"}}),
        json!({"room": "lobby", "body": "m", "metadata": "not an object"}),
        json!({"room": "lobby", "body": "m", "metadata": [1, 2]}),
        json!({"room": "lobby", "body": "m", "metadata": 3}),
        json!({"room": "lobby", "body": "m", "metadata": true}),
        json!({"room": "lobby", "body": "m", "client_id": 7}),
        json!({"room": 5, "body": "m"}),
        json!({"body": "m"}),
        json!({"room": "lobby", "body": "nul \u{0000} inside"}),
        json!({"room": "lobby", "body": "m", "metadata": {"k": "nul \u{0000}"}}),
        json!({"room": "lobby", "body": "m", "metadata": {"nul \u{0000}": 1}}),
    ] {
        let ack = a.emit("message:send", payload.clone()).await;
        assert_error(&ack, "bad_request");
    }
    b.assert_no_event("message:new", QUIET).await;
    assert!(rest_history(&app, &amy, "lobby").await.is_empty());
    // Null metadata is allowed and the next send gets seq 1: nothing was half-stored.
    let ack = a
        .emit(
            "message:send",
            json!({"room": "lobby", "body": "ok", "metadata": null}),
        )
        .await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["seq"], 1);
    assert_eq!(ack["message"]["metadata"], Value::Null);
}

async fn a_repeated_client_id_returns_the_stored_message_without_a_broadcast(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let first = a
        .emit(
            "message:send",
            json!({"room": "lobby", "body": "original", "client_id": "k-1", "metadata": {"v": 1}}),
        )
        .await;
    assert_ok(&first);
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["message"]["client_id"], "k-1");
    assert_eq!(b.next_event("message:new").await, first["message"]);
    assert_eq!(a2.next_event("message:new").await, first["message"]);
    // From the same socket and from the agent's other socket: the stored message.
    for s in [&a, &a2] {
        let again = s
            .emit(
                "message:send",
                json!({"room": "lobby", "body": "changed", "client_id": "k-1"}),
            )
            .await;
        assert_ok(&again);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["message"], first["message"]);
    }
    b.assert_no_event("message:new", QUIET).await;
    a.assert_no_event("message:new", Duration::ZERO).await;
    // Another agent may use the same client_id; seq did not move for the duplicates.
    let theirs = b
        .emit(
            "message:send",
            json!({"room": "lobby", "body": "bob's", "client_id": "k-1"}),
        )
        .await;
    assert_ok(&theirs);
    assert_eq!(theirs["duplicate"], false);
    assert_eq!(theirs["message"]["seq"], 2);
    assert_eq!(rest_history(&app, &amy, "lobby").await.len(), 2);
}

async fn the_same_client_id_in_another_room_is_a_conflict(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "one").await;
    assert_ok(&a.emit("room:join", json!({"room": "two"})).await);
    let b = joined(&app, &bob, "two").await;
    let ack = a
        .emit(
            "message:send",
            json!({"room": "one", "body": "x", "client_id": "shared"}),
        )
        .await;
    assert_ok(&ack);
    let ack = a
        .emit(
            "message:send",
            json!({"room": "two", "body": "x", "client_id": "shared"}),
        )
        .await;
    assert_error(&ack, "conflict");
    b.assert_no_event("message:new", QUIET).await;
    assert!(rest_history(&app, &amy, "two").await.is_empty());
}

async fn a_message_reaches_only_the_other_sockets_in_its_room(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let a1 = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let a3 = Sio::connect(app.addr, &amy).await; // amy's socket in no room
    let b = joined(&app, &bob, "lobby").await;
    let c_elsewhere = joined(&app, &carl, "elsewhere").await;
    let c_nowhere = Sio::connect(app.addr, &carl).await;
    let body = "<b>bold</b> & \"quotes\" 😀\nline two";
    let ack = a1
        .emit(
            "message:send",
            json!({"room": "lobby", "body": body, "client_id": "c-1", "metadata": {"nested": {"a": [1, null]}}}),
        )
        .await;
    assert_ok(&ack);
    let message = &ack["message"];
    assert_eq!(message["body"], body, "stored and sent back verbatim");
    assert_eq!(message["metadata"], json!({"nested": {"a": [1, null]}}));
    for s in [&a2, &b] {
        assert_eq!(s.next_event("message:new").await, *message);
    }
    tokio::time::sleep(QUIET).await;
    for s in [&a1, &a2, &a3, &b, &c_elsewhere, &c_nowhere] {
        assert_eq!(
            s.count("message:new").await,
            0,
            "delivered once, to the right sockets"
        );
    }
    assert_eq!(rest_history(&app, &bob, "lobby").await[0], *message);
}

async fn a_rest_post_is_broadcast_to_every_joined_socket(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let b_out = Sio::connect(app.addr, &bob).await;
    let posted = rest_post(&app, &bob, "lobby", "over REST").await;
    assert_message_shape(&posted);
    // No sending socket over REST: the poster's joined socket gets it too.
    assert_eq!(a.next_event("message:new").await, posted);
    assert_eq!(b.next_event("message:new").await, posted);
    b_out.assert_no_event("message:new", QUIET).await;
    // A REST repeat of the client_id answers 200 and broadcasts nothing.
    let first = app
        .post(
            "/api/v1/rooms/lobby/messages",
            &amy,
            json!({"body": "idem", "client_id": "r-1"}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = json_of(first).await;
    assert_eq!(b.next_event("message:new").await, first);
    let again = app
        .post(
            "/api/v1/rooms/lobby/messages",
            &amy,
            json!({"body": "idem 2", "client_id": "r-1"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json_of(again).await, first);
    b.assert_no_event("message:new", QUIET).await;
}

// ---------------------------------------------------------------------------------------
// message:history

async fn history_pages_ascending_by_seq_with_before_after_and_limit(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    for i in 1..=12 {
        send(&a, "lobby", &format!("h{i}")).await;
    }
    let page = |q: Value| {
        let mut q = q;
        q["room"] = json!("lobby");
        a.emit("message:history", q)
    };
    let cases: [(Value, Vec<i64>, bool); 8] = [
        (json!({}), (1..=12).collect(), false),
        (json!({"limit": 5}), (8..=12).collect(), true),
        (json!({"limit": 12}), (1..=12).collect(), false),
        (json!({"before": 8, "limit": 5}), (3..=7).collect(), true),
        (json!({"before": 3, "limit": 5}), vec![1, 2], false),
        (json!({"after": 10}), vec![11, 12], false),
        (json!({"after": 2, "limit": 3}), vec![3, 4, 5], true),
        (json!({"after": 12}), vec![], false),
    ];
    for (query, expected, more) in cases {
        let ack = page(query.clone()).await;
        assert_ok(&ack);
        assert_eq!(keys(&ack), key_set(&["ok", "messages", "has_more"]));
        let messages = ack["messages"].as_array().unwrap();
        assert_eq!(seqs(messages), expected, "{query}");
        assert_eq!(ack["has_more"], more, "{query}");
        for m in messages {
            assert_message_shape(m);
            assert_eq!(m["body"], format!("h{}", m["seq"]));
        }
    }
}

async fn history_with_both_cursors_or_a_limit_outside_1_to_100_is_bad_request(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    send(&a, "lobby", "x").await;
    for query in [
        json!({"room": "lobby", "before": 5, "after": 1}),
        json!({"room": "lobby", "limit": 0}),
        json!({"room": "lobby", "limit": 101}),
        json!({"room": "lobby", "limit": -1}),
        json!({"room": "lobby", "limit": "ten"}),
        json!({"room": "lobby", "before": "x"}),
        json!({"room": "Lobby"}),
        json!({}),
    ] {
        assert_error(&a.emit("message:history", query).await, "bad_request");
    }
    for limit in [1, 100] {
        let ack = a
            .emit("message:history", json!({"room": "lobby", "limit": limit}))
            .await;
        assert_ok(&ack);
    }
}

async fn history_needs_read_access_but_no_join(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    let a = joined(&app, &amy, "lobby").await;
    send(&a, "lobby", "public words").await;
    for key in [&bob, &olga] {
        let s = Sio::connect(app.addr, key).await;
        let ack = s.emit("message:history", json!({"room": "lobby"})).await;
        assert_ok(&ack);
        assert_eq!(
            bodies(ack["messages"].as_array().unwrap()),
            ["public words"]
        );
        assert_error(
            &s.emit("message:history", json!({"room": "nowhere"})).await,
            "not_found",
        );
    }
}

// ---------------------------------------------------------------------------------------
// dm:send

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
    joining_a_room_answers_the_room_its_members_and_no_missed_messages,
    joining_a_missing_room_creates_it_as_a_public_room,
    an_observer_joining_a_missing_room_is_forbidden_but_may_join_an_existing_one,
    a_private_room_is_not_found_for_non_members_and_joinable_by_members,
    an_archived_room_refuses_joins_and_sends_but_keeps_its_sockets_reading,
    malformed_room_names_are_bad_requests,
    rejoining_with_since_delivers_exactly_the_missed_messages_in_order,
    a_send_is_acknowledged_only_once_it_is_stored,
    seq_is_gap_free_across_sockets_agents_and_rest,
    a_send_right_after_a_join_is_handled_after_the_join,
    sending_without_joining_is_forbidden_and_to_a_missing_room_not_found,
    observers_cannot_send_even_after_joining,
    a_body_over_the_message_limit_is_payload_too_large_and_the_socket_stays_usable,
    malformed_message_fields_are_bad_requests_and_store_nothing,
    a_repeated_client_id_returns_the_stored_message_without_a_broadcast,
    the_same_client_id_in_another_room_is_a_conflict,
    a_message_reaches_only_the_other_sockets_in_its_room,
    a_rest_post_is_broadcast_to_every_joined_socket,
    history_pages_ascending_by_seq_with_before_after_and_limit,
    history_with_both_cursors_or_a_limit_outside_1_to_100_is_bad_request,
    history_needs_read_access_but_no_join,
    a_dm_reaches_every_socket_of_both_agents_once_except_the_sending_one,
    a_dm_room_is_named_after_both_agents_sorted_whoever_sends,
    a_dm_to_oneself_is_bad_request_and_to_unknown_or_disabled_agents_not_found,
    a_dm_that_fails_validation_is_not_half_stored,
    observers_cannot_send_dms,
    only_the_two_agents_and_admins_read_or_join_a_dm_room,
    the_dm_room_is_listed_for_its_two_agents_only,
    a_rest_post_to_a_dm_room_by_one_of_its_agents_is_delivered_as_a_dm,
);

crate::on_both_backends_with!(
    without_auto_create,
    |s| s.room_auto_create = false,
    [joining_a_missing_room_with_auto_create_off_is_not_found]
);

crate::on_both_backends_with!(
    with_a_high_event_rate,
    |s| s.rate_limit_ws_events_per_sec = 10_000,
    [
        fifty_pipelined_sends_from_one_socket_get_increasing_seq_in_send_order,
        more_than_500_missed_messages_are_truncated_and_paged_on_with_history,
        nothing_acknowledged_is_missing_from_missed_plus_live_delivery_around_rejoins,
    ]
);
