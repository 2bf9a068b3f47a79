//! Socket.IO sends and reads (SPEC §5): `message:send` (acks, seq order, idempotent
//! `client_id`, limits, permissions), broadcasts, REST posts reaching sockets, and
//! `message:history`.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn a_send_is_acknowledged_only_once_it_is_stored(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    for i in 1..=10 {
        let ack = a
            .send_message(json!({"room": "lobby", "body": format!("n{i}"), "metadata": {"i": i}}))
            .await;
        let message = assert_new_message(&ack);
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let from_a =
        join_all((0..8).map(|i| a.send_message(json!({"room": "lobby", "body": format!("a{i}")}))));
    let from_b =
        join_all((0..8).map(|i| b.send_message(json!({"room": "lobby", "body": format!("b{i}")}))));
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    // Another socket sends at the same time, so the room's seq is contended.
    let (acks, other) = tokio::join!(
        join_all((0..50).map(|i| a.send_message(json!({"room": "lobby", "body": format!("{i}")})))),
        join_all(
            (0..20).map(|i| {
                b.send_message(json!({"room": "lobby", "body": format!("other {i}")}))
            })
        ),
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

async fn an_event_right_behind_pipelined_sends_waits_for_all_of_them(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    // 30 sends, every tenth one refused, then a history read and a leave, all written before
    // any of them is answered: the sends are committed together, the read sees every stored
    // one, and the refused ones take nothing.
    let sends = join_all((0..30).map(|i| {
        let body = if i % 10 == 9 {
            String::new()
        } else {
            format!("{i}")
        };
        a.send_message(json!({"room": "lobby", "body": body}))
    }));
    let (acks, history, left, after) = tokio::join!(
        sends,
        a.emit("message:history", json!({"room": "lobby", "limit": 100})),
        a.emit("room:leave", json!({"room": "lobby"})),
        a.send_message(json!({"room": "lobby", "body": "after the leave"})),
    );
    let mut seq = 0;
    for (i, ack) in acks.iter().enumerate() {
        if i % 10 == 9 {
            assert_error(ack, "bad_request");
        } else {
            seq += 1;
            assert_eq!(ack["message"]["seq"], seq, "send {i}: {ack}");
            assert_eq!(ack["message"]["body"], format!("{i}"));
        }
    }
    assert_ok(&history);
    assert_eq!(
        seqs(history["messages"].as_array().unwrap()),
        (1..=27).collect::<Vec<_>>()
    );
    assert_ok(&left);
    assert_error(&after, "forbidden");
    assert_eq!(rest_history(&app, &amy, "lobby").await.len(), 27);
}

async fn a_send_right_after_a_join_is_handled_after_the_join(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = Sio::connect(app.addr, &amy).await;
    // Both go out before either is answered.
    let (join, sent) = tokio::join!(
        a.emit("room:join", json!({"room": "lobby"})),
        a.send_message(json!({"room": "lobby", "body": "first!"})),
    );
    assert_ok(&join);
    assert_ok(&sent);
    assert_eq!(sent["message"]["seq"], 1);
    let (sent, left, refused) = tokio::join!(
        a.send_message(json!({"room": "lobby", "body": "second"})),
        a.emit("room:leave", json!({"room": "lobby"})),
        a.send_message(json!({"room": "lobby", "body": "third"})),
    );
    assert_ok(&sent);
    assert_ok(&left);
    assert_error(&refused, "forbidden");
}

async fn sending_without_joining_is_forbidden_and_to_a_missing_room_not_found(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let _b = joined(&app, &bob, "lobby").await;
    let a = Sio::connect(app.addr, &amy).await;
    for (room, code) in [("lobby", "forbidden"), ("nowhere", "not_found")] {
        let ack = a.send_message(json!({"room": room, "body": "hi"})).await;
        assert_error(&ack, code);
    }
    let res = app.get("/api/v1/rooms/nowhere", &amy).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a send creates no room"
    );
    // After a leave, sending is forbidden again.
    join(&a, "lobby").await;
    send(&a, "lobby", "in").await;
    assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
    assert_error(
        &a.send_message(json!({"room": "lobby", "body": "out"}))
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
        &o.send_message(json!({"room": "lobby", "body": "hi"})).await,
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
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let bodies = [
        "x".repeat(16_385),
        "x".repeat(40_000),
        // 5,462 characters but 16,386 UTF-8 bytes.
        "€".repeat(5_462),
    ];
    let sends = bodies.map(|body| ("message:send", json!({"room": "lobby", "body": body})));
    expect_ack_errors(&a, "payload_too_large", sends).await;
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
        .send_message(
            json!({"room": "lobby", "body": "meta", "metadata": {"k": "z".repeat(4_100)}}),
        )
        .await;
    assert_error(&ack, "payload_too_large");
}

async fn malformed_message_fields_are_bad_requests_and_store_nothing(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let payloads = [
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
    ]
    .map(|payload| ("message:send", payload));
    expect_ack_errors(&a, "bad_request", payloads).await;
    b.assert_no_event("message:new", QUIET).await;
    assert!(rest_history(&app, &amy, "lobby").await.is_empty());
    // Null metadata is allowed and the next send gets seq 1: nothing was half-stored.
    let ack = a
        .send_message(json!({"room": "lobby", "body": "ok", "metadata": null}))
        .await;
    assert_ok(&ack);
    assert_eq!(ack["message"]["seq"], 1);
    assert_eq!(ack["message"]["metadata"], Value::Null);
}

async fn a_repeated_client_id_returns_the_stored_message_without_a_broadcast(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let first = a
        .send_message(
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
            .send_message(json!({"room": "lobby", "body": "changed", "client_id": "k-1"}))
            .await;
        assert_ok(&again);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["message"], first["message"]);
    }
    b.assert_no_event("message:new", QUIET).await;
    a.assert_no_event("message:new", Duration::ZERO).await;
    // Another agent may use the same client_id; seq did not move for the duplicates.
    let theirs = b
        .send_message(json!({"room": "lobby", "body": "bob's", "client_id": "k-1"}))
        .await;
    assert_ok(&theirs);
    assert_eq!(theirs["duplicate"], false);
    assert_eq!(theirs["message"]["seq"], 2);
    assert_eq!(rest_history(&app, &amy, "lobby").await.len(), 2);
}

