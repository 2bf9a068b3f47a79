//! Authentication (SPEC §4): the token exchange `POST /api/v1/auth/token` in all its input
//! forms and refusals, the JWTs it mints (claims, forgeries, expiry, revocation, rotation of
//! the secret), and `last_used_at` of API keys.

use agenthub::app::App;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{Backend, JWT_SECRET, TestApp, expect_error, spawn_app_with, test_settings};

const TOKEN_PATH: &str = "/api/v1/auth/token";
/// A well-formed API key that no agent holds.
const UNKNOWN_KEY: &str = "ahk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A `POST /api/v1/auth/token` request with no credential yet.
fn exchange(app: &TestApp) -> RequestBuilder {
    app.request(Method::POST, TOKEN_PATH, None)
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request sent")
}

/// `GET /api/v1/me` with `credential`, returning the status.
async fn me_status(app: &TestApp, credential: &str) -> StatusCode {
    app.get("/api/v1/me", credential).await.status()
}

/// The calling agent, as `GET /me` shows it.
async fn me(app: &TestApp, credential: &str) -> Value {
    let res = app.get("/api/v1/me", credential).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Creates an agent and an API token for it; returns the key and the token's id.
async fn agent_with_token(app: &TestApp, name: &str, role: &str) -> (String, String) {
    let key = app.create_agent(name, role).await;
    let tokens = list_tokens(app, name).await;
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    (key, id)
}

/// Another token for `name`, created by the admin: its key and id.
async fn new_token(app: &TestApp, name: &str, body: Value) -> (String, String) {
    let res = app
        .post(
            &format!("/api/v1/agents/{name}/tokens"),
            &app.admin_key,
            body,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token: Value = res.json().await.unwrap();
    (
        token["key"].as_str().unwrap().to_owned(),
        token["id"].as_str().unwrap().to_owned(),
    )
}

async fn list_tokens(app: &TestApp, name: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/agents/{name}/tokens"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["tokens"]
        .as_array()
        .unwrap()
        .clone()
}

async fn set_disabled(app: &TestApp, name: &str, disabled: bool) {
    let res = app
        .patch(
            &format!("/api/v1/agents/{name}"),
            &app.admin_key,
            json!({ "disabled": disabled }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn revoke(app: &TestApp, token_id: &str) {
    let res = app
        .delete(&format!("/api/v1/tokens/{token_id}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
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

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The header and the claims of a JWT, unverified.
fn parts_of(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialization");
    (decode_part(parts[0]), decode_part(parts[1]))
}

/// Signs `claims` with `secret` using `alg` (an HMAC algorithm), with no `kid`.
fn sign(alg: Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing")
}

/// Claims of a genuine JWT of `key`'s agent, ready to be altered and re-signed.
async fn genuine_claims(app: &TestApp, key: &str) -> Value {
    parts_of(&app.jwt(key).await).1
}

async fn expect_refused(app: &TestApp, jwt: &str) {
    expect_error(
        app.get("/api/v1/me", jwt).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

fn now() -> i64 {
    Utc::now().timestamp()
}

// --- The exchange: input forms ---------------------------------------------------------

async fn the_exchange_takes_the_key_as_a_bearer_credential(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let body = expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;

    let agent = &body["agent"];
    let fields: Vec<&String> = agent.as_object().unwrap().keys().collect();
    for field in [
        "id",
        "name",
        "display_name",
        "role",
        "created_at",
        "disabled",
    ] {
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

    // Another agent's name as the user: refused.
    app.create_agent("bob", "agent").await;
    let res = send(exchange(&app).basic_auth("bob", Some(&key))).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Basic with no password, or with garbage, carries no key.
    let res = send(exchange(&app).basic_auth("amy", None::<&str>)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = send(exchange(&app).header("Authorization", "Basic %%%not-base64")).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
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

    let res = send(exchange(&app).form(&[
        ("grant_type", "client_credentials"),
        ("client_secret", key.as_str()),
    ]))
    .await;
    expect_issued(res, "amy").await;

    let res = send(exchange(&app).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "amy"),
        ("client_secret", key.as_str()),
    ]))
    .await;
    expect_issued(res, "amy").await;

    // A client_id naming another agent, or none at all, is refused.
    for client_id in ["bob", "nobody", "AMY"] {
        let res = send(exchange(&app).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", key.as_str()),
        ]))
        .await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

// --- The exchange: refusals -------------------------------------------------------------

async fn an_exchange_without_a_key_is_unauthorized(app: TestApp) {
    let attempts = [
        exchange(&app),
        exchange(&app).json(&json!({})),
        exchange(&app).form(&[("grant_type", "client_credentials")]),
        exchange(&app).form(&[("grant_type", "client_credentials"), ("client_id", "admin")]),
        exchange(&app).header("Authorization", "Bearer "),
        // Something that is not an API key at all (a JWT is not exchanged for a JWT).
        exchange(&app).bearer_auth("not-a-key"),
    ];
    for req in attempts {
        expect_error(send(req).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

async fn an_unknown_key_is_unauthorized_in_every_form(app: TestApp) {
    let attempts = [
        exchange(&app).bearer_auth(UNKNOWN_KEY),
        exchange(&app).basic_auth("admin", Some(UNKNOWN_KEY)),
        exchange(&app).json(&json!({ "api_key": UNKNOWN_KEY })),
        exchange(&app).form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", UNKNOWN_KEY),
        ]),
        // The admin's key with one character changed.
        exchange(&app).bearer_auth(format!("{}x", &app.admin_key[..app.admin_key.len() - 1])),
    ];
    for req in attempts {
        expect_error(send(req).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

async fn a_revoked_key_is_unauthorized(app: TestApp) {
    let (key, id) = agent_with_token(&app, "amy", "agent").await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;
    revoke(&app, &id).await;
    let res = send(exchange(&app).bearer_auth(&key)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = send(exchange(&app).json(&json!({ "api_key": key }))).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn an_expired_key_is_unauthorized(app: TestApp) {
    app.create_agent("amy", "agent").await;
    let (key, id) = new_token(&app, "amy", json!({ "expires_in_days": 1 })).await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;

    expire_in_database(&app, &id).await;
    let res = send(exchange(&app).bearer_auth(&key)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = send(exchange(&app).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "amy"),
        ("client_secret", key.as_str()),
    ]))
    .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn a_disabled_agent_is_unauthorized_until_enabled_again(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    set_disabled(&app, "amy", true).await;
    let res = send(exchange(&app).bearer_auth(&key)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = send(exchange(&app).basic_auth("amy", Some(&key))).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);

    set_disabled(&app, "amy", false).await;
    expect_issued(send(exchange(&app).bearer_auth(&key)).await, "amy").await;
}

async fn another_grant_type_is_a_bad_request(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    for grant in ["password", "authorization_code", "refresh_token", ""] {
        let res =
            send(exchange(&app).form(&[("grant_type", grant), ("client_secret", key.as_str())]))
                .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = send(exchange(&app).json(&json!({ "grant_type": "password", "api_key": key }))).await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
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

// --- The JWT ----------------------------------------------------------------------------

async fn an_issued_jwt_carries_the_documented_header_and_claims(app: TestApp) {
    let (key, token_id) = agent_with_token(&app, "amy", "observer").await;
    let amy = me(&app, &key).await;
    let before = now();
    let jwt = app.jwt(&key).await;
    let (header, claims) = parts_of(&jwt);

    assert_eq!(header["alg"], "HS256", "{header}");
    assert!(
        header["kid"].as_str().is_some_and(|k| !k.is_empty()),
        "{header}"
    );
    assert_eq!(claims["sub"], amy["id"], "{claims}");
    assert_eq!(claims["name"], "amy");
    assert_eq!(claims["role"], "observer");
    assert_eq!(claims["tid"], token_id.as_str());
    assert_eq!(claims["iss"], "agenthub");
    assert_eq!(claims["aud"], "agenthub", "aud is a string: {claims}");
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((before - 1..=now() + 1).contains(&iat), "{claims}");
    assert_eq!(exp - iat, 900);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    // Every JWT is its own: a second one has another jti.
    let (_, again) = parts_of(&app.jwt(&key).await);
    assert_ne!(again["jti"], claims["jti"]);
    // The secret never shows up in the token.
    assert!(!jwt.contains(JWT_SECRET));
}

async fn a_jwt_signed_with_the_right_secret_and_claims_is_accepted(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let mut claims = genuine_claims(&app, &key).await;
    claims["jti"] = json!(uuid::Uuid::new_v4());
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 300);
    let jwt = sign(Algorithm::HS256, &claims, JWT_SECRET);
    assert_eq!(me(&app, &jwt).await["name"], "amy");
}

async fn an_unsigned_jwt_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let genuine = app.jwt(&key).await;
    let signature = genuine.split('.').nth(2).unwrap();
    let mut claims = parts_of(&genuine).1;
    claims["role"] = json!("admin");
    let payload = b64(claims.to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({ "alg": alg, "typ": "JWT" }).to_string().as_bytes());
        expect_refused(&app, &format!("{header}.{payload}.")).await;
        expect_refused(&app, &format!("{header}.{payload}")).await;
        expect_refused(&app, &format!("{header}.{payload}.{signature}")).await;
    }
}

async fn a_jwt_with_another_algorithm_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let claims = genuine_claims(&app, &key).await;
    // Correct secret and claims, but not HS256.
    for alg in [Algorithm::HS512, Algorithm::HS384] {
        expect_refused(&app, &sign(alg, &claims, JWT_SECRET)).await;
    }
    // An HS256 signature under a header that claims HS512.
    let genuine = sign(Algorithm::HS256, &claims, JWT_SECRET);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[0] = b64(json!({ "alg": "HS512", "typ": "JWT" })
        .to_string()
        .as_bytes());
    expect_refused(&app, &parts.join(".")).await;
}

async fn a_tampered_jwt_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let genuine = app.jwt(&key).await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut claims = decode_part(&parts[1]);
    claims["role"] = json!("admin");
    parts[1] = b64(claims.to_string().as_bytes());
    let forged = parts.join(".");
    expect_refused(&app, &forged).await;
    expect_error(
        app.get("/api/v1/audit", &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Moving the expiry is tampering too, and so is a damaged signature.
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut claims = decode_part(&parts[1]);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    parts[1] = b64(claims.to_string().as_bytes());
    expect_refused(&app, &parts.join(".")).await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[2] = b64(&[0u8; 32]);
    expect_refused(&app, &parts.join(".")).await;
    // The genuine token still works.
    assert_eq!(me(&app, &genuine).await["role"], "agent");
}

async fn a_jwt_signed_with_another_secret_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let claims = genuine_claims(&app, &key).await;
    for secret in [
        "another-secret-0123456789abcdef0123456789",
        "",
        "test-secret",
    ] {
        expect_refused(&app, &sign(Algorithm::HS256, &claims, secret)).await;
    }
}

async fn a_jwt_for_another_audience_or_issuer_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let claims = genuine_claims(&app, &key).await;
    let changes = [
        ("aud", json!("someone-else")),
        ("aud", json!("")),
        ("iss", json!("evil")),
        ("iss", json!("AgentHub")),
    ];
    for (claim, value) in changes {
        let mut altered = claims.clone();
        altered[claim] = value;
        expect_refused(&app, &sign(Algorithm::HS256, &altered, JWT_SECRET)).await;
    }
    // Required claims may not be left out.
    for claim in ["aud", "iss", "exp", "sub", "tid"] {
        let mut altered = claims.clone();
        altered.as_object_mut().unwrap().remove(claim);
        expect_refused(&app, &sign(Algorithm::HS256, &altered, JWT_SECRET)).await;
    }
}

async fn an_expired_jwt_is_refused(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let mut claims = genuine_claims(&app, &key).await;
    claims["iat"] = json!(now() - 905);
    claims["exp"] = json!(now() - 5);
    expect_refused(&app, &sign(Algorithm::HS256, &claims, JWT_SECRET)).await;
    // The same claims with a future expiry pass: it was the expiry that was refused.
    claims["exp"] = json!(now() + 60);
    assert_eq!(
        me(&app, &sign(Algorithm::HS256, &claims, JWT_SECRET)).await["name"],
        "amy"
    );
}

async fn a_jwt_naming_another_agent_than_its_token_is_refused(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let admin_id = me(&app, &app.admin_key).await["id"].clone();
    // Amy's token id with the admin as the subject.
    let mut claims = genuine_claims(&app, &amy).await;
    claims["sub"] = admin_id;
    claims["name"] = json!("admin");
    claims["role"] = json!("admin");
    expect_refused(&app, &sign(Algorithm::HS256, &claims, JWT_SECRET)).await;
    // A token id that does not exist.
    let mut claims = genuine_claims(&app, &amy).await;
    claims["tid"] = json!(uuid::Uuid::now_v7());
    expect_refused(&app, &sign(Algorithm::HS256, &claims, JWT_SECRET)).await;
}

async fn a_jwt_of_a_revoked_token_is_refused_before_it_expires(app: TestApp) {
    let (key, id) = agent_with_token(&app, "amy", "agent").await;
    let (other_key, _) = new_token(&app, "amy", json!({ "name": "spare" })).await;
    let jwt = app.jwt(&key).await;
    let other_jwt = app.jwt(&other_key).await;
    assert_eq!(me_status(&app, &jwt).await, StatusCode::OK);

    revoke(&app, &id).await;
    expect_refused(&app, &jwt).await;
    // Only JWTs minted from that token die; the agent's other token lives on.
    assert_eq!(me_status(&app, &other_jwt).await, StatusCode::OK);
    assert_eq!(me_status(&app, &other_key).await, StatusCode::OK);
}

async fn a_jwt_of_a_disabled_agent_is_refused_before_it_expires(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let jwt = app.jwt(&key).await;
    let bob_jwt = app.jwt(&bob).await;
    assert_eq!(me_status(&app, &jwt).await, StatusCode::OK);

    set_disabled(&app, "amy", true).await;
    expect_refused(&app, &jwt).await;
    assert_eq!(me_status(&app, &bob_jwt).await, StatusCode::OK);
    // Enabling the agent again makes its unexpired JWT usable again: no stale state.
    set_disabled(&app, "amy", false).await;
    assert_eq!(me_status(&app, &jwt).await, StatusCode::OK);
}

async fn using_a_key_records_last_used_at(app: TestApp) {
    let (key, id) = agent_with_token(&app, "amy", "agent").await;
    let token = |tokens: Vec<Value>| tokens.into_iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(
        token(list_tokens(&app, "amy").await)["last_used_at"],
        Value::Null
    );

    let before = Utc::now() - Duration::seconds(1);
    assert_eq!(me_status(&app, &key).await, StatusCode::OK);
    let used = token(list_tokens(&app, "amy").await)["last_used_at"].clone();
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
    let t = list_tokens(&app, "amy")
        .await
        .into_iter()
        .find(|t| t["id"] == id2.as_str())
        .unwrap();
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
    an_issued_jwt_carries_the_documented_header_and_claims,
    a_jwt_signed_with_the_right_secret_and_claims_is_accepted,
    an_unsigned_jwt_is_refused,
    a_jwt_with_another_algorithm_is_refused,
    a_tampered_jwt_is_refused,
    a_jwt_signed_with_another_secret_is_refused,
    a_jwt_for_another_audience_or_issuer_is_refused,
    an_expired_jwt_is_refused,
    a_jwt_naming_another_agent_than_its_token_is_refused,
    a_jwt_of_a_revoked_token_is_refused_before_it_expires,
    a_jwt_of_a_disabled_agent_is_refused_before_it_expires,
    using_a_key_records_last_used_at,
);

// --- Secret rotation: several servers on one database -----------------------------------

const SECRET_A: &str = "rotation-secret-A-0123456789abcdef01234567";
const SECRET_B: &str = "rotation-secret-B-fedcba9876543210fedcba98";

/// Another server on `app`'s database (already bootstrapped), with the given secrets.
struct ExtraServer {
    base: String,
    http: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ExtraServer {
    async fn start(app: &TestApp, secret: &str, old: Option<&str>) -> ExtraServer {
        let mut settings = test_settings(&app.db);
        settings.secrets.jwt_secret = Some(secret.into());
        settings.secrets.jwt_secret_old = old.map(Into::into);
        let server = App::build(settings).await.expect("app builds");
        assert!(
            server.bootstrap_key.is_none(),
            "the database is already bootstrapped"
        );
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run_until(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        ExtraServer {
            base,
            http: reqwest::Client::new(),
            stop,
            task,
        }
    }

    async fn me_status(&self, credential: &str) -> StatusCode {
        self.http
            .get(format!("{}/api/v1/me", self.base))
            .bearer_auth(credential)
            .send()
            .await
            .expect("request sent")
            .status()
    }

    async fn jwt(&self, key: &str) -> String {
        let res = self
            .http
            .post(format!("{}{TOKEN_PATH}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn rotation_keeps_the_old_secret_valid_until_it_is_dropped(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.secrets.jwt_secret = Some(SECRET_A.into())).await;
    let old_jwt = app.jwt(&app.admin_key).await;
    assert_eq!(me_status(&app, &old_jwt).await, StatusCode::OK);

    // Mid-rotation: signs with B, still verifies A.
    let rotating = ExtraServer::start(&app, SECRET_B, Some(SECRET_A)).await;
    assert_eq!(rotating.me_status(&old_jwt).await, StatusCode::OK);
    let new_jwt = rotating.jwt(&app.admin_key).await;
    assert_eq!(rotating.me_status(&new_jwt).await, StatusCode::OK);
    assert_ne!(parts_of(&new_jwt).0["kid"], parts_of(&old_jwt).0["kid"]);
    // A server that knows only A does not accept what B signed.
    assert_eq!(me_status(&app, &new_jwt).await, StatusCode::UNAUTHORIZED);
    rotating.stop().await;

    // Rotation finished: only B.
    let rotated = ExtraServer::start(&app, SECRET_B, None).await;
    assert_eq!(rotated.me_status(&old_jwt).await, StatusCode::UNAUTHORIZED);
    assert_eq!(rotated.me_status(&new_jwt).await, StatusCode::OK);
    assert_eq!(rotated.me_status(&app.admin_key).await, StatusCode::OK);
    rotated.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_old_secret_valid_until_it_is_dropped_postgres() {
    rotation_keeps_the_old_secret_valid_until_it_is_dropped(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_old_secret_valid_until_it_is_dropped_sqlite() {
    rotation_keeps_the_old_secret_valid_until_it_is_dropped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_lifetime_follows_jwt_ttl_seconds() {
    let app = spawn_app_with(Backend::Postgres, |s| s.jwt_ttl_seconds = 120).await;
    let res = send(exchange(&app).bearer_auth(&app.admin_key)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 120, "{body}");
    let (_, claims) = parts_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    app.stop().await;
}
