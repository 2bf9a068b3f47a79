//! Streamed messages (SPEC §11): readers see a draft grow and get one ordinary message when
//! it ends; aborts store nothing; limits, permissions, and a second node over Redis.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::cluster::{CLUSTER_QUIET, Cluster};
use crate::support::services::shared_redis_url;
use crate::support::*;

const STREAM_FIELDS: [&str; 6] = ["id", "room", "sender", "metadata", "reply_to", "started_at"];

/// `stream:start` into `room`, asserting an ok ack: the stream object.
async fn start(s: &Sio, payload: Value) -> Value {
    let ack = s.emit("stream:start", payload).await;
    assert_ok(&ack);
    ack["stream"].clone()
}

/// `stream:delta` with an ack: the delta's index.
async fn delta(s: &Sio, id: &Value, text: &str) -> i64 {
    let ack = s
        .emit("stream:delta", json!({"id": id, "text": text}))
        .await;
    assert_ok(&ack);
    ack["index"].as_i64().expect("an index")
}

async fn a_reader_sees_the_draft_grow_and_then_one_ordinary_message(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stream = start(&a, json!({"room": "lobby", "metadata": {"model": "m1"}})).await;
    assert_eq!(keys(&stream), key_set(&STREAM_FIELDS), "{stream}");
    let id = stream["id"].as_str().expect("an id").to_owned();
    assert_eq!(stream["room"], "lobby");
    assert_ref(&stream["sender"], "amy");
    assert_eq!(stream["metadata"], json!({"model": "m1"}));
    assert_eq!(stream["reply_to"], Value::Null);
    assert_recent_timestamp(&stream["started_at"]);
    assert_eq!(b.next_event("stream:start").await, stream);

    for (i, text) in ["Hel", "lo, ", "world"].iter().enumerate() {
        assert_eq!(delta(&a, &stream["id"], text).await, i as i64);
        let d = b.next_event("stream:delta").await;
        assert_eq!(
            d,
            json!({"id": id, "room": "lobby", "index": i, "text": text})
        );
    }
    // Deltas without an ack callback work the same (the usual way to send them).
    a.emit_noack("stream:delta", json!({"id": id, "text": "!"}));
    assert_eq!(b.next_event("stream:delta").await["index"], 3);

    let ack = a.emit("stream:end", json!({"id": id})).await;
    let message = assert_new_message(&ack);
    assert_stored_message(message);
    assert_eq!(ack["duplicate"], false);
    assert_eq!(message["body"], "Hello, world!");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["stream"], id.as_str());
    assert_eq!(message["metadata"], json!({"model": "m1"}));
    assert_eq!(message["reply_count"], 0);
    assert_eq!(b.next_event("message:new").await, *message);
    // The sender's socket gets acks, never its own broadcasts.
    for event in ["stream:start", "stream:delta", "message:new"] {
        a.assert_no_event(event, Duration::ZERO).await;
    }
    // Stored once, like any message; the stream is gone.
    let stored = history(&app, &bob, "lobby", "").await;
    assert_eq!(stored, vec![message.clone()]);
    let again = a
        .emit("stream:delta", json!({"id": id, "text": "more"}))
        .await;
    assert_error(&again, "not_found");
    let joined = join(&Sio::connect(app.addr, &bob).await, "lobby").await;
    assert_eq!(joined["streams"], json!([]));
    // An ordinary message carries `stream: null`.
    assert_eq!(send(&a, "lobby", "plain").await["stream"], Value::Null);
}

