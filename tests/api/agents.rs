//! `/me` and `/agents`: shapes, validation, pagination, who may create and change agents
//! (SPEC §3, §6). API tokens and the authorization matrix are in `tokens`.

use chrono::{Duration, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// `POST /agents` as `credential`.
async fn create_agent_as(app: &TestApp, credential: &str, body: Value) -> Response {
    app.post("/api/v1/agents", credential, body).await
}

/// A request with a raw body and content type, as the admin.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Response {
    app.request(method, path, Some(&app.admin_key))
        .header("Content-Type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent")
}

// --- /me --------------------------------------------------------------------------------

async fn me_answers_the_calling_agent(app: TestApp) {
    let res = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["name"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["disabled"], false);
    assert_agent(&me, &[]);

    let key = app.create_agent("amy", "observer").await;
    let me = expect_json(app.get("/api/v1/me", &key).await, StatusCode::OK).await;
    assert_eq!(me["name"], "amy");
    assert_eq!(me["role"], "observer");
    let jwt = app.jwt(&key).await;
    assert_eq!(
        expect_json(app.get("/api/v1/me", &jwt).await, StatusCode::OK).await,
        me
    );
    expect_unauthenticated(&app, Method::GET, "/api/v1/me", None).await;
}

// --- GET /agents, GET /agents/{name} ------------------------------------------------------

async fn agents_are_listed_by_name_with_online(app: TestApp) {
    app.create_agent("zed", "agent").await;
    let observer = app.create_agent("amy", "observer").await;
    let agent = app.create_agent("bob", "agent").await;

    for credential in [&app.admin_key, &agent, &observer] {
        let list = expect_json(app.get("/api/v1/agents", credential).await, StatusCode::OK).await;
        assert_eq!(list["next_cursor"], Value::Null, "{list}");
        let agents = list["agents"].as_array().unwrap();
        let names: Vec<&str> = agents.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["admin", "amy", "bob", "zed"]);
        for a in agents {
            assert_agent(a, &["online"]);
            assert_eq!(a["online"], false, "nobody has a socket: {a}");
        }
        assert_eq!(agents[1]["role"], "observer");
    }
    expect_unauthenticated(&app, Method::GET, "/api/v1/agents", None).await;
}

async fn agents_page_with_a_cursor_until_it_is_null(app: TestApp) {
    for name in ["carl", "amy", "bob", "dan"] {
        app.create_agent(name, "agent").await;
    }
    let all = agent_names(&app).await;
    assert_eq!(all, ["admin", "amy", "bob", "carl", "dan"]);

    for limit in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                None => format!("/api/v1/agents?limit={limit}"),
                Some(c) => format!("/api/v1/agents?limit={limit}&cursor={c}"),
            };
            let page = expect_json(app.get(&path, &app.admin_key).await, StatusCode::OK).await;
            let agents = page["agents"].as_array().unwrap();
            assert!(agents.len() <= limit, "{page}");
            seen.extend(
                agents
                    .iter()
                    .map(|a| a["name"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            assert!(pages <= all.len() + 1, "paging does not end");
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(agents.len(), limit, "only a full page has a next page");
                    cursor = Some(c.to_owned());
                }
                None => break,
            }
        }
        assert_eq!(seen, all, "limit {limit}");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}");
    }
}

async fn a_list_limit_outside_1_to_100_is_a_bad_request(app: TestApp) {
    let admin = app.admin_key.as_str();
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        ["0", "101", "-1", "1000000", "abc", "1.5"]
            .into_iter()
            .flat_map(|limit| {
                [
                    Call::get(format!("/api/v1/agents?limit={limit}"), admin),
                    Call::get(format!("/api/v1/agents/admin/tokens?limit={limit}"), admin),
                ]
            }),
    )
    .await;
    for limit in [1, 100] {
        let res = app
            .get(&format!("/api/v1/agents?limit={limit}"), &app.admin_key)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "limit {limit}");
    }
}

async fn a_bad_cursor_is_a_bad_request(app: TestApp) {
    let admin = app.admin_key.as_str();
    // Not base64url at all, and base64url of bytes that are not UTF-8.
    let mut calls: Vec<Call> = ["***", "%25%25", "_w", "a"]
        .into_iter()
        .map(|cursor| Call::get(format!("/api/v1/agents?cursor={cursor}"), admin))
        .collect();
    calls.push(Call::get("/api/v1/agents/admin/tokens?cursor=***", admin));
    expect_refusals(&app, StatusCode::BAD_REQUEST, calls).await;
}

async fn one_agent_is_shown_with_online(app: TestApp) {
    let observer = app.create_agent("amy", "observer").await;
    let bob = app.create_agent("bob", "agent").await;
    for credential in [&app.admin_key, &observer, &bob] {
        let amy = expect_json(
            app.get("/api/v1/agents/amy", credential).await,
            StatusCode::OK,
        )
        .await;
        assert_agent(&amy, &["online"]);
        assert_eq!(amy["name"], "amy");
        assert_eq!(amy["role"], "observer");
        assert_eq!(amy["online"], false);
    }
    expect_unauthenticated(&app, Method::GET, "/api/v1/agents/amy", None).await;
}

