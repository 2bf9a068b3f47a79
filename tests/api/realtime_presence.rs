//! Presence over Socket.IO and REST (SPEC §3 member, §5): `presence:join`, `presence:leave`,
//! `presence:set`/`presence:update`, `presence:list`, `GET /rooms/{name}/presence` and
//! `online` on agents.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{assert_ok, assert_timestamp, json_of, key_set, keys};
use crate::helpers::TestApp;
use crate::sio::Sio;

const QUIET: Duration = Duration::from_millis(300);

#[track_caller]
fn assert_error(ack: &Value, code: &str) {
    assert_eq!(ack["ok"], false, "an error ack: {ack}");
    assert_eq!(ack["error"]["code"], code, "ack: {ack}");
    assert!(ack["error"]["message"].is_string(), "ack: {ack}");
}

/// A `member` object of this agent with this status, note and connection count.
#[track_caller]
fn assert_member(m: &Value, name: &str, status: &str, note: Option<&str>, connections: u64) {
    assert_eq!(
        keys(m),
        key_set(&["agent", "status", "note", "connections", "since"]),
        "member: {m}"
    );
    assert_eq!(
        keys(&m["agent"]),
        key_set(&["id", "name", "display_name"]),
        "member: {m}"
    );
    assert_eq!(m["agent"]["name"], name, "member: {m}");
    assert_eq!(m["status"], status, "member: {m}");
    assert_eq!(
        m["note"],
        note.map_or(Value::Null, |n| json!(n)),
        "member: {m}"
    );
    assert_eq!(m["connections"], connections, "member: {m}");
    assert_timestamp(&m["since"]);
}

async fn joined(app: &TestApp, key: &str, room: &str) -> Sio {
    let s = Sio::connect(app.addr, key).await;
    join(&s, room).await;
    s
}

async fn join(s: &Sio, room: &str) -> Value {
    let ack = s.emit("room:join", json!({"room": room})).await;
    assert_ok(&ack);
    ack
}

async fn list(s: &Sio, room: &str) -> Vec<Value> {
    let ack = s.emit("presence:list", json!({"room": room})).await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["ok", "members"]), "{ack}");
    ack["members"].as_array().unwrap().clone()
}

