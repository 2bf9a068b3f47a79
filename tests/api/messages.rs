//! `/rooms/{name}/messages`: posting (shape, seq, idempotent `client_id`, limits, permissions),
//! history pages, `dm:` room names, and seq under concurrent writers (SPEC §3, §5, §6).

use std::collections::BTreeSet;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{assert_recent_timestamp, json_of};
use crate::helpers::{TestApp, expect_error};

/// `MAX_MESSAGE_BYTES` by default.
const MAX_MESSAGE_BYTES: usize = 16384;

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

fn assert_message_shape(m: &Value) {
    let keys: BTreeSet<&str> = m
        .as_object()
        .unwrap_or_else(|| panic!("a message is an object: {m}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, MESSAGE_KEYS.into_iter().collect(), "message: {m}");
    assert!(m["id"].is_i64(), "id is an integer: {m}");
    assert!(m["room"].is_string());
    assert!(m["seq"].is_i64());
    let sender_keys: BTreeSet<&str> = m["sender"]
        .as_object()
        .expect("sender is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        sender_keys,
        ["display_name", "id", "name"].into_iter().collect()
    );
    assert!(m["body"].is_string());
    assert!(m["metadata"].is_object() || m["metadata"].is_null());
    assert!(m["client_id"].is_string() || m["client_id"].is_null());
    assert_recent_timestamp(&m["created_at"]);
}

async fn create_room(app: &TestApp, key: &str, name: &str, private: bool) {
    let res = app
        .post(
            "/api/v1/rooms",
            key,
            json!({"name": name, "private": private}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "creating room {name}");
}

async fn send(app: &TestApp, key: &str, room: &str, body: Value) -> Response {
    app.post(&format!("/api/v1/rooms/{room}/messages"), key, body)
        .await
}

/// Posts `body` as text, asserting 201, and returns the message.
async fn post_text(app: &TestApp, key: &str, room: &str, body: &str) -> Value {
    let res = send(app, key, room, json!({"body": body})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "posting to {room}");
    json_of(res).await
}

/// A history page: (seqs, has_more).
async fn page(app: &TestApp, key: &str, room: &str, query: &str) -> (Vec<i64>, bool) {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/messages{query}"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "history {room}{query}");
    let page = json_of(res).await;
    let seqs = page["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    (
        seqs,
        page["has_more"].as_bool().expect("has_more is a bool"),
    )
}

async fn last_seq(app: &TestApp, room: &str) -> i64 {
    let res = app
        .get(&format!("/api/v1/rooms/{room}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["last_seq"].as_i64().unwrap()
}

/// Every message of a room, as the admin.
async fn all_messages(app: &TestApp, room: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/v1/rooms/{room}/messages?after=0&limit=100"),
            &app.admin_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["messages"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------------------
// Posting

async fn posting_answers_201_with_the_message(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let me = json_of(app.get("/api/v1/me", &alice).await).await;

    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hello", "client_id": "c-1", "metadata": {"k": 1, "nested": {"a": [1, 2]}}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m = json_of(res).await;
    assert_message_shape(&m);
    assert_eq!(m["room"], "general");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["body"], "hello");
    assert_eq!(m["client_id"], "c-1");
    assert_eq!(m["metadata"], json!({"k": 1, "nested": {"a": [1, 2]}}));
    assert_eq!(m["sender"]["id"], me["id"]);
    assert_eq!(m["sender"]["name"], "alice");
    assert_eq!(m["sender"]["display_name"], me["display_name"]);

    // Without client_id or metadata, both are null.
    let res = send(&app, &alice, "general", json!({"body": "plain"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m2 = json_of(res).await;
    assert_message_shape(&m2);
    assert!(m2["client_id"].is_null());
    assert!(m2["metadata"].is_null());
    assert_eq!(m2["seq"], 2);
    assert_ne!(m2["id"], m["id"]);

    // Explicit null metadata is null too.
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "x", "metadata": null}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(json_of(res).await["metadata"].is_null());

    // History returns the stored message unchanged.
    let history = all_messages(&app, "general").await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0], m);
    assert_eq!(history[1], m2);
    assert_eq!(last_seq(&app, "general").await, 3);
}

async fn seq_starts_at_1_and_counts_per_room(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "one", false).await;
    create_room(&app, &alice, "two", false).await;

    let mut got = Vec::new();
    for (key, room) in [
        (&alice, "one"),
        (&bob, "two"),
        (&bob, "one"),
        (&alice, "one"),
        (&alice, "two"),
    ] {
        let m = post_text(&app, key, room, "hi").await;
        got.push((room, m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap()));
    }
    let seqs: Vec<(&str, i64)> = got.iter().map(|(r, s, _)| (*r, *s)).collect();
    assert_eq!(
        seqs,
        [("one", 1), ("two", 1), ("one", 2), ("one", 3), ("two", 2)]
    );
    // Ids are global and distinct.
    let ids: BTreeSet<i64> = got.iter().map(|(_, _, id)| *id).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(last_seq(&app, "one").await, 3);
    assert_eq!(last_seq(&app, "two").await, 2);
}

async fn a_repeated_client_id_answers_200_with_the_stored_message(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;

    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "first", "client_id": "once", "metadata": {"v": 1}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first = json_of(res).await;

    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "second", "client_id": "once", "metadata": {"v": 2}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = json_of(res).await;
    assert_message_shape(&again);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["body"], "first");
    assert_eq!(again["metadata"], json!({"v": 1}));
    assert_eq!(again, first);

    // No new row, no seq consumed.
    assert_eq!(last_seq(&app, "general").await, 1);
    let history = all_messages(&app, "general").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["body"], "first");

    // The next new message takes seq 2: nothing was skipped.
    assert_eq!(post_text(&app, &alice, "general", "next").await["seq"], 2);
}

async fn a_client_id_is_unique_per_sender(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "a", "client_id": "same"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Another sender may use the same client_id.
    let res = send(
        &app,
        &bob,
        "general",
        json!({"body": "b", "client_id": "same"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m = json_of(res).await;
    assert_eq!(m["seq"], 2);
    assert_eq!(m["sender"]["name"], "bob");
    assert_eq!(all_messages(&app, "general").await.len(), 2);
}

async fn a_client_id_reused_in_another_room_is_a_conflict(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "one", false).await;
    create_room(&app, &alice, "two", false).await;
    let res = send(&app, &alice, "one", json!({"body": "a", "client_id": "k"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = send(&app, &alice, "two", json!({"body": "a", "client_id": "k"})).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(last_seq(&app, "two").await, 0);
    assert!(all_messages(&app, "two").await.is_empty());
    // Room two still works, and seq starts at 1 there.
    assert_eq!(post_text(&app, &alice, "two", "b").await["seq"], 1);
}

async fn bad_bodies_answer_400_and_store_nothing(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for body in [
        json!({"body": ""}),
        json!({}),
        json!({"body": null}),
        json!({"body": 42}),
        json!({"body": ["hi"]}),
        json!({"body": {"text": "hi"}}),
        json!({"body": "hi", "client_id": 7}),
        json!({"body": "hi", "client_id": ""}),
        json!("hi"),
    ] {
        let res = send(&app, &alice, "general", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(last_seq(&app, "general").await, 0);
}

async fn bodies_are_limited_to_max_message_bytes(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;

    let exact = "a".repeat(MAX_MESSAGE_BYTES);
    let m = post_text(&app, &alice, "general", &exact).await;
    assert_eq!(m["body"].as_str().unwrap().len(), MAX_MESSAGE_BYTES);

    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "a".repeat(MAX_MESSAGE_BYTES + 1)}),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Bytes, not characters: 4096 four-byte characters are exactly the limit.
    let emoji = "😀".repeat(MAX_MESSAGE_BYTES / 4);
    assert_eq!(emoji.len(), MAX_MESSAGE_BYTES);
    let m = post_text(&app, &alice, "general", &emoji).await;
    assert_eq!(m["body"], emoji.as_str());
    // One byte more is too large, though it is only 4097 characters.
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": format!("{emoji}a")}),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // And 4097 four-byte characters, too.
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": format!("{emoji}😀")}),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert_eq!(last_seq(&app, "general").await, 2);
    let history = all_messages(&app, "general").await;
    assert_eq!(history[1]["body"], emoji.as_str());
}

async fn metadata_must_be_an_object_or_null(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for metadata in [
        json!([1, 2]),
        json!([]),
        json!("text"),
        json!(""),
        json!(42),
        json!(1.5),
        json!(true),
    ] {
        let res = send(
            &app,
            &alice,
            "general",
            json!({"body": "hi", "metadata": metadata}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "metadata {metadata}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(last_seq(&app, "general").await, 0);
    // An empty object is an object.
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "metadata": {}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["metadata"], json!({}));
}

async fn metadata_is_at_most_4096_bytes_serialized(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    // `{"k":"…"}` is 8 bytes plus the string.
    let fits = json!({"k": "x".repeat(4096 - 8)});
    assert_eq!(serde_json::to_vec(&fits).unwrap().len(), 4096);
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "metadata": fits}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["metadata"], fits);

    let over = json!({"k": "x".repeat(4096 - 7)});
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "metadata": over}),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let big = json!({"a": "y".repeat(3000), "b": "z".repeat(3000)});
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "metadata": big}),
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn client_ids_are_at_most_64_characters(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "client_id": "c".repeat(64)}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Characters, not bytes.
    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "client_id": "é".repeat(64)}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["client_id"], "é".repeat(64));

    let res = send(
        &app,
        &alice,
        "general",
        json!({"body": "hi", "client_id": "c".repeat(65)}),
    )
    .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(last_seq(&app, "general").await, 2);
}

async fn nul_characters_are_a_bad_request_and_store_nothing(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for body in [
        json!({"body": "a\u{0}b"}),
        json!({"body": "\u{0}"}),
        json!({"body": "hi", "metadata": {"k": "a\u{0}b"}}),
        json!({"body": "hi", "metadata": {"k\u{0}": "v"}}),
        json!({"body": "hi", "metadata": {"deep": [{"x": "\u{0}"}]}}),
        json!({"body": "hi", "client_id": "a\u{0}"}),
    ] {
        let res = send(&app, &alice, "general", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(last_seq(&app, "general").await, 0);
    assert!(all_messages(&app, "general").await.is_empty());
    // The room still works.
    assert_eq!(post_text(&app, &alice, "general", "ok").await["seq"], 1);
}

async fn observers_may_read_but_not_post(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "general", false).await;
    post_text(&app, &alice, "general", "hello").await;
    let res = send(&app, &olga, "general", json!({"body": "me too"})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let (seqs, has_more) = page(&app, &olga, "general", "").await;
    assert_eq!(seqs, [1]);
    assert!(!has_more);
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn archived_rooms_refuse_posts_but_keep_their_history(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "general", false).await;
    post_text(&app, &alice, "general", "before").await;
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"archived": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for key in [&alice, &bob, &app.admin_key] {
        let res = send(&app, key, "general", json!({"body": "after"})).await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let (seqs, _) = page(&app, &bob, "general", "").await;
    assert_eq!(seqs, [1]);
    let history = all_messages(&app, "general").await;
    assert_eq!(history[0]["body"], "before");
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn private_rooms_are_not_found_for_non_members(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "secret", true).await;
    post_text(&app, &alice, "secret", "hush").await;

    for key in [&bob, &olga] {
        let res = send(&app, key, "secret", json!({"body": "let me in"})).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get("/api/v1/rooms/secret/messages", key).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Admins read and post.
    assert_eq!(page(&app, &app.admin_key, "secret", "").await.0, [1]);
    assert_eq!(
        post_text(&app, &app.admin_key, "secret", "admin here").await["seq"],
        2
    );
    assert_eq!(last_seq(&app, "secret").await, 2);
}

async fn a_missing_room_is_not_found(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let res = send(&app, &alice, "nowhere", json!({"body": "hi"})).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/v1/rooms/nowhere/messages", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Posting does not create rooms.
    let res = app.get("/api/v1/rooms/nowhere", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn markup_is_stored_and_returned_verbatim(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let bodies = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "&lt;already&gt; &amp; \"quoted\" 'single'",
        "line1\nline2\r\n\ttab",
        "🦀 ünïcödé \u{202e}rtl",
    ];
    for body in bodies {
        let res = send(&app, &alice, "general", json!({"body": body})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type}"
        );
        assert_eq!(json_of(res).await["body"], body);
    }
    let res = app.get("/api/v1/rooms/general/messages", &alice).await;
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"));
    let history = json_of(res).await;
    let got: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(got, bodies);
}

// ---------------------------------------------------------------------------------------
// History

async fn history_pages_in_both_directions(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for i in 1..=10 {
        post_text(&app, &alice, "general", &format!("m{i}")).await;
    }
    let r = |seqs: std::ops::RangeInclusive<i64>| seqs.collect::<Vec<i64>>();

    // No cursor: the newest `limit`, ascending.
    assert_eq!(
        page(&app, &alice, "general", "?limit=3").await,
        (r(8..=10), true)
    );
    assert_eq!(
        page(&app, &alice, "general", "?limit=10").await,
        (r(1..=10), false)
    );
    assert_eq!(
        page(&app, &alice, "general", "?limit=100").await,
        (r(1..=10), false)
    );
    assert_eq!(page(&app, &alice, "general", "").await, (r(1..=10), false));
    // before: the newest `limit` with seq < before.
    assert_eq!(
        page(&app, &alice, "general", "?before=8&limit=3").await,
        (r(5..=7), true)
    );
    assert_eq!(
        page(&app, &alice, "general", "?before=4&limit=3").await,
        (r(1..=3), false)
    );
    assert_eq!(
        page(&app, &alice, "general", "?before=4&limit=2").await,
        (r(2..=3), true)
    );
    assert_eq!(
        page(&app, &alice, "general", "?before=1").await,
        (vec![], false)
    );
    assert_eq!(
        page(&app, &alice, "general", "?before=1000").await,
        (r(1..=10), false)
    );
    // after: the oldest `limit` with seq > after.
    assert_eq!(
        page(&app, &alice, "general", "?after=0&limit=3").await,
        (r(1..=3), true)
    );
    assert_eq!(
        page(&app, &alice, "general", "?after=6&limit=3").await,
        (r(7..=9), true)
    );
    assert_eq!(
        page(&app, &alice, "general", "?after=7&limit=3").await,
        (r(8..=10), false)
    );
    assert_eq!(
        page(&app, &alice, "general", "?after=10").await,
        (vec![], false)
    );
    assert_eq!(
        page(&app, &alice, "general", "?after=0").await,
        (r(1..=10), false)
    );

    // Walking backwards from the newest page visits everything once.
    let mut seen = Vec::new();
    let (mut seqs, mut more) = page(&app, &alice, "general", "?limit=4").await;
    loop {
        seen.splice(0..0, seqs.iter().copied());
        if !more {
            break;
        }
        (seqs, more) = page(
            &app,
            &alice,
            "general",
            &format!("?limit=4&before={}", seqs[0]),
        )
        .await;
    }
    assert_eq!(seen, r(1..=10));

    // Bodies come with their seqs.
    let res = app
        .get("/api/v1/rooms/general/messages?after=4&limit=1", &alice)
        .await;
    let body = json_of(res).await;
    assert_eq!(body["messages"][0]["body"], "m5");
    assert_message_shape(&body["messages"][0]);
}

async fn history_defaults_to_the_newest_50(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for i in 1..=55 {
        post_text(&app, &alice, "general", &format!("m{i}")).await;
    }
    let (seqs, has_more) = page(&app, &alice, "general", "").await;
    assert_eq!(seqs, (6..=55).collect::<Vec<i64>>());
    assert!(has_more);
    let (seqs, has_more) = page(&app, &alice, "general", "?after=0").await;
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
    assert!(has_more);
}

async fn an_empty_room_has_an_empty_history(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for query in ["", "?limit=1", "?before=5", "?after=0"] {
        let res = app
            .get(&format!("/api/v1/rooms/general/messages{query}"), &alice)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            json_of(res).await,
            json!({"messages": [], "has_more": false}),
            "query {query:?}"
        );
    }
}

async fn bad_history_queries_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    post_text(&app, &alice, "general", "hi").await;
    for query in [
        "before=5&after=1",
        "before=1&after=1",
        "limit=0",
        "limit=101",
        "limit=-5",
        "limit=abc",
        "before=abc",
        "after=1.5",
        "after=x",
    ] {
        let res = app
            .get(&format!("/api/v1/rooms/general/messages?{query}"), &alice)
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "query {query}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    for query in [
        "limit=1",
        "limit=100",
        "before=2&limit=1",
        "after=0&limit=100",
    ] {
        let res = app
            .get(&format!("/api/v1/rooms/general/messages?{query}"), &alice)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "query {query}");
    }
}

// ---------------------------------------------------------------------------------------
// DM rooms

async fn dm_rooms_do_not_exist_until_opened(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    for key in [&alice, &bob, &app.admin_key] {
        let res = app.get("/api/v1/rooms/dm:alice:bob", key).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get("/api/v1/rooms/dm:alice:bob/messages", key).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nor does any other pair's.
    let res = app.get("/api/v1/rooms/dm:admin:alice", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn malformed_dm_room_names_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    app.create_agent("bob", "agent").await;
    for name in [
        "dm:bob:alice",
        "dm:alice:alice",
        "dm:alice",
        "dm:alice:",
        "dm::bob",
        "dm:alice:bob:carol",
        "dm:Alice:bob",
    ] {
        let res = app.get(&format!("/api/v1/rooms/{name}"), &alice).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "room {name}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = app
            .get(&format!("/api/v1/rooms/{name}/messages"), &alice)
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = send(&app, &alice, name, json!({"body": "hi"})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "post to {name}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency

async fn concurrent_posts_get_gap_free_seqs(app: TestApp) {
    const WRITERS: usize = 8;
    const EACH: usize = 10;
    create_room(&app, &app.admin_key, "busy", false).await;
    let mut keys = Vec::new();
    for i in 0..WRITERS {
        keys.push(app.create_agent(&format!("writer-{i}"), "agent").await);
    }
    let url = app.url("/api/v1/rooms/busy/messages");
    let tasks: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(w, key)| {
            let http = app.http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let res = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"body": format!("w{w} m{i}")}))
                        .send()
                        .await
                        .expect("request sent");
                    let status = res.status();
                    let body: Value = res.json().await.expect("a JSON body");
                    assert_eq!(status, StatusCode::CREATED, "writer {w} post {i}: {body}");
                    seqs.push(body["seq"].as_i64().unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("writer finished");
        // One writer's sequential posts get increasing seqs.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs {seqs:?}");
        all.extend(seqs);
    }
    all.sort();
    let total = (WRITERS * EACH) as i64;
    assert_eq!(all, (1..=total).collect::<Vec<i64>>());
    assert_eq!(last_seq(&app, "busy").await, total);
    // History agrees, and each body is stored once.
    let history = all_messages(&app, "busy").await;
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<i64>>());
    let bodies: BTreeSet<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), WRITERS * EACH);
}

async fn concurrent_posts_with_one_client_id_store_one_message(app: TestApp) {
    const POSTS: usize = 8;
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let url = app.url("/api/v1/rooms/general/messages");
    let tasks: Vec<_> = (0..POSTS)
        .map(|i| {
            let http = app.http.clone();
            let url = url.clone();
            let key = alice.clone();
            tokio::spawn(async move {
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"body": format!("attempt {i}"), "client_id": "the-one"}))
                    .send()
                    .await
                    .expect("request sent");
                let status = res.status();
                let body: Value = res.json().await.expect("a JSON body");
                (status, body)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task finished"));
    }
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "exactly one 201: {results:?}");
    let stored = created[0];
    for (status, body) in &results {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "status {status}: {body}"
        );
        assert_eq!(body["id"], stored["id"]);
        assert_eq!(body["seq"], 1);
        assert_eq!(body["body"], stored["body"]);
    }
    assert_eq!(last_seq(&app, "general").await, 1);
    assert_eq!(all_messages(&app, "general").await.len(), 1);
}

crate::on_both_backends!(
    posting_answers_201_with_the_message,
    seq_starts_at_1_and_counts_per_room,
    a_repeated_client_id_answers_200_with_the_stored_message,
    a_client_id_is_unique_per_sender,
    a_client_id_reused_in_another_room_is_a_conflict,
    bad_bodies_answer_400_and_store_nothing,
    bodies_are_limited_to_max_message_bytes,
    metadata_must_be_an_object_or_null,
    metadata_is_at_most_4096_bytes_serialized,
    client_ids_are_at_most_64_characters,
    nul_characters_are_a_bad_request_and_store_nothing,
    observers_may_read_but_not_post,
    archived_rooms_refuse_posts_but_keep_their_history,
    private_rooms_are_not_found_for_non_members,
    a_missing_room_is_not_found,
    markup_is_stored_and_returned_verbatim,
    history_pages_in_both_directions,
    history_defaults_to_the_newest_50,
    an_empty_room_has_an_empty_history,
    bad_history_queries_answer_400,
    dm_rooms_do_not_exist_until_opened,
    malformed_dm_room_names_answer_400,
    concurrent_posts_get_gap_free_seqs,
    concurrent_posts_with_one_client_id_store_one_message,
);
