//! REST rate limits (SPEC §7): per client IP without a valid credential, per agent with one;
//! 429 with Retry-After and the error body; spoofed X-Forwarded-For bypasses nothing.

use reqwest::StatusCode;

use crate::support::*;

async fn limited(anon: u32, auth: u32) -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit_rest_anon_per_min = anon;
        s.rate_limit_rest_auth_per_min = auth;
    })
    .await
}

/// Sends `n` requests and returns how many were answered 429.
async fn burst(app: &TestApp, n: usize, build: impl Fn() -> reqwest::RequestBuilder) -> usize {
    let mut limited = 0;
    for _ in 0..n {
        let res = build().send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    let _ = app;
    limited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_ip_is_limited_with_a_retry_after() {
    let app = limited(100, 600).await;
    let url = app.url("/api/v1/me");
    let http = app.http.clone();
    // 200 unauthenticated requests in well under 10 s: the first 100 pass (401), the rest 429.
    let rejected = burst(&app, 200, || http.get(&url)).await;
    assert!((95..=100).contains(&rejected), "rejected {rejected} of 200");
    let res = app.http.get(&url).send().await.unwrap();
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // One audit row for the flood, not one per rejected request.
    let audit = app.audit_events("rate-limited").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["details"]["scope"], "rest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_bypass_the_ip_limit() {
    let app = limited(20, 600).await;
    let url = app.url("/api/v1/auth/token");
    let mut rejected = 0;
    for i in 0..40 {
        let res = app
            .http
            .post(&url)
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            rejected += 1;
        }
    }
    assert!(
        rejected >= 19,
        "spoofed addresses got through: {rejected} rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_requests_count_against_their_agent_not_the_ip() {
    let app = limited(1_000_000, 30).await;
    let amy = app.create_agent("amy", "agent").await;
    let http = app.http.clone();
    let url = app.url("/api/v1/me");
    let rejected = burst(&app, 40, || http.get(&url).bearer_auth(&amy)).await;
    assert!((8..=10).contains(&rejected), "rejected {rejected} of 40");
    // Another agent from the same address has its own bucket.
    let res = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Health, readiness and metrics are exempt.
    for path in ["/healthz", "/readyz"] {
        for _ in 0..50 {
            assert_ne!(
                app.http.get(app.url(path)).send().await.unwrap().status(),
                StatusCode::TOO_MANY_REQUESTS
            );
        }
    }
    let audit = app.audit_events("rate-limited").await;
    assert_eq!(audit[0]["agent_id"], get_agent(&app, "amy").await["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_credentials_count_against_the_ip() {
    let app = limited(10, 1_000_000).await;
    let http = app.http.clone();
    let url = app.url("/api/v1/me");
    let rejected = burst(&app, 20, || http.get(&url).bearer_auth("ahk_forged")).await;
    assert!(rejected >= 9, "rejected {rejected} of 20");
}

/// JSON nested deeper than the parser's limit (128) is refused, over REST with the error body
/// and over Socket.IO as a malformed packet that ends only its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_refused_without_harm() {
    let app = spawn_app(Backend::Sqlite).await;
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let res = app
        .http
        .post(app.url("/api/v1/rooms"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"deep","topic":{deep}}}"#))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let other = Sio::connect(app.addr, &app.admin_key).await;
    let attacker = Sio::connect(app.addr, &app.admin_key).await;
    attacker.send_text(&format!(
        r#"21["message:send",{{"room":"x","body":"b","metadata":{{"a":{deep}}}}}]"#
    ));
    let ack = attacker
        .try_emit(
            "presence:list",
            serde_json::json!({"room": "x"}),
            std::time::Duration::from_secs(2),
        )
        .await;
    // Either the connection was closed as malformed, or it answered the next event normally.
    assert!(
        ack.is_none() || ack.as_ref().is_some_and(|a| a["ok"].is_boolean()),
        "{ack:?}"
    );
    let ack = other
        .emit("presence:list", serde_json::json!({"room": "x"}))
        .await;
    assert_eq!(
        ack["error"]["code"], "not_found",
        "other sockets are unaffected: {ack}"
    );
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