async fn a_reader_joining_mid_stream_gets_the_draft_and_continues_with_the_deltas(app: TestApp) {
    let [amy, cat] = app.create_agents(["amy", "cat"]).await;
    let a = joined(&app, &amy, "lobby").await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    let id = stream["id"].clone();
    let c = Sio::connect(app.addr, &cat).await;
    // Before any delta the draft is empty, at index -1.
    let ack = join(&c, "lobby").await;
    let mut expected = stream.clone();
    expected["text"] = json!("");
    expected["index"] = json!(-1);
    assert_eq!(ack["streams"], json!([expected]));
    delta(&a, &id, "one ").await;
    delta(&a, &id, "two ").await;
    let late = Sio::connect(app.addr, &cat).await;
    let ack = join(&late, "lobby").await;
    let draft = &ack["streams"][0];
    assert_eq!(ack["streams"].as_array().unwrap().len(), 1, "{ack}");
    assert_eq!(draft["id"], id);
    assert_eq!(draft["text"], "one two ");
    assert_eq!(draft["index"], 1);
    assert_eq!(keys(draft), {
        let mut k = key_set(&STREAM_FIELDS);
        k.extend(["text".to_owned(), "index".to_owned()]);
        k
    });
    delta(&a, &id, "three").await;
    let d = late.next_event("stream:delta").await;
    assert_eq!(d["index"], 2, "the next delta follows the draft's index");
    assert_eq!(d["text"], "three");
    let ack = a.emit("stream:end", json!({"id": id})).await;
    assert_eq!(
        late.next_event("message:new").await["body"],
        "one two three"
    );
    assert_eq!(ack["message"]["body"], "one two three");
}

async fn a_stock_reader_that_ignores_stream_events_gets_the_finished_message_once(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let before = send(&a, "lobby", "before").await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    for t in ["a", "b", "c"] {
        delta(&a, &stream["id"], t).await;
    }
    let ended = a.emit("stream:end", json!({"id": stream["id"]})).await;
    assert_ok(&ended);
    let after = send(&a, "lobby", "after").await;
    // What a client that knows nothing of streams sees: three messages, gap-free.
    let seen = [
        b.next_event("message:new").await,
        b.next_event("message:new").await,
        b.next_event("message:new").await,
    ];
    assert_eq!(seqs(&seen), vec![1, 2, 3]);
    assert_eq!(seen[0], before);
    assert_eq!(seen[1], ended["message"]);
    assert_eq!(seen[1]["body"], "abc");
    assert_eq!(seen[2], after);
    b.assert_no_event("message:new", QUIET).await;
}

async fn aborted_streams_store_nothing_and_keep_seq_gap_free(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    // By the sender, with a reason.
    let s1 = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &s1["id"], "half an answ").await;
    let ack = a
        .emit(
            "stream:abort",
            json!({"id": s1["id"], "reason": "user cancelled"}),
        )
        .await;
    assert_eq!(ack, json!({"ok": true}));
    let aborted = b.next_event("stream:abort").await;
    assert_eq!(
        aborted,
        json!({"id": s1["id"], "room": "lobby", "reason": "user cancelled"})
    );
    for (event, payload) in [
        ("stream:delta", json!({"id": s1["id"], "text": "er"})),
        ("stream:end", json!({"id": s1["id"]})),
        ("stream:abort", json!({"id": s1["id"]})),
    ] {
        assert_error(&a.emit(event, payload).await, "not_found");
    }
    // Without a reason: "aborted".
    let s2 = start(&a, json!({"room": "lobby"})).await;
    assert_ok(&a.emit("stream:abort", json!({"id": s2["id"]})).await);
    assert_eq!(b.next_event("stream:abort").await["reason"], "aborted");
    // By leaving the room.
    let s3 = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &s3["id"], "x").await;
    assert_ok(&a.emit("room:leave", json!({"room": "lobby"})).await);
    let left = b.next_event("stream:abort").await;
    assert_eq!((&left["id"], &left["reason"]), (&s3["id"], &json!("left")));
    // By the socket disconnecting.
    join(&a, "lobby").await;
    let s4 = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &s4["id"], "y").await;
    a.close().await;
    let gone = b.next_event("stream:abort").await;
    assert_eq!(
        (&gone["id"], &gone["reason"]),
        (&s4["id"], &json!("disconnected"))
    );
    // Nothing of them was stored, and the next message is seq 1.
    b.assert_no_event("message:new", Duration::ZERO).await;
    assert_eq!(count_rows(&app, "messages").await, 0);
    assert_eq!(send(&b, "lobby", "first").await["seq"], 1);
    assert_eq!(
        join(&Sio::connect(app.addr, &bob).await, "lobby").await["streams"],
        json!([])
    );
}

