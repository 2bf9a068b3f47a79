//! `POST /rooms` (SPEC §3, §6): the created room, its audit row, taken and malformed names,
//! wrong types, the topic limit, and who may create rooms at all.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

async fn creating_a_room_answers_201_with_the_room(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let room = app
        .create_room_with(&alice, json!({"name": "general", "topic": "all things"}))
        .await;
    assert_room_shape(&room);
    assert_eq!(room["name"], "general");
    assert_eq!(room["topic"], "all things");
    assert_eq!(room["private"], false);
    assert_eq!(room["created_by"], "alice");
    assert_eq!(room["archived"], false);
    assert_eq!(room["last_seq"], 0);

    // The same room, read back.
    let res = app.get("/api/v1/rooms/general", &alice).await;
    assert_eq!(expect_json(res, StatusCode::OK).await, room);

    // Without a topic, topic is null; `private` is honoured.
    let room = app.create_private_room(&alice, "hideout").await;
    assert_room_shape(&room);
    assert!(room["topic"].is_null());
    assert_eq!(room["private"], true);
}

async fn creating_a_room_is_audited(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    app.create_room(&alice, "general").await;
    let events = app.audit_events("room-created").await;
    assert_eq!(events.len(), 1, "events: {events:?}");
    assert_eq!(events[0]["details"]["room"], "general");
}

async fn a_taken_room_name_answers_409(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_room(&alice, "general").await;
    let again = json!({"name": "general", "private": true});
    expect_refusals(
        &app,
        StatusCode::CONFLICT,
        [&alice, &bob, &app.admin_key].map(|key| Call::post("/api/v1/rooms", key, again.clone())),
    )
    .await;
    // The original is unchanged.
    let room = json_of(app.get("/api/v1/rooms/general", &bob).await).await;
    assert_eq!(room["created_by"], "alice");
    assert_eq!(room["private"], false);
}

async fn bad_room_names_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let too_long = "a".repeat(65);
    let names = [
        "",
        "General",
        "_general",
        "-general",
        ".general",
        "gen eral",
        "gen/eral",
        "gén",
        too_long.as_str(),
        "dm:alice:bob",
        "dm:",
        "dm:x",
        "a:b",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        names.map(|name| Call::post("/api/v1/rooms", &alice, json!({"name": name}))),
    )
    .await;
    // The longest valid name is accepted.
    app.create_room(&alice, &"a".repeat(64)).await;
    assert_eq!(room_names(&app, &alice).await, vec!["a".repeat(64)]);
}

async fn wrong_types_in_a_room_body_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bodies = [
        json!({}),
        json!({"name": 5}),
        json!({"name": null}),
        json!({"name": ["general"]}),
        json!({"name": "general", "private": "yes"}),
        json!({"name": "general", "private": 1}),
        json!({"name": "general", "topic": 42}),
        json!({"name": "general", "topic": {"text": "x"}}),
        json!(["general"]),
        json!("general"),
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bodies.map(|body| Call::post("/api/v1/rooms", &alice, body)),
    )
    .await;
    assert!(room_names(&app, &alice).await.is_empty());
}

async fn topics_are_at_most_512_characters(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    // 512 characters of two bytes each: characters count, not bytes.
    let room = app
        .create_room_with(&alice, json!({"name": "long", "topic": "é".repeat(512)}))
        .await;
    assert_eq!(room["topic"], "é".repeat(512));

    let res = app
        .post(
            "/api/v1/rooms",
            &alice,
            json!({"name": "longer", "topic": "a".repeat(513)}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = app.get("/api/v1/rooms/longer", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // The same bound holds when changing a topic.
    let res = app
        .patch(
            "/api/v1/rooms/long",
            &alice,
            json!({"topic": "x".repeat(513)}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let room = json_of(app.get("/api/v1/rooms/long", &alice).await).await;
    assert_eq!(room["topic"], "é".repeat(512));
}

async fn observers_may_not_create_rooms(app: TestApp) {
    let olga = app.create_agent("olga", "observer").await;
    let res = app
        .post("/api/v1/rooms", &olga, json!({"name": "mine"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get("/api/v1/rooms/mine", &app.admin_key).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Admins may.
    let room = app.create_room(&app.admin_key, "admins").await;
    assert_eq!(room["created_by"], "admin");
}

async fn rooms_need_a_credential(app: TestApp) {
    expect_refusals(
        &app,
        StatusCode::UNAUTHORIZED,
        [
            Call::anonymous(Method::GET, "/api/v1/rooms"),
            Call::anonymous(Method::POST, "/api/v1/rooms").with_body(json!({"name": "general"})),
            Call::get("/api/v1/rooms", "ahk_not-a-real-key"),
        ],
    )
    .await;
}

crate::on_both_backends!(
    creating_a_room_answers_201_with_the_room,
    creating_a_room_is_audited,
    a_taken_room_name_answers_409,
    bad_room_names_answer_400,
    wrong_types_in_a_room_body_answer_400,
    topics_are_at_most_512_characters,
    observers_may_not_create_rooms,
    rooms_need_a_credential,
);
