//! Presence over Socket.IO and REST (SPEC §3 member, §5): `presence:join`, `presence:leave`,
//! `presence:set`/`presence:update`, `presence:list`, `GET /rooms/{name}/presence` and
//! `online` on agents.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn list(s: &Sio, room: &str) -> Vec<Value> {
    let ack = s.emit("presence:list", json!({"room": room})).await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["ok", "members"]), "{ack}");
    ack["members"].as_array().unwrap().clone()
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
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let b = joined(&app, &bob, "lobby").await;
    let c = joined(&app, &carl, "elsewhere").await;
    let a1 = Sio::connect(app.addr, &amy).await;
    let ack = join(&a1, "lobby").await;
    let members = ack["members"].as_array().unwrap();
    assert_eq!(
        member_names(members),
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
    assert_eq!(member_names(members), ["amy", "bob"]);
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [b, a1, a2] = joined_sockets(&app, "lobby", [&bob, &amy, &amy]).await;
    b.next_event("presence:join").await;

    let ack = a1.emit("room:leave", json!({"room": "lobby"})).await;
    assert_eq!(ack, json!({"ok": true}));
    b.assert_no_event("presence:leave", QUIET).await;
    let members = list(&b, "lobby").await;
    assert_eq!(member_names(&members), ["amy", "bob"]);
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
    assert_eq!(member_names(&list(&b, "lobby").await), ["bob"]);
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
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
    assert_eq!(member_names(&list(&b, "dev").await), ["bob"]);
    a2.close().await;
    let event = b.next_event("presence:leave").await;
    assert_eq!(event["room"], "lobby");
    assert_eq!(event["agent"]["name"], "amy");
    b.assert_no_event("presence:leave", QUIET).await;
    assert_eq!(member_names(&list(&b, "lobby").await), ["bob"]);
}

async fn presence_set_answers_the_agent_wide_member_and_updates_each_room_it_is_in(app: TestApp) {
    let [amy, bob, carl, dan] = app.create_agents(["amy", "bob", "carl", "dan"]).await;
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let payloads = [
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
    ];
    expect_ack_errors(&a, "bad_request", payloads.map(|p| ("presence:set", p))).await;
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [b, a1, a2] = joined_sockets(&app, "lobby", [&bob, &amy, &amy]).await;
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
    let [zed, mia, amy, carl] = app.create_agents(["zed", "mia", "amy", "carl"]).await;
    let olga = app.create_agent("olga", "observer").await;
    let [_z, _m, _a, _m2] = joined_sockets(&app, "lobby", [&zed, &mia, &amy, &mia]).await;
    for key in [&carl, &olga] {
        let s = Sio::connect(app.addr, key).await; // joined nothing
        let members = list(&s, "lobby").await;
        assert_eq!(member_names(&members), ["amy", "mia", "zed"]);
        assert_member(&members[1], "mia", "online", None, 2);
        for (query, code) in [
            (json!({"room": "nowhere"}), "not_found"),
            (json!({"room": "No Such"}), "bad_request"),
            (json!({}), "bad_request"),
        ] {
            assert_error(&s.emit("presence:list", query).await, code);
        }
    }
    let rest = rest_presence(&app, &carl, "lobby").await;
    assert_eq!(member_names(&rest), ["amy", "mia", "zed"]);
    assert_member(&rest[1], "mia", "online", None, 2);
}

async fn rest_presence_and_agent_online_reflect_live_sockets(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
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
    assert_eq!(
        member_names(&rest_presence(&app, &bob, "lobby").await),
        ["bob"]
    );
    join(&a1, "lobby").await;
    let rest = rest_presence(&app, &bob, "lobby").await;
    assert_eq!(member_names(&rest), ["amy", "bob"]);
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
                && member_names(&rest_presence(&app, &bob, "lobby").await) == ["bob"]
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
