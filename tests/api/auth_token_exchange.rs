//! The token exchange `POST /api/v1/auth/token` (SPEC §4): the forms it takes the API key in,
//! the keys and grants it refuses, its audit rows, and `last_used_at` of API keys.

use chrono::{Duration, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::*;

/// A well-formed API key that no agent holds.
const UNKNOWN_KEY: &str = "ahk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A `POST /api/v1/auth/token` request with no credential yet.
fn exchange(app: &TestApp) -> RequestBuilder {
    app.request(Method::POST, "/api/v1/auth/token", None)
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request sent")
}

/// The `client_credentials` form with `client_secret` and, if given, `client_id`.
fn client_credentials(app: &TestApp, client_id: Option<&str>, secret: &str) -> RequestBuilder {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    form.push(("client_secret", secret));
    exchange(app).form(&form)
}

/// Moves a token's `expires_at` an hour into the past, straight in the database.
async fn expire_in_database(app: &TestApp, token_id: &str) {
    use entity::api_tokens;
    let db = Database::connect(&app.db.url).await.expect("database");
    let id = uuid::Uuid::parse_str(token_id).unwrap();
    let past = Utc::now() - Duration::hours(1);
    let res = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::ExpiresAt, Some(past).into())
        .filter(api_tokens::Column::Id.eq(id))
        .exec(&db)
        .await
        .expect("update expires_at");
    assert_eq!(res.rows_affected, 1);
    db.close().await.ok();
}

/// Asserts a successful exchange and its body; returns the body.
async fn expect_issued(res: Response, agent: &str) -> Value {
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["agent"]["name"], agent, "{body}");
    body
}

async fn the_exchange_takes_the_key_as_a_bearer_credential(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let body = expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;

    let agent = &body["agent"];
    let fields: Vec<&String> = agent.as_object().unwrap().keys().collect();
    for field in AGENT_FIELDS {
        assert!(agent.get(field).is_some(), "agent lacks {field}: {agent}");
    }
    assert_eq!(
        fields.len(),
        6,
        "exactly the documented agent fields: {agent}"
    );
    assert_eq!(agent["display_name"], "amy");
    assert_eq!(agent["role"], "agent");
    assert_eq!(agent["disabled"], false);
    let created_at = agent["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok());
    assert_eq!(agent["id"], me(&app, &key).await["id"]);

    // The JWT is a credential for the same agent.
    let jwt = body["access_token"].as_str().unwrap();
    assert_eq!(me(&app, jwt).await["name"], "amy");
}

async fn the_exchange_takes_http_basic_with_the_agent_name(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let res = send(exchange(&app).basic_auth("amy", Some(&key))).await;
    let body = expect_issued(res, "amy").await;
    assert_eq!(
        me(&app, body["access_token"].as_str().unwrap()).await["name"],
        "amy"
    );

    app.create_agent("bob", "agent").await;
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            // Another agent's name as the user: refused.
            exchange(&app).basic_auth("bob", Some(&key)),
            // Basic with no password, or with garbage, carries no key.
            exchange(&app).basic_auth("amy", None::<&str>),
            exchange(&app).header("Authorization", "Basic %%%not-base64"),
        ],
    )
    .await;
}

async fn the_exchange_takes_a_json_api_key(app: TestApp) {
    let key = app.create_agent("amy", "observer").await;
    let res = send(exchange(&app).json(&json!({ "api_key": key }))).await;
    let body = expect_issued(res, "amy").await;
    assert_eq!(body["agent"]["role"], "observer");
}

async fn the_exchange_takes_the_client_credentials_form(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    app.create_agent("bob", "agent").await;

    for client_id in [None, Some("amy")] {
        let res = send(client_credentials(&app, client_id, &key)).await;
        expect_issued(res, "amy").await;
    }

    // A client_id naming another agent, or none at all, is refused.
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        ["bob", "nobody", "AMY"].map(|id| client_credentials(&app, Some(id), &key)),
    )
    .await;
}

async fn an_exchange_without_a_key_is_unauthorized(app: TestApp) {
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            exchange(&app),
            exchange(&app).json(&json!({})),
            exchange(&app).form(&[("grant_type", "client_credentials")]),
            exchange(&app).form(&[("grant_type", "client_credentials"), ("client_id", "admin")]),
            exchange(&app).header("Authorization", "Bearer "),
            // Something that is not an API key at all (a JWT is not exchanged for a JWT).
            exchange(&app).bearer_auth("not-a-key"),
        ],
    )
    .await;
}

async fn an_unknown_key_is_unauthorized_in_every_form(app: TestApp) {
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            exchange(&app).bearer_auth(UNKNOWN_KEY),
            exchange(&app).basic_auth("admin", Some(UNKNOWN_KEY)),
            exchange(&app).json(&json!({ "api_key": UNKNOWN_KEY })),
            client_credentials(&app, None, UNKNOWN_KEY),
            // The admin's key with one character changed.
            exchange(&app).bearer_auth(format!("{}x", &app.admin_key[..app.admin_key.len() - 1])),
        ],
    )
    .await;
}