async fn only_the_socket_that_started_a_stream_may_feed_end_or_abort_it(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let stream = start(&a1, json!({"room": "lobby"})).await;
    // The agent's other socket gets the broadcast like any reader.
    assert_eq!(a2.next_event("stream:start").await, stream);
    for s in [&a2, &b] {
        for (event, payload) in [
            ("stream:delta", json!({"id": stream["id"], "text": "x"})),
            ("stream:end", json!({"id": stream["id"]})),
            ("stream:abort", json!({"id": stream["id"]})),
        ] {
            assert_error(&s.emit(event, payload).await, "not_found");
        }
    }
    for id in [json!("st_0123456789abcdef0123456789abcdef"), json!("nope")] {
        let ack = a1
            .emit("stream:delta", json!({"id": id, "text": "x"}))
            .await;
        assert_error(&ack, "not_found");
    }
    // The stream is untouched by all that.
    assert_eq!(delta(&a1, &stream["id"], "mine").await, 0);
    let ack = a1.emit("stream:end", json!({"id": stream["id"]})).await;
    assert_eq!(assert_new_message(&ack)["body"], "mine");
}

async fn streams_need_a_joined_writer_in_a_room_that_is_not_archived(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let obs = app.create_agent("oscar", "observer").await;
    let a = joined(&app, &amy, "lobby").await;
    app.create_room(&bob, "other").await;
    app.create_private_room(&bob, "secret").await;
    for (payload, code) in [
        (json!({"room": "other"}), "forbidden"),
        (json!({"room": "secret"}), "not_found"),
        (json!({"room": "ghost"}), "not_found"),
        (json!({"room": "Bad Name"}), "bad_request"),
        (json!({}), "bad_request"),
        (json!({"room": "lobby", "metadata": "text"}), "bad_request"),
        (
            json!({"room": "lobby", "metadata": {"k": "x".repeat(5000)}}),
            "payload_too_large",
        ),
        (json!({"room": "lobby", "reply_to": 0}), "bad_request"),
        (json!({"room": "lobby", "reply_to": 7}), "not_found"),
        (json!({"room": "lobby", "reply_to": "1"}), "bad_request"),
    ] {
        let ack = a.emit("stream:start", payload.clone()).await;
        assert_error(&ack, code);
    }
    assert_error(
        &a.emit_args("stream:start", vec![json!("lobby")]).await,
        "bad_request",
    );
    let o = joined(&app, &obs, "lobby").await;
    assert_error(
        &o.emit("stream:start", json!({"room": "lobby"})).await,
        "forbidden",
    );
    // Archived since the socket joined: refused at once.
    let res = app
        .patch(
            "/api/v1/rooms/lobby",
            &app.admin_key,
            json!({"archived": true}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_error(
        &a.emit("stream:start", json!({"room": "lobby"})).await,
        "forbidden",
    );
    assert_eq!(count_rows(&app, "messages").await, 0);
}

async fn a_stream_opened_before_its_room_was_archived_cannot_end_and_stays_open(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &stream["id"], "text").await;
    let res = app
        .patch(
            "/api/v1/rooms/lobby",
            &app.admin_key,
            json!({"archived": true}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_error(
        &a.emit("stream:end", json!({"id": stream["id"]})).await,
        "forbidden",
    );
    // Still open: its sender may abort it.
    assert_ok(&a.emit("stream:abort", json!({"id": stream["id"]})).await);
    assert_eq!(b.next_event("stream:abort").await["id"], stream["id"]);
    assert_eq!(count_rows(&app, "messages").await, 0);
}

async fn empty_streams_and_deltas_are_refused_and_the_stream_stays_open(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    let id = &stream["id"];
    assert_error(
        &a.emit("stream:end", json!({"id": id})).await,
        "bad_request",
    );
    for payload in [
        json!({"id": id, "text": ""}),
        json!({"id": id, "text": "nul\u{0}"}),
        json!({"id": id, "text": 5}),
        json!({"id": id}),
        json!({"text": "x"}),
    ] {
        assert_error(&a.emit("stream:delta", payload).await, "bad_request");
    }
    assert_error(
        &a.emit("stream:abort", json!({"id": id, "reason": "r".repeat(141)}))
            .await,
        "bad_request",
    );
    assert_eq!(delta(&a, id, "now it has text").await, 0);
    let ack = a.emit("stream:end", json!({"id": id})).await;
    assert_eq!(assert_new_message(&ack)["body"], "now it has text");
}

async fn a_socket_has_at_most_max_streams_per_socket_open(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let [a1, a2] = joined_sockets(&app, "lobby", [&amy, &amy]).await;
    let first = start(&a1, json!({"room": "lobby"})).await;
    start(&a1, json!({"room": "lobby"})).await;
    assert_error(
        &a1.emit("stream:start", json!({"room": "lobby"})).await,
        "conflict",
    );
    // Per socket: the agent's other socket may open its own.
    start(&a2, json!({"room": "lobby"})).await;
    // Ending one frees its place.
    delta(&a1, &first["id"], "done").await;
    assert_ok(&a1.emit("stream:end", json!({"id": first["id"]})).await);
    start(&a1, json!({"room": "lobby"})).await;
}

async fn a_stream_past_max_message_bytes_is_aborted_as_too_large(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &stream["id"], &"x".repeat(60)).await;
    let ack = a
        .emit(
            "stream:delta",
            json!({"id": stream["id"], "text": "y".repeat(5)}),
        )
        .await;
    assert_error(&ack, "payload_too_large");
    let aborted = b.next_event("stream:abort").await;
    assert_eq!(
        aborted,
        json!({"id": stream["id"], "room": "lobby", "reason": "too_large"})
    );
    assert_error(
        &a.emit("stream:end", json!({"id": stream["id"]})).await,
        "not_found",
    );
    assert_eq!(count_rows(&app, "messages").await, 0);
    // Exactly the limit is fine.
    let ok = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &ok["id"], &"x".repeat(64)).await;
    let ack = a.emit("stream:end", json!({"id": ok["id"]})).await;
    assert_eq!(assert_new_message(&ack)["body"].as_str().unwrap().len(), 64);
}

async fn a_stream_that_repeats_a_client_id_answers_the_stored_message_and_stores_nothing(
    app: TestApp,
) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &stream["id"], "streamed").await;
    let first = a
        .emit(
            "stream:end",
            json!({"id": stream["id"], "client_id": "answer-1"}),
        )
        .await;
    let stored = assert_new_message(&first).clone();
    assert_eq!(stored["client_id"], "answer-1");
    assert_eq!(b.next_event("message:new").await, stored);
    // A retry of the same answer as a new stream (say, after a reconnect).
    let retry = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &retry["id"], "streamed again").await;
    let again = a
        .emit(
            "stream:end",
            json!({"id": retry["id"], "client_id": "answer-1"}),
        )
        .await;
    assert_ok(&again);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"], stored);
    let dropped = b.next_event("stream:abort").await;
    assert_eq!(
        (&dropped["id"], &dropped["reason"]),
        (&retry["id"], &json!("duplicate"))
    );
    b.assert_no_event("message:new", QUIET).await;
    assert_eq!(count_rows(&app, "messages").await, 1);
}

