//! Assertions on what the hub answers: error bodies and acks, JSON key sets, timestamps, and
//! the documented shapes of agents, rooms, messages and members (SPEC §3, §5, §6).

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::app::TestApp;

/// The fields of the `agent` shape (SPEC §3).
pub const AGENT_FIELDS: [&str; 6] = [
    "id",
    "name",
    "display_name",
    "role",
    "created_at",
    "disabled",
];

/// The fields of a freshly created token (SPEC §6).
pub const CREATED_TOKEN_FIELDS: [&str; 6] =
    ["id", "name", "prefix", "key", "created_at", "expires_at"];

/// The fields of the `room` shape (SPEC §3).
pub const ROOM_FIELDS: [&str; 7] = [
    "name",
    "topic",
    "private",
    "created_by",
    "created_at",
    "archived",
    "last_seq",
];

/// The fields of the `message` shape (SPEC §3; the last three from §11).
pub const MESSAGE_FIELDS: [&str; 11] = [
    "id",
    "room",
    "seq",
    "sender",
    "body",
    "metadata",
    "client_id",
    "created_at",
    "reply_to",
    "reply_count",
    "stream",
];

/// The fields of an agent reference (a sender, a member's agent).
pub const REF_FIELDS: [&str; 3] = ["id", "name", "display_name"];

/// The fields of a `member` (SPEC §3).
pub const MEMBER_FIELDS: [&str; 5] = ["agent", "status", "note", "connections", "since"];

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
#[track_caller]
pub fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp string: {v}"));
    let re = regex_lite::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    assert!(re.is_match(s), "RFC 3339 with milliseconds and Z: {s}");
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
}

/// `assert_timestamp`, and within two minutes of now (for what the test just created).
#[track_caller]
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

/// An ok ack, which it answers.
#[track_caller]
pub fn assert_ok(ack: &Value) -> &Value {
    assert_eq!(ack["ok"], true, "an ok ack: {ack}");
    ack
}

/// The ack of a send that stored a new message (not a duplicate): answers the message, which
/// has the message shape.
#[track_caller]
pub fn assert_new_message(ack: &Value) -> &Value {
    assert_ok(ack);
    assert_eq!(keys(ack), key_set(&["ok", "message", "duplicate"]));
    assert_eq!(ack["duplicate"], false);
    assert_message_shape(&ack["message"]);
    &ack["message"]
}

/// An error ack: `{"ok":false,"error":{"code","message"}}` with this code.
#[track_caller]
pub fn assert_error(ack: &Value, code: &str) {
    assert_eq!(ack["ok"], false, "an error ack: {ack}");
    assert_eq!(ack["error"]["code"], code, "ack: {ack}");
    assert!(ack["error"]["message"].is_string(), "ack: {ack}");
}

/// Asserts the status and the documented error body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
}

/// The status code and error code of each refusal (`bad_request` for 400 and so on).
pub fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        other => panic!("no documented error code for {other}"),
    }
}

/// Asserts `status` (naming `what` when it is another) and the documented error body.
pub async fn expect_refusal(res: Response, status: StatusCode, what: &str) {
    assert_eq!(res.status(), status, "{what}");
    expect_error(res, status, error_code(status)).await;
}

/// One REST call of a table: `method path` as `token` (none: anonymous), maybe with a JSON
/// body.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    pub body: Option<Value>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>, token: Option<&'a str>) -> Self {
        Call {
            method,
            path: path.into(),
            token,
            body: None,
        }
    }

    pub fn get(path: impl Into<String>, token: &'a str) -> Self {
        Call::new(Method::GET, path, Some(token))
    }

    pub fn post(path: impl Into<String>, token: &'a str, body: Value) -> Self {
        Call::new(Method::POST, path, Some(token)).with_body(body)
    }

    pub fn patch(path: impl Into<String>, token: &'a str, body: Value) -> Self {
        Call::new(Method::PATCH, path, Some(token)).with_body(body)
    }

    pub fn put(path: impl Into<String>, token: &'a str) -> Self {
        Call::new(Method::PUT, path, Some(token))
    }

    pub fn delete(path: impl Into<String>, token: &'a str) -> Self {
        Call::new(Method::DELETE, path, Some(token))
    }

    /// Without any credential.
    pub fn anonymous(method: Method, path: impl Into<String>) -> Self {
        Call::new(method, path, None)
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub async fn send(&self, api: &super::api::Api) -> Response {
        let mut req = api.request(self.method.clone(), &self.path, self.token);
        if let Some(body) = &self.body {
            req = req.json(body);
        }
        req.send().await.expect("request sent")
    }
}

/// Sends each call and asserts the answer: `status` with the documented error body.
pub async fn expect_refusals<'a>(
    app: &TestApp,
    status: StatusCode,
    calls: impl IntoIterator<Item = Call<'a>>,
) {
    for call in calls {
        let res = call.send(app).await;
        let what = format!("{} {} as {:?}", call.method, call.path, call.token);
        expect_refusal(res, status, &what).await;
    }
}

