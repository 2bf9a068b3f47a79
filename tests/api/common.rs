//! Small helpers the test files share: ack checks, JSON shapes, timestamps, joined sockets.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::sio::Sio;

/// The field names of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

pub fn key_set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// RFC 3339 UTC with milliseconds, ending in `Z`.
pub fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp string: {v}"));
    let re = regex_lite::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    assert!(re.is_match(s), "RFC 3339 with milliseconds and Z: {s}");
}

/// `assert_timestamp`, and within two minutes of now (for what the test just created).
pub fn assert_recent_timestamp(v: &Value) {
    assert_timestamp(v);
    let s = v.as_str().unwrap_or_default();
    let t = chrono::DateTime::parse_from_rfc3339(s).expect("parses as RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(t);
    assert!(
        age.num_seconds().abs() < 120,
        "timestamp {s} is close to now"
    );
}

#[track_caller]
pub fn assert_ok(ack: &Value) {
    assert_eq!(ack["ok"], true, "an ok ack: {ack}");
}

/// A socket of `key` that has joined `room`.
pub async fn joined(app: &TestApp, key: &str, room: &str) -> Sio {
    let s = Sio::connect(app.addr, key).await;
    let ack = s.emit("room:join", json!({"room": room})).await;
    assert_ok(&ack);
    s
}

/// Sends a message and returns the stored message from the ack.
pub async fn send(s: &Sio, room: &str, body: &str) -> Value {
    let ack = s
        .emit("message:send", json!({"room": room, "body": body}))
        .await;
    assert_ok(&ack);
    ack["message"].clone()
}

pub async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("a JSON body")
}

/// The `/metrics` text of a server without `METRICS_TOKEN`.
pub async fn metrics_text(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Revokes `agent`'s first API token as the admin (which kicks its sockets).
pub async fn revoke_first_token(app: &TestApp, agent: &str) {
    let tokens = json_of(
        app.get(&format!("/api/v1/agents/{agent}/tokens"), &app.admin_key)
            .await,
    )
    .await;
    let id = tokens["tokens"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .delete(&format!("/api/v1/tokens/{id}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
}
