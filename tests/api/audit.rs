//! `GET /api/v1/audit` (admins only, newest first, `type`/`agent` filters, cursor paging) and
//! the audit rows that agent, token, room and auth actions leave behind (SPEC §3, §4, §6).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// The audit event types of SPEC §3.
const TYPES: [&str; 10] = [
    "jwt-issued",
    "auth-failed",
    "agent-created",
    "agent-updated",
    "token-created",
    "token-revoked",
    "room-created",
    "room-updated",
    "rate-limited",
    "socket-kicked",
];

/// One page of `GET /api/v1/audit?{query}` as the admin: the events and the next cursor.
async fn page(app: &TestApp, query: &str) -> (Vec<Value>, Option<String>) {
    let res = app
        .get(&format!("/api/v1/audit?{query}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "audit?{query}");
    let body: Value = res.json().await.unwrap();
    let events = body["events"].as_array().expect("events").clone();
    let next = body["next_cursor"].as_str().map(str::to_owned);
    assert!(next.is_some() || body["next_cursor"].is_null(), "{body}");
    (events, next)
}

/// Every event matching `query` (at most 100).
async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    page(app, &format!("{query}&limit=100")).await.0
}

/// The id of the agent that `credential` authenticates.
async fn id_of(app: &TestApp, credential: &str) -> Value {
    me(app, credential).await["id"].clone()
}

/// The newest event of `kind`, which must be by `agent_id` and mention `needle` in its details.
async fn newest(app: &TestApp, kind: &str, agent_id: &Value, needle: &str) -> Value {
    let list = events(app, &format!("type={kind}")).await;
    let event = list
        .first()
        .unwrap_or_else(|| panic!("no {kind} event"))
        .clone();
    assert_eq!(event["type"], kind, "{event}");
    assert_eq!(&event["agent_id"], agent_id, "{event}");
    assert_eq!(event["ip"], "127.0.0.1", "{event}");
    assert!(
        event["details"].to_string().contains(needle),
        "{kind} details should mention {needle}: {event}"
    );
    event
}

/// Some activity by several agents, so that the trail has rows of many types.
async fn activity(app: &TestApp) -> (String, String) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.jwt(&amy).await;
    app.jwt(&bob).await;
    app.create_room(&amy, "r1").await;
    let res = app
        .request(Method::POST, "/api/v1/auth/token", Some("ahk_unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    (amy, bob)
}

async fn only_admins_read_the_audit_trail(app: TestApp) {
    let agent = app.create_agent("amy", "agent").await;
    let observer = app.create_agent("olga", "observer").await;
    let agent_jwt = app.jwt(&agent).await;
    expect_refusals(
        &app,
        StatusCode::FORBIDDEN,
        [&agent, &observer, &agent_jwt]
            .into_iter()
            .flat_map(|credential| {
                [
                    Call::get("/api/v1/audit", credential),
                    Call::get("/api/v1/audit?type=jwt-issued", credential),
                ]
            }),
    )
    .await;
    expect_refusals(
        &app,
        StatusCode::UNAUTHORIZED,
        [None, Some("garbage")]
            .map(|credential| Call::new(Method::GET, "/api/v1/audit", credential)),
    )
    .await;
    let admin_jwt = app.jwt(&app.admin_key).await;
    for credential in [&app.admin_key, &admin_jwt] {
        let res = app.get("/api/v1/audit", credential).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert!(!body["events"].as_array().unwrap().is_empty(), "{body}");
    }
}

async fn events_are_newest_first_in_the_documented_shape(app: TestApp) {
    activity(&app).await;
    let (list, next) = page(&app, "").await;
    assert!(next.is_none(), "fewer than 50 events fit one page");
    assert!(list.len() >= 8, "{list:?}");

    for event in &list {
        let obj = event.as_object().unwrap();
        for field in ["id", "type", "agent_id", "ip", "details", "created_at"] {
            assert!(obj.contains_key(field), "{field} missing: {event}");
        }
        assert!(event["id"].is_i64(), "{event}");
        assert!(TYPES.contains(&event["type"].as_str().unwrap()), "{event}");
        assert!(
            event["agent_id"].is_null()
                || uuid::Uuid::parse_str(event["agent_id"].as_str().unwrap()).is_ok(),
            "{event}"
        );
        let created = event["created_at"].as_str().unwrap();
        assert!(created.ends_with('Z'), "{created}");
        chrono::DateTime::parse_from_rfc3339(created).unwrap();
    }
    for pair in list.windows(2) {
        assert!(
            pair[0]["id"].as_i64() > pair[1]["id"].as_i64(),
            "newest first: {pair:?}"
        );
        let a = chrono::DateTime::parse_from_rfc3339(pair[0]["created_at"].as_str().unwrap());
        let b = chrono::DateTime::parse_from_rfc3339(pair[1]["created_at"].as_str().unwrap());
        assert!(a.unwrap() >= b.unwrap(), "newest first: {pair:?}");
    }
    // The very newest is the last thing done: the refused exchange.
    assert_eq!(list[0]["type"], "auth-failed");
    // The oldest is the bootstrap of the first admin.
    assert_eq!(list.last().unwrap()["type"], "agent-created");
}

async fn events_filter_by_type_and_agent(app: TestApp) {
    let (amy, _bob) = activity(&app).await;
    let amy_id = id_of(&app, &amy).await;
    let admin_id = id_of(&app, &app.admin_key).await;

    let issued = events(&app, "type=jwt-issued").await;
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert!(issued.iter().all(|e| e["type"] == "jwt-issued"));

    let by_amy = events(&app, "agent=amy").await;
    assert!(by_amy.len() >= 2, "{by_amy:?}");
    assert!(by_amy.iter().all(|e| e["agent_id"] == amy_id), "{by_amy:?}");
    let kinds: Vec<&str> = by_amy.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"jwt-issued") && kinds.contains(&"room-created"),
        "{kinds:?}"
    );

    let both = events(&app, "type=room-created&agent=amy").await;
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0]["agent_id"], amy_id);
    assert!(
        events(&app, "type=room-created&agent=admin")
            .await
            .is_empty()
    );
    let by_admin = events(&app, "agent=admin").await;
    assert!(
        by_admin.iter().all(|e| e["agent_id"] == admin_id),
        "{by_admin:?}"
    );
    assert!(
        by_admin.iter().any(|e| e["type"] == "agent-created"),
        "{by_admin:?}"
    );

    // A type that is not one of the documented ones is a bad request.
    let kinds = [
        "nope",
        "JWT-ISSUED",
        "jwt_issued",
        "",
        "agent-created%27%20OR%201=1",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        kinds.map(|kind| Call::get(format!("/api/v1/audit?type={kind}"), &app.admin_key)),
    )
    .await;
    // Every documented type is a valid filter.
    for kind in TYPES {
        let list = events(&app, &format!("type={kind}")).await;
        assert!(list.iter().all(|e| e["type"] == kind), "{kind}: {list:?}");
    }
    // An agent name that cannot exist is a bad request; one that does not exist has no events.
    let res = app
        .get("/api/v1/audit?agent=BAD%20NAME", &app.admin_key)
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(events(&app, "agent=ghost").await.is_empty());
}

