//! Threads (SPEC §11): `reply_to` on `message:send`, `dm:send`, REST posts and `stream:start`,
//! `reply_to` / `reply_count` in every message, and `thread` pages of the replies to a root
//! over `message:history` and `GET /rooms/{name}/messages?thread=seq`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// `(seq, reply_to, reply_count)` of each message.
fn threading(messages: &[Value]) -> Vec<(i64, Value, i64)> {
    messages
        .iter()
        .map(|m| {
            assert_message_shape(m);
            (
                m["seq"].as_i64().unwrap(),
                m["reply_to"].clone(),
                m["reply_count"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Posts `body` over REST as `key`, answering seq `to`: the stored message.
async fn reply(app: &TestApp, key: &str, room: &str, body: &str, to: i64) -> Value {
    let res = post_to(app, key, room, json!({"body": body, "reply_to": to})).await;
    let message = expect_json(res, StatusCode::CREATED).await;
    assert_stored_message(&message);
    assert_eq!(message["reply_to"], to, "{message}");
    message
}

/// The messages of a `message:history` on `s` with `payload`, asserting an ok ack.
async fn socket_history(s: &Sio, payload: Value) -> (Vec<Value>, bool) {
    let ack = s.emit("message:history", payload.clone()).await;
    assert_ok(&ack);
    (
        ack["messages"].as_array().expect("messages").clone(),
        ack["has_more"].as_bool().expect("has_more is a bool"),
    )
}

/// The `hub:error` body for this event and code.
#[track_caller]
fn assert_hub_error(v: &Value, event: &str, code: &str) {
    assert_eq!(
        keys(v),
        key_set(&["event", "code", "message"]),
        "hub:error {v}"
    );
    assert_eq!(v["event"], event, "hub:error {v}");
    assert_eq!(v["code"], code, "hub:error {v}");
}

async fn a_reply_names_its_root_and_the_root_counts_its_replies_when_read(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let ack = a
        .send_message(json!({"room": "lobby", "body": "question?"}))
        .await;
    let root = assert_new_message(&ack).clone();
    assert_eq!(
        (&root["reply_to"], &root["reply_count"], &root["stream"]),
        (&Value::Null, &json!(0), &Value::Null),
        "an ordinary message: {root}"
    );
    assert_eq!(b.next_event("message:new").await, root);

    // A reply over the socket: its ack and broadcast count no replies of its own.
    let ack = b
        .send_message(json!({"room": "lobby", "body": "answer one", "reply_to": 1}))
        .await;
    let by_socket = assert_new_message(&ack).clone();
    assert_eq!(by_socket["seq"], 2);
    assert_eq!(by_socket["reply_to"], 1);
    assert_eq!(by_socket["reply_count"], 0);
    assert_eq!(by_socket["stream"], Value::Null);
    assert_eq!(a.next_event("message:new").await, by_socket);

    // A reply over REST.
    let by_rest = reply(&app, &bob, "lobby", "answer two", 1).await;
    assert_eq!(by_rest["seq"], 3);
    assert_eq!(by_rest["reply_count"], 0);
    assert_eq!(a.next_event("message:new").await, by_rest);

    // A streamed reply: the stream and the message it ends both answer seq 1.
    let ack = b
        .emit("stream:start", json!({"room": "lobby", "reply_to": 1}))
        .await;
    assert_ok(&ack);
    assert_eq!(ack["stream"]["reply_to"], 1, "{ack}");
    let id = ack["stream"]["id"]
        .as_str()
        .expect("a stream id")
        .to_owned();
    assert_eq!(a.next_event("stream:start").await["reply_to"], 1);
    assert_ok(
        &b.emit("stream:delta", json!({"id": id, "text": "answer three"}))
            .await,
    );
    let ack = b.emit("stream:end", json!({"id": id})).await;
    let streamed = assert_new_message(&ack).clone();
    assert_eq!(streamed["seq"], 4);
    assert_eq!(streamed["reply_to"], 1);
    assert_eq!(streamed["reply_count"], 0);
    assert_eq!(streamed["stream"], id.as_str());
    assert_eq!(a.next_event("message:new").await, streamed);

    send(&a, "lobby", "something else").await;

    // Read back, the root counts its three replies, wherever it is read.
    let expected = vec![
        (1, Value::Null, 3),
        (2, json!(1), 0),
        (3, json!(1), 0),
        (4, json!(1), 0),
        (5, Value::Null, 0),
    ];
    assert_eq!(threading(&all_messages(&app, "lobby").await), expected);
    let (messages, _) = socket_history(&a, json!({"room": "lobby"})).await;
    assert_eq!(threading(&messages), expected, "message:history");
    let late = Sio::connect(app.addr, &bob).await;
    let ack = late
        .emit("room:join", json!({"room": "lobby", "since": 0}))
        .await;
    assert_ok(&ack);
    assert_eq!(
        threading(ack["missed"].as_array().unwrap()),
        expected,
        "room:join missed"
    );
    let one = history(&app, &amy, "lobby", "?before=2&limit=1").await;
    assert_eq!(
        threading(&one),
        [(1, Value::Null, 3)],
        "REST page of the root"
    );
}

async fn a_dm_may_answer_an_earlier_message_of_its_dm_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    let first =
        assert_new_message(&a.send_dm(json!({"to": "bob", "body": "lunch?"})).await).clone();
    assert_eq!(b.next_event("message:new").await, first);
    let ack = b
        .send_dm(json!({"to": "amy", "body": "yes", "reply_to": 1}))
        .await;
    let answer = assert_new_message(&ack).clone();
    assert_eq!(answer["room"], "dm:amy:bob");
    assert_eq!(answer["seq"], 2);
    assert_eq!(answer["reply_to"], 1);
    assert_eq!(a.next_event("message:new").await, answer);
    for (to, code) in [(3, "not_found"), (0, "bad_request")] {
        assert_error(
            &b.send_dm(json!({"to": "amy", "body": "x", "reply_to": to}))
                .await,
            code,
        );
    }
    a.assert_no_event("message:new", QUIET).await;
    // A REST post to the dm room answers within it too.
    let third = reply(&app, &amy, "dm:amy:bob", "great", 2).await;
    assert_eq!(third["seq"], 3);
    assert_eq!(b.next_event("message:new").await, third);

    assert_eq!(
        threading(&all_messages(&app, "dm:amy:bob").await),
        [(1, Value::Null, 1), (2, json!(1), 1), (3, json!(2), 0)]
    );
    let (page, more) = history_page(&app, &bob, "dm:amy:bob", "?thread=1").await;
    assert_eq!((page, more), (vec![2], false));
}

async fn a_dm_answering_a_message_that_does_not_exist_creates_no_dm_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    // Nothing to answer yet: refused, and not half-stored (SPEC §5): no dm room either.
    assert_error(
        &a.send_dm(json!({"to": "bob", "body": "re?", "reply_to": 1}))
            .await,
        "not_found",
    );
    b.assert_no_event("message:new", QUIET).await;
    for key in [&amy, &bob] {
        assert_eq!(room_names(&app, key).await, Vec::<String>::new());
    }
    let res = app.get("/api/v1/rooms/dm:amy:bob", &amy).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a failed dm:send does not create the dm room"
    );
}

async fn reply_to_must_be_a_seq_of_a_message_in_the_same_room(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    send(&a, "lobby", "one").await;
    send(&a, "lobby", "two").await;
    for _ in 0..2 {
        b.next_event("message:new").await;
    }
    // Another room further along: its seqs are not lobby's.
    app.create_room(&amy, "side").await;
    for i in 1..=5 {
        app.post_message(&amy, "side", &format!("s{i}")).await;
    }

    let cases = [
        (json!(0), "bad_request", StatusCode::BAD_REQUEST),
        (json!(-1), "bad_request", StatusCode::BAD_REQUEST),
        (json!("1"), "bad_request", StatusCode::BAD_REQUEST),
        (json!(1.5), "bad_request", StatusCode::BAD_REQUEST),
        (json!(true), "bad_request", StatusCode::BAD_REQUEST),
        (json!({"seq": 1}), "bad_request", StatusCode::BAD_REQUEST),
        (json!([1]), "bad_request", StatusCode::BAD_REQUEST),
        (json!(3), "not_found", StatusCode::NOT_FOUND),
        (json!(5), "not_found", StatusCode::NOT_FOUND),
        (json!(1_000_000), "not_found", StatusCode::NOT_FOUND),
    ];
    for (to, code, status) in cases {
        let ack = a
            .send_message(json!({"room": "lobby", "body": "re", "reply_to": to}))
            .await;
        assert_eq!(ack["ok"], false, "message:send reply_to {to}: {ack}");
        assert_error(&ack, code);
        let res = post_to(&app, &amy, "lobby", json!({"body": "re", "reply_to": to})).await;
        assert_eq!(res.status(), status, "REST post reply_to {to}");
        expect_error(res, status, code).await;
        let ack = a
            .emit("stream:start", json!({"room": "lobby", "reply_to": to}))
            .await;
        assert_eq!(ack["ok"], false, "stream:start reply_to {to}: {ack}");
        assert_error(&ack, code);
    }
    b.assert_no_event("message:new", QUIET).await;
    assert_eq!(b.count("stream:start").await, 0, "no stream was started");
    assert_eq!(last_seq(&app, "lobby").await, 2, "nothing was stored");

    // `null` is no reply; the next seqs follow without a gap.
    let ack = a
        .send_message(json!({"room": "lobby", "body": "three", "reply_to": null}))
        .await;
    let three = assert_new_message(&ack);
    assert_eq!(
        (&three["seq"], &three["reply_to"]),
        (&json!(3), &Value::Null)
    );
    let ack = a
        .send_message(json!({"room": "lobby", "body": "four", "reply_to": 3}))
        .await;
    let four = assert_new_message(&ack);
    assert_eq!((&four["seq"], &four["reply_to"]), (&json!(4), &json!(3)));
    assert_eq!(seqs(&all_messages(&app, "lobby").await), [1, 2, 3, 4]);
}

async fn a_thread_holds_the_direct_replies_to_its_root_only(app: TestApp) {
    let amy = agent_with_room(&app, "amy", "lobby").await;
    app.post_message(&amy, "lobby", "root").await;
    reply(&app, &amy, "lobby", "r1", 1).await; // 2
    reply(&app, &amy, "lobby", "r1.1", 2).await; // 3
    reply(&app, &amy, "lobby", "r2", 1).await; // 4
    reply(&app, &amy, "lobby", "r1.1.1", 3).await; // 5
    for (root, replies) in [(1, vec![2, 4]), (2, vec![3]), (3, vec![5]), (4, vec![])] {
        let page = history(&app, &amy, "lobby", &format!("?thread={root}")).await;
        assert_eq!(seqs(&page), replies, "thread {root}");
        assert!(
            page.iter().all(|m| m["reply_to"] == root),
            "thread {root}: {page:?}"
        );
    }
    // Replies in a thread page carry their own reply counts.
    let page = history(&app, &amy, "lobby", "?thread=1").await;
    assert_eq!(threading(&page), [(2, json!(1), 1), (4, json!(1), 0)]);
    assert_eq!(bodies(&page), ["r1", "r2"]);
    assert_eq!(
        threading(&all_messages(&app, "lobby").await),
        [
            (1, Value::Null, 2),
            (2, json!(1), 1),
            (3, json!(2), 1),
            (4, json!(1), 0),
            (5, json!(3), 0),
        ]
    );
}

async fn a_thread_pages_the_replies_to_its_root_like_history(app: TestApp) {
    let amy = agent_with_room(&app, "amy", "lobby").await;
    app.post_message(&amy, "lobby", "root").await;
    // Replies (2, 4, …, 24) interleaved with other messages (3, 5, …, 25).
    for i in 1..=12 {
        reply(&app, &amy, "lobby", &format!("reply {i}"), 1).await;
        app.post_message(&amy, "lobby", &format!("aside {i}")).await;
    }
    let all: Vec<i64> = (1..=12).map(|i| 2 * i).collect();
    let cases: [(Value, Vec<i64>, bool); 12] = [
        // No cursor: the newest `limit`, ascending.
        (json!({}), all.clone(), false),
        (json!({"limit": 3}), vec![20, 22, 24], true),
        (json!({"limit": 12}), all.clone(), false),
        // before: the newest `limit` replies with seq < before.
        (json!({"before": 8, "limit": 2}), vec![4, 6], true),
        (json!({"before": 6, "limit": 2}), vec![2, 4], false),
        (json!({"before": 2}), vec![], false),
        (json!({"before": 1000}), all.clone(), false),
        // after: the oldest `limit` replies with seq > after; never the root.
        (json!({"after": 0, "limit": 5}), vec![2, 4, 6, 8, 10], true),
        (json!({"after": 1, "limit": 12}), all.clone(), false),
        (json!({"after": 19, "limit": 2}), vec![20, 22], true),
        (json!({"after": 20}), vec![22, 24], false),
        (json!({"after": 24}), vec![], false),
    ];
    let s = Sio::connect(app.addr, &amy).await;
    for (params, expected, more) in cases {
        let mut query = "?thread=1".to_owned();
        let mut payload = json!({"room": "lobby", "thread": 1});
        for (k, v) in params.as_object().unwrap() {
            query.push_str(&format!("&{k}={v}"));
            payload[k] = v.clone();
        }
        assert_eq!(
            history_page(&app, &amy, "lobby", &query).await,
            (expected.clone(), more),
            "REST {query}"
        );
        let (messages, has_more) = socket_history(&s, payload.clone()).await;
        assert_eq!((seqs(&messages), has_more), (expected, more), "{payload}");
    }
    let page = history(&app, &amy, "lobby", "?thread=1&after=0&limit=2").await;
    assert_eq!(bodies(&page), ["reply 1", "reply 2"]);
    // A message nobody answered has an empty thread.
    for root in [2, 25] {
        let query = format!("?thread={root}");
        assert_eq!(
            history_page(&app, &amy, "lobby", &query).await,
            (vec![], false),
            "{query}"
        );
        let (messages, has_more) =
            socket_history(&s, json!({"room": "lobby", "thread": root})).await;
        assert_eq!((messages.len(), has_more), (0, false), "thread {root}");
    }
}

async fn bad_thread_queries_are_refused(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&amy, "lobby").await;
    app.post_message(&amy, "lobby", "root").await;
    reply(&app, &amy, "lobby", "answer", 1).await;
    app.create_private_room(&amy, "secret").await;
    app.post_message(&amy, "secret", "hidden root").await;

    let bad = [
        "thread=0",
        "thread=-1",
        "thread=abc",
        "thread=1.5",
        "thread=",
        "thread=1&before=3&after=1",
        "thread=1&limit=0",
        "thread=1&limit=101",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bad.map(|q| Call::get(format!("/api/v1/rooms/lobby/messages?{q}"), &bob)),
    )
    .await;
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::get("/api/v1/rooms/lobby/messages?thread=3", &bob),
            Call::get("/api/v1/rooms/lobby/messages?thread=99", &bob),
            Call::get("/api/v1/rooms/nowhere/messages?thread=1", &bob),
            Call::get("/api/v1/rooms/secret/messages?thread=1", &bob),
        ],
    )
    .await;

    let s = Sio::connect(app.addr, &bob).await;
    expect_ack_errors(
        &s,
        "bad_request",
        [
            json!({"room": "lobby", "thread": 0}),
            json!({"room": "lobby", "thread": -3}),
            json!({"room": "lobby", "thread": "1"}),
            json!({"room": "lobby", "thread": 1.5}),
            json!({"room": "lobby", "thread": [1]}),
            json!({"room": "lobby", "thread": 1, "before": 3, "after": 1}),
            json!({"room": "lobby", "thread": 1, "limit": 0}),
            json!({"room": "lobby", "thread": 1, "limit": 101}),
        ]
        .map(|p| ("message:history", p)),
    )
    .await;
    expect_ack_errors(
        &s,
        "not_found",
        [
            json!({"room": "lobby", "thread": 3}),
            json!({"room": "nowhere", "thread": 1}),
            json!({"room": "secret", "thread": 1}),
        ]
        .map(|p| ("message:history", p)),
    )
    .await;
    // The owner reads the private thread; the good query still works for bob.
    assert_eq!(
        history_page(&app, &amy, "secret", "?thread=1").await,
        (vec![], false)
    );
    assert_eq!(
        history_page(&app, &bob, "lobby", "?thread=1").await,
        (vec![2], false)
    );
    // Without an ack callback, a failing thread page is a hub:error.
    let quiet = Sio::connect(app.addr, &bob).await;
    quiet.emit_noack("message:history", json!({"room": "lobby", "thread": 99}));
    assert_hub_error(
        &quiet.next_event("hub:error").await,
        "message:history",
        "not_found",
    );
}

