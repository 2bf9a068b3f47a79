//! Security headers on every response, whatever its status (SPEC §7), and HSTS only when it
//! is enabled.

use reqwest::{Method, Response};
use serde_json::json;

use crate::support::*;

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", "default-src 'self'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "strict-origin"),
    ("x-content-type-options", "nosniff"),
];

/// One response of each status the headers must be on: 200, 400, 401, 404, 413.
async fn sample_responses(app: &TestApp) -> Vec<(String, Response)> {
    let huge = "x".repeat((1 << 20) + 1);
    vec![
        (
            "200 /healthz".into(),
            app.anonymous(Method::GET, "/healthz").await,
        ),
        (
            "200 /api/v1/me".into(),
            app.get("/api/v1/me", &app.admin_key).await,
        ),
        (
            "200 /openapi.json".into(),
            app.anonymous(Method::GET, "/openapi.json").await,
        ),
        (
            "400".into(),
            app.get("/api/v1/rooms?limit=0", &app.admin_key).await,
        ),
        ("401".into(), app.anonymous(Method::GET, "/api/v1/me").await),
        ("404".into(), app.get("/api/v1/nope", &app.admin_key).await),
        (
            "413".into(),
            app.post(
                "/api/v1/rooms",
                &app.admin_key,
                json!({"name": "x", "topic": huge}),
            )
            .await,
        ),
    ]
}

#[track_caller]
fn assert_security_headers(res: &Response, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            res.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: {name}"
        );
    }
}

async fn security_headers_are_on_every_response(app: TestApp) {
    for (what, res) in sample_responses(&app).await {
        let expected_status: u16 = what[..3].parse().unwrap();
        assert_eq!(res.status().as_u16(), expected_status, "{what}");
        assert_security_headers(&res, &what);
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "{what}: no HSTS unless enabled"
        );
    }
}

async fn hsts_is_sent_when_enabled(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.enable_hsts = true).await;
    for (what, res) in sample_responses(&app).await {
        let hsts = res
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: HSTS when enabled"))
            .to_owned();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .unwrap_or_else(|| panic!("{what}: max-age in {hsts}"))
            .parse()
            .expect("max-age is a number");
        assert!(max_age > 0, "{what}: {hsts}");
        assert_security_headers(&res, &what);
    }
}

crate::for_each_backend!(
    hsts_is_sent_when_enabled,
    2,
    hsts_is_sent_when_enabled_postgres,
    hsts_is_sent_when_enabled_sqlite
);

crate::on_both_backends!(security_headers_are_on_every_response);
