//! Quotas and memory bounds of the hardening issue: rooms per socket, rooms created per hour,
//! 1 MiB pages, refused credentials that cost no lookup, IPv6 clients keyed by /64, ghost
//! sockets that never connected, and no credential in logs even at `trace`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// Posts `count` messages to `lobby` as `key`, each of 16,000 control characters: they
/// serialize six times larger (`\u0001`), ~96 KiB a message. Client ids are `{prefix}{i}`.
async fn post_heavy_messages(app: &TestApp, key: &str, count: usize, prefix: &str) {
    let body: String = "\u{1}".repeat(16_000);
    for i in 0..count {
        let body = json!({"body": body, "client_id": format!("{prefix}{i}")});
        let res = post_to(app, key, "lobby", body).await;
        assert!(res.status().is_success(), "{}", res.status());
    }
}

async fn a_socket_is_in_at_most_max_rooms_per_socket(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let s = Sio::connect(app.addr, &key).await;
    for i in 0..3 {
        assert_ok(&s.emit("room:join", json!({"room": format!("r{i}")})).await);
    }
    let ack = s.emit("room:join", json!({"room": "r3"})).await;
    assert_eq!(ack["error"]["code"], "forbidden", "{ack}");
    // Rejoining one it is in is fine, and leaving makes room.
    assert_ok(&s.emit("room:join", json!({"room": "r0"})).await);
    assert_ok(&s.emit("room:leave", json!({"room": "r0"})).await);
    assert_ok(&s.emit("room:join", json!({"room": "r3"})).await);
}