async fn the_same_client_id_in_another_room_is_a_conflict(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "one").await;
    join(&a, "two").await;
    let b = joined(&app, &bob, "two").await;
    let ack = a
        .send_message(json!({"room": "one", "body": "x", "client_id": "shared"}))
        .await;
    assert_ok(&ack);
    let ack = a
        .send_message(json!({"room": "two", "body": "x", "client_id": "shared"}))
        .await;
    assert_error(&ack, "conflict");
    b.assert_no_event("message:new", QUIET).await;
    assert!(rest_history(&app, &amy, "two").await.is_empty());
}

async fn a_message_reaches_only_the_other_sockets_in_its_room(app: TestApp) {
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let a1 = joined(&app, &amy, "lobby").await;
    let a2 = joined(&app, &amy, "lobby").await;
    let a3 = Sio::connect(app.addr, &amy).await; // amy's socket in no room
    let b = joined(&app, &bob, "lobby").await;
    let c_elsewhere = joined(&app, &carl, "elsewhere").await;
    let c_nowhere = Sio::connect(app.addr, &carl).await;
    let body = "<b>bold</b> & \"quotes\" 😀\nline two";
    let payload = json!({"room": "lobby", "body": body, "client_id": "c-1", "metadata": {"nested": {"a": [1, null]}}});
    let ack = a1.send_message(payload).await;
    assert_ok(&ack);
    let message = &ack["message"];
    assert_eq!(message["body"], body, "stored and sent back verbatim");
    assert_eq!(message["metadata"], json!({"nested": {"a": [1, null]}}));
    let everyone = [&a1, &a2, &a3, &b, &c_elsewhere, &c_nowhere];
    let what = "delivered once, to the right sockets";
    assert_delivered_once(message, &[&a2, &b], &everyone, what).await;
    assert_eq!(rest_history(&app, &bob, "lobby").await[0], *message);
}

async fn a_rest_post_is_broadcast_to_every_joined_socket(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let b_out = Sio::connect(app.addr, &bob).await;
    let posted = app.post_message(&bob, "lobby", "over REST").await;
    assert_message_shape(&posted);
    // No sending socket over REST: the poster's joined socket gets it too.
    assert_eq!(a.next_event("message:new").await, posted);
    assert_eq!(b.next_event("message:new").await, posted);
    b_out.assert_no_event("message:new", QUIET).await;
    // A REST repeat of the client_id answers 200 and broadcasts nothing.
    let body = json!({"body": "idem", "client_id": "r-1"});
    let first = post_to(&app, &amy, "lobby", body).await;
    let first = expect_json(first, StatusCode::CREATED).await;
    assert_eq!(b.next_event("message:new").await, first);
    let body = json!({"body": "idem 2", "client_id": "r-1"});
    let again = post_to(&app, &amy, "lobby", body).await;
    assert_eq!(expect_json(again, StatusCode::OK).await, first);
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
    let queries = [
        json!({"room": "lobby", "before": 5, "after": 1}),
        json!({"room": "lobby", "limit": 0}),
        json!({"room": "lobby", "limit": 101}),
        json!({"room": "lobby", "limit": -1}),
        json!({"room": "lobby", "limit": "ten"}),
        json!({"room": "lobby", "before": "x"}),
        json!({"room": "Lobby"}),
        json!({}),
    ];
    expect_ack_errors(&a, "bad_request", queries.map(|q| ("message:history", q))).await;
    for limit in [1, 100] {
        let ack = a
            .emit("message:history", json!({"room": "lobby", "limit": limit}))
            .await;
        assert_ok(&ack);
    }
}

async fn history_needs_read_access_but_no_join(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
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

crate::on_both_backends!(
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
);

crate::on_both_backends_with!(
    with_a_high_event_rate,
    |s| s.rate_limit_ws_events_per_sec = 10_000,
    [
        fifty_pipelined_sends_from_one_socket_get_increasing_seq_in_send_order,
        an_event_right_behind_pipelined_sends_waits_for_all_of_them,
    ]
);
