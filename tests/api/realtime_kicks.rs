//! Kicks (SPEC §4): revoking a token or disabling an agent over REST disconnects its live
//! sockets within two seconds, and the same done with the operator CLI behind the server's
//! back reaches them within 60 s through the periodic re-check that every server start runs.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::jwt::until;
use crate::support::processes::{agenthub, assert_succeeded};
use crate::support::*;

/// Runs the operator CLI against the app's database, as an operator would while it runs.
async fn cli(app: &TestApp, args: &[&str]) {
    let mut cmd = agenthub(app.db.dir.path());
    cmd.args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("JWT_SECRET", JWT_SECRET);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("agenthub runs"))
        .await
        .unwrap();
    assert_succeeded(&out, &format!("agenthub {args:?}"));
}

async fn revoking_a_token_disconnects_its_key_and_jwt_sockets_within_two_seconds(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let id1 = token_ids(&app, "amy").await.remove(0);
    let (key2, _id2) = new_token(&app, "amy", json!({"name": "second"})).await;
    let jwt1 = app.jwt(&amy).await;
    let jwt2 = app.jwt(&key2).await;
    let k1 = Sio::connect(app.addr, &amy).await;
    let j1 = Sio::connect(app.addr, &jwt1).await;
    let k2 = Sio::connect(app.addr, &key2).await;
    let j2 = Sio::connect(app.addr, &jwt2).await;
    for s in [&k1, &j1, &k2] {
        join(s, "lobby").await;
    }
    let b = joined(&app, &bob, "lobby").await;

    let started = Instant::now();
    revoke_token(&app, &id1).await;
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
    k2.assert_alive().await;
    j2.assert_alive().await;
    b.assert_no_event("presence:leave", Duration::ZERO).await;
    let kicked = app.audit_events("socket-kicked").await;
    assert!(!kicked.is_empty(), "audit socket-kicked");
    assert!(
        kicked.iter().all(|e| e["type"] == "socket-kicked"),
        "{kicked:?}"
    );
}

async fn disabling_an_agent_disconnects_all_its_sockets_within_two_seconds(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let (key2, _id2) = new_token(&app, "amy", json!({"name": "second"})).await;
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
    join(&sockets[0], "lobby").await;
    let b = joined(&app, &bob, "lobby").await;
    let started = Instant::now();
    set_disabled(&app, "amy", true).await;
    for (i, s) in sockets.iter().enumerate() {
        assert!(
            s.closed_within(until(started + Duration::from_secs(2)))
                .await,
            "socket {i} is kicked within 2 s"
        );
    }
    let left = b.next_event("presence:leave").await;
    assert_eq!(left["agent"]["name"], "amy");
    b.assert_alive().await;
    let amy_id = get_agent(&app, "amy").await["id"].clone();
    let kicked = app.audit_events("socket-kicked").await;
    assert!(
        kicked.iter().any(|e| e["agent_id"] == amy_id),
        "a socket-kicked row names amy: {kicked:?}"
    );
}

/// Revoking a token and disabling an agent with the CLI (behind the server's back) reach
/// live sockets within 60 s through the periodic re-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revocations_and_disables_disconnect_live_sockets_within_60_seconds() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let [amy, bob, carl] = app.create_agents(["amy", "bob", "carl"]).await;
    let amy_token = token_ids(&app, "amy").await.remove(0);
    let amy_jwt = app.jwt(&amy).await;
    let a_key = Sio::connect(app.addr, &amy).await;
    let a_jwt = Sio::connect(app.addr, &amy_jwt).await;
    let b = Sio::connect(app.addr, &bob).await;
    let c = Sio::connect(app.addr, &carl).await;
    cli(&app, &["token", "revoke", &amy_token]).await;
    cli(&app, &["agent", "disable", "bob"]).await;
    let bound = Instant::now() + Duration::from_secs(61);
    for (name, s) in [("amy's key", &a_key), ("amy's JWT", &a_jwt), ("bob's", &b)] {
        assert!(
            s.closed_within(until(bound)).await,
            "{name} socket is disconnected within 60 s of the CLI change"
        );
    }
    c.assert_alive().await;
    let kicked = app.audit_events("socket-kicked").await;
    assert!(!kicked.is_empty(), "audit socket-kicked: {kicked:?}");
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
        cli(app, &["token", "revoke", &id]).await;
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
    revoking_a_token_disconnects_its_key_and_jwt_sockets_within_two_seconds,
    disabling_an_agent_disconnects_all_its_sockets_within_two_seconds,
);