async fn a_streamed_reply_joins_its_thread(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let question = send(&b, "lobby", "what is 6 x 7?").await;
    let stream = start(&a, json!({"room": "lobby", "reply_to": question["seq"]})).await;
    assert_eq!(stream["reply_to"], question["seq"]);
    delta(&a, &stream["id"], "42").await;
    let ack = a.emit("stream:end", json!({"id": stream["id"]})).await;
    let answer = assert_new_message(&ack);
    assert_eq!(answer["reply_to"], question["seq"]);
    let thread = history(&app, &bob, "lobby", "?thread=1").await;
    assert_eq!(thread, vec![answer.clone()]);
    let all = history(&app, &bob, "lobby", "").await;
    assert_eq!(all[0]["reply_count"], 1);
}

async fn stream_metrics_count_open_ended_and_aborted_streams(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let a = joined(&app, &amy, "lobby").await;
    let ended = start(&a, json!({"room": "lobby"})).await;
    let aborted = start(&a, json!({"room": "lobby"})).await;
    start(&a, json!({"room": "lobby"})).await;
    delta(&a, &ended["id"], "x").await;
    assert_ok(&a.emit("stream:end", json!({"id": ended["id"]})).await);
    assert_ok(&a.emit("stream:abort", json!({"id": aborted["id"]})).await);
    let text = app.metrics_text().await;
    for line in [
        "streams_open 1",
        "streams_total{outcome=\"ended\"} 1",
        "streams_total{outcome=\"aborted\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
}

crate::on_both_backends!(
    a_reader_sees_the_draft_grow_and_then_one_ordinary_message,
    a_reader_joining_mid_stream_gets_the_draft_and_continues_with_the_deltas,
    a_stock_reader_that_ignores_stream_events_gets_the_finished_message_once,
    aborted_streams_store_nothing_and_keep_seq_gap_free,
    only_the_socket_that_started_a_stream_may_feed_end_or_abort_it,
    streams_need_a_joined_writer_in_a_room_that_is_not_archived,
    a_stream_opened_before_its_room_was_archived_cannot_end_and_stays_open,
    empty_streams_and_deltas_are_refused_and_the_stream_stays_open,
    a_stream_that_repeats_a_client_id_answers_the_stored_message_and_stores_nothing,
    a_streamed_reply_joins_its_thread,
    stream_metrics_count_open_ended_and_aborted_streams,
);

crate::on_both_backends_with!(
    two_streams_per_socket,
    |s| s.max_streams_per_socket = 2,
    [a_socket_has_at_most_max_streams_per_socket_open]
);

crate::on_both_backends_with!(
    small_messages,
    |s| s.max_message_bytes = 64,
    [a_stream_past_max_message_bytes_is_aborted_as_too_large]
);

/// SPEC §11: a stream with no delta for 60 s is aborted (`timeout`). One backend: the rule
/// lives in memory, and the test waits a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_a_delta_for_60_seconds_is_aborted_as_timeout() {
    let app = spawn_app(Backend::Sqlite).await;
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    // A delta keeps it alive.
    delta(&a, &stream["id"], "still thinking").await;
    tokio::time::sleep(Duration::from_secs(45)).await;
    b.assert_no_event("stream:abort", Duration::ZERO).await;
    let aborted = tokio::time::timeout(Duration::from_secs(20), b.next_event_quiet("stream:abort"))
        .await
        .expect("aborted within 60 s (and the sweep) of the last delta");
    assert_eq!(
        aborted,
        json!({"id": stream["id"], "room": "lobby", "reason": "timeout"})
    );
    assert_error(
        &a.emit("stream:end", json!({"id": stream["id"]})).await,
        "not_found",
    );
    assert_eq!(count_rows(&app, "messages").await, 0);
}