fn names(members: &[Value]) -> Vec<String> {
    members
        .iter()
        .map(|m| m["agent"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn rest_presence(app: &TestApp, key: &str, room: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/presence"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["members"].as_array().unwrap().clone()
}

async fn online(app: &TestApp, name: &str) -> bool {
    let res = app
        .get(&format!("/api/v1/agents/{name}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["online"]
        .as_bool()
        .expect("`online` is a bool")
}

/// Polls `check` until it holds or `within` passes; returns whether it held.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn an_agents_first_socket_joining_announces_presence_join_and_its_second_does_not(
    app: TestApp,
) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let b = joined(&app, &bob, "lobby").await;
    let c = joined(&app, &carl, "elsewhere").await;
    let a1 = Sio::connect(app.addr, &amy).await;
    let ack = join(&a1, "lobby").await;
    let members = ack["members"].as_array().unwrap();
    assert_eq!(
        names(members),
        ["amy", "bob"],
        "the joiner's ack has the list"
    );
    assert_member(&members[0], "amy", "online", None, 1);
    let event = b.next_event("presence:join").await;
    assert_eq!(keys(&event), key_set(&["room", "member"]), "{event}");
    assert_eq!(event["room"], "lobby");
    assert_member(&event["member"], "amy", "online", None, 1);
    assert_eq!(event["member"], members[0]);

    // amy's second socket: no presence:join for anyone, connections 2, same `since`.
    let a2 = Sio::connect(app.addr, &amy).await;
    let ack = join(&a2, "lobby").await;
    let members = ack["members"].as_array().unwrap();
    assert_eq!(names(members), ["amy", "bob"]);
    assert_member(&members[0], "amy", "online", None, 2);
    assert_member(&members[1], "bob", "online", None, 1);
    assert_eq!(
        members[0]["since"], event["member"]["since"],
        "since is when the agent's first socket joined"
    );
    // Joining again from a socket already in the room changes nothing either.
    let ack = join(&a1, "lobby").await;
    assert_member(&ack["members"][0], "amy", "online", None, 2);
    tokio::time::sleep(QUIET).await;
    assert_eq!(b.count("presence:join").await, 0, "one presence:join only");
    for s in [&a1, &a2, &c] {
        assert_eq!(s.count("presence:join").await, 0);
    }
}

async fn presence_leave_is_sent_once_when_an_agents_last_socket_leaves_the_room(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let b = joined(&app, &bob, "lobby").await;
    let a1 = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    b.next_event("presence:join").await;

    let ack = a1.emit("room:leave", json!({"room": "lobby"})).await;
    assert_eq!(ack, json!({"ok": true}));
    b.assert_no_event("presence:leave", QUIET).await;
    let members = list(&b, "lobby").await;
    assert_eq!(names(&members), ["amy", "bob"]);
    assert_member(&members[0], "amy", "online", None, 1);

    let ack = a2.emit("room:leave", json!({"room": "lobby"})).await;
    assert_eq!(ack, json!({"ok": true}));
    let event = b.next_event("presence:leave").await;
    assert_eq!(keys(&event), key_set(&["room", "agent"]), "{event}");
    assert_eq!(event["room"], "lobby");
    assert_eq!(
        keys(&event["agent"]),
        key_set(&["id", "name", "display_name"])
    );
    assert_eq!(event["agent"]["name"], "amy");
    assert_eq!(names(&list(&b, "lobby").await), ["bob"]);
    // Leaving a room the socket is not in is fine and announces nothing.
    let ack = a2.emit("room:leave", json!({"room": "lobby"})).await;
    assert_eq!(ack, json!({"ok": true}));
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        b.count("presence:leave").await,
        0,
        "exactly one presence:leave"
    );
}

async fn presence_leave_follows_the_last_socket_disconnecting_from_every_room(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let b = joined(&app, &bob, "lobby").await;
    join(&b, "dev").await;
    let a1 = joined(&app, &amy, "lobby").await;
    join(&a1, "dev").await;
    let a2 = joined(&app, &amy, "lobby").await;
    a1.close().await;
    // amy is gone from dev (a1 was her only socket there), not from lobby.
    let event = b.next_event("presence:leave").await;
    assert_eq!(event["room"], "dev");
    assert_eq!(event["agent"]["name"], "amy");
    b.assert_no_event("presence:leave", QUIET).await;
    assert_member(&list(&b, "lobby").await[0], "amy", "online", None, 1);
    assert_eq!(names(&list(&b, "dev").await), ["bob"]);
    a2.close().await;
    let event = b.next_event("presence:leave").await;
    assert_eq!(event["room"], "lobby");
    assert_eq!(event["agent"]["name"], "amy");
    b.assert_no_event("presence:leave", QUIET).await;
    assert_eq!(names(&list(&b, "lobby").await), ["bob"]);
}

async fn presence_set_answers_the_agent_wide_member_and_updates_each_room_it_is_in(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let dan = app.create_agent("dan", "agent").await;
    let a1 = joined(&app, &amy, "lobby").await;
    join(&a1, "dev").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let a3 = Sio::connect(app.addr, &amy).await;
    let b = joined(&app, &bob, "lobby").await;
    let c = joined(&app, &carl, "dev").await;
    let d = joined(&app, &dan, "other").await;
    let room_since = list(&b, "lobby").await[0]["since"].clone();

    let ack = a1
        .emit(
            "presence:set",
            json!({"status": "busy", "note": "deep work"}),
        )
        .await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["ok", "member"]), "{ack}");
    // Agent-wide: all three sockets; since = when amy came online (before she joined).
    assert_member(&ack["member"], "amy", "busy", Some("deep work"), 3);
    assert!(
        ack["member"]["since"].as_str().unwrap() <= room_since.as_str().unwrap(),
        "online since {} is not after the room join {room_since}",
        ack["member"]["since"]
    );

    let update = b.next_event("presence:update").await;
    assert_eq!(keys(&update), key_set(&["room", "member"]), "{update}");
    assert_eq!(update["room"], "lobby");
    assert_member(&update["member"], "amy", "busy", Some("deep work"), 2);
    assert_eq!(update["member"]["since"], room_since);
    let update = c.next_event("presence:update").await;
    assert_eq!(update["room"], "dev");
    assert_member(&update["member"], "amy", "busy", Some("deep work"), 1);
    // amy's other socket in lobby is told too; the setter and sockets elsewhere are not.
    let update = a2.next_event("presence:update").await;
    assert_eq!(update["room"], "lobby");
    tokio::time::sleep(QUIET).await;
    for s in [&a1, &a2, &a3, &b, &c, &d] {
        assert_eq!(
            s.count("presence:update").await,
            0,
            "once per room, to the right sockets"
        );
    }
    // Everyone reads the new status, over the socket and REST.
    assert_member(
        &list(&d, "lobby").await[0],
        "amy",
        "busy",
        Some("deep work"),
        2,
    );
    let rest = rest_presence(&app, &dan, "dev").await;
    assert_member(&rest[0], "amy", "busy", Some("deep work"), 1);

    // A socket in no room sets it: each room the agent is in hears once.
    let ack = a3.emit("presence:set", json!({"status": "away"})).await;
    assert_member(&ack["member"], "amy", "away", None, 3);
    tokio::time::sleep(QUIET).await;
    for (s, expected) in [(&a1, 2), (&a2, 1), (&b, 1), (&c, 1), (&a3, 0), (&d, 0)] {
        assert_eq!(s.count("presence:update").await, expected);
    }
    let update = c.next_event("presence:update").await;
    assert_eq!(update["room"], "dev");
    assert_member(&update["member"], "amy", "away", None, 1);
}