async fn an_unknown_agent_is_not_found_and_a_bad_name_is_a_bad_request(app: TestApp) {
    let admin = app.admin_key.as_str();
    let res = app.get("/api/v1/agents/ghost", admin).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let too_long = "a".repeat(65);
    let bad = ["BAD%20NAME", "Admin", "-x", "a%27--", "%C3%A9", &too_long];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bad.into_iter().flat_map(|name| {
            [
                Call::get(format!("/api/v1/agents/{name}"), admin),
                Call::get(format!("/api/v1/agents/{name}/tokens"), admin),
            ]
        }),
    )
    .await;
}

// --- POST /agents -------------------------------------------------------------------------

async fn an_admin_creates_agents_with_defaults(app: TestApp) {
    let before = Utc::now() - Duration::seconds(1);
    let amy = expect_json(
        create_agent_as(&app, &app.admin_key, json!({"name": "amy"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_agent(&amy, &[]);
    assert_eq!(amy["name"], "amy");
    assert_eq!(
        amy["display_name"], "amy",
        "display_name defaults to the name"
    );
    assert_eq!(amy["role"], "agent", "role defaults to agent");
    assert_eq!(amy["disabled"], false);
    let created =
        chrono::DateTime::parse_from_rfc3339(amy["created_at"].as_str().unwrap()).unwrap();
    assert!(created >= before && created <= Utc::now() + Duration::seconds(1));

    let bob = expect_json(
        create_agent_as(
            &app,
            &app.admin_key,
            json!({"name": "bob.bot_2-x", "display_name": "Bob the Bot 🤖", "role": "observer"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(bob["display_name"], "Bob the Bot 🤖");
    assert_eq!(bob["role"], "observer");
    let root = expect_json(
        create_agent_as(
            &app,
            &app.admin_key,
            json!({"name": "root", "role": "admin"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(root["role"], "admin");
    assert_ne!(amy["id"], bob["id"]);

    // What was created is what is shown.
    let shown = get_agent(&app, "amy").await;
    for field in AGENT_FIELDS {
        assert_eq!(shown[field], amy[field], "{field}");
    }
    assert_eq!(
        agent_names(&app).await,
        ["admin", "amy", "bob.bot_2-x", "root"]
    );
}

async fn a_taken_name_is_a_conflict(app: TestApp) {
    let res = create_agent_as(&app, &app.admin_key, json!({"name": "admin"})).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    app.create_agent("amy", "agent").await;
    let res = create_agent_as(
        &app,
        &app.admin_key,
        json!({"name": "amy", "display_name": "Another Amy", "role": "observer"}),
    )
    .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let amy = get_agent(&app, "amy").await;
    assert_eq!(amy["display_name"], "amy", "the first agent is untouched");
    assert_eq!(amy["role"], "agent");
}

async fn names_must_follow_the_pattern(app: TestApp) {
    let too_long = "a".repeat(65);
    let bad = [
        "", "BAD", "Amy", "_a", "-a", ".a", "a b", "a:b", "dm:a:b", "é", "a/b", "a'--", " a",
        "a\n", &too_long,
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bad.map(|name| Call::post("/api/v1/agents", &app.admin_key, json!({ "name": name }))),
    )
    .await;
    assert_eq!(agent_names(&app).await, ["admin"]);

    let longest = "a".repeat(64);
    for name in ["0", "9lives", "a.b-c_d", &longest] {
        let res = create_agent_as(&app, &app.admin_key, json!({ "name": name })).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
    }
}

async fn create_agent_refuses_wrong_types_unknown_fields_and_long_display_names(app: TestApp) {
    let bodies = [
        json!({}),
        json!({"name": 5}),
        json!({"name": null}),
        json!({"name": ["amy"]}),
        json!({"name": "amy", "role": "root"}),
        json!({"name": "amy", "role": "Admin"}),
        json!({"name": "amy", "role": 1}),
        json!({"name": "amy", "display_name": 7}),
        json!({"name": "amy", "display_name": "x".repeat(129)}),
        json!({"name": "amy", "display_name": "é".repeat(129)}),
        json!({"name": "amy", "extra": true}),
        json!({"name": "amy", "disabled": true}),
        json!(["amy"]),
        json!("amy"),
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bodies.map(|body| Call::post("/api/v1/agents", &app.admin_key, body)),
    )
    .await;
    for (content_type, body) in [
        ("application/json", "{\"name\":"),
        ("text/plain", r#"{"name":"amy"}"#),
    ] {
        let res = raw(&app, Method::POST, "/api/v1/agents", content_type, body).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(agent_names(&app).await, ["admin"], "nothing was created");

    // 128 characters is the limit, counted in characters, not bytes.
    let amy = expect_json(
        create_agent_as(
            &app,
            &app.admin_key,
            json!({"name": "amy", "display_name": "é".repeat(128)}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(amy["display_name"].as_str().unwrap().chars().count(), 128);
}

async fn only_admins_create_agents(app: TestApp) {
    let agent = app.create_agent("amy", "agent").await;
    let observer = app.create_agent("olga", "observer").await;
    let agent_jwt = app.jwt(&agent).await;
    let mallory = json!({"name": "mallory", "role": "admin"});
    expect_refusals(
        &app,
        StatusCode::FORBIDDEN,
        [&agent, &observer, &agent_jwt]
            .map(|credential| Call::post("/api/v1/agents", credential, mallory.clone())),
    )
    .await;
    expect_unauthenticated(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(json!({"name": "mallory"})),
    )
    .await;
    let res = app.get("/api/v1/agents/mallory", &app.admin_key).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

// --- PATCH /agents/{name} -----------------------------------------------------------------

async fn an_admin_changes_display_names_and_disables_agents(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let original = get_agent(&app, "amy").await;

    let amy = expect_json(
        app.patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"display_name": "Amy A."}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_agent(&amy, &[]);
    assert_eq!(amy["display_name"], "Amy A.");
    assert_eq!(amy["disabled"], false);
    assert_eq!(amy["id"], original["id"]);
    assert_eq!(amy["created_at"], original["created_at"]);
    assert_eq!(get_agent(&app, "amy").await["display_name"], "Amy A.");

    let amy = expect_json(
        app.patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": true}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(amy["disabled"], true);
    assert_eq!(
        amy["display_name"], "Amy A.",
        "an absent field is left alone"
    );
    assert_eq!(get_agent(&app, "amy").await["disabled"], true);
    expect_error(
        app.get("/api/v1/me", &key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Disabling twice is no change; enabling brings the same key back.
    let res = app
        .patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(expect_json(res, StatusCode::OK).await["disabled"], true);
    let amy = expect_json(
        app.patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": false, "display_name": "Amy"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(amy["disabled"], false);
    assert_eq!(amy["display_name"], "Amy");
    assert_eq!(app.get("/api/v1/me", &key).await.status(), StatusCode::OK);

    // An empty change answers the agent as it is.
    let same = expect_json(
        app.patch("/api/v1/agents/amy", &app.admin_key, json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same, amy);
}

async fn patch_agent_refuses_bad_input_and_unknown_agents(app: TestApp) {
    app.create_agent("amy", "agent").await;
    let bodies = [
        json!({"display_name": "x".repeat(129)}),
        json!({"display_name": 5}),
        json!({"disabled": "yes"}),
        json!({"name": "renamed"}),
        json!({"role": "admin"}),
    ];
    let admin = app.admin_key.as_str();
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bodies.map(|body| Call::patch("/api/v1/agents/amy", admin, body)),
    )
    .await;
    let amy = get_agent(&app, "amy").await;
    assert_eq!(amy["display_name"], "amy");
    assert_eq!(amy["role"], "agent");

    let disable = json!({"disabled": true});
    for (name, status) in [
        ("ghost", StatusCode::NOT_FOUND),
        ("BAD%20NAME", StatusCode::BAD_REQUEST),
    ] {
        let call = Call::patch(format!("/api/v1/agents/{name}"), admin, disable.clone());
        expect_refusals(&app, status, [call]).await;
    }
}

async fn only_admins_change_agents(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    let attempts = [
        (&amy, "amy"),   // itself
        (&amy, "olga"),  // another agent
        (&amy, "admin"), // the admin
        (&olga, "olga"),
        (&olga, "amy"),
    ];
    let mut calls = Vec::new();
    for (credential, target) in attempts {
        for body in [json!({"disabled": true}), json!({"display_name": "pwned"})] {
            calls.push(Call::patch(
                format!("/api/v1/agents/{target}"),
                credential,
                body,
            ));
        }
    }
    expect_refusals(&app, StatusCode::FORBIDDEN, calls).await;
    expect_unauthenticated(
        &app,
        Method::PATCH,
        "/api/v1/agents/amy",
        Some(json!({"disabled": true})),
    )
    .await;
    for name in ["admin", "amy", "olga"] {
        let agent = get_agent(&app, name).await;
        assert_eq!(agent["disabled"], false, "{agent}");
        assert_eq!(agent["display_name"], name, "{agent}");
    }
}

crate::on_both_backends!(
    me_answers_the_calling_agent,
    agents_are_listed_by_name_with_online,
    agents_page_with_a_cursor_until_it_is_null,
    a_list_limit_outside_1_to_100_is_a_bad_request,
    a_bad_cursor_is_a_bad_request,
    one_agent_is_shown_with_online,
    an_unknown_agent_is_not_found_and_a_bad_name_is_a_bad_request,
    an_admin_creates_agents_with_defaults,
    a_taken_name_is_a_conflict,
    names_must_follow_the_pattern,
    create_agent_refuses_wrong_types_unknown_fields_and_long_display_names,
    only_admins_create_agents,
    an_admin_changes_display_names_and_disables_agents,
    patch_agent_refuses_bad_input_and_unknown_agents,
    only_admins_change_agents,
);