/// Two nodes over Redis: a reader on the other node sees the draft grow and the final
/// message once; a reader joining there mid-stream gets the draft from Redis; activity,
/// cursor moves and threads cross nodes as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_on_another_node_sees_the_draft_grow_and_the_rest_of_section_11_crosses_too() {
    let c = Cluster::start(2, shared_redis_url(), &[]).await;
    let [amy, bob] = c.agents(["amy", "bob"]).await;
    let a = Sio::joined(c.addr(0), &amy, "lobby").await;
    let b = Sio::joined(c.addr(1), &bob, "lobby").await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    assert_eq!(b.next_event("stream:start").await, stream);
    delta(&a, &stream["id"], "first ").await;
    assert_eq!(b.next_event("stream:delta").await["text"], "first ");
    delta(&a, &stream["id"], "second ").await;
    assert_eq!(b.next_event("stream:delta").await["index"], 1);
    // A late reader on node 2 gets the draft from Redis (the copy is written off the
    // sender's path: give it a moment).
    let mut draft = Value::Null;
    for _ in 0..50 {
        let late = Sio::connect(c.addr(1), &bob).await;
        let ack = join(&late, "lobby").await;
        if ack["streams"][0]["index"] == 1 {
            draft = ack["streams"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(draft["id"], stream["id"], "the draft is listed on node 2");
    assert_eq!(draft["text"], "first second ");
    assert_eq!(draft["sender"], stream["sender"]);
    assert_eq!(draft["started_at"], stream["started_at"]);
    delta(&a, &stream["id"], "third").await;
    let ack = a.emit("stream:end", json!({"id": stream["id"]})).await;
    let message = assert_new_message(&ack);
    assert_eq!(message["body"], "first second third");
    assert_eq!(b.next_event("message:new").await, *message);
    b.assert_no_event("message:new", CLUSTER_QUIET).await;
    // Ended: no longer listed anywhere.
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = join(&Sio::connect(c.addr(1), &bob).await, "lobby").await["streams"].clone();
        if listed == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed, json!([]));
    // A stream aborted on node 1 is dropped on node 2 too.
    let s2 = start(&a, json!({"room": "lobby"})).await;
    assert_eq!(b.next_event("stream:start").await["id"], s2["id"]);
    assert_ok(
        &a.emit("stream:abort", json!({"id": s2["id"], "reason": "stop"}))
            .await,
    );
    assert_eq!(b.next_event("stream:abort").await["reason"], "stop");

    // The rest of SPEC §11 crosses nodes too: activity, cursor moves, threads.
    let ack = a
        .emit(
            "activity:set",
            json!({"room": "lobby", "state": "thinking"}),
        )
        .await;
    assert_ok(&ack);
    let activity = b.next_event("activity").await;
    assert_eq!(activity["state"], "thinking");
    assert_ref(&activity["agent"], "amy");
    assert_eq!(activity["expires_at"], ack["expires_at"]);
    let reply = a
        .send_message(json!({"room": "lobby", "body": "a reply", "reply_to": 1}))
        .await;
    assert_ok(&reply);
    assert_eq!(b.next_event("message:new").await["reply_to"], 1);
    // The message ended amy's activity, on node 2 as well.
    assert_eq!(b.next_event("activity").await["state"], "idle");
    let moved = b
        .emit("cursor:set", json!({"room": "lobby", "seq": 2}))
        .await;
    assert_eq!(moved["cursor"]["seq"], 2);
    let update = a.next_event("cursor:update").await;
    assert_eq!(
        (&update["seq"], &update["room"]),
        (&json!(2), &json!("lobby"))
    );
    assert_ref(&update["agent"], "bob");
    let thread = c
        .api(1)
        .get_ok("/api/v1/rooms/lobby/messages?thread=1", &bob)
        .await;
    assert_eq!(thread["messages"][0]["body"], "a reply");
    let root = c
        .api(1)
        .get_ok("/api/v1/rooms/lobby/messages?limit=1&before=2", &bob)
        .await;
    assert_eq!(root["messages"][0]["reply_count"], 1);
}

/// A node killed mid-stream: the stream was never acknowledged, so nothing of it is stored
/// and readers elsewhere get no message for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_dies_with_its_node_and_nothing_of_it_is_stored() {
    let mut c = Cluster::start(2, shared_redis_url(), &[]).await;
    let [amy, bob] = c.agents(["amy", "bob"]).await;
    let a = Sio::joined(c.addr(0), &amy, "lobby").await;
    let b = Sio::joined(c.addr(1), &bob, "lobby").await;
    let stream = start(&a, json!({"room": "lobby"})).await;
    delta(&a, &stream["id"], "lost words").await;
    assert_eq!(b.next_event("stream:delta").await["text"], "lost words");
    c.nodes[0].kill9();
    b.assert_no_event("message:new", CLUSTER_QUIET).await;
    let messages = c.api(1).whole_history(&c.admin_key, "lobby").await;
    assert!(messages.is_empty(), "nothing stored: {messages:?}");
    let next = send(&b, "lobby", "life goes on").await;
    assert_eq!(next["seq"], 1);
}
