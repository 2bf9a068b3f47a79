//! `GET /rooms` (SPEC §6): which rooms a caller sees (public ones, and private ones it is a
//! member of), pages by name with `limit` and `cursor`, and archived rooms only on request.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

async fn listing_shows_public_rooms_and_private_rooms_of_the_caller(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_room(&alice, "pub").await;
    app.create_private_room(&alice, "alice-secret").await;
    app.create_private_room(&bob, "bob-secret").await;

    let every = ["alice-secret", "bob-secret", "pub"];
    let cases: [(&String, &[&str]); 4] = [
        (&alice, &["alice-secret", "pub"]),
        (&bob, &["bob-secret", "pub"]),
        (&olga, &["pub"]),
        // Admins see every private room.
        (&app.admin_key, &every),
    ];
    for (key, seen) in cases {
        assert_eq!(room_names(&app, key).await, seen);
    }

    // Membership makes a private room visible to its new member.
    let res = app
        .put("/api/v1/rooms/alice-secret/members/bob", &alice)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(room_names(&app, &bob).await, every);

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
        app.create_room(&alice, name).await;
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
        let page = expect_json(app.get(&path, &alice).await, StatusCode::OK).await;
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
        app.create_room(&alice, &format!("r{i:02}")).await;
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
    let alice = agent_with_room(&app, "alice", "general").await;
    let queries = [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "cursor=%%%",
        "cursor=not*base64",
        "archived=maybe",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        queries.map(|q| Call::get(format!("/api/v1/rooms?{q}"), &alice)),
    )
    .await;
    for query in ["limit=1", "limit=100"] {
        let res = app.get(&format!("/api/v1/rooms?{query}"), &alice).await;
        assert_eq!(res.status(), StatusCode::OK, "query {query}");
    }
}

async fn archived_rooms_are_listed_only_on_request(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "current").await;
    app.create_room(&alice, "old").await;

    let res = app
        .patch("/api/v1/rooms/old", &alice, json!({"archived": true}))
        .await;
    let room = expect_json(res, StatusCode::OK).await;
    assert_room_shape(&room);
    assert_eq!(room["archived"], true);

    assert_eq!(room_names(&app, &alice).await, ["current"]);
    let cases: [(&str, &[&str]); 2] = [
        ("&archived=true", &["current", "old"]),
        ("&archived=false", &["current"]),
    ];
    for (query, names) in cases {
        assert_eq!(room_names_where(&app, &alice, query).await, names);
    }
    // Still readable by name.
    let room = json_of(app.get("/api/v1/rooms/old", &alice).await).await;
    assert_eq!(room["archived"], true);

    // Unarchiving brings it back.
    let res = app
        .patch("/api/v1/rooms/old", &alice, json!({"archived": false}))
        .await;
    assert_eq!(expect_json(res, StatusCode::OK).await["archived"], false);
    assert_eq!(room_names(&app, &alice).await, ["current", "old"]);
}

crate::on_both_backends!(
    listing_shows_public_rooms_and_private_rooms_of_the_caller,
    listing_pages_with_limit_and_cursor,
    listing_defaults_to_50_rooms_a_page,
    listing_rejects_bad_limits_and_cursors,
    archived_rooms_are_listed_only_on_request,
);