async fn audit_pages_with_a_cursor(app: TestApp) {
    activity(&app).await;
    let all = events(&app, "").await;
    assert!(all.len() >= 8);

    for limit in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut query = format!("limit={limit}");
        loop {
            let (list, next) = page(&app, &query).await;
            assert!(list.len() <= limit);
            seen.extend(list);
            assert!(seen.len() <= all.len(), "paging does not end");
            match next {
                Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, all, "limit {limit}");
    }

    // Filters hold across pages.
    let mut seen = Vec::new();
    let mut query = "type=agent-created&limit=1".to_owned();
    loop {
        let (list, next) = page(&app, &query).await;
        seen.extend(list);
        match next {
            Some(cursor) => query = format!("type=agent-created&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "admin, amy and bob were created: {seen:?}");
    assert!(seen.iter().all(|e| e["type"] == "agent-created"));

    let queries = [
        "limit=0",
        "limit=101",
        "limit=-5",
        "cursor=***",
        "cursor=_w",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        queries.map(|query| Call::get(format!("/api/v1/audit?{query}"), &app.admin_key)),
    )
    .await;
}

async fn agent_changes_are_audited(app: TestApp) {
    let admin_id = id_of(&app, &app.admin_key).await;
    let res = app
        .post(
            "/api/v1/agents",
            &app.admin_key,
            json!({"name": "amy", "role": "observer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    newest(&app, "agent-created", &admin_id, "amy").await;

    for change in [json!({"display_name": "Amy"}), json!({"disabled": true})] {
        let res = app
            .patch("/api/v1/agents/amy", &app.admin_key, change)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        newest(&app, "agent-updated", &admin_id, "amy").await;
    }
    assert_eq!(events(&app, "type=agent-updated").await.len(), 2);

    // Refused changes leave no row.
    let res = app
        .post("/api/v1/agents", &app.admin_key, json!({"name": "amy"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        events(&app, "type=agent-created").await.len(),
        2,
        "bootstrap admin and amy"
    );
}

async fn token_changes_are_audited(app: TestApp) {
    let admin_id = id_of(&app, &app.admin_key).await;
    let amy = app.create_agent("amy", "agent").await;
    let amy_id = id_of(&app, &amy).await;
    // The helper's token, created by the admin.
    newest(&app, "token-created", &admin_id, "amy").await;

    // Amy creates and revokes her own token.
    let res = app
        .post("/api/v1/agents/amy/tokens", &amy, json!({"name": "spare"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token: Value = res.json().await.unwrap();
    let id = token["id"].as_str().unwrap();
    let created = newest(&app, "token-created", &amy_id, id).await;
    assert!(
        !created.to_string().contains(token["key"].as_str().unwrap()),
        "the key is never audited: {created}"
    );
    let res = app.delete(&format!("/api/v1/tokens/{id}"), &amy).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    newest(&app, "token-revoked", &amy_id, id).await;

    // The admin revokes amy's first token.
    let first = app.get("/api/v1/agents/amy/tokens", &app.admin_key).await;
    let first: Value = first.json().await.unwrap();
    let first_id = first["tokens"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(first_id, id);
    let res = app
        .delete(&format!("/api/v1/tokens/{first_id}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    newest(&app, "token-revoked", &admin_id, &first_id).await;
    assert_eq!(events(&app, "type=token-revoked").await.len(), 2);
}

async fn room_changes_are_audited(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let amy_id = id_of(&app, &amy).await;
    app.create_room(&amy, "r1").await;
    newest(&app, "room-created", &amy_id, "r1").await;

    let res = app
        .patch("/api/v1/rooms/r1", &amy, json!({"topic": "t"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    newest(&app, "room-updated", &amy_id, "r1").await;

    let admin_id = id_of(&app, &app.admin_key).await;
    let res = app
        .patch(
            "/api/v1/rooms/r1",
            &app.admin_key,
            json!({"topic": "by the admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    newest(&app, "room-updated", &admin_id, "r1").await;
    assert_eq!(events(&app, "type=room-created").await.len(), 1);
    assert_eq!(events(&app, "type=room-updated").await.len(), 2);
}

async fn token_exchanges_are_audited(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let amy_id = id_of(&app, &amy).await;
    app.jwt(&amy).await;
    let issued = events(&app, "type=jwt-issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["agent_id"], amy_id);
    assert_eq!(issued[0]["ip"], "127.0.0.1");
    assert_eq!(events(&app, "type=jwt-issued&agent=amy").await, issued);

    let res = app
        .request(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"api_key": "ahk_not-a-key-anyone-holds"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let failed = events(&app, "type=auth-failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["agent_id"], Value::Null);
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    assert!(
        !failed[0].to_string().contains("ahk_not-a-key-anyone-holds"),
        "a presented key is never audited: {}",
        failed[0]
    );
}

crate::on_both_backends!(
    only_admins_read_the_audit_trail,
    events_are_newest_first_in_the_documented_shape,
    events_filter_by_type_and_agent,
    audit_pages_with_a_cursor,
    agent_changes_are_audited,
    token_changes_are_audited,
    room_changes_are_audited,
    token_exchanges_are_audited,
);