async fn presence_set_without_a_note_clears_it(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let ack = a
        .emit("presence:set", json!({"status": "away", "note": "lunch"}))
        .await;
    assert_member(&ack["member"], "amy", "away", Some("lunch"), 1);
    b.next_event("presence:update").await;
    let ack = a.emit("presence:set", json!({"status": "busy"})).await;
    assert_member(&ack["member"], "amy", "busy", None, 1);
    let update = b.next_event("presence:update").await;
    assert_member(&update["member"], "amy", "busy", None, 1);
    let ack = a
        .emit("presence:set", json!({"status": "online", "note": null}))
        .await;
    assert_member(&ack["member"], "amy", "online", None, 1);
    assert_member(&list(&b, "lobby").await[0], "amy", "online", None, 1);
}

async fn invalid_presence_values_are_bad_requests(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    for payload in [
        json!({"status": "sleeping"}),
        json!({"status": "Online"}),
        json!({"status": "offline"}),
        json!({"status": ""}),
        json!({"status": 1}),
        json!({"status": null}),
        json!({}),
        json!({"note": "no status"}),
        json!({"status": "away", "note": "n".repeat(141)}),
        json!({"status": "away", "note": "é".repeat(141)}),
        json!({"status": "away", "note": 5}),
        json!({"status": "away", "note": ["x"]}),
    ] {
        let ack = a.emit("presence:set", payload.clone()).await;
        assert_error(&ack, "bad_request");
    }
    b.assert_no_event("presence:update", QUIET).await;
    assert_member(&list(&b, "lobby").await[0], "amy", "online", None, 1);
    // 140 characters (280 bytes) is within the limit: characters count, not bytes.
    let note = "é".repeat(140);
    let ack = a
        .emit("presence:set", json!({"status": "away", "note": note}))
        .await;
    assert_member(&ack["member"], "amy", "away", Some(&note), 1);
}

