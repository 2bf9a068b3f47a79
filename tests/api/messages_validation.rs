//! What `POST /rooms/{name}/messages` refuses (SPEC §3, §6): bodies that are not text,
//! the byte limits of bodies and metadata, client ids, NUL characters and malformed `dm:`
//! room names — each refused with the documented error, storing nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// `MAX_MESSAGE_BYTES` by default.
const MAX_MESSAGE_BYTES: usize = 16384;

/// Posts each body to `general` as `key` and asserts `status` with its error body.
async fn expect_refused_bodies(
    app: &TestApp,
    key: &str,
    status: StatusCode,
    bodies: impl IntoIterator<Item = Value>,
) {
    for body in bodies {
        let res = post_to(app, key, "general", body.clone()).await;
        expect_refusal(res, status, &format!("body {body}")).await;
    }
}

async fn bad_bodies_answer_400_and_store_nothing(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let bodies = [
        json!({"body": ""}),
        json!({}),
        json!({"body": null}),
        json!({"body": 42}),
        json!({"body": ["hi"]}),
        json!({"body": {"text": "hi"}}),
        json!({"body": "hi", "client_id": 7}),
        json!({"body": "hi", "client_id": ""}),
        json!("hi"),
    ];
    expect_refused_bodies(&app, &alice, StatusCode::BAD_REQUEST, bodies).await;
    assert_eq!(last_seq(&app, "general").await, 0);
}

async fn bodies_are_limited_to_max_message_bytes(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;

    let exact = "a".repeat(MAX_MESSAGE_BYTES);
    let m = app.post_message(&alice, "general", &exact).await;
    assert_eq!(m["body"].as_str().unwrap().len(), MAX_MESSAGE_BYTES);
    let over = json!({"body": "a".repeat(MAX_MESSAGE_BYTES + 1)});
    expect_refused_bodies(&app, &alice, StatusCode::PAYLOAD_TOO_LARGE, [over]).await;

    // Bytes, not characters: 4096 four-byte characters are exactly the limit.
    let emoji = "😀".repeat(MAX_MESSAGE_BYTES / 4);
    assert_eq!(emoji.len(), MAX_MESSAGE_BYTES);
    let m = app.post_message(&alice, "general", &emoji).await;
    assert_eq!(m["body"], emoji.as_str());
    let bodies = [
        // One byte more is too large, though it is only 4097 characters.
        json!({"body": format!("{emoji}a")}),
        // And 4097 four-byte characters, too.
        json!({"body": format!("{emoji}😀")}),
    ];
    expect_refused_bodies(&app, &alice, StatusCode::PAYLOAD_TOO_LARGE, bodies).await;

    assert_eq!(last_seq(&app, "general").await, 2);
    let history = all_messages(&app, "general").await;
    assert_eq!(history[1]["body"], emoji.as_str());
}

async fn metadata_must_be_an_object_or_null(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let not_objects = [
        json!([1, 2]),
        json!([]),
        json!("text"),
        json!(""),
        json!(42),
        json!(1.5),
        json!(true),
    ];
    expect_refused_bodies(
        &app,
        &alice,
        StatusCode::BAD_REQUEST,
        not_objects.map(|metadata| json!({"body": "hi", "metadata": metadata})),
    )
    .await;
    assert_eq!(last_seq(&app, "general").await, 0);
    // An empty object is an object.
    let body = json!({"body": "hi", "metadata": {}});
    let res = post_to(&app, &alice, "general", body).await;
    assert_eq!(
        expect_json(res, StatusCode::CREATED).await["metadata"],
        json!({})
    );
}

async fn metadata_is_at_most_4096_bytes_serialized(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    // `{"k":"…"}` is 8 bytes plus the string.
    let fits = json!({"k": "x".repeat(4096 - 8)});
    assert_eq!(serde_json::to_vec(&fits).unwrap().len(), 4096);
    let body = json!({"body": "hi", "metadata": fits});
    let res = post_to(&app, &alice, "general", body).await;
    assert_eq!(
        expect_json(res, StatusCode::CREATED).await["metadata"],
        fits
    );

    let bodies = [
        json!({"body": "hi", "metadata": {"k": "x".repeat(4096 - 7)}}),
        json!({"body": "hi", "metadata": {"a": "y".repeat(3000), "b": "z".repeat(3000)}}),
    ];
    expect_refused_bodies(&app, &alice, StatusCode::PAYLOAD_TOO_LARGE, bodies).await;
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn client_ids_are_at_most_64_characters(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let body = json!({"body": "hi", "client_id": "c".repeat(64)});
    let res = post_to(&app, &alice, "general", body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Characters, not bytes.
    let body = json!({"body": "hi", "client_id": "é".repeat(64)});
    let res = post_to(&app, &alice, "general", body).await;
    assert_eq!(
        expect_json(res, StatusCode::CREATED).await["client_id"],
        "é".repeat(64)
    );

    expect_refused_bodies(
        &app,
        &alice,
        StatusCode::BAD_REQUEST,
        [json!({"body": "hi", "client_id": "c".repeat(65)})],
    )
    .await;
    assert_eq!(last_seq(&app, "general").await, 2);
}

async fn nul_characters_are_a_bad_request_and_store_nothing(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let bodies = [
        json!({"body": "a\u{0}b"}),
        json!({"body": "\u{0}"}),
        json!({"body": "hi", "metadata": {"k": "a\u{0}b"}}),
        json!({"body": "hi", "metadata": {"k\u{0}": "v"}}),
        json!({"body": "hi", "metadata": {"deep": [{"x": "\u{0}"}]}}),
        json!({"body": "hi", "client_id": "a\u{0}"}),
    ];
    expect_refused_bodies(&app, &alice, StatusCode::BAD_REQUEST, bodies).await;
    assert_eq!(last_seq(&app, "general").await, 0);
    assert!(all_messages(&app, "general").await.is_empty());
    // The room still works.
    assert_eq!(app.post_message(&alice, "general", "ok").await["seq"], 1);
}

async fn malformed_dm_room_names_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    app.create_agent("bob", "agent").await;
    let names = [
        "dm:bob:alice",
        "dm:alice:alice",
        "dm:alice",
        "dm:alice:",
        "dm::bob",
        "dm:alice:bob:carol",
        "dm:Alice:bob",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        names.iter().flat_map(|name| {
            [
                Call::get(format!("/api/v1/rooms/{name}"), &alice),
                Call::get(format!("/api/v1/rooms/{name}/messages"), &alice),
                Call::post(
                    format!("/api/v1/rooms/{name}/messages"),
                    &alice,
                    json!({"body": "hi"}),
                ),
            ]
        }),
    )
    .await;
}

crate::on_both_backends!(
    bad_bodies_answer_400_and_store_nothing,
    bodies_are_limited_to_max_message_bytes,
    metadata_must_be_an_object_or_null,
    metadata_is_at_most_4096_bytes_serialized,
    client_ids_are_at_most_64_characters,
    nul_characters_are_a_bad_request_and_store_nothing,
    malformed_dm_room_names_answer_400,
);
