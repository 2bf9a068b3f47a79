//! API tokens (`/agents/{name}/tokens`, `/tokens/{id}`): who creates, lists and revokes them,
//! their shapes and paging, and the authorization matrix admin / agent / observer / owner
//! (SPEC §4, §6).

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn tokens_are_created_by_an_admin_or_the_agent_itself(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;

    let token = app
        .create_token(&app.admin_key, "amy", json!({"name": "ci"}))
        .await;
    let obj = token.as_object().unwrap();
    assert_eq!(obj.len(), CREATED_TOKEN_FIELDS.len(), "{token}");
    for field in CREATED_TOKEN_FIELDS {
        assert!(obj.contains_key(field), "{field} missing: {token}");
    }
    let key = token["key"].as_str().unwrap();
    assert_key_shape(key);
    assert_eq!(token["prefix"], &key[..12]);
    assert_eq!(token["name"], "ci");
    assert_eq!(token["expires_at"], Value::Null);
    assert_timestamp(&token["created_at"]);
    assert!(uuid::Uuid::parse_str(token["id"].as_str().unwrap()).is_ok());
    let me = expect_json(app.get("/api/v1/me", key).await, StatusCode::OK).await;
    assert_eq!(me["name"], "amy", "the key authenticates its agent");

    // The agent itself, with an expiry (with its API key: a JWT may not, SPEC §6).
    let before = Utc::now();
    let own = app
        .create_token(
            &amy,
            "amy",
            json!({"name": "laptop", "expires_in_days": 30}),
        )
        .await;
    assert_key_shape(own["key"].as_str().unwrap());
    let expires =
        chrono::DateTime::parse_from_rfc3339(own["expires_at"].as_str().unwrap()).unwrap();
    assert_timestamp(&own["expires_at"]);
    let expected = before + Duration::days(30);
    assert!(
        (expires.to_utc() - expected).num_seconds().abs() <= 5,
        "{expires} vs {expected}"
    );
    let jwt = app.jwt(&amy).await;
    let res = app.post("/api/v1/agents/amy/tokens", &jwt, json!({})).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a JWT cannot mint a key"
    );

    // An empty body is allowed.
    let res = app
        .request(Method::POST, "/api/v1/agents/amy/tokens", Some(&amy))
        .send()
        .await
        .unwrap();
    let bare = expect_json(res, StatusCode::CREATED).await;
    assert_key_shape(bare["key"].as_str().unwrap());
    assert!(bare["name"].as_str().is_some_and(|n| !n.is_empty()));

    // Every key is different.
    let keys: std::collections::HashSet<&str> = [&token, &own, &bare]
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3);
    // create_agent's key and the three above; the JWT's attempt made none.
    assert_eq!(tokens_of(&app, "amy").await.len(), 4);
}

