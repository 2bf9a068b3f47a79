//! The JWTs the token exchange mints (SPEC §4): their header and claims, every forgery
//! (unsigned, another algorithm, tampered, another secret, audience, issuer, expiry, subject)
//! refused, JWTs of revoked tokens and disabled agents refused before they expire, rotation
//! of the secret across servers on one database, and `JWT_TTL_SECONDS`.

use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{Running, test_settings};
use crate::support::jwt::{b64, decode_part, now, parts_of, sign};
use crate::support::*;

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

async fn an_issued_jwt_carries_the_documented_header_and_claims(app: TestApp) {
    let (key, token_id) = app.create_agent_with_token("amy", "observer").await;
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
    let (key, id) = app.create_agent_with_token("amy", "agent").await;
    let (other_key, _) = new_token(&app, "amy", json!({ "name": "spare" })).await;
    let jwt = app.jwt(&key).await;
    let other_jwt = app.jwt(&other_key).await;
    assert_eq!(me_status(&app, &jwt).await, StatusCode::OK);

    revoke_token(&app, &id).await;
    expect_refused(&app, &jwt).await;
    // Only JWTs minted from that token die; the agent's other token lives on.
    assert_eq!(me_status(&app, &other_jwt).await, StatusCode::OK);
    assert_eq!(me_status(&app, &other_key).await, StatusCode::OK);
}

async fn a_jwt_of_a_disabled_agent_is_refused_before_it_expires(app: TestApp) {
    let [key, bob] = app.create_agents(["amy", "bob"]).await;
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

crate::on_both_backends!(
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
);

// --- Secret rotation: several servers on one database -----------------------------------

const SECRET_A: &str = "rotation-secret-A-0123456789abcdef01234567";
const SECRET_B: &str = "rotation-secret-B-fedcba9876543210fedcba98";

/// Another server on `app`'s database (already bootstrapped), with the given secrets.
struct ExtraServer {
    api: Api,
    server: Running,
}

impl ExtraServer {
    async fn start(app: &TestApp, secret: &str, old: Option<&str>) -> ExtraServer {
        let mut settings = test_settings(&app.db);
        settings.secrets.jwt_secret = Some(secret.into());
        settings.secrets.jwt_secret_old = old.map(Into::into);
        let server = Running::start(settings).await;
        assert!(
            server.bootstrap_key.is_none(),
            "the database is already bootstrapped"
        );
        ExtraServer {
            api: Api::new(format!("http://{}", server.addr)),
            server,
        }
    }

    async fn me_status(&self, credential: &str) -> StatusCode {
        self.api.get("/api/v1/me", credential).await.status()
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

async fn rotation_keeps_the_old_secret_valid_until_it_is_dropped(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.secrets.jwt_secret = Some(SECRET_A.into())).await;
    let old_jwt = app.jwt(&app.admin_key).await;
    assert_eq!(me_status(&app, &old_jwt).await, StatusCode::OK);

    // Mid-rotation: signs with B, still verifies A.
    let rotating = ExtraServer::start(&app, SECRET_B, Some(SECRET_A)).await;
    assert_eq!(rotating.me_status(&old_jwt).await, StatusCode::OK);
    let new_jwt = rotating.api.jwt(&app.admin_key).await;
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

crate::for_each_backend!(
    rotation_keeps_the_old_secret_valid_until_it_is_dropped,
    2,
    rotation_keeps_the_old_secret_valid_until_it_is_dropped_postgres,
    rotation_keeps_the_old_secret_valid_until_it_is_dropped_sqlite
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_lifetime_follows_jwt_ttl_seconds() {
    let app = spawn_app_with(Backend::Postgres, |s| s.jwt_ttl_seconds = 120).await;
    let res = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            Some(&app.admin_key),
        )
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["expires_in"], 120, "{body}");
    let (_, claims) = parts_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    app.stop().await;
}
