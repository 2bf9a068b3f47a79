//! How sockets get in and how they end (SPEC §4, §7, §10), seen on the wire by a raw client:
//! successful handshakes from one address are never capped, refused credentials are; a
//! repeated refused CONNECT writes one audit row; kicks send the Socket.IO DISCONNECT packet
//! (clients do not come back) while shutdown drops the transport without any packet
//! (clients retry by themselves).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::fleet::{Fleet, Library};
use crate::support::*;

/// `RATE_LIMIT_AUTH_FAILURES_PER_MIN` at its default.
async fn app_with_default_failure_quota() -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| s.rate_limit_auth_failures_per_min = 60).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_sockets_of_fifteen_agents_on_one_host_all_connect_at_once() {
    let app = app_with_default_failure_quota().await;
    let mut keys = Vec::new();
    for i in 0..15 {
        keys.push(app.create_agent(&format!("fleet{i}"), "agent").await);
    }
    let connects = (0..300).map(|n| {
        let key = keys[n % keys.len()].clone();
        let addr = app.addr;
        tokio::spawn(async move { Sio::connect_with(addr, Some(json!({"token": key})), &[]).await })
    });
    let mut sockets = Vec::new();
    for connect in connects {
        match connect.await.unwrap() {
            Ok(s) => sockets.push(s),
            Err(refused) => panic!("a fleet socket was refused: {refused:?}"),
        }
    }
    assert_eq!(sockets.len(), 300);
    join(&sockets[299], "fleet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_sixty_refused_credentials_an_address_gets_429_before_any_lookup() {
    let app = app_with_default_failure_quota().await;
    for attempt in 0..60 {
        match Sio::connect_with(app.addr, Some(json!({"token": "ahk_wrong"})), &[]).await {
            Err(Refused::ConnectError(message)) => assert_eq!(message, "unauthorized"),
            other => panic!(
                "attempt {attempt}: expected unauthorized, got {:?}",
                other.err()
            ),
        }
    }
    // The bucket is spent: new sessions (both transports) and token exchanges are refused,
    // a valid key included, until it refills.
    match Sio::connect_with(app.addr, Some(json!({"token": app.admin_key})), &[]).await {
        Err(Refused::Http(status)) => assert_eq!(status, 429),
        other => panic!("expected HTTP 429, got {:?}", other.err()),
    }
    let res = polling_handshake(&app).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // A second later one more attempt is let through (the bucket refills evenly).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        Sio::connect_with(app.addr, Some(json!({"token": app.admin_key})), &[])
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_token_exchanges_spend_the_same_quota() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_limit_auth_failures_per_min = 5).await;
    let wrong = || Call::new(Method::POST, "/api/v1/auth/token", Some("ahk_wrong"));
    expect_refusals(&app, StatusCode::UNAUTHORIZED, (0..5).map(|_| wrong())).await;
    let res = polling_handshake(&app).send().await.unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_repeated_on_one_session_writes_one_audit_row() {
    let app = app_with_default_failure_quota().await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'));
    // socketioxide ignores a CONNECT that arrives while the previous one is still being
    // wound up, so each is sent a moment after the last answer (or after a second without one).
    let mut refusals = 0;
    for _ in 0..20 {
        ws.send(Message::text(r#"40{"token":"ahk_x"}"#))
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                let msg = ws.next().await.unwrap().unwrap();
                let text = msg.to_text().unwrap().to_owned();
                if text.starts_with("44") {
                    return text;
                }
            }
        })
        .await;
        if let Ok(text) = answer {
            assert!(text.contains("unauthorized"), "{text}");
            refusals += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refusals >= 15,
        "most CONNECTs were refused one by one: {refusals}"
    );
    let rows = app.audit_events("auth-failed").await;
    assert_eq!(
        rows.len(),
        1,
        "one auth-failed row per IP per minute: {rows:?}"
    );
    assert_eq!(rows[0]["details"]["route"], "socket.io handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_ends_its_socket_with_a_disconnect_packet() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.create_agent("amy", "agent").await;
    let s = joined(&app, &key, "lobby").await;
    revoke_first_token(&app, "amy").await;
    assert_eq!(
        s.ending_within(Duration::from_secs(2)).await,
        Some(Ending::Disconnect),
        "a kick says so: clients must not reconnect by themselves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_socket_is_kicked_with_a_disconnect_packet() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.create_agent("amy", "agent").await;
    let s = joined(&app, &key, "lobby").await;
    flood(&s, 500);
    assert_eq!(
        s.ending_within(Duration::from_secs(3)).await,
        Some(Ending::Disconnect)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_transports_without_a_close_packet_and_refuses_new_sessions() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.shutdown_timeout_seconds = 3).await;
    let key = app.create_agent("amy", "agent").await;
    let sockets = [
        joined(&app, &key, "lobby").await,
        joined(&app, &key, "lobby").await,
    ];
    let addr = app.addr;
    let http = app.http.clone();
    let base = app.base.clone();
    let stopping = tokio::spawn(app.stop());
    for s in &sockets {
        assert_eq!(
            s.ending_within(Duration::from_secs(2)).await,
            Some(Ending::Dropped),
            "no DISCONNECT and no Engine.IO CLOSE: stock clients retry by themselves"
        );
    }
    // While draining, new sessions are a transient 503, never a connect_error.
    let res = http
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    match Sio::connect_with(addr, Some(json!({"token": key})), &[]).await {
        Err(Refused::Http(status)) => assert_eq!(status, 503),
        other => panic!("expected HTTP 503 while draining, got {:?}", other.err()),
    }
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_end_stock_clients_with_io_server_disconnect_and_they_stay_away() {
    let app = spawn_app(Backend::Sqlite).await;
    let [amy, bob, cat] = app.create_agents(["amy", "bob", "cat"]).await;
    let plan = json!({"url": app.base, "producer": null, "sockets": [
        {"key": amy, "transport": "websocket", "rooms": ["lobby"]},
        {"key": bob, "transport": "polling", "rooms": ["lobby"], "flood": true},
        {"key": cat, "transport": "websocket", "rooms": ["lobby"]},
    ]});
    let mut fleet = Fleet::start(Library::Node, &plan);
    fleet.next("ready", Duration::from_secs(30)).await;
    revoke_first_token(&app, "amy").await;
    // Long enough for a client that meant to come back (backoff starts at about 1 s) to do so.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let report = fleet.report().await;
    let sockets = report["sockets"].as_array().unwrap();
    for (who, s) in [
        ("the revoked key", &sockets[0]),
        ("the flooder", &sockets[1]),
    ] {
        assert_eq!(
            s["disconnect_reasons"],
            json!(["io server disconnect"]),
            "{who}: {s}"
        );
        assert_eq!(s["connected"], false, "{who} stays away: {s}");
        assert_eq!(s["connects"], 1, "{who} did not reconnect: {s}");
    }
    assert_eq!(
        sockets[2]["connected"], true,
        "the bystander stays: {}",
        sockets[2]
    );
    assert_eq!(sockets[2]["disconnect_reasons"], json!([]));
    fleet.stop().await;
}