async fn a_revoked_key_is_unauthorized(app: TestApp) {
    let (key, id) = app.create_agent_with_token("amy", "agent").await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;
    revoke_token(&app, &id).await;
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            exchange(&app).bearer_auth(&key),
            exchange(&app).json(&json!({ "api_key": key })),
        ],
    )
    .await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn an_expired_key_is_unauthorized(app: TestApp) {
    app.create_agent("amy", "agent").await;
    let (key, id) = new_token(&app, "amy", json!({ "expires_in_days": 1 })).await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;

    expire_in_database(&app, &id).await;
    // Written behind the server's back: seen once the row it read for the last use is a
    // second old (SPEC §4 allows state up to 2 s old).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            exchange(&app).bearer_auth(&key),
            client_credentials(&app, Some("amy"), &key),
        ],
    )
    .await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn a_disabled_agent_is_unauthorized_until_enabled_again(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    set_disabled(&app, "amy", true).await;
    expect_refused_requests(
        StatusCode::UNAUTHORIZED,
        [
            exchange(&app).bearer_auth(&key),
            exchange(&app).basic_auth("amy", Some(&key)),
        ],
    )
    .await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);

    set_disabled(&app, "amy", false).await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;
}

async fn another_grant_type_is_a_bad_request(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let mut attempts: Vec<RequestBuilder> = ["password", "authorization_code", "refresh_token", ""]
        .into_iter()
        .map(|grant| exchange(&app).form(&[("grant_type", grant), ("client_secret", key.as_str())]))
        .collect();
    attempts.push(exchange(&app).json(&json!({ "grant_type": "password", "api_key": key })));
    expect_refused_requests(StatusCode::BAD_REQUEST, attempts).await;
}

async fn exchanges_are_audited_with_their_agent(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let amy_id = me(&app, &key).await["id"].clone();
    let issued_before = app.audit_events("jwt-issued").await.len();
    let failed_before = app.audit_events("auth-failed").await.len();

    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;
    let issued = app.audit_events("jwt-issued").await;
    assert_eq!(issued.len(), issued_before + 1);
    assert_eq!(issued[0]["type"], "jwt-issued");
    assert_eq!(issued[0]["agent_id"], amy_id, "{}", issued[0]);
    assert_eq!(issued[0]["ip"], "127.0.0.1", "{}", issued[0]);

    let res = send(exchange(&app).bearer_auth(UNKNOWN_KEY)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let failed = app.audit_events("auth-failed").await;
    assert_eq!(failed.len(), failed_before + 1);
    assert_eq!(failed[0]["type"], "auth-failed");
    // The key belongs to nobody: no agent to blame.
    assert_eq!(failed[0]["agent_id"], Value::Null, "{}", failed[0]);
    assert_eq!(failed[0]["ip"], "127.0.0.1", "{}", failed[0]);

    // Each kind of refusal is audited; a bad grant_type is a bad request, not an auth failure.
    let res = send(exchange(&app)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    set_disabled(&app, "amy", true).await;
    let res = send(exchange(&app).bearer_auth(&key)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.audit_events("auth-failed").await.len(),
        failed_before + 3
    );
    let res = send(exchange(&app).form(&[("grant_type", "password")])).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(
        app.audit_events("auth-failed").await.len(),
        failed_before + 3
    );
    assert_eq!(
        app.audit_events("jwt-issued").await.len(),
        issued_before + 1
    );
}

async fn using_a_key_records_last_used_at(app: TestApp) {
    let (key, id) = app.create_agent_with_token("amy", "agent").await;
    let token = async |id: &str| {
        tokens_of(&app, "amy")
            .await
            .into_iter()
            .find(|t| t["id"] == id)
            .unwrap()
    };
    // Recorded beside the request, not on its path: soon after, not necessarily at once.
    let used_soon = async |id: &str| {
        for _ in 0..100 {
            let t = token(id).await;
            if t["last_used_at"].is_string() {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        token(id).await
    };
    assert_eq!(token(id.as_str()).await["last_used_at"], Value::Null);

    let before = Utc::now() - Duration::seconds(1);
    assert_eq!(me_status(&app, &key).await, StatusCode::OK);
    let used = used_soon(id.as_str()).await["last_used_at"].clone();
    let used = used.as_str().expect("last_used_at set after a use");
    assert!(used.ends_with('Z'), "{used}");
    let used = chrono::DateTime::parse_from_rfc3339(used).unwrap();
    assert!(
        used >= before && used <= Utc::now() + Duration::seconds(1),
        "{used}"
    );

    // The exchange is a use of the key as well.
    let (key2, id2) = new_token(&app, "amy", json!({})).await;
    app.jwt(&key2).await;
    let t = used_soon(id2.as_str()).await;
    assert!(t["last_used_at"].is_string(), "{t}");
}

crate::on_both_backends!(
    the_exchange_takes_the_key_as_a_bearer_credential,
    the_exchange_takes_http_basic_with_the_agent_name,
    the_exchange_takes_a_json_api_key,
    the_exchange_takes_the_client_credentials_form,
    an_exchange_without_a_key_is_unauthorized,
    an_unknown_key_is_unauthorized_in_every_form,
    a_revoked_key_is_unauthorized,
    an_expired_key_is_unauthorized,
    a_disabled_agent_is_unauthorized_until_enabled_again,
    another_grant_type_is_a_bad_request,
    exchanges_are_audited_with_their_agent,
    using_a_key_records_last_used_at,
);