/// Sends each request and asserts `status` with the documented error body.
pub async fn expect_refused_requests(
    status: StatusCode,
    requests: impl IntoIterator<Item = reqwest::RequestBuilder>,
) {
    for (i, req) in requests.into_iter().enumerate() {
        let res = req.send().await.expect("request sent");
        expect_refusal(res, status, &format!("request {i}")).await;
    }
}

/// Emits each `(event, payload)` on `s` and asserts an error ack with `code`.
pub async fn expect_ack_errors(
    s: &super::sio::Sio,
    code: &str,
    cases: impl IntoIterator<Item = (&str, Value)>,
) {
    for (event, payload) in cases {
        let ack = s.emit(event, payload.clone()).await;
        assert_eq!(ack["ok"], false, "{event} {payload}: {ack}");
        assert_error(&ack, code);
    }
}

/// Without any credential, or with a credential that is not one: 401.
pub async fn expect_unauthenticated(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) {
    for credential in [None, Some("garbage"), Some("ahk_not-a-real-key")] {
        let mut call = Call::new(method.clone(), path, credential);
        call.body = body.clone();
        expect_error(
            call.send(app).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
}

/// Asserts the `agent` shape, with exactly the documented fields plus `extra`.
#[track_caller]
pub fn assert_agent(v: &Value, extra: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("an object, got {v}"));
    for field in AGENT_FIELDS.iter().chain(extra) {
        assert!(obj.contains_key(*field), "{field} missing: {v}");
    }
    assert_eq!(
        obj.len(),
        AGENT_FIELDS.len() + extra.len(),
        "unexpected fields: {v}"
    );
    let id = uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7, "ids are UUID v7: {id}");
    assert!(v["disabled"].is_boolean());
    assert_timestamp(&v["created_at"]);
}

/// Asserts `ahk_` + 43 URL-safe characters.
#[track_caller]
pub fn assert_key_shape(key: &str) {
    assert_eq!(key.len(), 47, "{key}");
    assert!(key.starts_with("ahk_"), "{key}");
    assert!(
        key[4..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{key}"
    );
}

/// The `room` shape, created by this test.
#[track_caller]
pub fn assert_room_shape(room: &Value) {
    assert_eq!(keys(room), key_set(&ROOM_FIELDS), "room: {room}");
    assert!(room["name"].is_string());
    assert!(room["topic"].is_string() || room["topic"].is_null());
    assert!(room["private"].is_boolean());
    assert!(room["created_by"].is_string());
    assert!(room["archived"].is_boolean());
    assert!(room["last_seq"].is_i64());
    assert_recent_timestamp(&room["created_at"]);
}

/// An agent reference (`sender`, a member's `agent`) to the agent `name`.
#[track_caller]
pub fn assert_ref(v: &Value, name: &str) {
    assert_eq!(keys(v), key_set(&REF_FIELDS), "ref: {v}");
    assert_eq!(v["name"], name, "ref: {v}");
    assert!(
        v["id"].is_string() && v["display_name"].is_string(),
        "ref: {v}"
    );
}

/// The `message` shape.
#[track_caller]
pub fn assert_message_shape(m: &Value) {
    assert_eq!(keys(m), key_set(&MESSAGE_FIELDS), "message: {m}");
    assert!(m["id"].is_i64(), "message id is an integer: {m}");
    assert!(m["seq"].is_i64(), "seq is an integer: {m}");
    assert!(
        m["room"].is_string() && m["body"].is_string(),
        "message: {m}"
    );
    assert!(m["metadata"].is_object() || m["metadata"].is_null());
    assert!(m["client_id"].is_string() || m["client_id"].is_null());
    assert!(m["sender"].is_object());
    assert_timestamp(&m["created_at"]);
    assert!(
        m["reply_to"].is_i64() || m["reply_to"].is_null(),
        "reply_to: {m}"
    );
    assert!(m["reply_count"].is_i64(), "reply_count is an integer: {m}");
    assert!(
        m["stream"].is_string() || m["stream"].is_null(),
        "stream: {m}"
    );
}

/// The `message` shape of a message this test stored: a full sender reference and a recent
/// `created_at`.
#[track_caller]
pub fn assert_stored_message(m: &Value) {
    assert_message_shape(m);
    assert_eq!(keys(&m["sender"]), key_set(&REF_FIELDS), "sender: {m}");
    assert_recent_timestamp(&m["created_at"]);
}

/// A `member` of this agent with this status, note and connection count.
#[track_caller]
pub fn assert_member(m: &Value, name: &str, status: &str, note: Option<&str>, connections: u64) {
    assert_eq!(keys(m), key_set(&MEMBER_FIELDS), "member: {m}");
    assert_eq!(keys(&m["agent"]), key_set(&REF_FIELDS), "member: {m}");
    assert_eq!(m["agent"]["name"], name, "member: {m}");
    assert_eq!(m["status"], status, "member: {m}");
    assert_eq!(
        m["note"],
        note.map_or(Value::Null, |n| json!(n)),
        "member: {m}"
    );
    assert_eq!(m["connections"], connections, "member: {m}");
    assert_timestamp(&m["since"]);
}
