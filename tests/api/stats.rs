//! `GET /api/v1/stats`: the dashboard's live numbers (admins only).

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::*;

async fn stats_count_connections_messages_a_second_rooms_and_agents(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let before = app.get_ok("/api/v1/stats", &app.admin_key).await;
    assert_eq!(
        keys(&before),
        key_set(&["connections", "messages_per_second", "rooms", "agents"])
    );
    assert_eq!(before["connections"], 0);
    assert_eq!(before["agents"], 3, "admin, amy, bob: {before}");
    let [a, _b] = joined_sockets(&app, "lobby", [&amy, &bob]).await;
    for i in 0..20 {
        send(&a, "lobby", &format!("m{i}")).await;
    }
    // Sampled once a second: within a few seconds the rate shows the sends.
    let mut now = before.clone();
    for _ in 0..40 {
        now = app.get_ok("/api/v1/stats", &app.admin_key).await;
        if now["messages_per_second"].as_f64().unwrap_or(0.0) > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(now["messages_per_second"].as_f64().unwrap() > 0.0, "{now}");
    assert_eq!(now["connections"], 2);
    assert_eq!(now["rooms"], 1);
    let res = app.get("/api/v1/stats", &amy).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

crate::on_both_backends!(stats_count_connections_messages_a_second_rooms_and_agents);
