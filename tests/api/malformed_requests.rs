//! Requests that are not what the API reads (SPEC §6): bodies over 1 MiB, bodies that are not
//! JSON or not sent as JSON, and routes that do not exist. Each answers the documented error
//! and changes nothing.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// Request bodies larger than this answer 413 (SPEC §6).
const ONE_MIB: usize = 1 << 20;

async fn bodies_over_one_mib_answer_413(app: TestApp) {
    let alice = seed_for_attacks(&app).await;
    let admin = app.admin_key.as_str();
    let huge = "x".repeat(ONE_MIB + 1);
    expect_refusals(
        &app,
        StatusCode::PAYLOAD_TOO_LARGE,
        [
            Call::post(
                "/api/v1/rooms",
                admin,
                json!({"name": "big", "topic": huge}),
            ),
            Call::post(
                "/api/v1/rooms/general/messages",
                admin,
                json!({"body": huge}),
            ),
            Call::post(
                "/api/v1/agents",
                admin,
                json!({"name": "big", "display_name": huge}),
            ),
            Call::post("/api/v1/agents/alice/tokens", admin, json!({"name": huge})),
            Call::patch("/api/v1/rooms/general", &alice, json!({"topic": huge})),
            Call::anonymous(Method::POST, "/api/v1/auth/token").with_body(json!({"api_key": huge})),
        ],
    )
    .await;
    assert_intact(&app, &["admin", "alice"], 1).await;
    assert_eq!(
        app.get("/api/v1/rooms/big", &alice).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn non_json_bodies_answer_400(app: TestApp) {
    let alice = seed_for_attacks(&app).await;
    let cases: [(Method, &str, Option<&str>, &str); 9] = [
        (
            Method::POST,
            "/api/v1/rooms",
            Some("application/json"),
            "not json",
        ),
        (
            Method::POST,
            "/api/v1/rooms",
            Some("application/json"),
            r#"{"name": "x""#,
        ),
        (Method::POST, "/api/v1/rooms", Some("application/json"), ""),
        (
            Method::POST,
            "/api/v1/rooms",
            Some("text/plain"),
            r#"{"name": "plain"}"#,
        ),
        (
            Method::POST,
            "/api/v1/rooms",
            None,
            r#"{"name": "untyped"}"#,
        ),
        (
            Method::POST,
            "/api/v1/rooms",
            Some("application/x-www-form-urlencoded"),
            "name=form",
        ),
        (
            Method::POST,
            "/api/v1/rooms/general/messages",
            Some("text/plain"),
            r#"{"body": "hi"}"#,
        ),
        (
            Method::POST,
            "/api/v1/rooms/general/messages",
            Some("application/json"),
            "\u{feff}{\"body\": 1",
        ),
        // PATCH too.
        (
            Method::PATCH,
            "/api/v1/rooms/general",
            Some("text/plain"),
            r#"{"topic": "t"}"#,
        ),
    ];
    for (method, path, content_type, body) in cases {
        let mut req = app
            .request(method.clone(), path, Some(&alice))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let what = format!("{method} {path} ({content_type:?}) {body:?}");
        expect_refusal(req.send().await.unwrap(), StatusCode::BAD_REQUEST, &what).await;
    }
    let rooms = json_of(app.get("/api/v1/rooms", &alice).await).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn unknown_routes_answer_404_not_found(app: TestApp) {
    let mut calls = Vec::new();
    for (method, path) in [
        (Method::GET, "/api/v1/nope"),
        (Method::GET, "/api/v1"),
        (Method::GET, "/api/v1/"),
        (Method::POST, "/api/v1/nope"),
        (Method::GET, "/api/v1/rooms/general/nope"),
        (Method::GET, "/api/v1/agents/admin/tokens/extra"),
        (Method::DELETE, "/api/v1/tokens"),
    ] {
        for token in [Some(app.admin_key.as_str()), None] {
            calls.push(Call::new(method.clone(), path, token));
        }
    }
    expect_refusals(&app, StatusCode::NOT_FOUND, calls).await;
}

crate::on_both_backends!(
    bodies_over_one_mib_answer_413,
    non_json_bodies_answer_400,
    unknown_routes_answer_404_not_found,
);
