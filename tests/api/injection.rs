//! SQL-injection-looking text everywhere a client can put text (SPEC §6, §7): in path
//! segments, query parameters, forged cursors, names, free text and credentials. It answers
//! the documented error (or is stored verbatim where text is free) and changes nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const INJECTIONS: [&str; 3] = [
    "' OR '1'='1",
    "'; DROP TABLE agents--",
    "robert'); DROP TABLE messages;--",
];

/// Percent-encodes everything but RFC 3986 unreserved characters, for paths and queries.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A refusal: 400 or 404 with the matching error body, never a 5xx or a success.
async fn assert_refused(res: Response, what: &str) {
    let status = res.status();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        _ => panic!("{what}: expected 400 or 404, got {status}"),
    };
    assert!(
        res.headers().get("x-injected").is_none(),
        "{what}: no injected header"
    );
    let body = json_of(res).await;
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

async fn injection_in_path_segments_is_refused(app: TestApp) {
    seed_for_attacks(&app).await;
    let admin = app.admin_key.as_str();
    let mut inputs: Vec<&str> = INJECTIONS.to_vec();
    inputs.push("general\r\nX-Injected: 1");
    inputs.push("../../agents");
    for raw in inputs {
        let x = enc(raw);
        let cases = [
            Call::get(format!("/api/v1/agents/{x}"), admin),
            Call::patch(
                format!("/api/v1/agents/{x}"),
                admin,
                json!({"display_name": "x"}),
            ),
            Call::get(format!("/api/v1/agents/{x}/tokens"), admin),
            Call::post(format!("/api/v1/agents/{x}/tokens"), admin, json!({})),
            Call::delete(format!("/api/v1/tokens/{x}"), admin),
            Call::get(format!("/api/v1/rooms/{x}"), admin),
            Call::patch(format!("/api/v1/rooms/{x}"), admin, json!({"topic": "x"})),
            Call::get(format!("/api/v1/rooms/{x}/messages"), admin),
            Call::post(
                format!("/api/v1/rooms/{x}/messages"),
                admin,
                json!({"body": "x"}),
            ),
            Call::get(format!("/api/v1/rooms/{x}/presence"), admin),
            Call::put(format!("/api/v1/rooms/{x}/members/alice"), admin),
            Call::delete(format!("/api/v1/rooms/{x}/members/alice"), admin),
            Call::put(format!("/api/v1/rooms/general/members/{x}"), admin),
            Call::delete(format!("/api/v1/rooms/general/members/{x}"), admin),
            Call::get(format!("/api/v1/rooms/dm:alice:{x}"), admin),
        ];
        for call in cases {
            let what = format!("{} {}", call.method, call.path);
            assert_refused(call.send(&app).await, &what).await;
        }
    }
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn injection_in_query_parameters_is_refused(app: TestApp) {
    seed_for_attacks(&app).await;
    for raw in INJECTIONS {
        let x = enc(raw);
        let paths = [
            format!("/api/v1/agents?cursor={x}"),
            format!("/api/v1/agents?limit={x}"),
            format!("/api/v1/agents/alice/tokens?cursor={x}"),
            format!("/api/v1/agents/alice/tokens?limit={x}"),
            format!("/api/v1/rooms?cursor={x}"),
            format!("/api/v1/rooms?limit={x}"),
            format!("/api/v1/rooms?archived={x}"),
            format!("/api/v1/audit?type={x}"),
            format!("/api/v1/audit?agent={x}"),
            format!("/api/v1/audit?cursor={x}"),
            format!("/api/v1/audit?limit={x}"),
            format!("/api/v1/rooms/general/messages?before={x}"),
            format!("/api/v1/rooms/general/messages?after={x}"),
            format!("/api/v1/rooms/general/messages?limit={x}"),
        ];
        expect_refusals(
            &app,
            StatusCode::BAD_REQUEST,
            paths.map(|path| Call::get(path, &app.admin_key)),
        )
        .await;
    }
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn injection_inside_well_formed_cursors_is_harmless(app: TestApp) {
    seed_for_attacks(&app).await;
    // Cursors are opaque, but a client can forge one that decodes to anything.
    for raw in INJECTIONS {
        let forged = URL_SAFE_NO_PAD.encode(raw);
        for path in [
            format!("/api/v1/agents?cursor={forged}"),
            format!("/api/v1/rooms?cursor={forged}"),
            format!("/api/v1/agents/alice/tokens?cursor={forged}"),
            format!("/api/v1/audit?cursor={forged}"),
        ] {
            let res = app.get(&path, &app.admin_key).await;
            let status = res.status();
            let body = json_of(res).await;
            match status {
                // Treated as a sort key: a normal page, never more than exists.
                StatusCode::OK => {
                    let list = body
                        .as_object()
                        .unwrap()
                        .iter()
                        .find(|(k, _)| *k != "next_cursor")
                        .map(|(_, v)| v.as_array().expect("a list").len())
                        .unwrap();
                    assert!(list <= 2, "GET {path}: {body}");
                }
                StatusCode::BAD_REQUEST => assert_eq!(body["error"]["code"], "bad_request"),
                other => panic!("GET {path}: {other} {body}"),
            }
        }
    }
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn injection_in_names_is_refused(app: TestApp) {
    let alice = seed_for_attacks(&app).await;
    let admin = app.admin_key.as_str();
    let mut calls = Vec::new();
    for raw in INJECTIONS {
        calls.push(Call::post("/api/v1/agents", admin, json!({"name": raw})));
        calls.push(Call::post(
            "/api/v1/agents",
            admin,
            json!({"name": "mallory", "role": raw}),
        ));
        calls.push(Call::post("/api/v1/rooms", &alice, json!({"name": raw})));
    }
    // Control characters (header injection) in a display name are refused too.
    calls.push(Call::post(
        "/api/v1/agents",
        admin,
        json!({"name": "mallory", "display_name": "m\r\nX-Injected: 1"}),
    ));
    expect_refusals(&app, StatusCode::BAD_REQUEST, calls).await;
    assert_intact(&app, &["admin", "alice"], 1).await;
    let rooms = json_of(app.get("/api/v1/rooms", &alice).await).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
}

async fn injection_in_free_text_is_stored_verbatim(app: TestApp) {
    let alice = seed_for_attacks(&app).await;
    for (i, raw) in INJECTIONS.iter().enumerate() {
        // display_name, at creation and on change.
        let name = format!("eve-{i}");
        let res = app
            .post(
                "/api/v1/agents",
                &app.admin_key,
                json!({"name": name, "display_name": raw}),
            )
            .await;
        assert_eq!(
            expect_json(res, StatusCode::CREATED).await["display_name"],
            *raw
        );
        let changed = format!("{raw} (changed)");
        let res = app
            .patch(
                &format!("/api/v1/agents/{name}"),
                &app.admin_key,
                json!({"display_name": changed}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let agent = json_of(app.get(&format!("/api/v1/agents/{name}"), &alice).await).await;
        assert_eq!(agent["display_name"], changed.as_str());

        // A token name.
        app.create_token(&app.admin_key, &name, json!({"name": raw}))
            .await;
        let tokens = json_of(
            app.get(&format!("/api/v1/agents/{name}/tokens"), &app.admin_key)
                .await,
        )
        .await;
        assert_eq!(tokens["tokens"][0]["name"], *raw);

        // A room topic, at creation and on change.
        let room = format!("room-{i}");
        let created = app
            .create_room_with(&alice, json!({"name": room, "topic": raw}))
            .await;
        assert_eq!(created["topic"], *raw);
        let res = app
            .patch(
                &format!("/api/v1/rooms/{room}"),
                &alice,
                json!({"topic": changed}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let got = json_of(app.get(&format!("/api/v1/rooms/{room}"), &alice).await).await;
        assert_eq!(got["topic"], changed.as_str());

        // A message body, client_id and metadata keys and values.
        let mut metadata = serde_json::Map::new();
        metadata.insert("k".into(), json!(raw));
        metadata.insert((*raw).into(), json!([raw]));
        let metadata = Value::Object(metadata);
        let body = json!({"body": raw, "client_id": raw, "metadata": metadata});
        let res = post_to(&app, &alice, "general", body).await;
        let m = expect_json(res, StatusCode::CREATED).await;
        assert_eq!(m["body"], *raw);
        assert_eq!(m["client_id"], *raw);
        assert_eq!(m["metadata"], metadata);
        // Repeating the client_id finds the stored message.
        let body = json!({"body": "again", "client_id": raw});
        let res = post_to(&app, &alice, "general", body).await;
        assert_eq!(expect_json(res, StatusCode::OK).await["id"], m["id"]);
    }

    let page = history(&app, &alice, "general", "?after=1").await;
    assert_eq!(bodies(&page), INJECTIONS);
    assert_intact(
        &app,
        &["admin", "alice", "eve-0", "eve-1", "eve-2"],
        1 + INJECTIONS.len() as i64,
    )
    .await;
}

async fn injection_in_credentials_is_unauthorized(app: TestApp) {
    seed_for_attacks(&app).await;
    for raw in INJECTIONS {
        let exchange = || app.request(Method::POST, "/api/v1/auth/token", None);
        let forged = format!("ahk_{raw}");
        expect_refused_requests(
            StatusCode::UNAUTHORIZED,
            [
                exchange().json(&json!({"api_key": raw})),
                exchange().basic_auth(raw, Some(raw)),
                exchange().form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", raw),
                    ("client_secret", raw),
                ]),
                app.request(Method::GET, "/api/v1/me", Some(&forged)),
            ],
        )
        .await;
    }
    // The real admin key still works.
    let res = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_intact(&app, &["admin", "alice"], 1).await;
}

crate::on_both_backends!(
    injection_in_path_segments_is_refused,
    injection_in_query_parameters_is_refused,
    injection_inside_well_formed_cursors_is_harmless,
    injection_in_names_is_refused,
    injection_in_free_text_is_stored_verbatim,
    injection_in_credentials_is_unauthorized,
);