async fn an_agent_creates_at_most_room_creates_per_hour(app: TestApp) {
    let [key, bob] = app.create_agents(["amy", "bob"]).await;
    for i in 0..2 {
        let res = app
            .post("/api/v1/rooms", &key, json!({"name": format!("made{i}")}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // The third, by joining: refused with a hint, and not created.
    let s = Sio::connect(app.addr, &key).await;
    let ack = s.emit("room:join", json!({"room": "made2"})).await;
    assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    assert!(ack["error"]["retry_after_ms"].as_u64().unwrap() > 3_000_000);
    let res = app
        .post("/api/v1/rooms", &key, json!({"name": "made3"}))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = app.get("/api/v1/rooms/made2", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Joining existing rooms, DMs, other agents and admins are not limited.
    assert_ok(&s.emit("room:join", json!({"room": "made0"})).await);
    assert_ok(&s.send_dm(json!({"to": "bob", "body": "hi"})).await);
    app.create_room(&bob, "bobs").await;
    for i in 0..3 {
        let res = app
            .post(
                "/api/v1/rooms",
                &app.admin_key,
                json!({"name": format!("adm{i}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

async fn pages_hold_at_most_one_mib_of_messages(app: TestApp) {
    let key = agent_with_room(&app, "amy", "lobby").await;
    post_heavy_messages(&app, &key, 15, "c").await;
    let s = joined(&app, &key, "lobby").await;
    let ack = s
        .emit("room:join", json!({"room": "lobby", "since": 0}))
        .await;
    let missed = ack["missed"].as_array().unwrap();
    assert!(missed.len() < 15, "the page was cut: {}", missed.len());
    assert!(serde_json::to_vec(missed).unwrap().len() <= 1 << 20);
    assert_eq!(ack["missed_truncated"], true);
    assert_eq!(missed[0]["seq"], 1, "missed keeps the oldest");
    let page = json_of(
        app.get("/api/v1/rooms/lobby/messages?limit=100", &key)
            .await,
    )
    .await;
    let messages = page["messages"].as_array().unwrap();
    assert!(messages.len() < 15 && serde_json::to_vec(messages).unwrap().len() <= 1 << 20);
    assert_eq!(page["has_more"], true);
    assert_eq!(
        messages.last().unwrap()["seq"],
        15,
        "the latest page keeps the newest"
    );
}

crate::on_both_backends!(pages_hold_at_most_one_mib_of_messages);

/// The quota tests need real limits (the test defaults lift them), so small ones here.
async fn small_quotas(backend: Backend, rooms_per_socket: usize, creates_per_hour: u32) -> TestApp {
    spawn_app_with(backend, |s| {
        s.max_rooms_per_socket = rooms_per_socket;
        s.room_creates_per_hour = creates_per_hour;
    })
    .await
}

async fn rooms_per_socket(backend: Backend) {
    a_socket_is_in_at_most_max_rooms_per_socket(small_quotas(backend, 3, 100).await).await;
}

async fn room_creates_per_hour(backend: Backend) {
    an_agent_creates_at_most_room_creates_per_hour(small_quotas(backend, 100, 2).await).await;
}

crate::for_each_backend!(
    rooms_per_socket,
    2,
    rooms_per_socket_on_postgres,
    rooms_per_socket_on_sqlite
);
crate::for_each_backend!(
    room_creates_per_hour,
    2,
    room_creates_per_hour_on_postgres,
    room_creates_per_hour_on_sqlite
);

/// Transactions the test's PostgreSQL database has committed so far.
async fn commits(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Database, Statement};
    // Statistics reach the view at most once a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let conn = Database::connect(&app.db.url).await.unwrap();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.ok();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_bad_key_costs_no_database_lookup() {
    let app = spawn_app(Backend::Postgres).await;
    // What reading the statistics costs by itself (its own connection's setup).
    let first = commits(&app).await;
    let before = commits(&app).await;
    let noise = before - first;
    for _ in 0..50 {
        let res = app.get("/api/v1/me", "ahk_thisKeyWasNeverIssued").await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let after = commits(&app).await;
    // The first refusal looks the key up; the other 49 are answered from memory (without
    // that, 50 lookups; the margin is for autovacuum and the statistics' own connections).
    assert!(
        after - before < 25 + noise,
        "{} transactions for 50 refusals (reading the statistics costs {noise})",
        after - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_share_one_anonymous_bucket_per_64() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.trust_proxy = true;
        s.rate_limit_rest_anon_per_min = 5;
    })
    .await;
    let from = |ip: String| {
        app.http
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", ip)
            .send()
    };
    for i in 1..=5 {
        let res = from(format!("2001:db8:7:7::{i:x}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = from("2001:db8:7:7:ffff::1".into()).await.unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = from("2001:db8:7:8::1".into()).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "another /64 has its own bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_dropped_during_their_handshake_leave_no_ghost() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.create_agent("amy", "agent").await;
    for _ in 0..30 {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(Message::text(format!(r#"40{{"token":"{key}"}}"#)))
            .await
            .unwrap();
        drop(ws); // gone before the server can answer the CONNECT
    }
    // The server notices each dropped handshake within about a second (its ghost watchdog);
    // on a loaded machine the last of 30 may take a little longer.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let agent = json_of(app.get("/api/v1/agents/amy", &app.admin_key).await).await;
        if agent["online"] == false {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ghost presence: {agent}"
        );
    }
    let text = app.metrics_text().await;
    assert!(
        text.lines().any(|l| l == "ws_connections 0"),
        "the gauge is back to zero"
    );
    // And the agent's socket count is too: it can open its full quota again.
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(Sio::connect(app.addr, &key).await);
    }
}

/// A socket whose client stops reading is not skipped silently while its buffers fill: its
/// connection is dropped (no packet could reach it anyway), so it would reconnect and recover
/// with `since`; meanwhile it holds at most what piled up before the write stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_disconnected() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app(Backend::Sqlite).await;
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_room(&bob, "lobby").await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // The next text packet, answering pings meanwhile (the heartbeat must not be what ends
    // the socket: its first timeout comes after 45 s, far past this test's deadline).
    let next_text = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await.unwrap();
                continue;
            }
            return t.to_string();
        }
    };
    assert!(next_text(&mut ws).await.starts_with('0'));
    ws.send(Message::text(format!(r#"40{{"token":"{amy}"}}"#)))
        .await
        .unwrap();
    let connected = next_text(&mut ws).await;
    assert!(connected.starts_with("40"), "{connected}");
    ws.send(Message::text(r#"421["room:join",{"room":"lobby"}]"#))
        .await
        .unwrap();
    while !next_text(&mut ws).await.starts_with("431") {}
    // From here amy's client reads nothing. Bob fills the room: ~96 KiB a message, far more
    // than the kernel's socket buffers hold.
    post_heavy_messages(&app, &bob, 200, "m").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    loop {
        let agent = json_of(app.get("/api/v1/agents/amy", &app.admin_key).await).await;
        if agent["online"] == false {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a socket that stopped reading is still connected"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(ws);
}
