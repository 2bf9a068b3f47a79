//! One room (SPEC §6): `GET /rooms/{name}` (private rooms are not found for non-members,
//! malformed names are bad requests) and `PATCH /rooms/{name}` (topic and archiving, by the
//! creator or an admin only).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn a_private_room_is_not_found_for_non_members(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_private_room(&alice, "secret").await;

    let missing = app.get("/api/v1/rooms/no-such-room", &bob).await;
    let missing_body = expect_json(missing, StatusCode::NOT_FOUND).await;
    assert_eq!(missing_body["error"]["code"], "not_found");

    for key in [&bob, &olga] {
        let res = app.get("/api/v1/rooms/secret", key).await;
        // Indistinguishable from a room that does not exist.
        assert_eq!(expect_json(res, StatusCode::NOT_FOUND).await, missing_body);
    }

    for key in [&alice, &app.admin_key] {
        let res = app.get("/api/v1/rooms/secret", key).await;
        let room = expect_json(res, StatusCode::OK).await;
        assert_room_shape(&room);
        assert_eq!(room["private"], true);
    }
}

async fn room_names_in_the_path_are_validated(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let names = [
        "General",
        "_x",
        "a%20b",
        "dm:bob:alice",
        "dm:alice:alice",
        "dm:x",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        names.map(|name| Call::get(format!("/api/v1/rooms/{name}"), &alice)),
    )
    .await;
    // A well-formed name that does not exist.
    let res = app.get("/api/v1/rooms/nothing-here", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn the_creator_or_an_admin_changes_a_room(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let patch = async |key: &str, body: Value| {
        let res = app.patch("/api/v1/rooms/general", key, body).await;
        expect_json(res, StatusCode::OK).await
    };

    let room = patch(&alice, json!({"topic": "news"})).await;
    assert_room_shape(&room);
    assert_eq!(room["topic"], "news");
    assert_eq!(room["archived"], false);
    assert_eq!(room["created_by"], "alice");

    let room = patch(&app.admin_key, json!({"topic": "by the admin"})).await;
    assert_eq!(room["topic"], "by the admin");

    // An absent topic leaves it; an empty patch changes nothing.
    for body in [json!({"archived": false}), json!({})] {
        assert_eq!(patch(&alice, body).await["topic"], "by the admin");
    }

    // `null` clears the topic.
    assert!(patch(&alice, json!({"topic": null})).await["topic"].is_null());
    let room = json_of(app.get("/api/v1/rooms/general", &alice).await).await;
    assert!(room["topic"].is_null());

    // Both at once.
    let room = patch(&alice, json!({"topic": "closed", "archived": true})).await;
    assert_eq!(room["topic"], "closed");
    assert_eq!(room["archived"], true);

    let events = app.audit_events("room-updated").await;
    assert!(events.len() >= 4, "room-updated events: {events:?}");
    assert!(events.iter().all(|e| e["details"]["room"] == "general"));
}

async fn other_agents_may_not_change_a_room(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_room(&alice, "general").await;
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"topic": "mine"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let mut calls = Vec::new();
    for key in [&bob, &olga] {
        for body in [json!({"topic": "theirs"}), json!({"archived": true})] {
            calls.push(Call::patch("/api/v1/rooms/general", key, body));
        }
    }
    expect_refusals(&app, StatusCode::FORBIDDEN, calls).await;
    let room = json_of(app.get("/api/v1/rooms/general", &bob).await).await;
    assert_eq!(room["topic"], "mine");
    assert_eq!(room["archived"], false);

    // A private room they cannot see is not found, not forbidden.
    app.create_private_room(&alice, "secret").await;
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::patch("/api/v1/rooms/secret", &bob, json!({"topic": "x"})),
            // Nor a room that does not exist.
            Call::patch("/api/v1/rooms/missing", &alice, json!({"topic": "x"})),
        ],
    )
    .await;
}

async fn a_bad_room_patch_answers_400(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let bodies = [
        json!({"topic": 5}),
        json!({"archived": "yes"}),
        json!({"archived": null, "topic": []}),
        json!([]),
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bodies.map(|body| Call::patch("/api/v1/rooms/general", &alice, body)),
    )
    .await;
    let room = json_of(app.get("/api/v1/rooms/general", &alice).await).await;
    assert!(room["topic"].is_null());
    assert_eq!(room["archived"], false);
}

crate::on_both_backends!(
    a_private_room_is_not_found_for_non_members,
    room_names_in_the_path_are_validated,
    the_creator_or_an_admin_changes_a_room,
    other_agents_may_not_change_a_room,
    a_bad_room_patch_answers_400,
);
