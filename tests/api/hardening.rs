//! Hostile and malformed input (SQL-injection-looking text everywhere, oversized and non-JSON
//! bodies, unknown routes) answers the documented error and changes nothing; security headers,
//! health, readiness and the OpenAPI document (SPEC §6, §7).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::common::json_of;
use crate::helpers::{Backend, TestApp, expect_error, spawn_app_with};

const INJECTIONS: [&str; 3] = [
    "' OR '1'='1",
    "'; DROP TABLE agents--",
    "robert'); DROP TABLE messages;--",
];

/// Request bodies larger than this answer 413 (SPEC §6).
const ONE_MIB: usize = 1 << 20;

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

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Response {
    let mut req = app.request(method, path, Some(&app.admin_key));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request sent")
}

async fn create_room(app: &TestApp, key: &str, name: &str) {
    let res = app.post("/api/v1/rooms", key, json!({"name": name})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "creating room {name}");
}

/// Row count of `table`, read straight from the test database.
async fn count_rows(app: &TestApp, table: &str) -> i64 {
    let db = Database::connect(&app.db.url).await.expect("test database");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap_or_else(|e| panic!("table {table} is readable: {e}"))
        .expect("a count");
    let n: i64 = row.try_get("", "n").expect("an integer count");
    db.close().await.ok();
    n
}