async fn status_and_note_reset_once_the_agents_last_socket_is_gone(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let b = joined(&app, &bob, "lobby").await;
    let a1 = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let ack = a1
        .emit("presence:set", json!({"status": "busy", "note": "brb"}))
        .await;
    assert_ok(&ack);
    a1.close().await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            list(&b, "lobby").await[0]["connections"] == 1
        })
        .await
    );
    // One socket is left: status and note stay.
    assert_member(&list(&b, "lobby").await[0], "amy", "busy", Some("brb"), 1);
    a2.close().await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            !online(&app, "amy").await
        })
        .await,
        "amy goes offline"
    );
    let a3 = Sio::connect(app.addr, &amy).await;
    let ack = join(&a3, "lobby").await;
    assert_member(&ack["members"][0], "amy", "online", None, 1);
    let event = b.next_event("presence:join").await;
    assert_member(&event["member"], "amy", "online", None, 1);
    let ack = a3.emit("presence:set", json!({"status": "online"})).await;
    assert_member(&ack["member"], "amy", "online", None, 1);
}

async fn presence_list_is_ordered_by_agent_name_and_needs_only_read_access(app: TestApp) {
    let zed = app.create_agent("zed", "agent").await;
    let mia = app.create_agent("mia", "agent").await;
    let amy = app.create_agent("amy", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    let _z = joined(&app, &zed, "lobby").await;
    let _m = joined(&app, &mia, "lobby").await;
    let _a = joined(&app, &amy, "lobby").await;
    let _m2 = joined(&app, &mia, "lobby").await;
    for key in [&carl, &olga] {
        let s = Sio::connect(app.addr, key).await; // joined nothing
        let members = list(&s, "lobby").await;
        assert_eq!(names(&members), ["amy", "mia", "zed"]);
        assert_member(&members[1], "mia", "online", None, 2);
        assert_error(
            &s.emit("presence:list", json!({"room": "nowhere"})).await,
            "not_found",
        );
        assert_error(
            &s.emit("presence:list", json!({"room": "No Such"})).await,
            "bad_request",
        );
        assert_error(&s.emit("presence:list", json!({})).await, "bad_request");
    }
    let rest = rest_presence(&app, &carl, "lobby").await;
    assert_eq!(names(&rest), ["amy", "mia", "zed"]);
    assert_member(&rest[1], "mia", "online", None, 2);
}

async fn rest_presence_and_agent_online_reflect_live_sockets(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let _b = joined(&app, &bob, "lobby").await;
    assert!(!online(&app, "amy").await);
    let a1 = Sio::connect(app.addr, &amy).await;
    assert!(online(&app, "amy").await, "connected, in no room");
    let agents = json_of(app.get("/api/v1/agents", &bob).await).await;
    let listed = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "amy")
        .unwrap()
        .clone();
    assert_eq!(listed["online"], true);
    assert_eq!(names(&rest_presence(&app, &bob, "lobby").await), ["bob"]);
    join(&a1, "lobby").await;
    let rest = rest_presence(&app, &bob, "lobby").await;
    assert_eq!(names(&rest), ["amy", "bob"]);
    assert_member(&rest[0], "amy", "online", None, 1);
    let a2 = joined(&app, &amy, "lobby").await;
    assert_member(
        &rest_presence(&app, &bob, "lobby").await[0],
        "amy",
        "online",
        None,
        2,
    );
    a1.close().await;
    a2.close().await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            !online(&app, "amy").await
                && names(&rest_presence(&app, &bob, "lobby").await) == ["bob"]
        })
        .await,
        "amy is offline and out of the room once her sockets are gone"
    );
    let res = app.get("/api/v1/rooms/nowhere/presence", &bob).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

crate::on_both_backends!(
    an_agents_first_socket_joining_announces_presence_join_and_its_second_does_not,
    presence_leave_is_sent_once_when_an_agents_last_socket_leaves_the_room,
    presence_leave_follows_the_last_socket_disconnecting_from_every_room,
    presence_set_answers_the_agent_wide_member_and_updates_each_room_it_is_in,
    presence_set_without_a_note_clears_it,
    invalid_presence_values_are_bad_requests,
    status_and_note_reset_once_the_agents_last_socket_is_gone,
    presence_list_is_ordered_by_agent_name_and_needs_only_read_access,
    rest_presence_and_agent_online_reflect_live_sockets,
);
