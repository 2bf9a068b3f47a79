//! Socket.IO authentication (SPEC §4): API-key and JWT handshakes, where the credential may
//! come from, refusals, the socket cap, kicks on revocation and disabling, JWT expiry and
//! `auth:refresh`.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{assert_ok, json_of};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::sio::{Refused, Sio, WAIT};

#[track_caller]
fn assert_error(ack: &Value, code: &str) {
    assert_eq!(ack["ok"], false, "an error ack: {ack}");
    assert_eq!(ack["error"]["code"], code, "ack: {ack}");
    assert!(ack["error"]["message"].is_string(), "ack: {ack}");
}

/// The handshake's `connect_error` message, or a panic if it connected.
async fn refusal(app: &TestApp, auth: Option<Value>, headers: &[(&str, &str)]) -> String {
    match Sio::connect_with(app.addr, auth.clone(), headers).await {
        Err(Refused::ConnectError(m)) => m,
        Err(other) => panic!("{auth:?}: refused with {other:?}, not connect_error"),
        Ok(_) => panic!("{auth:?} / {headers:?} connected"),
    }
}

/// A Socket.IO handshake at a URL of our own (query parameters included): `Ok` when the
/// namespace connect succeeds, else the `connect_error` message.
async fn handshake_at(url: &str, auth: Option<Value>) -> Result<(), String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket upgrade");
    let (mut sink, mut stream) = ws.split();
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.starts_with('0') => {}
        other => panic!("expected an Engine.IO open packet, got {other:?}"),
    }
    let connect = match auth {
        Some(a) => format!("40{a}"),
        None => "40".to_owned(),
    };
    sink.send(Message::text(connect)).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.starts_with("40") {
                    return Ok(());
                }
                if let Some(err) = t.strip_prefix("44") {
                    let v: Value = serde_json::from_str(err).unwrap();
                    return Err(v["message"].as_str().unwrap_or("").to_owned());
                }
            }
            other => panic!("expected a connect answer, got {other:?}"),
        }
    }
}

/// The `exp` claim of a JWT.
fn jwt_exp(jwt: &str) -> i64 {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice::<Value>(&bytes).unwrap()["exp"]
        .as_i64()
        .expect("an exp claim")
}