async fn agent_names(app: &TestApp) -> Vec<String> {
    let res = app.get("/api/v1/agents?limit=100", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The state every injection test starts from and checks again at the end.
async fn seed(app: &TestApp) -> String {
    let alice = app.create_agent("alice", "agent").await;
    create_room(app, &alice, "general").await;
    let res = app
        .post(
            "/api/v1/rooms/general/messages",
            &alice,
            json!({"body": "before the attack"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    alice
}

/// Agents, rooms and messages are all still there and readable.
async fn assert_intact(app: &TestApp, agents: &[&str], messages: i64) {
    assert_eq!(agent_names(app).await, agents);
    let res = app
        .get(
            "/api/v1/rooms/general/messages?after=0&limit=100",
            &app.admin_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = json_of(res).await;
    let got = page["messages"].as_array().unwrap();
    assert_eq!(got.len() as i64, messages);
    assert_eq!(got[0]["body"], "before the attack");
    for table in [
        "agents",
        "api_tokens",
        "rooms",
        "room_members",
        "messages",
        "audit_events",
    ] {
        assert!(count_rows(app, table).await >= 0);
    }
    assert_eq!(count_rows(app, "agents").await, agents.len() as i64);
    assert_eq!(count_rows(app, "messages").await, messages);
}

// ---------------------------------------------------------------------------------------
// SQL-injection-looking input

async fn injection_in_path_segments_is_refused(app: TestApp) {
    seed(&app).await;
    let mut inputs: Vec<&str> = INJECTIONS.to_vec();
    inputs.push("general\r\nX-Injected: 1");
    inputs.push("../../agents");
    for raw in inputs {
        let x = enc(raw);
        let cases = [
            (Method::GET, format!("/api/v1/agents/{x}"), None),
            (
                Method::PATCH,
                format!("/api/v1/agents/{x}"),
                Some(json!({"display_name": "x"})),
            ),
            (Method::GET, format!("/api/v1/agents/{x}/tokens"), None),
            (
                Method::POST,
                format!("/api/v1/agents/{x}/tokens"),
                Some(json!({})),
            ),
            (Method::DELETE, format!("/api/v1/tokens/{x}"), None),
            (Method::GET, format!("/api/v1/rooms/{x}"), None),
            (
                Method::PATCH,
                format!("/api/v1/rooms/{x}"),
                Some(json!({"topic": "x"})),
            ),
            (Method::GET, format!("/api/v1/rooms/{x}/messages"), None),
            (
                Method::POST,
                format!("/api/v1/rooms/{x}/messages"),
                Some(json!({"body": "x"})),
            ),
            (Method::GET, format!("/api/v1/rooms/{x}/presence"), None),
            (
                Method::PUT,
                format!("/api/v1/rooms/{x}/members/alice"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/rooms/{x}/members/alice"),
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/rooms/general/members/{x}"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/rooms/general/members/{x}"),
                None,
            ),
            (Method::GET, format!("/api/v1/rooms/dm:alice:{x}"), None),
        ];
        for (method, path, body) in cases {
            let what = format!("{method} {path}");
            assert_refused(send(&app, method, &path, body).await, &what).await;
        }
    }
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn injection_in_query_parameters_is_refused(app: TestApp) {
    seed(&app).await;
    for raw in INJECTIONS {
        let x = enc(raw);
        for path in [
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
        ] {
            let res = app.get(&path, &app.admin_key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "GET {path}");
            expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        }
    }
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn injection_inside_well_formed_cursors_is_harmless(app: TestApp) {
    seed(&app).await;
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
    let alice = seed(&app).await;
    for raw in INJECTIONS {
        let res = app
            .post("/api/v1/agents", &app.admin_key, json!({"name": raw}))
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = app
            .post(
                "/api/v1/agents",
                &app.admin_key,
                json!({"name": "mallory", "role": raw}),
            )
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = app
            .post("/api/v1/rooms", &alice, json!({"name": raw}))
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // Control characters (header injection) in a display name are refused too.
    let res = app
        .post(
            "/api/v1/agents",
            &app.admin_key,
            json!({"name": "mallory", "display_name": "m\r\nX-Injected: 1"}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_intact(&app, &["admin", "alice"], 1).await;
    let rooms = json_of(app.get("/api/v1/rooms", &alice).await).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
}

async fn injection_in_free_text_is_stored_verbatim(app: TestApp) {
    let alice = seed(&app).await;
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
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(json_of(res).await["display_name"], *raw);
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
        let res = app
            .post(
                &format!("/api/v1/agents/{name}/tokens"),
                &app.admin_key,
                json!({"name": raw}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let tokens = json_of(
            app.get(&format!("/api/v1/agents/{name}/tokens"), &app.admin_key)
                .await,
        )
        .await;
        assert_eq!(tokens["tokens"][0]["name"], *raw);

        // A room topic, at creation and on change.
        let room = format!("room-{i}");
        let res = app
            .post("/api/v1/rooms", &alice, json!({"name": room, "topic": raw}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(json_of(res).await["topic"], *raw);
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
        let res = app
            .post(
                "/api/v1/rooms/general/messages",
                &alice,
                json!({"body": raw, "client_id": raw, "metadata": metadata}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let m = json_of(res).await;
        assert_eq!(m["body"], *raw);
        assert_eq!(m["client_id"], *raw);
        assert_eq!(m["metadata"], metadata);
        // Repeating the client_id finds the stored message.
        let res = app
            .post(
                "/api/v1/rooms/general/messages",
                &alice,
                json!({"body": "again", "client_id": raw}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(json_of(res).await["id"], m["id"]);
    }

    let res = app
        .get("/api/v1/rooms/general/messages?after=1", &alice)
        .await;
    let page = json_of(res).await;
    let bodies: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, INJECTIONS);
    assert_intact(
        &app,
        &["admin", "alice", "eve-0", "eve-1", "eve-2"],
        1 + INJECTIONS.len() as i64,
    )
    .await;
}

async fn injection_in_credentials_is_unauthorized(app: TestApp) {
    seed(&app).await;
    for raw in INJECTIONS {
        let res = app
            .request(Method::POST, "/api/v1/auth/token", None)
            .json(&json!({"api_key": raw}))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app
            .request(Method::POST, "/api/v1/auth/token", None)
            .basic_auth(raw, Some(raw))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app
            .request(Method::POST, "/api/v1/auth/token", None)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", raw),
                ("client_secret", raw),
            ])
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app.get("/api/v1/me", &format!("ahk_{raw}")).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // The real admin key still works.
    let res = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_intact(&app, &["admin", "alice"], 1).await;
}

// ---------------------------------------------------------------------------------------
// Malformed requests

async fn bodies_over_one_mib_answer_413(app: TestApp) {
    let alice = seed(&app).await;
    let huge = "x".repeat(ONE_MIB + 1);
    let cases = [
        ("/api/v1/rooms", json!({"name": "big", "topic": huge})),
        ("/api/v1/rooms/general/messages", json!({"body": huge})),
        (
            "/api/v1/agents",
            json!({"name": "big", "display_name": huge}),
        ),
        ("/api/v1/agents/alice/tokens", json!({"name": huge})),
    ];
    for (path, body) in cases {
        let res = app.post(path, &app.admin_key, body).await;
        let status = res.status();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "POST {path}");
        expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"topic": huge}))
        .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let res = app
        .request(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"api_key": huge}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_intact(&app, &["admin", "alice"], 1).await;
    assert_eq!(
        app.get("/api/v1/rooms/big", &alice).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn non_json_bodies_answer_400(app: TestApp) {
    let alice = seed(&app).await;
    let cases: [(&str, Option<&str>, &str); 8] = [
        ("/api/v1/rooms", Some("application/json"), "not json"),
        ("/api/v1/rooms", Some("application/json"), r#"{"name": "x""#),
        ("/api/v1/rooms", Some("application/json"), ""),
        ("/api/v1/rooms", Some("text/plain"), r#"{"name": "plain"}"#),
        ("/api/v1/rooms", None, r#"{"name": "untyped"}"#),
        (
            "/api/v1/rooms",
            Some("application/x-www-form-urlencoded"),
            "name=form",
        ),
        (
            "/api/v1/rooms/general/messages",
            Some("text/plain"),
            r#"{"body": "hi"}"#,
        ),
        (
            "/api/v1/rooms/general/messages",
            Some("application/json"),
            "\u{feff}{\"body\": 1",
        ),
    ];
    for (path, content_type, body) in cases {
        let mut req = app
            .request(Method::POST, path, Some(&alice))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "POST {path} ({content_type:?}) {body:?}"
        );
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // PATCH too.
    let res = app
        .request(Method::PATCH, "/api/v1/rooms/general", Some(&alice))
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"topic": "t"}"#)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let rooms = json_of(app.get("/api/v1/rooms", &alice).await).await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
    assert_intact(&app, &["admin", "alice"], 1).await;
}

async fn unknown_routes_answer_404_not_found(app: TestApp) {
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
            let res = app
                .request(method.clone(), path, token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
            expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Security headers

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", "default-src 'self'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "strict-origin"),
    ("x-content-type-options", "nosniff"),
];

/// One response of each status the headers must be on: 200, 400, 401, 404, 413.
async fn sample_responses(app: &TestApp) -> Vec<(String, Response)> {
    let huge = "x".repeat(ONE_MIB + 1);
    vec![
        (
            "200 /healthz".into(),
            app.request(Method::GET, "/healthz", None)
                .send()
                .await
                .unwrap(),
        ),
        (
            "200 /api/v1/me".into(),
            app.get("/api/v1/me", &app.admin_key).await,
        ),
        (
            "200 /openapi.json".into(),
            app.request(Method::GET, "/openapi.json", None)
                .send()
                .await
                .unwrap(),
        ),
        (
            "400".into(),
            app.get("/api/v1/rooms?limit=0", &app.admin_key).await,
        ),
        (
            "401".into(),
            app.request(Method::GET, "/api/v1/me", None)
                .send()
                .await
                .unwrap(),
        ),
        ("404".into(), app.get("/api/v1/nope", &app.admin_key).await),
        (
            "413".into(),
            app.post(
                "/api/v1/rooms",
                &app.admin_key,
                json!({"name": "x", "topic": huge}),
            )
            .await,
        ),
    ]
}

async fn security_headers_are_on_every_response(app: TestApp) {
    for (what, res) in sample_responses(&app).await {
        let expected_status: u16 = what[..3].parse().unwrap();
        assert_eq!(res.status().as_u16(), expected_status, "{what}");
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                res.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{what}: {name}"
            );
        }
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "{what}: no HSTS unless enabled"
        );
    }
}

async fn hsts_is_sent_when_enabled(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.enable_hsts = true).await;
    for (what, res) in sample_responses(&app).await {
        let hsts = res
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: HSTS when enabled"))
            .to_owned();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .unwrap_or_else(|| panic!("{what}: max-age in {hsts}"))
            .parse()
            .expect("max-age is a number");
        assert!(max_age > 0, "{what}: {hsts}");
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                res.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{what}: {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_enabled_postgres() {
    hsts_is_sent_when_enabled(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_enabled_sqlite() {
    hsts_is_sent_when_enabled(Backend::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// Health, readiness, OpenAPI

async fn healthz_answers_ok(app: TestApp) {
    let res = app
        .request(Method::GET, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, json!({"status": "ok"}));
}

async fn readyz_answers_ready_with_its_checks(app: TestApp) {
    let res = app
        .request(Method::GET, "/readyz", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        json_of(res).await,
        json!({"status": "ready", "checks": {"database": "ok", "redis": "disabled"}})
    );
}

/// Every REST route of SPEC §6 with its methods.
const ROUTES: [(&str, &[&str]); 12] = [
    ("/api/v1/auth/token", &["post"]),
    ("/api/v1/me", &["get"]),
    ("/api/v1/agents", &["get", "post"]),
    ("/api/v1/agents/{name}", &["get", "patch"]),
    ("/api/v1/agents/{name}/tokens", &["get", "post"]),
    ("/api/v1/tokens/{id}", &["delete"]),
    ("/api/v1/rooms", &["get", "post"]),
    ("/api/v1/rooms/{name}", &["get", "patch"]),
    ("/api/v1/rooms/{name}/members/{agent}", &["put", "delete"]),
    ("/api/v1/rooms/{name}/messages", &["get", "post"]),
    ("/api/v1/rooms/{name}/presence", &["get"]),
    ("/api/v1/audit", &["get"]),
];

async fn openapi_document(app: &TestApp) -> Value {
    let res = app
        .request(Method::GET, "/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await
}

async fn openapi_describes_every_rest_route(app: TestApp) {
    let doc = openapi_document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "openapi {version}");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in ROUTES {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} in paths: {:?}", paths.keys()));
        for method in methods {
            assert!(
                item.get(*method).is_some_and(Value::is_object),
                "{method} {path}"
            );
        }
    }
}

async fn openapi_declares_every_path_parameter(app: TestApp) {
    let doc = openapi_document(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (path, item) in paths {
        let templated: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared_on = |params: &Value, name: &str| {
            params.as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true)
            })
        };
        for (method, op) in item.as_object().unwrap() {
            if !op.is_object() || method == "parameters" {
                continue;
            }
            for name in &templated {
                if !declared_on(&op["parameters"], name) && !declared_on(&item["parameters"], name)
                {
                    missing.push(format!("{method} {path}: {{{name}}}"));
                }
            }
        }
    }
    // OpenAPI: each template expression in a path must be a declared, required path parameter.
    assert!(
        missing.is_empty(),
        "undeclared path parameters: {missing:#?}"
    );
}

crate::on_both_backends!(
    injection_in_path_segments_is_refused,
    injection_in_query_parameters_is_refused,
    injection_inside_well_formed_cursors_is_harmless,
    injection_in_names_is_refused,
    injection_in_free_text_is_stored_verbatim,
    injection_in_credentials_is_unauthorized,
    bodies_over_one_mib_answer_413,
    non_json_bodies_answer_400,
    unknown_routes_answer_404_not_found,
    security_headers_are_on_every_response,
    healthz_answers_ok,
    readyz_answers_ready_with_its_checks,
    openapi_describes_every_rest_route,
    openapi_declares_every_path_parameter,
);
