//! JWT sockets over time (SPEC §4): `auth:refresh` (what it refuses, and a refreshed socket
//! following its new token), `auth:expiring` at once when little time is left, the disconnect
//! at expiry, and expired JWTs refused at the handshake from their `exp` on.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::jwt::{instant_of, jwt_exp, rfc3339, until};
use crate::support::sio::token_refusal;
use crate::support::*;

async fn auth_refresh_rejects_other_agents_api_keys_and_api_key_sockets(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let amy_jwt = app.jwt(&amy).await;
    let bob_jwt = app.jwt(&bob).await;
    let j = Sio::connect(app.addr, &amy_jwt).await;
    assert_error(
        &j.emit("auth:refresh", json!({"token": bob_jwt})).await,
        "forbidden",
    );
    let bad = [
        json!({"token": amy}),
        json!({}),
        json!({"token": 5}),
        json!({"token": null}),
    ];
    expect_ack_errors(&j, "bad_request", bad.map(|p| ("auth:refresh", p))).await;
    let ack = j.emit("auth:refresh", json!({"token": "not.a.jwt"})).await;
    assert_eq!(ack["ok"], false, "{ack}");
    // An API-key socket cannot refresh, not even with its own agent's JWT.
    let k = Sio::connect(app.addr, &amy).await;
    assert_error(
        &k.emit("auth:refresh", json!({"token": amy_jwt})).await,
        "bad_request",
    );
    // Both sockets are still amy's and still work.
    j.assert_alive().await;
    k.assert_alive().await;
    let ack = j.emit("presence:set", json!({"status": "busy"})).await;
    assert_eq!(ack["member"]["agent"]["name"], "amy");
    assert_eq!(ack["member"]["connections"], 2);
}

async fn a_refreshed_socket_follows_the_new_jwts_token_for_revocation(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let id1 = token_ids(&app, "amy").await.remove(0);
    let (key2, id2) = new_token(&app, "amy", json!({"name": "second"})).await;
    let jwt1 = app.jwt(&amy).await;
    let s = Sio::connect(app.addr, &jwt1).await;
    let jwt2 = app.jwt(&key2).await;
    let ack = s.emit("auth:refresh", json!({"token": jwt2})).await;
    assert_ok(&ack);
    assert_eq!(keys(&ack), key_set(&["expires_at", "ok"]), "{ack}");
    assert_eq!(ack["expires_at"], rfc3339(jwt_exp(&jwt2)));
    // Revoking the first token no longer concerns this socket.
    revoke_token(&app, &id1).await;
    assert!(
        !s.closed_within(Duration::from_millis(1500)).await,
        "not kicked"
    );
    s.assert_alive().await;
    // Revoking the one it follows now does.
    let started = Instant::now();
    revoke_token(&app, &id2).await;
    assert!(
        s.closed_within(until(started + Duration::from_secs(2)))
            .await,
        "kicked within 2 s"
    );
}

/// JWT expiry with `JWT_TTL_SECONDS=10`: warned at once, disconnected at expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_socket_is_warned_at_once_and_disconnected_at_expiry() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.jwt_ttl_seconds = 10).await;
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let jwt = app.jwt(&amy).await;
    let exp = jwt_exp(&jwt);
    let expiry = instant_of(exp);
    let j = Sio::connect(app.addr, &jwt).await;
    let connected = Instant::now();
    let k = Sio::connect(app.addr, &amy).await;
    join(&j, "lobby").await;
    let b = joined(&app, &bob, "lobby").await;

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
    j.assert_alive().await;
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
    k.assert_alive().await;
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
        token_refusal(app.addr, &jwt).await,
        "unauthorized",
        "a JWT is expired at its exp, not a second later"
    );
    // ...and later.
    tokio::time::sleep(until(expiry + Duration::from_millis(1200))).await;
    assert_eq!(token_refusal(app.addr, &jwt).await, "unauthorized");
    let res = app.get("/api/v1/me", &jwt).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
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
    s.assert_alive().await;
    // It ends at the second.
    assert!(
        s.closed_within(until(instant_of(exp2) + Duration::from_millis(1500)))
            .await,
        "disconnected at the refreshed expiry"
    );
}

crate::on_both_backends!(
    auth_refresh_rejects_other_agents_api_keys_and_api_key_sockets,
    a_refreshed_socket_follows_the_new_jwts_token_for_revocation,
);
