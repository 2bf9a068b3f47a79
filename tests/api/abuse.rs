//! Holes a review found, each tried the way an attacker would (the hardening issue): metric
//! labels no client can multiply, short-lived JWTs that cannot become permanent keys,
//! negative history cursors, slow clients holding connections, connection caps and spoofed
//! `X-Forwarded-For` entries.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::processes::{free_port, read_banner_key, serve, sigterm};
use crate::support::*;

async fn made_up_http_methods_share_one_metric_label(app: TestApp) {
    app.anonymous(Method::GET, "/healthz").await;
    for i in 0..5 {
        let method = Method::from_bytes(format!("XMETHOD{i}").as_bytes()).unwrap();
        app.anonymous(method, "/healthz").await;
    }
    let text = app.metrics_text().await;
    assert!(
        !text.contains("XMETHOD"),
        "a client-chosen method became a label"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_requests_total{") && l.contains("method=\"other\"")),
        "unknown methods are counted as other"
    );
    assert!(
        text.contains("method=\"GET\""),
        "standard methods keep their name"
    );
}

async fn a_jwt_cannot_mint_a_permanent_key_for_its_agent(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&key).await;
    let res = app.post("/api/v1/agents/amy/tokens", &jwt, json!({})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // With its API key the agent still mints its own; an admin's JWT mints for anyone.
    let res = app.post("/api/v1/agents/amy/tokens", &key, json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin_jwt = app.jwt(&app.admin_key).await;
    let res = app
        .post("/api/v1/agents/amy/tokens", &admin_jwt, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let tokens = expect_json(
        app.get("/api/v1/agents/amy/tokens", &key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        tokens["tokens"].as_array().unwrap().len(),
        3,
        "the refused one was not made"
    );
}

async fn negative_history_cursors_are_bad_requests(app: TestApp) {
    let key = app.create_agent("amy", "agent").await;
    let s = joined(&app, &key, "lobby").await;
    send(&s, "lobby", "one").await;
    for cursor in ["before", "after"] {
        let res = app
            .get(&format!("/api/v1/rooms/lobby/messages?{cursor}=-1"), &key)
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let ack = s
            .emit("message:history", json!({"room": "lobby", cursor: -1}))
            .await;
        assert_eq!(ack["ok"], false, "{cursor}: -1 over the socket: {ack}");
        assert_eq!(ack["error"]["code"], "bad_request");
    }
    let ack = s
        .emit("room:join", json!({"room": "lobby", "since": -5}))
        .await;
    assert_eq!(ack["error"]["code"], "bad_request", "since -5: {ack}");
    // Zero stays a valid cursor: everything after nothing.
    let ack = s
        .emit("message:history", json!({"room": "lobby", "after": 0}))
        .await;
    assert_ok(&ack);
    assert_eq!(ack["messages"].as_array().unwrap().len(), 1);
}

crate::on_both_backends!(
    made_up_http_methods_share_one_metric_label,
    a_jwt_cannot_mint_a_permanent_key_for_its_agent,
    negative_history_cursors_are_bad_requests,
    a_member_removed_from_a_private_room_stops_reading_it_at_once,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.http_header_timeout_seconds = 1).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut cut = false;
    // One header byte every 200 ms, never finishing the headers.
    while started.elapsed() < Duration::from_secs(5) {
        if slow.write_all(b"X").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => {
                // hyper may answer 408 first; the connection closes right after.
            }
            Err(_) => {}
        }
    }
    assert!(cut, "the trickling connection was closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within about the header timeout: {:?}",
        started.elapsed()
    );
    // Everyone else is served as usual.
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_connections = 2).await;
    let held = [
        tokio::net::TcpStream::connect(app.addr).await.unwrap(),
        tokio::net::TcpStream::connect(app.addr).await.unwrap(),
    ];
    // Give the server a moment to accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(700))
            .build()
            .unwrap()
    };
    assert!(
        fresh().get(app.url("/healthz")).send().await.is_err(),
        "a third connection is not served while two are held"
    );
    drop(held);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_last_forwarded_for_entry_is_trusted_and_only_when_it_parses() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.trust_proxy = true).await;
    let refused_from = |forwarded: &'static str| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/api/v1/auth/token"))
                .bearer_auth("ahk_wrong")
                .header("x-forwarded-for", forwarded)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            let rows = app.audit_events("auth-failed").await;
            rows[0]["ip"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        refused_from("203.0.113.9, 198.51.100.7").await,
        "198.51.100.7"
    );
    // An unparsable last entry never falls back to an earlier, client-written one.
    assert_eq!(refused_from("203.0.113.9, not-an-ip").await, "127.0.0.1");
    assert_eq!(refused_from("203.0.113.9,").await, "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_probed_at_most_once_a_second_by_readiness_and_metrics() {
    let app = spawn_app(Backend::Postgres).await;
    let probes = || async {
        let text = app.metrics_text().await;
        text.lines()
            .find(|l| l.starts_with("readiness_probes_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("readiness_probes_total is exported")
    };
    let before = probes().await;
    let started = std::time::Instant::now();
    let mut requests = Vec::new();
    for _ in 0..100 {
        let http = app.http.clone();
        let url = app.url("/readyz");
        requests.push(tokio::spawn(async move { http.get(url).send().await }));
    }
    for r in requests {
        assert_eq!(r.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let after = probes().await;
    let seconds = started.elapsed().as_secs_f64().ceil();
    assert!(
        after - before <= seconds + 1.0,
        "{} probes for 100 readiness checks in {seconds} s",
        after - before
    );
}

async fn a_member_removed_from_a_private_room_stops_reading_it_at_once(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    app.create_private_room(&bob, "ops").await;
    assert_eq!(
        app.put("/api/v1/rooms/ops/members/amy", &bob)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let [a, a2, b] = joined_sockets(&app, "ops", [&amy, &amy, &bob]).await;
    send(&b, "ops", "before").await;
    a.next_event("message:new").await;
    a2.next_event("message:new").await;

    let res = app.delete("/api/v1/rooms/ops/members/amy", &bob).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for s in [&a, &a2] {
        assert_eq!(s.next_event("room:removed").await, json!({"room": "ops"}));
    }
    let left = b.next_event("presence:leave").await;
    assert_eq!(left["room"], "ops");
    assert_eq!(left["agent"]["name"], "amy");
    // Nothing of the room reaches amy's sockets any more, and she cannot write to it.
    send(&b, "ops", "after").await;
    b.emit("presence:set", json!({"status": "busy"})).await;
    a.assert_no_event("message:new", Duration::from_millis(300))
        .await;
    a.assert_no_event("presence:update", Duration::from_millis(0))
        .await;
    let ack = a
        .send_message(json!({"room": "ops", "body": "still here?"}))
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    let members = rest_presence(&app, &bob, "ops").await;
    assert_eq!(member_names(&members), ["bob"]);
}

/// With every log on (`RUST_LOG=trace`), a node's output holds no API key, JWT or secret,
/// whatever went through it: a handshake with the key in the auth payload, another with a
/// JWT in a header, `auth:refresh`, REST calls and a token exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_the_logs_even_at_trace() {
    use std::process::Stdio;
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let log = db.dir.path().join("trace.log");
    let mut child = serve(db.dir.path(), port)
        .env("RUST_LOG", "trace")
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", JWT_SECRET)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let admin = read_banner_key(child.stdout.take().unwrap()).await;
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    let jwt = api.jwt(&admin).await;
    api.get("/api/v1/me", &jwt).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let s = Sio::joined(addr, &admin, "lobby").await;
    let by_header = Sio::connect_with(addr, None, &[("authorization", &format!("Bearer {jwt}"))])
        .await
        .expect("a JWT in the header connects");
    let ack = by_header.emit("auth:refresh", json!({"token": jwt})).await;
    assert_ok(&ack);
    s.close().await;
    by_header.close().await;
    let _ = sigterm(&child);
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.len() > 1000,
        "trace logging was on: {} bytes",
        text.len()
    );
    for (what, secret) in [
        ("the API key", admin.as_str()),
        ("the JWT", jwt.as_str()),
        ("the JWT secret", JWT_SECRET),
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(secret))
            .take(3)
            .collect();
        assert!(lines.is_empty(), "{what} is in the trace log: {lines:#?}");
    }
    // Nor the key's tail alone, or the JWT's signature.
    assert!(
        !text.contains(&admin[4..]),
        "the key's random part is in the log"
    );
    assert!(
        !text.contains(jwt.rsplit('.').next().unwrap()),
        "the JWT signature is in the log"
    );
}