async fn a_repeated_client_id_answers_the_stored_message_with_its_current_reply_count(
    app: TestApp,
) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a, b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    let first = a
        .send_message(json!({"room": "lobby", "body": "root", "client_id": "r-1"}))
        .await;
    assert_eq!(assert_new_message(&first)["reply_count"], 0);
    b.next_event("message:new").await;
    for body in ["yes", "no"] {
        let ack = b
            .send_message(json!({"room": "lobby", "body": body, "reply_to": 1}))
            .await;
        assert_new_message(&ack);
    }
    let again = a
        .send_message(json!({"room": "lobby", "body": "root", "client_id": "r-1"}))
        .await;
    assert_ok(&again);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"]["seq"], 1);
    assert_eq!(again["message"]["reply_count"], 2, "{again}");
    assert_eq!(again["message"]["reply_to"], Value::Null);
    // Over REST: 200 with the stored message and its count.
    let res = post_to(
        &app,
        &amy,
        "lobby",
        json!({"body": "root", "client_id": "r-1"}),
    )
    .await;
    let stored = expect_json(res, StatusCode::OK).await;
    assert_eq!(stored["reply_count"], 2, "{stored}");
    // A repeated reply keeps its reply_to.
    let reply_again = b
        .send_message(json!({"room": "lobby", "body": "maybe", "reply_to": 1, "client_id": "x"}))
        .await;
    assert_new_message(&reply_again);
    let dup = b
        .send_message(json!({"room": "lobby", "body": "maybe", "reply_to": 1, "client_id": "x"}))
        .await;
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["message"]["reply_to"], 1);
    assert_eq!(dup["message"]["reply_count"], 0);
    assert_eq!(
        history_page(&app, &amy, "lobby", "?thread=1").await,
        (vec![2, 3, 4], false),
        "the repeats added no reply"
    );
}

crate::on_both_backends!(
    a_reply_names_its_root_and_the_root_counts_its_replies_when_read,
    a_dm_may_answer_an_earlier_message_of_its_dm_room,
    a_dm_answering_a_message_that_does_not_exist_creates_no_dm_room,
    reply_to_must_be_a_seq_of_a_message_in_the_same_room,
    a_thread_holds_the_direct_replies_to_its_root_only,
    a_thread_pages_the_replies_to_its_root_like_history,
    bad_thread_queries_are_refused,
    a_repeated_client_id_answers_the_stored_message_with_its_current_reply_count,
);