async fn create_token_refuses_bad_input_and_unknown_agents(app: TestApp) {
    app.create_agent("amy", "agent").await;
    let bodies = [
        json!({"expires_in_days": 0}),
        json!({"expires_in_days": -1}),
        json!({"expires_in_days": "30"}),
        json!({"name": 5}),
        json!({"name": "x".repeat(129)}),
        json!({"key": "ahk_chosen_by_the_client_aaaaaaaaaaaaaaaaaaaaaaa"}),
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        bodies.map(|body| Call::post("/api/v1/agents/amy/tokens", &app.admin_key, body)),
    )
    .await;
    assert_eq!(
        tokens_of(&app, "amy").await.len(),
        1,
        "only the helper's token"
    );

    let res = app
        .post("/api/v1/agents/ghost/tokens", &app.admin_key, json!({}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn token_lists_never_show_keys(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let created = app
        .create_token(&app.admin_key, "amy", json!({"name": "second"}))
        .await;

    for credential in [&app.admin_key, &amy] {
        let list = expect_json(
            app.get("/api/v1/agents/amy/tokens", credential).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(list["next_cursor"], Value::Null);
        let tokens = list["tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 2);
        let text = list.to_string();
        assert!(!text.contains(&amy), "a key leaked: {text}");
        assert!(
            !text.contains(created["key"].as_str().unwrap()),
            "a key leaked: {text}"
        );
        for t in tokens {
            assert!(t.get("key").is_none(), "{t}");
            assert!(t.get("token_hash").is_none(), "{t}");
            for field in [
                "id",
                "name",
                "prefix",
                "created_at",
                "expires_at",
                "last_used_at",
                "revoked_at",
            ] {
                assert!(t.get(field).is_some(), "{field} missing: {t}");
            }
            assert_eq!(t["prefix"].as_str().unwrap().len(), 12);
            assert_eq!(t["revoked_at"], Value::Null);
        }
        let second = tokens.iter().find(|t| t["id"] == created["id"]).unwrap();
        assert_eq!(second["name"], "second");
        assert_eq!(second["prefix"], created["prefix"]);
        assert_eq!(second["created_at"], created["created_at"]);
        assert!(amy.starts_with(tokens[0]["prefix"].as_str().unwrap()));
    }
}

async fn token_lists_page_with_a_cursor(app: TestApp) {
    app.create_agent("amy", "agent").await;
    for n in 0..3 {
        app.create_token(&app.admin_key, "amy", json!({"name": format!("t{n}")}))
            .await;
    }
    let all: Vec<Value> = tokens_of(&app, "amy")
        .await
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(all.len(), 4);
    let mut seen = Vec::new();
    let mut path = "/api/v1/agents/amy/tokens?limit=1".to_owned();
    loop {
        let page = expect_json(app.get(&path, &app.admin_key).await, StatusCode::OK).await;
        let tokens = page["tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 1, "{page}");
        seen.push(tokens[0]["id"].clone());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/agents/amy/tokens?limit=1&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= all.len(), "paging does not end");
    }
    assert_eq!(seen, all);
}

async fn tokens_are_revoked_by_their_owner_or_an_admin(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let spare = app
        .create_token(&amy, "amy", json!({"name": "spare"}))
        .await;
    let spare_key = spare["key"].as_str().unwrap();
    let spare_id = spare["id"].as_str().unwrap();
    let first_id = tokens_of(&app, "amy").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner revokes its spare token; again is 204 too.
    let res = app
        .delete(&format!("/api/v1/tokens/{spare_id}"), &amy)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = app
        .delete(&format!("/api/v1/tokens/{spare_id}"), &amy)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get("/api/v1/me", spare_key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/me", &amy).await.status(),
        StatusCode::OK,
        "the other key lives"
    );

    let tokens = tokens_of(&app, "amy").await;
    let revoked = tokens.iter().find(|t| t["id"] == spare_id).unwrap();
    assert_timestamp(&revoked["revoked_at"]);
    let live = tokens
        .iter()
        .find(|t| t["id"] == first_id.as_str())
        .unwrap();
    assert_eq!(live["revoked_at"], Value::Null);

    // The admin revokes amy's last token, and again.
    for _ in 0..2 {
        let res = app
            .delete(&format!("/api/v1/tokens/{first_id}"), &app.admin_key)
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    expect_error(
        app.get("/api/v1/me", &amy).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn revoking_what_the_caller_may_not_see_is_not_found(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    let amy_token = tokens_of(&app, "amy").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_token = tokens_of(&app, "admin").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another agent's token looks like one that does not exist.
    let mut calls = Vec::new();
    for credential in [&bob, &olga] {
        for id in [&amy_token, &admin_token] {
            calls.push(Call::delete(format!("/api/v1/tokens/{id}"), credential));
        }
    }
    let unknown = uuid::Uuid::now_v7();
    for id in [
        unknown.to_string(),
        "not-a-uuid".into(),
        "123".into(),
        "%27%20OR%201=1".into(),
    ] {
        for credential in [&app.admin_key, &amy] {
            calls.push(Call::delete(format!("/api/v1/tokens/{id}"), credential));
        }
    }
    expect_refusals(&app, StatusCode::NOT_FOUND, calls).await;
    expect_unauthenticated(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{amy_token}"),
        None,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/me", &amy).await.status(),
        StatusCode::OK,
        "still valid"
    );
    assert_eq!(
        app.get("/api/v1/me", &app.admin_key).await.status(),
        StatusCode::OK
    );
}

/// Who may do what on the agent and token routes (SPEC §6): admin, the agent itself (owner),
/// another agent, an observer (itself and another), and nobody.
async fn the_authorization_matrix_holds(app: TestApp) {
    use StatusCode as S;
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    let admin = app.admin_key.clone();

    // (caller, method, path, expected)
    let mut cases: Vec<(&str, Method, String, StatusCode)> = Vec::new();
    for who in ["admin", "amy", "bob", "olga"] {
        cases.push((who, Method::GET, "/api/v1/me".into(), S::OK));
        cases.push((who, Method::GET, "/api/v1/agents".into(), S::OK));
        cases.push((who, Method::GET, "/api/v1/agents/amy".into(), S::OK));
    }
    let rules: [(&str, [S; 4]); 4] = [
        // route, then the status for: admin, amy (self), bob, olga
        (
            "POST /api/v1/agents",
            [S::CREATED, S::FORBIDDEN, S::FORBIDDEN, S::FORBIDDEN],
        ),
        (
            "PATCH /api/v1/agents/amy",
            [S::OK, S::FORBIDDEN, S::FORBIDDEN, S::FORBIDDEN],
        ),
        (
            "POST /api/v1/agents/amy/tokens",
            [S::CREATED, S::CREATED, S::FORBIDDEN, S::FORBIDDEN],
        ),
        (
            "GET /api/v1/agents/amy/tokens",
            [S::OK, S::OK, S::FORBIDDEN, S::FORBIDDEN],
        ),
    ];
    for (route, expected) in rules {
        let (method, path) = route.split_once(' ').unwrap();
        for (who, status) in ["admin", "amy", "bob", "olga"].into_iter().zip(expected) {
            cases.push((who, method.parse().unwrap(), path.into(), status));
        }
    }
    // An observer manages its own tokens too ("admin or self").
    cases.push((
        "olga",
        Method::POST,
        "/api/v1/agents/olga/tokens".into(),
        S::CREATED,
    ));
    cases.push((
        "olga",
        Method::GET,
        "/api/v1/agents/olga/tokens".into(),
        S::OK,
    ));

    let key_of = |who: &str| match who {
        "admin" => admin.clone(),
        "amy" => amy.clone(),
        "bob" => bob.clone(),
        _ => olga.clone(),
    };
    let mut created = 0;
    for (who, method, path, expected) in cases {
        let mut req = app.request(method.clone(), &path, Some(&key_of(who)));
        if method == Method::POST && path == "/api/v1/agents" {
            created += 1;
            req = req.json(&json!({ "name": format!("new{created}") }));
        } else if method == Method::PATCH {
            req = req.json(&json!({ "display_name": format!("by {who}") }));
        } else if method == Method::POST {
            req = req.json(&json!({}));
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), expected, "{who}: {method} {path}");
        // Anonymous callers are refused everywhere.
        let res = app
            .request(method.clone(), &path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), S::UNAUTHORIZED, "anonymous: {method} {path}");
    }

    // DELETE /tokens/{id}: admin or owner 204; another agent or an observer 404.
    for (who, expected) in [
        ("bob", S::NOT_FOUND),
        ("olga", S::NOT_FOUND),
        ("amy", S::NO_CONTENT),
        ("admin", S::NO_CONTENT),
    ] {
        let id = app.create_token(&admin, "amy", json!({})).await["id"].clone();
        let id = id.as_str().unwrap();
        let res = app
            .delete(&format!("/api/v1/tokens/{id}"), &key_of(who))
            .await;
        assert_eq!(res.status(), expected, "{who}: DELETE /tokens/{{amy's}}");
        let tokens = tokens_of(&app, "amy").await;
        let token = tokens.iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(
            token["revoked_at"].is_string(),
            expected == S::NO_CONTENT,
            "{who}: {token}"
        );
    }
    let olga_token = app.create_token(&olga, "olga", json!({})).await;
    let res = app
        .delete(
            &format!("/api/v1/tokens/{}", olga_token["id"].as_str().unwrap()),
            &olga,
        )
        .await;
    assert_eq!(
        res.status(),
        S::NO_CONTENT,
        "an observer revokes its own token"
    );
}

crate::on_both_backends!(
    tokens_are_created_by_an_admin_or_the_agent_itself,
    create_token_refuses_bad_input_and_unknown_agents,
    token_lists_never_show_keys,
    token_lists_page_with_a_cursor,
    tokens_are_revoked_by_their_owner_or_an_admin,
    revoking_what_the_caller_may_not_see_is_not_found,
    the_authorization_matrix_holds,
);