/// `exp` as the API writes timestamps.
fn rfc3339(exp: i64) -> String {
    chrono::DateTime::from_timestamp(exp, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The local instant of a Unix time in seconds.
fn instant_of(unix: i64) -> Instant {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let delta = unix * 1000 - now_ms;
    if delta >= 0 {
        Instant::now() + Duration::from_millis(delta as u64)
    } else {
        Instant::now() - Duration::from_millis((-delta) as u64)
    }
}

fn until(t: Instant) -> Duration {
    t.saturating_duration_since(Instant::now())
}

async fn token_ids(app: &TestApp, agent: &str) -> Vec<String> {
    let res = app
        .get(&format!("/api/v1/agents/{agent}/tokens"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A further API token of `agent`: (id, key).
async fn second_token(app: &TestApp, agent: &str) -> (String, String) {
    let res = app
        .post(
            &format!("/api/v1/agents/{agent}/tokens"),
            &app.admin_key,
            json!({"name": "second"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let t = json_of(res).await;
    (
        t["id"].as_str().unwrap().to_owned(),
        t["key"].as_str().unwrap().to_owned(),
    )
}

async fn agent_id(app: &TestApp, name: &str) -> String {
    let res = app
        .get(&format!("/api/v1/agents/{name}"), &app.admin_key)
        .await;
    json_of(res).await["id"].as_str().unwrap().to_owned()
}

/// Runs the operator CLI against the app's database, as an operator would while it runs.
async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let (url, dir) = (app.db.url.clone(), app.db.dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_agenthub"))
            .args(&args)
            .current_dir(&dir)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("JWT_SECRET", crate::helpers::JWT_SECRET)
            .env("RUST_LOG", "warn")
            .output()
            .expect("agenthub runs")
    })
    .await
    .unwrap()
}

/// The socket still answers events.
async fn assert_alive(s: &Sio) {
    assert!(!s.is_closed().await, "the socket is still connected");
    let ack = s.emit("presence:set", json!({"status": "online"})).await;
    assert_ok(&ack);
}

async fn api_keys_and_jwts_authenticate_the_handshake_in_auth_or_header(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let via_auth_key = Sio::connect(app.addr, &amy).await;
    let via_auth_jwt = Sio::connect(app.addr, &jwt).await;
    let header_key = format!("Bearer {amy}");
    let header_jwt = format!("Bearer {jwt}");
    let via_header_key = Sio::connect_with(app.addr, None, &[("authorization", &header_key)])
        .await
        .expect("API key in the Authorization header connects");
    let via_header_jwt = Sio::connect_with(app.addr, None, &[("authorization", &header_jwt)])
        .await
        .expect("JWT in the Authorization header connects");
    for (i, s) in [
        &via_auth_key,
        &via_auth_jwt,
        &via_header_key,
        &via_header_jwt,
    ]
    .into_iter()
    .enumerate()
    {
        let ack = s.emit("room:join", json!({"room": "lobby"})).await;
        assert_ok(&ack);
        let members = ack["members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "one agent: {ack}");
        assert_eq!(members[0]["agent"]["name"], "amy");
        assert_eq!(members[0]["connections"], i + 1);
    }
}

async fn a_token_in_the_query_string_is_not_accepted(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let base = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
    for query in [
        format!("&token={amy}"),
        format!("&token={jwt}"),
        format!("&access_token={jwt}"),
        format!("&api_key={amy}"),
        format!("&auth={amy}"),
    ] {
        let url = format!("{base}{query}");
        assert_eq!(
            handshake_at(&url, None).await,
            Err("unauthorized".to_owned()),
            "{query}"
        );
    }
    // The same connection with the token in the auth payload does connect.
    assert_eq!(
        handshake_at(&base, Some(json!({"token": amy}))).await,
        Ok(())
    );
}

async fn handshakes_with_bad_credentials_are_refused_as_unauthorized(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    // Another payload under the original signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"sub":"x","name":"admin","role":"admin","iss":"agenthub","aud":"agenthub","exp":9999999999}"#);
    let tampered = format!("{}.{claims}.{}", parts[0], parts[2]);
    for auth in [
        json!({"token": tampered}),
        json!({"token": ""}),
        json!({"token": 5}),
        json!({"token": format!("Bearer {amy}")}),
        json!({"key": amy}),
    ] {
        assert_eq!(
            refusal(&app, Some(auth.clone()), &[]).await,
            "unauthorized",
            "{auth}"
        );
    }
    let basic = "Basic YW15OnNlY3JldA==";
    assert_eq!(
        refusal(&app, None, &[("authorization", basic)]).await,
        "unauthorized"
    );
}

async fn a_disabled_agent_is_refused_at_the_handshake(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let res = app
        .patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        refusal(&app, Some(json!({"token": amy})), &[]).await,
        "unauthorized"
    );
    assert_eq!(
        refusal(&app, Some(json!({"token": jwt})), &[]).await,
        "unauthorized",
        "a JWT minted before the agent was disabled"
    );
    let header = format!("Bearer {amy}");
    assert_eq!(
        refusal(&app, None, &[("authorization", &header)]).await,
        "unauthorized"
    );
    // Enabled again, the same key connects.
    let res = app
        .patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s = Sio::connect(app.addr, &amy).await;
    assert_alive(&s).await;
}

async fn a_revoked_tokens_key_and_jwts_are_refused_at_the_handshake(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let id = token_ids(&app, "amy").await.remove(0);
    let res = app
        .delete(&format!("/api/v1/tokens/{id}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for token in [&amy, &jwt] {
        assert_eq!(
            refusal(&app, Some(json!({"token": token})), &[]).await,
            "unauthorized"
        );
    }
}

async fn an_agent_over_the_socket_cap_is_refused_with_too_many_connections(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let jwt = app.jwt(&amy).await;
    let first = Sio::connect(app.addr, &amy).await;
    let _second = Sio::connect(app.addr, &jwt).await;
    for token in [&amy, &jwt] {
        assert_eq!(
            refusal(&app, Some(json!({"token": token})), &[]).await,
            "too_many_connections"
        );
    }
    // Other agents are not affected.
    let b1 = Sio::connect(app.addr, &bob).await;
    let _b2 = Sio::connect(app.addr, &bob).await;
    assert_alive(&b1).await;
    // A freed slot can be used again.
    first.close().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match Sio::connect_with(app.addr, Some(json!({"token": amy})), &[]).await {
            Ok(s) => {
                assert_alive(&s).await;
                break;
            }
            Err(Refused::ConnectError(m)) if m == "too_many_connections" => {
                assert!(Instant::now() < deadline, "the slot is freed within 2 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

async fn revoking_a_token_disconnects_its_key_and_jwt_sockets_within_two_seconds(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let id1 = token_ids(&app, "amy").await.remove(0);
    let (_id2, key2) = second_token(&app, "amy").await;
    let jwt1 = app.jwt(&amy).await;
    let jwt2 = app.jwt(&key2).await;
    let k1 = Sio::connect(app.addr, &amy).await;
    let j1 = Sio::connect(app.addr, &jwt1).await;
    let k2 = Sio::connect(app.addr, &key2).await;
    let j2 = Sio::connect(app.addr, &jwt2).await;
    for s in [&k1, &j1, &k2] {
        assert_ok(&s.emit("room:join", json!({"room": "lobby"})).await);
    }
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.emit("room:join", json!({"room": "lobby"})).await);

    let started = Instant::now();
    let res = app
        .delete(&format!("/api/v1/tokens/{id1}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let bound = Duration::from_secs(2);
    assert!(
        k1.closed_within(until(started + bound)).await,
        "the key's socket is kicked within 2 s"
    );
    assert!(
        j1.closed_within(until(started + bound)).await,
        "a JWT minted from it too"
    );
    // The agent's other token keeps its sockets; amy stays present in lobby.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_alive(&k2).await;
    assert_alive(&j2).await;
    b.assert_no_event("presence:leave", Duration::ZERO).await;
    let kicked = app.audit_events("socket-kicked").await;
    assert!(!kicked.is_empty(), "audit socket-kicked");
    assert!(
        kicked.iter().all(|e| e["type"] == "socket-kicked"),
        "{kicked:?}"
    );
}

async fn disabling_an_agent_disconnects_all_its_sockets_within_two_seconds(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let (_id2, key2) = second_token(&app, "amy").await;
    let jwt = app.jwt(&amy).await;
    let header = format!("Bearer {key2}");
    let sockets = [
        Sio::connect(app.addr, &amy).await,
        Sio::connect(app.addr, &jwt).await,
        Sio::connect(app.addr, &key2).await,
        Sio::connect_with(app.addr, None, &[("authorization", &header)])
            .await
            .unwrap(),
    ];
    assert_ok(&sockets[0].emit("room:join", json!({"room": "lobby"})).await);
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.emit("room:join", json!({"room": "lobby"})).await);
    let started = Instant::now();
    let res = app
        .patch(
            "/api/v1/agents/amy",
            &app.admin_key,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for (i, s) in sockets.iter().enumerate() {
        assert!(
            s.closed_within(until(started + Duration::from_secs(2)))
                .await,
            "socket {i} is kicked within 2 s"
        );
    }
    let left = b.next_event("presence:leave").await;
    assert_eq!(left["agent"]["name"], "amy");
    assert_alive(&b).await;
    let amy_id = agent_id(&app, "amy").await;
    let kicked = app.audit_events("socket-kicked").await;
    assert!(
        kicked.iter().any(|e| e["agent_id"] == amy_id.as_str()),
        "a socket-kicked row names amy: {kicked:?}"
    );
}

async fn auth_refresh_rejects_other_agents_api_keys_and_api_key_sockets(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let amy_jwt = app.jwt(&amy).await;
    let bob_jwt = app.jwt(&bob).await;
    let j = Sio::connect(app.addr, &amy_jwt).await;
    assert_error(
        &j.emit("auth:refresh", json!({"token": bob_jwt})).await,
        "forbidden",
    );
    assert_error(
        &j.emit("auth:refresh", json!({"token": amy})).await,
        "bad_request",
    );
    for payload in [json!({}), json!({"token": 5}), json!({"token": null})] {
        assert_error(&j.emit("auth:refresh", payload).await, "bad_request");
    }
    let ack = j.emit("auth:refresh", json!({"token": "not.a.jwt"})).await;
    assert_eq!(ack["ok"], false, "{ack}");
    // An API-key socket cannot refresh, not even with its own agent's JWT.
    let k = Sio::connect(app.addr, &amy).await;
    assert_error(
        &k.emit("auth:refresh", json!({"token": amy_jwt})).await,
        "bad_request",
    );
    // Both sockets are still amy's and still work.
    assert_alive(&j).await;
    assert_alive(&k).await;
    let ack = j.emit("presence:set", json!({"status": "busy"})).await;
    assert_eq!(ack["member"]["agent"]["name"], "amy");
    assert_eq!(ack["member"]["connections"], 2);
}

async fn a_refreshed_socket_follows_the_new_jwts_token_for_revocation(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let id1 = token_ids(&app, "amy").await.remove(0);
    let (id2, key2) = second_token(&app, "amy").await;
    let jwt1 = app.jwt(&amy).await;
    let s = Sio::connect(app.addr, &jwt1).await;
    let jwt2 = app.jwt(&key2).await;
    let ack = s.emit("auth:refresh", json!({"token": jwt2})).await;
    assert_ok(&ack);
    let keys: std::collections::BTreeSet<&str> = ack
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["expires_at", "ok"].into_iter().collect(), "{ack}");
    assert_eq!(ack["expires_at"], rfc3339(jwt_exp(&jwt2)));
    // Revoking the first token no longer concerns this socket.
    let res = app
        .delete(&format!("/api/v1/tokens/{id1}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        !s.closed_within(Duration::from_millis(1500)).await,
        "not kicked"
    );
    assert_alive(&s).await;
    // Revoking the one it follows now does.
    let started = Instant::now();
    let res = app
        .delete(&format!("/api/v1/tokens/{id2}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        s.closed_within(until(started + Duration::from_secs(2)))
            .await,
        "kicked within 2 s"
    );
}

async fn a_handshake_from_a_foreign_origin_is_refused_with_403(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let auth = Some(json!({"token": amy}));
    match Sio::connect_with(app.addr, auth.clone(), &[("origin", "http://evil.example")]).await {
        Err(Refused::Http(status)) => assert_eq!(status, 403),
        Err(other) => panic!("refused with {other:?}, not HTTP 403"),
        Ok(_) => panic!("a foreign origin connected"),
    }
    // The same origin, and no Origin at all (agents), are allowed.
    let same = format!("http://{}", app.addr);
    let s = Sio::connect_with(app.addr, auth.clone(), &[("origin", &same)])
        .await
        .expect("same origin connects");
    assert_alive(&s).await;
    let s = Sio::connect_with(app.addr, auth, &[])
        .await
        .expect("no Origin connects");
    assert_alive(&s).await;
}

/// JWT expiry with `JWT_TTL_SECONDS=10`: warned at once, disconnected at expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_socket_is_warned_at_once_and_disconnected_at_expiry() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.jwt_ttl_seconds = 10).await;
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let jwt = app.jwt(&amy).await;
    let exp = jwt_exp(&jwt);
    let expiry = instant_of(exp);
    let j = Sio::connect(app.addr, &jwt).await;
    let connected = Instant::now();
    let k = Sio::connect(app.addr, &amy).await;
    assert_ok(&j.emit("room:join", json!({"room": "lobby"})).await);
    let b = Sio::connect(app.addr, &bob).await;
    assert_ok(&b.emit("room:join", json!({"room": "lobby"})).await);

    let warning = j.next_event("auth:expiring").await;
    assert!(
        connected.elapsed() < Duration::from_secs(2),
        "10 s left: auth:expiring at once, not after {:?}",
        connected.elapsed()
    );
    assert_eq!(warning, json!({"expires_at": rfc3339(exp)}));
    k.assert_no_event("auth:expiring", Duration::ZERO).await;

    // Still connected shortly before expiry...
    tokio::time::sleep(until(expiry - Duration::from_millis(1500))).await;
    assert_alive(&j).await;
    // ...and disconnected at it.
    assert!(
        j.closed_within(until(expiry + Duration::from_millis(1500)))
            .await,
        "disconnected at expiry"
    );
    let left = b.next_event("presence:leave").await;
    assert_eq!(left["agent"]["name"], "amy");
    // The API-key socket does not expire.
    tokio::time::sleep(until(expiry + Duration::from_millis(1500))).await;
    assert_alive(&k).await;
    k.assert_no_event("auth:expiring", Duration::ZERO).await;
}

/// An expired JWT is refused at the handshake from its `exp` on (RFC 7519: "on or after").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_jwt_is_refused_at_the_handshake_from_its_expiry_on() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.jwt_ttl_seconds = 10).await;
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let expiry = instant_of(jwt_exp(&jwt));
    // Valid until then.
    tokio::time::sleep(until(expiry - Duration::from_millis(1500))).await;
    let s = Sio::connect(app.addr, &jwt).await;
    assert!(
        s.closed_within(until(expiry + Duration::from_millis(1500)))
            .await
    );
    // Just past `exp` (as a socket disconnected at expiry would try to reconnect)...
    tokio::time::sleep(until(expiry + Duration::from_millis(100))).await;
    assert_eq!(
        refusal(&app, Some(json!({"token": jwt})), &[]).await,
        "unauthorized",
        "a JWT is expired at its exp, not a second later"
    );
    // ...and later.
    tokio::time::sleep(until(expiry + Duration::from_millis(1200))).await;
    assert_eq!(
        refusal(&app, Some(json!({"token": jwt})), &[]).await,
        "unauthorized"
    );
    let res = app.get("/api/v1/me", &jwt).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Revoking a token and disabling an agent with the CLI (behind the server's back) reach
/// live sockets within 60 s through the periodic re-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revocations_and_disables_disconnect_live_sockets_within_60_seconds() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let amy = app.create_agent("amy", "agent").await;
    let bob = app.create_agent("bob", "agent").await;
    let carl = app.create_agent("carl", "agent").await;
    let amy_token = token_ids(&app, "amy").await.remove(0);
    let amy_jwt = app.jwt(&amy).await;
    let a_key = Sio::connect(app.addr, &amy).await;
    let a_jwt = Sio::connect(app.addr, &amy_jwt).await;
    let b = Sio::connect(app.addr, &bob).await;
    let c = Sio::connect(app.addr, &carl).await;
    let out = cli(&app, &["token", "revoke", &amy_token]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&app, &["agent", "disable", "bob"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bound = Instant::now() + Duration::from_secs(61);
    for (name, s) in [("amy's key", &a_key), ("amy's JWT", &a_jwt), ("bob's", &b)] {
        assert!(
            s.closed_within(until(bound)).await,
            "{name} socket is disconnected within 60 s of the CLI change"
        );
    }
    assert_alive(&c).await;
    let kicked = app.audit_events("socket-kicked").await;
    assert!(!kicked.is_empty(), "audit socket-kicked: {kicked:?}");
}

/// `auth:refresh` with a fresh JWT keeps the socket past its first JWT's expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_jwt_socket_outlives_its_first_expiry() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.jwt_ttl_seconds = 10).await;
    let amy = app.create_agent("amy", "agent").await;
    let jwt1 = app.jwt(&amy).await;
    let exp1 = jwt_exp(&jwt1);
    let s = Sio::connect(app.addr, &jwt1).await;
    assert_eq!(
        s.next_event("auth:expiring").await,
        json!({"expires_at": rfc3339(exp1)})
    );
    // A JWT minted at least three seconds later expires at least three seconds later.
    tokio::time::sleep(until(
        instant_of(exp1 - 10 + 3) + Duration::from_millis(100),
    ))
    .await;
    let jwt2 = app.jwt(&amy).await;
    let exp2 = jwt_exp(&jwt2);
    assert!(exp2 >= exp1 + 3, "{exp1} then {exp2}");
    let ack = s.emit("auth:refresh", json!({"token": jwt2})).await;
    assert_ok(&ack);
    assert_eq!(ack["expires_at"], rfc3339(exp2));
    // Still within 60 s of the new expiry: warned again, about the new one.
    assert_eq!(
        s.next_event("auth:expiring").await,
        json!({"expires_at": rfc3339(exp2)})
    );
    // Past the first expiry, the socket is still there and works.
    tokio::time::sleep(until(instant_of(exp1) + Duration::from_millis(1000))).await;
    assert_alive(&s).await;
    // It ends at the second.
    assert!(
        s.closed_within(until(instant_of(exp2) + Duration::from_millis(1500)))
            .await,
        "disconnected at the refreshed expiry"
    );
}

/// The periodic re-check is part of every server start, not of most: many servers, each
/// with a socket whose token the CLI revokes; every one of those sockets goes within 60 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_server_start_runs_the_periodic_credential_recheck() {
    const SERVERS: usize = 30;
    let apps = futures_util::future::join_all(
        (0..SERVERS).map(|_| spawn_app_with(Backend::Sqlite, |_| {})),
    )
    .await;
    let sockets = futures_util::future::join_all(apps.iter().map(|app| async move {
        let amy = app.create_agent("amy", "agent").await;
        let id = token_ids(app, "amy").await.remove(0);
        let s = Sio::connect(app.addr, &amy).await;
        let out = cli(app, &["token", "revoke", &id]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }))
    .await;
    let bound = Instant::now() + Duration::from_secs(61);
    let mut still_connected = Vec::new();
    for (i, s) in sockets.iter().enumerate() {
        if !s.closed_within(until(bound)).await {
            still_connected.push(i);
        }
    }
    assert!(
        still_connected.is_empty(),
        "servers {still_connected:?} of {SERVERS} kept a socket whose token the CLI revoked \
         for over 60 s"
    );
}

crate::on_both_backends!(
    api_keys_and_jwts_authenticate_the_handshake_in_auth_or_header,
    a_handshake_from_a_foreign_origin_is_refused_with_403,
    a_token_in_the_query_string_is_not_accepted,
    handshakes_with_bad_credentials_are_refused_as_unauthorized,
    a_disabled_agent_is_refused_at_the_handshake,
    a_revoked_tokens_key_and_jwts_are_refused_at_the_handshake,
    revoking_a_token_disconnects_its_key_and_jwt_sockets_within_two_seconds,
    disabling_an_agent_disconnects_all_its_sockets_within_two_seconds,
    auth_refresh_rejects_other_agents_api_keys_and_api_key_sockets,
    a_refreshed_socket_follows_the_new_jwts_token_for_revocation,
);

crate::on_both_backends_with!(
    with_two_sockets_per_agent,
    |s| s.max_sockets_per_agent = 2,
    [an_agent_over_the_socket_cap_is_refused_with_too_many_connections]
);
