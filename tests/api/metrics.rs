//! `/metrics` (SPEC §9): the exact series names, and counters that move with traffic.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// The value of one sample line `name{labels} value`, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn the_spec_series_are_exported(app: TestApp) {
    // HTTP series appear with their first request.
    app.http.get(app.url("/healthz")).send().await.unwrap();
    let text = app.metrics_text().await;
    for name in [
        "# TYPE ws_connections gauge",
        "# TYPE messages_sent counter",
        "# TYPE message_send_latency_seconds histogram",
        "# TYPE rate_limited counter",
        "# TYPE auth_failures counter",
        "# TYPE http_requests counter",
        "# TYPE http_request_duration_seconds histogram",
        "rate_limited_total{scope=\"rest\"} 0",
        "rate_limited_total{scope=\"ws\"} 0",
        "messages_sent_total 0",
        "db_up 1",
    ] {
        assert!(text.contains(name), "missing {name:?} in\n{text}");
    }
}

async fn counters_move_with_traffic(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let before = app.metrics_text().await;
    assert_eq!(sample(&before, "ws_connections"), 0.0);

    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    assert_eq!(sample(&app.metrics_text().await, "ws_connections"), 2.0);
    assert_eq!(
        a.emit("room:join", json!({"room": "lobby"})).await["ok"],
        true
    );
    // 3 socket sends, 1 duplicate (not a new message), 2 DMs, 2 REST posts = 7 messages.
    for i in 0..3 {
        let ack = a
            .send_message(json!({"room": "lobby", "body": "x", "client_id": format!("c{i}")}))
            .await;
        assert_eq!(ack["ok"], true);
    }
    let dup = a
        .send_message(json!({"room": "lobby", "body": "x", "client_id": "c0"}))
        .await;
    assert_eq!(dup["duplicate"], true);
    for _ in 0..2 {
        assert_eq!(
            a.send_dm(json!({"to": "bob", "body": "psst"})).await["ok"],
            true
        );
    }
    for _ in 0..2 {
        let res = app
            .post(
                "/api/v1/rooms/lobby/messages",
                &bob,
                json!({"body": "rest"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // A refused credential, and a route with a parameter.
    let res = app.get("/api/v1/me", "ahk_wrong").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let after = app.metrics_text().await;
    assert_eq!(sample(&after, "messages_sent_total"), 7.0, "{after}");
    assert_eq!(sample(&after, "message_send_latency_seconds_count"), 7.0);
    assert!(sample(&after, "auth_failures_total") >= 1.0);
    assert_eq!(
        sample(
            &after,
            "http_requests_total{method=\"POST\",route=\"/api/v1/rooms/{name}/messages\",status=\"201\"}"
        ),
        2.0,
        "{after}"
    );
    assert!(
        !after.contains("route=\"/api/v1/rooms/lobby"),
        "raw paths never become labels"
    );
    assert!(
        !after.contains("socket.io"),
        "Socket.IO requests are not counted"
    );
    assert!(
        !after.contains("route=\"/metrics\""),
        "scrapes are not counted"
    );

    a.close().await;
    b.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sample(&app.metrics_text().await, "ws_connections"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_counted_by_scope() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_rest_anon_per_min = 3;
        s.rate_limit_ws_events_per_sec = 2;
    })
    .await;
    for _ in 0..5 {
        app.http.get(app.url("/api/v1/me")).send().await.unwrap();
    }
    let s = Sio::connect(app.addr, &app.admin_key).await;
    for _ in 0..5 {
        s.emit("presence:list", json!({"room": "nowhere"})).await;
    }
    let text = app.metrics_text().await;
    assert_eq!(
        sample(&text, "rate_limited_total{scope=\"rest\"}"),
        2.0,
        "{text}"
    );
    assert!(
        sample(&text, "rate_limited_total{scope=\"ws\"}") >= 2.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_when_one_is_set() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.secrets.metrics_token = Some("scrape-me".into())
    })
    .await;
    for token in [None, Some("nope")] {
        let res = Call::new(Method::GET, "/metrics", token).send(&app).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let res = app.get("/metrics", "scrape-me").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("ws_connections"));
}

crate::on_both_backends!(the_spec_series_are_exported, counters_move_with_traffic);
