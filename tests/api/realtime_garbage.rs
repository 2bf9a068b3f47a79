//! What a misbehaving client may send over Socket.IO (SPEC §5, §7): unknown events, payloads
//! that are not one object, extra arguments, binary attachments, malformed packets, oversized
//! frames, join/leave churn, and event floods. None of it may hurt anyone else.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

const EVENTS: [&str; 8] = [
    "room:join",
    "room:leave",
    "message:send",
    "message:history",
    "dm:send",
    "presence:set",
    "presence:list",
    "auth:refresh",
];

/// A `hub:error` body for this event and code.
#[track_caller]
fn assert_hub_error(v: &Value, event: &str, code: &str) {
    assert_eq!(
        keys(v),
        key_set(&["event", "code", "message"]),
        "hub:error {v}"
    );
    assert_eq!(v["event"], event, "hub:error {v}");
    assert_eq!(v["code"], code, "hub:error {v}");
    assert!(v["message"].is_string(), "hub:error {v}");
}

async fn history_bodies(app: &TestApp, key: &str, room: &str) -> Vec<String> {
    bodies(&rest_history(app, key, room).await)
}

async fn assert_healthy(app: &TestApp) {
    assert_eq!(
        app.probe("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

/// The room still works for others: `from` sends, `to` receives.
async fn assert_room_works(from: &Sio, to: &Sio, room: &str, body: &str) {
    let m = send(from, room, body).await;
    assert_eq!(to.next_event("message:new").await, m);
}

async fn an_unknown_event_is_a_bad_request_with_or_without_an_ack(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    let events = [
        "nope",
        "room:destroy",
        "ROOM:JOIN",
        "",
        "hub:error",
        "message:new",
    ];
    expect_ack_errors(
        &a,
        "bad_request",
        events.map(|e| (e, json!({"room": "lobby"}))),
    )
    .await;
    a.emit_noack("room:destroy", json!({"room": "lobby"}));
    let err = a.next_event("hub:error").await;
    assert_hub_error(&err, "room:destroy", "bad_request");
    join(&a, "lobby").await;
}

async fn a_payload_that_is_not_one_json_object_is_a_bad_request(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    for event in EVENTS {
        for args in [
            vec![json!("lobby")],
            vec![json!(42)],
            vec![json!([{"room": "lobby"}])],
            vec![json!(null)],
            vec![json!(true)],
            vec![],
            vec![json!("lobby"), json!({"room": "lobby", "body": "x"})],
        ] {
            let ack = a.emit_args(event, args.clone()).await;
            assert_eq!(ack["ok"], false, "{event} {args:?}: {ack}");
            assert_eq!(
                ack["error"]["code"], "bad_request",
                "{event} {args:?}: {ack}"
            );
        }
    }
    assert!(history_bodies(&app, &amy, "lobby").await.is_empty());
    // Without an ack: a hub:error naming the event.
    a.emit_noack("message:send", json!("just a string"));
    assert_hub_error(
        &a.next_event("hub:error").await,
        "message:send",
        "bad_request",
    );
}

async fn only_the_first_argument_of_an_event_is_read(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    let ack = a
        .emit_args(
            "room:join",
            vec![
                json!({"room": "lobby"}),
                json!({"room": "other"}),
                json!("x"),
            ],
        )
        .await;
    assert_ok(&ack);
    assert_eq!(ack["room"]["name"], "lobby");
    let ack = a
        .emit_args(
            "message:send",
            vec![
                json!({"room": "lobby", "body": "first"}),
                json!({"room": "lobby", "body": "second"}),
                json!(null),
            ],
        )
        .await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["body"], "first");
    assert_eq!(b.next_event("message:new").await["body"], "first");
    b.assert_no_event("message:new", QUIET).await;
    assert_eq!(history_bodies(&app, &bob, "lobby").await, ["first"]);
    let res = app.get("/api/v1/rooms/other", &bob).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "the second argument was ignored"
    );
}

async fn a_failing_event_without_an_ack_gets_at_most_one_hub_error_per_second(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    // A successful event without an ack answers nothing.
    a.emit_noack("room:join", json!({"room": "lobby"}));
    let list = a.emit("presence:list", json!({"room": "lobby"})).await;
    assert_eq!(
        list["members"][0]["agent"]["name"], "amy",
        "the join was handled"
    );
    assert_eq!(a.count("hub:error").await, 0);
    let started = Instant::now();
    for i in 0..20 {
        if i % 2 == 0 {
            a.emit_noack("message:send", json!({"room": "nowhere", "body": "x"}));
        } else {
            a.emit_noack("bogus:event", json!({}));
        }
    }
    let first = a.next_event("hub:error").await;
    assert_hub_error(&first, "message:send", "not_found");
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed())).await;
    let more = a.count("hub:error").await;
    assert!(
        more <= 1,
        "20 failures: {} hub:error within 1.5 s",
        more + 1
    );
    // The throttle is per second, not forever.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = a.count("hub:error").await;
    a.emit_noack("bogus:event", json!({}));
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.count("hub:error").await == before {
        assert!(
            Instant::now() < deadline,
            "a later failure gets its hub:error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!a.is_closed().await);
}

async fn a_binary_attachment_event_is_refused_and_nothing_breaks(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    a.send_text(r#"51-["message:send",{"_placeholder":true,"num":0}]"#);
    a.send_frame(Message::binary(vec![1u8, 2, 3, 0, 255]));
    let err = a.next_event("hub:error").await;
    assert_hub_error(&err, "message:send", "bad_request");
    // A placeholder where the body should be: still not a string body.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.send_text(r#"51-["message:send",{"room":"lobby","body":{"_placeholder":true,"num":0}}]"#);
    a.send_frame(Message::binary(b"binary body".to_vec()));
    let err = a.next_event("hub:error").await;
    assert_hub_error(&err, "message:send", "bad_request");
    b.assert_no_event("message:new", QUIET).await;
    assert!(history_bodies(&app, &bob, "lobby").await.is_empty());
    // Both sockets keep working.
    assert_room_works(&a, &b, "lobby", "after binary").await;
    assert_room_works(&b, &a, "lobby", "reply").await;
}

async fn a_malformed_packet_closes_at_most_its_own_connection(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let b = joined(&app, &bob, "lobby").await;
    let c = joined(&app, &carl, "lobby").await;
    let packets = [
        r#"2["message:send",{"room":"lobby","body":"truncated""#,
        r#"2["message:send",{"room":"lobby","body":"lone \ud800 surrogate"}]"#,
        r#"2["message:send",{"room":"lobby","body":"\udc00"}]"#,
        r#"21["message:send",{"room":"lobby","body":"x"}]]"#,
        r#"2["message:send",{"room":"lobby","body":"x",}]"#,
        r#"2[5,{"room":"lobby"}]"#,
        r#"2[]"#,
        r#"2{}"#,
        r#"2"message:send""#,
        "2",
        "7",
        "",
        r#"2/other,["message:send",{"room":"lobby","body":"x"}]"#,
        r#"0{"token":"again"}"#,
        r#"3999["stray ack"]"#,
    ];
    for packet in packets {
        let a = joined(&app, &amy, "lobby").await;
        a.send_text(packet);
        // Either the connection is closed, or it still answers.
        if !a.closed_within(QUIET).await {
            let ack = a.emit("presence:list", json!({"room": "lobby"})).await;
            assert_ok(&ack);
        }
        assert_room_works(&b, &c, "lobby", &format!("after {packet}")).await;
        assert_healthy(&app).await;
        a.close().await;
    }
    let stored = history_bodies(&app, &bob, "lobby").await;
    assert_eq!(
        stored.len(),
        packets.len(),
        "only bob's messages were stored: {stored:?}"
    );
    assert!(stored.iter().all(|body| body.starts_with("after ")));
}

async fn a_frame_over_the_payload_cap_closes_only_that_connection(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let b = joined(&app, &bob, "lobby").await;
    let c = joined(&app, &carl, "lobby").await;
    for size in [2 * 1024 * 1024, 70_000] {
        let a = joined(&app, &amy, "lobby").await;
        b.next_event("presence:join").await;
        let packet = format!(
            r#"2["message:send",{{"room":"lobby","body":"{}"}}]"#,
            "x".repeat(size)
        );
        a.send_text(&packet);
        assert!(
            a.closed_within(Duration::from_secs(2)).await,
            "a {size}-byte frame closes its connection"
        );
        let left = b.next_event("presence:leave").await;
        assert_eq!(left["agent"]["name"], "amy");
        assert!(!b.is_closed().await && !c.is_closed().await);
        assert_room_works(&c, &b, "lobby", &format!("after {size}")).await;
        assert_room_works(&b, &c, "lobby", &format!("still after {size}")).await;
    }
    assert_healthy(&app).await;
    let stored = history_bodies(&app, &bob, "lobby").await;
    assert_eq!(
        stored.len(),
        4,
        "nothing of the big frames was stored: {}",
        stored.len()
    );
    // amy can connect again.
    let a = joined(&app, &amy, "lobby").await;
    assert_room_works(&a, &b, "lobby", "amy is back").await;
}

async fn a_thousand_join_leave_pairs_are_all_acknowledged_and_leave_presence_empty(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let b = joined(&app, &bob, "churn").await;
    let a = Sio::connect(app.addr, &amy).await;
    // Pipelined in windows of 50 pairs: 100 events in flight at a time.
    for window in 0..20 {
        let acks = join_all((0..100).map(|i| {
            let event = if i % 2 == 0 {
                "room:join"
            } else {
                "room:leave"
            };
            a.emit(event, json!({"room": "churn"}))
        }))
        .await;
        for (i, ack) in acks.iter().enumerate() {
            assert_eq!(ack["ok"], true, "window {window}, event {i}: {ack}");
        }
    }
    let list = a.emit("presence:list", json!({"room": "churn"})).await;
    let names = member_names(list["members"].as_array().unwrap());
    assert_eq!(names, ["bob"], "amy left presence");
    // bob saw every join and every leave.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (joins, leaves) = (
            b.count("presence:join").await,
            b.count("presence:leave").await,
        );
        if joins == 1000 && leaves == 1000 {
            break;
        }
        assert!(
            Instant::now() < deadline && joins <= 1000 && leaves <= 1000,
            "{joins} presence:join and {leaves} presence:leave for 1000 pairs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ok(&b.emit("room:leave", json!({"room": "churn"})).await);
    let res = app.get("/api/v1/rooms/churn/presence", &amy).await;
    assert_eq!(json_of(res).await, json!({"members": []}));
    assert_ok(&a.emit("room:join", json!({"room": "churn"})).await);
}

/// Emits every event at once and returns each one's ack, or `Value::Null` for an event that
/// got no ack at all within 4.5 s.
async fn burst(s: &Sio, events: Vec<(&'static str, Value)>) -> Vec<Value> {
    join_all(events.into_iter().map(|(event, data)| async move {
        tokio::time::timeout(Duration::from_millis(4500), s.emit(event, data))
            .await
            .unwrap_or(Value::Null)
    }))
    .await
}

/// How many acks were ok, rate_limited, something else, and missing.
fn tally(acks: &[Value]) -> (usize, usize, usize, usize) {
    let ok = acks.iter().filter(|a| a["ok"] == true).count();
    let limited = acks
        .iter()
        .filter(|a| a["error"]["code"] == "rate_limited")
        .count();
    let missing = acks.iter().filter(|a| a.is_null()).count();
    (ok, limited, acks.len() - ok - limited - missing, missing)
}

async fn a_thousand_join_leave_pairs_sent_at_once_are_all_acknowledged_ok(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let _b = joined(&app, &bob, "churn").await;
    let a = Sio::connect(app.addr, &amy).await;
    // 2,000 events in flight at once: within the 10,000/s bucket, so none is refused.
    let events = (0..2000)
        .map(|i| {
            let event = if i % 2 == 0 {
                "room:join"
            } else {
                "room:leave"
            };
            (event, json!({"room": "churn"}))
        })
        .collect();
    let acks = burst(&a, events).await;
    let (ok, limited, other, missing) = tally(&acks);
    assert_eq!(
        (ok, limited, other, missing),
        (2000, 0, 0, 0),
        "(ok, rate_limited, other errors, never answered) for 2000 events within the limit"
    );
    let list = a.emit("presence:list", json!({"room": "churn"})).await;
    assert_eq!(
        list["members"].as_array().unwrap().len(),
        1,
        "only bob: {list}"
    );
}

/// `count` `message:history` events at once from `a`: every one is answered, `ok` of them
/// ok (the rest rate_limited), and the socket stays: not a flood.
async fn assert_every_event_answered(a: &Sio, count: usize, ok: std::ops::RangeInclusive<usize>) {
    let events = (0..count)
        .map(|_| ("message:history", json!({"room": "lobby"})))
        .collect();
    let acks = burst(a, events).await;
    let (passed, limited, other, missing) = tally(&acks);
    assert_eq!(
        (other, missing),
        (0, 0),
        "every event is answered: {passed} ok, {limited} rate_limited, {other} other, \
         {missing} never answered"
    );
    assert!(ok.contains(&passed), "{passed} ok, {limited} rate_limited");
    assert!(!a.is_closed().await, "not a flood");
}

async fn every_event_of_a_burst_gets_an_ack_even_when_rate_limited(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    // 250 at once with the default 30/s: about 30 pass, the rest are rate_limited (fewer
    // than 300 rejections, so no flood disconnect) -- but every one is answered.
    assert_every_event_answered(&a, 250, 25..=35).await;
}

async fn every_event_of_a_large_burst_gets_an_ack_even_when_rate_limited(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    // At 100/s: about 100 of 1,000 pass (well under the 256-event queue), 900 are
    // rate_limited (under the 1,000 rejections that make a flood) -- every one answered.
    assert_every_event_answered(&a, 1000, 90..=130).await;
}

async fn a_burst_over_the_event_rate_is_answered_rate_limited(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let acks = join_all((0..50).map(|_| a.emit("message:history", json!({"room": "lobby"})))).await;
    let ok = acks.iter().filter(|ack| ack["ok"] == true).count();
    let limited: Vec<&Value> = acks.iter().filter(|ack| ack["ok"] == false).collect();
    for ack in &limited {
        assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
        assert_eq!(
            keys(&ack["error"]),
            key_set(&["code", "message", "retry_after_ms"]),
            "{ack}"
        );
        let retry = ack["error"]["retry_after_ms"].as_u64().expect("an integer");
        assert!(retry > 0 && retry <= 1000, "{ack}");
    }
    assert!(
        (25..=35).contains(&ok),
        "about one second's worth (30) passes: {ok} ok, {} limited",
        limited.len()
    );
    assert!(limited.len() >= 15, "{} limited", limited.len());
    // Not a flood: the socket stays, and a second later events pass again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(!a.is_closed().await);
    assert_ok(&a.emit("message:history", json!({"room": "lobby"})).await);
}

async fn a_sustained_flood_disconnects_the_socket_and_is_audited(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b, a_other] = joined_sockets(&app, "lobby", [&amy, &bob, &amy]).await;
    flood(&a, 500);
    assert!(
        a.closed_within(Duration::from_secs(3)).await,
        "a flooding socket is disconnected"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    let amy_id = get_agent(&app, "amy").await["id"].clone();
    loop {
        let rows = app.audit_events("rate-limited").await;
        if rows.iter().any(|r| r["agent_id"] == amy_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "audit rate-limited for amy: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Rate-limit state dies with the socket; nobody else is affected.
    assert_room_works(&b, &a_other, "lobby", "calm").await;
    assert_room_works(&a_other, &b, "lobby", "calm too").await;
    let fresh = joined(&app, &amy, "lobby").await;
    assert_ok(
        &fresh
            .emit("message:history", json!({"room": "lobby"}))
            .await,
    );
    assert_healthy(&app).await;
}

async fn repeated_floods_by_one_agent_write_one_rate_limited_audit_row_per_minute(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let amy_id = get_agent(&app, "amy").await["id"].clone();
    for round in 0..3 {
        let a = joined(&app, &amy, "lobby").await;
        flood(&a, 500);
        assert!(
            a.closed_within(Duration::from_secs(3)).await,
            "flood {round} is disconnected"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: Vec<Value> = app
        .audit_events("rate-limited")
        .await
        .into_iter()
        .filter(|r| r["agent_id"] == amy_id)
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "three floods within a minute: one rate-limited row, got {rows:?}"
    );
}

crate::on_both_backends!(
    an_unknown_event_is_a_bad_request_with_or_without_an_ack,
    only_the_first_argument_of_an_event_is_read,
    a_failing_event_without_an_ack_gets_at_most_one_hub_error_per_second,
    a_binary_attachment_event_is_refused_and_nothing_breaks,
    a_malformed_packet_closes_at_most_its_own_connection,
    a_frame_over_the_payload_cap_closes_only_that_connection,
    a_burst_over_the_event_rate_is_answered_rate_limited,
    a_sustained_flood_disconnects_the_socket_and_is_audited,
    every_event_of_a_burst_gets_an_ack_even_when_rate_limited,
    repeated_floods_by_one_agent_write_one_rate_limited_audit_row_per_minute,
);

crate::on_both_backends_with!(
    with_100_events_per_second,
    |s| s.rate_limit_ws_events_per_sec = 100,
    [every_event_of_a_large_burst_gets_an_ack_even_when_rate_limited]
);

crate::on_both_backends_with!(
    with_a_high_event_rate,
    |s| s.rate_limit_ws_events_per_sec = 10_000,
    [
        a_payload_that_is_not_one_json_object_is_a_bad_request,
        a_thousand_join_leave_pairs_are_all_acknowledged_and_leave_presence_empty,
        a_thousand_join_leave_pairs_sent_at_once_are_all_acknowledged_ok,
    ]
);
