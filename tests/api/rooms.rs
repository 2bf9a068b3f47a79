//! `/rooms`: creation, listing and pagination, visibility of private rooms, changes,
//! private-room membership and presence (SPEC §3, §5, §6).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{assert_recent_timestamp, json_of};
use crate::helpers::{TestApp, expect_error};

const ROOM_KEYS: [&str; 7] = [
    "name",
    "topic",
    "private",
    "created_by",
    "created_at",
    "archived",
    "last_seq",
];

fn assert_room_shape(room: &Value) {
    let keys: BTreeSet<&str> = room
        .as_object()
        .unwrap_or_else(|| panic!("a room is an object: {room}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ROOM_KEYS.into_iter().collect(), "room: {room}");
    assert!(room["name"].is_string());
    assert!(room["topic"].is_string() || room["topic"].is_null());
    assert!(room["private"].is_boolean());
    assert!(room["created_by"].is_string());
    assert!(room["archived"].is_boolean());
    assert!(room["last_seq"].is_i64());
    assert_recent_timestamp(&room["created_at"]);
}

/// Creates a room as `key`, asserting 201, and returns it.
async fn create_room(app: &TestApp, key: &str, name: &str, private: bool) -> Value {
    let res = app
        .post(
            "/api/v1/rooms",
            key,
            json!({"name": name, "private": private}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "creating room {name}");
    json_of(res).await
}

async fn post_message(app: &TestApp, key: &str, room: &str, body: &str) -> Value {
    let res = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            key,
            json!({"body": body}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "posting to {room}");
    json_of(res).await
}

/// The names of every room `key` sees, following `next_cursor` to the end.
async fn all_room_names(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/rooms?limit=100{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let page = json_of(res).await;
        for room in page["rooms"].as_array().expect("rooms is an array") {
            names.push(room["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null(), "page: {page}");
                return names;
            }
        }
    }
}

async fn room_names(app: &TestApp, key: &str) -> Vec<String> {
    all_room_names(app, key, "").await
}

// ---------------------------------------------------------------------------------------
// Creation

async fn creating_a_room_answers_201_with_the_room(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let res = app
        .post(
            "/api/v1/rooms",
            &alice,
            json!({"name": "general", "topic": "all things"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let room = json_of(res).await;
    assert_room_shape(&room);
    assert_eq!(room["name"], "general");
    assert_eq!(room["topic"], "all things");
    assert_eq!(room["private"], false);
    assert_eq!(room["created_by"], "alice");
    assert_eq!(room["archived"], false);
    assert_eq!(room["last_seq"], 0);

    // The same room, read back.
    let res = app.get("/api/v1/rooms/general", &alice).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, room);

    // Without a topic, topic is null; `private` is honoured.
    let room = create_room(&app, &alice, "hideout", true).await;
    assert_room_shape(&room);
    assert!(room["topic"].is_null());
    assert_eq!(room["private"], true);
}

async fn creating_a_room_is_audited(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    let events = app.audit_events("room-created").await;
    assert_eq!(events.len(), 1, "events: {events:?}");
    assert_eq!(events[0]["details"]["room"], "general");
}

async fn a_taken_room_name_answers_409(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for key in [&alice, &bob, &app.admin_key] {
        let res = app
            .post(
                "/api/v1/rooms",
                key,
                json!({"name": "general", "private": true}),
            )
            .await;
        expect_error(res, StatusCode::CONFLICT, "conflict").await;
    }
    // The original is unchanged.
    let room = json_of(app.get("/api/v1/rooms/general", &bob).await).await;
    assert_eq!(room["created_by"], "alice");
    assert_eq!(room["private"], false);
}

async fn bad_room_names_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let too_long = "a".repeat(65);
    for name in [
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
    ] {
        let res = app
            .post("/api/v1/rooms", &alice, json!({"name": name}))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "name {name:?}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // The longest valid name is accepted.
    create_room(&app, &alice, &"a".repeat(64), false).await;
    assert_eq!(room_names(&app, &alice).await, vec!["a".repeat(64)]);
}

async fn wrong_types_in_a_room_body_answer_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    for body in [
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
    ] {
        let res = app.post("/api/v1/rooms", &alice, body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert!(room_names(&app, &alice).await.is_empty());
}

async fn topics_are_at_most_512_characters(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    // 512 characters of two bytes each: characters count, not bytes.
    let res = app
        .post(
            "/api/v1/rooms",
            &alice,
            json!({"name": "long", "topic": "é".repeat(512)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["topic"], "é".repeat(512));

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
    let room = create_room(&app, &app.admin_key, "admins", false).await;
    assert_eq!(room["created_by"], "admin");
}

async fn rooms_need_a_credential(app: TestApp) {
    let res = app
        .request(Method::GET, "/api/v1/rooms", None)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .request(Method::POST, "/api/v1/rooms", None)
        .json(&json!({"name": "general"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.get("/api/v1/rooms", "ahk_not-a-real-key").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------
// Listing

async fn listing_shows_public_rooms_and_private_rooms_of_the_caller(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "pub", false).await;
    create_room(&app, &alice, "alice-secret", true).await;
    create_room(&app, &bob, "bob-secret", true).await;

    assert_eq!(room_names(&app, &alice).await, ["alice-secret", "pub"]);
    assert_eq!(room_names(&app, &bob).await, ["bob-secret", "pub"]);
    assert_eq!(room_names(&app, &olga).await, ["pub"]);
    // Admins see every private room.
    assert_eq!(
        room_names(&app, &app.admin_key).await,
        ["alice-secret", "bob-secret", "pub"]
    );

    // Membership makes a private room visible to its new member.
    let res = app
        .put("/api/v1/rooms/alice-secret/members/bob", &alice)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        room_names(&app, &bob).await,
        ["alice-secret", "bob-secret", "pub"]
    );

    // Every listed room has the room shape.
    let page = json_of(app.get("/api/v1/rooms", &bob).await).await;
    for room in page["rooms"].as_array().unwrap() {
        assert_room_shape(room);
    }
    assert!(page["next_cursor"].is_null());
}

async fn listing_pages_with_limit_and_cursor(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let mut expected: Vec<String> = (0..7).map(|i| format!("room-{i}")).collect();
    // Created out of order: the list is by name.
    for name in expected.iter().rev() {
        create_room(&app, &alice, name, false).await;
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/rooms?limit=3&cursor={c}"),
            None => "/api/v1/rooms?limit=3".to_owned(),
        };
        let res = app.get(&path, &alice).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = json_of(res).await;
        let rooms = page["rooms"].as_array().unwrap();
        sizes.push(rooms.len());
        seen.extend(rooms.iter().map(|r| r["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
        assert!(sizes.len() < 10, "pagination terminates");
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, expected);
}

async fn listing_defaults_to_50_rooms_a_page(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    for i in 0..51 {
        create_room(&app, &alice, &format!("r{i:02}"), false).await;
    }
    let page = json_of(app.get("/api/v1/rooms", &alice).await).await;
    let rooms = page["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 50);
    assert_eq!(rooms[0]["name"], "r00");
    assert_eq!(rooms[49]["name"], "r49");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let page = json_of(
        app.get(&format!("/api/v1/rooms?cursor={cursor}"), &alice)
            .await,
    )
    .await;
    let rooms = page["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["name"], "r50");
    assert!(page["next_cursor"].is_null());
    // limit=100 takes them all at once.
    let page = json_of(app.get("/api/v1/rooms?limit=100", &alice).await).await;
    assert_eq!(page["rooms"].as_array().unwrap().len(), 51);
    assert!(page["next_cursor"].is_null());
}

async fn listing_rejects_bad_limits_and_cursors(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "cursor=%%%",
        "cursor=not*base64",
        "archived=maybe",
    ] {
        let res = app.get(&format!("/api/v1/rooms?{query}"), &alice).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "query {query}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    for query in ["limit=1", "limit=100"] {
        let res = app.get(&format!("/api/v1/rooms?{query}"), &alice).await;
        assert_eq!(res.status(), StatusCode::OK, "query {query}");
    }
}

async fn archived_rooms_are_listed_only_on_request(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "current", false).await;
    create_room(&app, &alice, "old", false).await;

    let res = app
        .patch("/api/v1/rooms/old", &alice, json!({"archived": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let room = json_of(res).await;
    assert_room_shape(&room);
    assert_eq!(room["archived"], true);

    assert_eq!(room_names(&app, &alice).await, ["current"]);
    assert_eq!(
        all_room_names(&app, &alice, "&archived=true").await,
        ["current", "old"]
    );
    assert_eq!(
        all_room_names(&app, &alice, "&archived=false").await,
        ["current"]
    );
    // Still readable by name.
    let room = json_of(app.get("/api/v1/rooms/old", &alice).await).await;
    assert_eq!(room["archived"], true);

    // Unarchiving brings it back.
    let res = app
        .patch("/api/v1/rooms/old", &alice, json!({"archived": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["archived"], false);
    assert_eq!(room_names(&app, &alice).await, ["current", "old"]);
}

// ---------------------------------------------------------------------------------------
// One room

async fn a_private_room_is_not_found_for_non_members(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "secret", true).await;

    let missing = app.get("/api/v1/rooms/no-such-room", &bob).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing_body = json_of(missing).await;
    assert_eq!(missing_body["error"]["code"], "not_found");

    for key in [&bob, &olga] {
        let res = app.get("/api/v1/rooms/secret", key).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // Indistinguishable from a room that does not exist.
        assert_eq!(json_of(res).await, missing_body);
    }

    for key in [&alice, &app.admin_key] {
        let res = app.get("/api/v1/rooms/secret", key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let room = json_of(res).await;
        assert_room_shape(&room);
        assert_eq!(room["private"], true);
    }
}

async fn room_names_in_the_path_are_validated(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    for name in [
        "General",
        "_x",
        "a%20b",
        "dm:bob:alice",
        "dm:alice:alice",
        "dm:x",
    ] {
        let res = app.get(&format!("/api/v1/rooms/{name}"), &alice).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "room {name}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // A well-formed name that does not exist.
    let res = app.get("/api/v1/rooms/nothing-here", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// Changes

async fn the_creator_or_an_admin_changes_a_room(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;

    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"topic": "news"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let room = json_of(res).await;
    assert_room_shape(&room);
    assert_eq!(room["topic"], "news");
    assert_eq!(room["archived"], false);
    assert_eq!(room["created_by"], "alice");

    let res = app
        .patch(
            "/api/v1/rooms/general",
            &app.admin_key,
            json!({"topic": "by the admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["topic"], "by the admin");

    // An absent topic leaves it; an empty patch changes nothing.
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"archived": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["topic"], "by the admin");
    let res = app.patch("/api/v1/rooms/general", &alice, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["topic"], "by the admin");

    // `null` clears the topic.
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"topic": null}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await["topic"].is_null());
    let room = json_of(app.get("/api/v1/rooms/general", &alice).await).await;
    assert!(room["topic"].is_null());

    // Both at once.
    let res = app
        .patch(
            "/api/v1/rooms/general",
            &alice,
            json!({"topic": "closed", "archived": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let room = json_of(res).await;
    assert_eq!(room["topic"], "closed");
    assert_eq!(room["archived"], true);

    let events = app.audit_events("room-updated").await;
    assert!(events.len() >= 4, "room-updated events: {events:?}");
    assert!(events.iter().all(|e| e["details"]["room"] == "general"));
}

async fn other_agents_may_not_change_a_room(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "general", false).await;
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"topic": "mine"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for key in [&bob, &olga] {
        for body in [json!({"topic": "theirs"}), json!({"archived": true})] {
            let res = app.patch("/api/v1/rooms/general", key, body).await;
            expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    let room = json_of(app.get("/api/v1/rooms/general", &bob).await).await;
    assert_eq!(room["topic"], "mine");
    assert_eq!(room["archived"], false);

    // A private room they cannot see is not found, not forbidden.
    create_room(&app, &alice, "secret", true).await;
    let res = app
        .patch("/api/v1/rooms/secret", &bob, json!({"topic": "x"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Nor a room that does not exist.
    let res = app
        .patch("/api/v1/rooms/missing", &alice, json!({"topic": "x"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn a_bad_room_patch_answers_400(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "general", false).await;
    for body in [
        json!({"topic": 5}),
        json!({"archived": "yes"}),
        json!({"archived": null, "topic": []}),
        json!([]),
    ] {
        let res = app
            .patch("/api/v1/rooms/general", &alice, body.clone())
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let room = json_of(app.get("/api/v1/rooms/general", &alice).await).await;
    assert!(room["topic"].is_null());
    assert_eq!(room["archived"], false);
}

// ---------------------------------------------------------------------------------------
// Membership

async fn members_added_to_a_private_room_read_it_until_removed(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "secret", true).await;
    post_message(&app, &alice, "secret", "for members only").await;

    let res = app.get("/api/v1/rooms/secret/messages", &bob).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Adding answers 204, twice.
    for _ in 0..2 {
        let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = app.get("/api/v1/rooms/secret", &bob).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["name"], "secret");
    let res = app.get("/api/v1/rooms/secret/messages", &bob).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = json_of(res).await;
    assert_eq!(page["messages"][0]["body"], "for members only");
    // A member may post.
    let msg = post_message(&app, &bob, "secret", "thanks").await;
    assert_eq!(msg["seq"], 2);

    // Removing answers 204, twice; then the room is gone for bob.
    for _ in 0..2 {
        let res = app.delete("/api/v1/rooms/secret/members/bob", &alice).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let res = app.get("/api/v1/rooms/secret", &bob).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/v1/rooms/secret/messages", &bob).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post(
            "/api/v1/rooms/secret/messages",
            &bob,
            json!({"body": "still here?"}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(room_names(&app, &bob).await, Vec::<String>::new());
}

async fn admins_manage_any_private_room_membership(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    create_room(&app, &alice, "secret", true).await;

    let res = app
        .put("/api/v1/rooms/secret/members/bob", &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/rooms/secret", &bob).await.status(),
        StatusCode::OK
    );
    let res = app
        .delete("/api/v1/rooms/secret/members/bob", &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/rooms/secret", &bob).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn only_the_creator_or_an_admin_manages_members(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carol = app.create_agent("carol", "agent").await;
    create_room(&app, &alice, "secret", true).await;
    create_room(&app, &alice, "public", false).await;
    assert_eq!(
        app.put("/api/v1/rooms/secret/members/bob", &alice)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    // bob is a member but not the creator.
    let res = app.put("/api/v1/rooms/secret/members/carol", &bob).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.delete("/api/v1/rooms/secret/members/alice", &bob).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // carol cannot even see the room.
    let res = app.put("/api/v1/rooms/secret/members/carol", &carol).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // A public room: visible, but not theirs.
    let res = app.put("/api/v1/rooms/public/members/carol", &bob).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Nothing changed.
    assert_eq!(
        app.get("/api/v1/rooms/secret", &carol).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/rooms/secret", &alice).await.status(),
        StatusCode::OK
    );
}

async fn membership_of_unknown_agents_or_rooms_is_not_found(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    create_room(&app, &alice, "secret", true).await;
    let res = app.put("/api/v1/rooms/secret/members/nobody", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .delete("/api/v1/rooms/secret/members/nobody", &alice)
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.put("/api/v1/rooms/nowhere/members/alice", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // A malformed agent name is a bad request.
    let res = app
        .put("/api/v1/rooms/secret/members/Not_Valid", &alice)
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

// ---------------------------------------------------------------------------------------
// Presence

async fn presence_is_empty_for_readers_and_hidden_from_others(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    create_room(&app, &alice, "public", false).await;
    create_room(&app, &alice, "secret", true).await;

    for key in [&alice, &bob, &olga, &app.admin_key] {
        let res = app.get("/api/v1/rooms/public/presence", key).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(json_of(res).await, json!({"members": []}));
    }
    for key in [&alice, &app.admin_key] {
        let res = app.get("/api/v1/rooms/secret/presence", key).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(json_of(res).await, json!({"members": []}));
    }
    for key in [&bob, &olga] {
        let res = app.get("/api/v1/rooms/secret/presence", key).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app.get("/api/v1/rooms/missing/presence", &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
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
    listing_shows_public_rooms_and_private_rooms_of_the_caller,
    listing_pages_with_limit_and_cursor,
    listing_defaults_to_50_rooms_a_page,
    listing_rejects_bad_limits_and_cursors,
    archived_rooms_are_listed_only_on_request,
    a_private_room_is_not_found_for_non_members,
    room_names_in_the_path_are_validated,
    the_creator_or_an_admin_changes_a_room,
    other_agents_may_not_change_a_room,
    a_bad_room_patch_answers_400,
    members_added_to_a_private_room_read_it_until_removed,
    admins_manage_any_private_room_membership,
    only_the_creator_or_an_admin_manages_members,
    membership_of_unknown_agents_or_rooms_is_not_found,
    presence_is_empty_for_readers_and_hidden_from_others,
);
