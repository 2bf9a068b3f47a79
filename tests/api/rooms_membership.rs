//! Private-room membership (`PUT`/`DELETE /rooms/{name}/members/{agent}`: who reads a private
//! room, who manages its members) and `GET /rooms/{name}/presence` over REST (SPEC §5, §6).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

async fn members_added_to_a_private_room_read_it_until_removed(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_private_room(&alice, "secret").await;
    app.post_message(&alice, "secret", "for members only").await;

    let res = app.get("/api/v1/rooms/secret/messages", &bob).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Adding answers 204, twice.
    for _ in 0..2 {
        let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = app.get("/api/v1/rooms/secret", &bob).await;
    assert_eq!(expect_json(res, StatusCode::OK).await["name"], "secret");
    let res = app.get("/api/v1/rooms/secret/messages", &bob).await;
    let page = expect_json(res, StatusCode::OK).await;
    assert_eq!(page["messages"][0]["body"], "for members only");
    // A member may post.
    let msg = app.post_message(&bob, "secret", "thanks").await;
    assert_eq!(msg["seq"], 2);

    // Removing answers 204, twice; then the room is gone for bob.
    for _ in 0..2 {
        let res = app.delete("/api/v1/rooms/secret/members/bob", &alice).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::get("/api/v1/rooms/secret", &bob),
            Call::get("/api/v1/rooms/secret/messages", &bob),
            Call::post(
                "/api/v1/rooms/secret/messages",
                &bob,
                json!({"body": "still here?"}),
            ),
        ],
    )
    .await;
    assert_eq!(room_names(&app, &bob).await, Vec::<String>::new());
}

/// The status of `GET /rooms/{room}` as `key`.
async fn room_status(app: &TestApp, room: &str, key: &str) -> StatusCode {
    app.get(&format!("/api/v1/rooms/{room}"), key)
        .await
        .status()
}

async fn admins_manage_any_private_room_membership(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_private_room(&alice, "secret").await;

    let res = app
        .put("/api/v1/rooms/secret/members/bob", &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(room_status(&app, "secret", &bob).await, StatusCode::OK);
    let res = app
        .delete("/api/v1/rooms/secret/members/bob", &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        room_status(&app, "secret", &bob).await,
        StatusCode::NOT_FOUND
    );
}

async fn only_the_creator_or_an_admin_manages_members(app: TestApp) {
    let [alice, bob, carol] = app.create_agents(["alice", "bob", "carol"]).await;
    app.create_private_room(&alice, "secret").await;
    app.create_room(&alice, "public").await;
    let res = app.put("/api/v1/rooms/secret/members/bob", &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    expect_refusals(
        &app,
        StatusCode::FORBIDDEN,
        [
            // bob is a member but not the creator.
            Call::put("/api/v1/rooms/secret/members/carol", &bob),
            Call::delete("/api/v1/rooms/secret/members/alice", &bob),
        ],
    )
    .await;
    // carol cannot even see the room.
    let res = app.put("/api/v1/rooms/secret/members/carol", &carol).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // A public room: visible, but not theirs.
    let res = app.put("/api/v1/rooms/public/members/carol", &bob).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Nothing changed.
    assert_eq!(
        room_status(&app, "secret", &carol).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(room_status(&app, "secret", &alice).await, StatusCode::OK);
}

async fn membership_of_unknown_agents_or_rooms_is_not_found(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    app.create_private_room(&alice, "secret").await;
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::put("/api/v1/rooms/secret/members/nobody", &alice),
            Call::delete("/api/v1/rooms/secret/members/nobody", &alice),
            Call::put("/api/v1/rooms/nowhere/members/alice", &alice),
        ],
    )
    .await;
    // A malformed agent name is a bad request.
    let res = app
        .put("/api/v1/rooms/secret/members/Not_Valid", &alice)
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

async fn presence_is_empty_for_readers_and_hidden_from_others(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_room(&alice, "public").await;
    app.create_private_room(&alice, "secret").await;

    let readers = [
        ("public", &alice),
        ("public", &bob),
        ("public", &olga),
        ("public", &app.admin_key),
        ("secret", &alice),
        ("secret", &app.admin_key),
    ];
    for (room, key) in readers {
        let res = app
            .get(&format!("/api/v1/rooms/{room}/presence"), key)
            .await;
        assert_eq!(
            expect_json(res, StatusCode::OK).await,
            json!({"members": []}),
            "{room}"
        );
    }
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::get("/api/v1/rooms/secret/presence", &bob),
            Call::get("/api/v1/rooms/secret/presence", &olga),
            Call::get("/api/v1/rooms/missing/presence", &alice),
        ],
    )
    .await;
}

crate::on_both_backends!(
    members_added_to_a_private_room_read_it_until_removed,
    admins_manage_any_private_room_membership,
    only_the_creator_or_an_admin_manages_members,
    membership_of_unknown_agents_or_rooms_is_not_found,
    presence_is_empty_for_readers_and_hidden_from_others,
);
