//! What tests set up and read back through the API: joined sockets and sends, histories,
//! agents, tokens, rooms and presence (rooms and messages themselves are created with
//! [`Api::create_room`](super::api::Api::create_room) and friends).

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use super::api::Api;
use super::app::TestApp;
use super::asserts::assert_ok;
use super::sio::Sio;

pub async fn json_of(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

/// Asserts `status` and answers the JSON body.
pub async fn expect_json(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    res.json().await.expect("a JSON body")
}

/// `room:join` from `s`, asserting an ok ack, which it answers.
pub async fn join(s: &Sio, room: &str) -> Value {
    let ack = s.emit("room:join", json!({"room": room})).await;
    assert_ok(&ack);
    ack
}

/// A socket of `key` that has joined `room`.
pub async fn joined(app: &TestApp, key: &str, room: &str) -> Sio {
    Sio::joined(app.addr, key, room).await
}

/// One socket per key (in order, one after the other), each joined to `room`.
pub async fn joined_sockets<const N: usize>(
    app: &TestApp,
    room: &str,
    keys: [&str; N],
) -> [Sio; N] {
    let mut sockets = Vec::with_capacity(N);
    for key in keys {
        sockets.push(joined(app, key, room).await);
    }
    sockets.try_into().unwrap_or_else(|_| unreachable!())
}

/// Floods `s` with `n` `message:history` events without acks.
pub fn flood(s: &Sio, n: usize) {
    for _ in 0..n {
        s.emit_noack("message:history", json!({"room": "lobby"}));
    }
}

/// The first request of a Socket.IO session over HTTP long-polling (no credential yet).
pub fn polling_handshake(app: &TestApp) -> reqwest::RequestBuilder {
    app.http.get(app.url("/socket.io/?EIO=4&transport=polling"))
}

/// Sends a message and returns the stored message from the ack.
pub async fn send(s: &Sio, room: &str, body: &str) -> Value {
    let ack = s
        .emit("message:send", json!({"room": room, "body": body}))
        .await;
    assert_ok(&ack);
    ack["message"].clone()
}

/// Creates an agent `name` and its public room `room`: the agent's key.
pub async fn agent_with_room(app: &TestApp, name: &str, room: &str) -> String {
    let key = app.create_agent(name, "agent").await;
    app.create_room(&key, room).await;
    key
}

/// `POST /rooms/{room}/messages` with any JSON `body`, as `key`.
pub async fn post_to(app: &Api, key: &str, room: &str, body: Value) -> Response {
    app.post(&format!("/api/v1/rooms/{room}/messages"), key, body)
        .await
}

/// A history page `GET /rooms/{room}/messages{query}` as `key`: (seqs, has_more).
pub async fn history_page(app: &TestApp, key: &str, room: &str, query: &str) -> (Vec<i64>, bool) {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/messages{query}"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "history {room}{query}");
    let page = json_of(res).await;
    let seqs = seqs(page["messages"].as_array().expect("messages is an array"));
    (
        seqs,
        page["has_more"].as_bool().expect("has_more is a bool"),
    )
}

/// The room's `last_seq`, as the admin reads it.
pub async fn last_seq(app: &TestApp, room: &str) -> i64 {
    let res = app
        .get(&format!("/api/v1/rooms/{room}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["last_seq"].as_i64().unwrap()
}

/// `message` reaches each socket of `to` as a `message:new`; after a quiet moment no socket of
/// `everyone` holds another one (`what` says why).
pub async fn assert_delivered_once(message: &Value, to: &[&Sio], everyone: &[&Sio], what: &str) {
    for s in to {
        assert_eq!(s.next_event("message:new").await, *message);
    }
    tokio::time::sleep(super::sio::QUIET).await;
    for s in everyone {
        assert_eq!(s.count("message:new").await, 0, "{what}");
    }
}

/// The messages of `GET /rooms/{room}/messages{query}` as `key`, asserting 200.
pub async fn history(app: &TestApp, key: &str, room: &str, query: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/messages{query}"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "history {room}{query}");
    json_of(res).await["messages"]
        .as_array()
        .expect("messages is an array")
        .clone()
}

/// The newest 100 messages of a room over REST, as `key`.
pub async fn rest_history(app: &TestApp, key: &str, room: &str) -> Vec<Value> {
    history(app, key, room, "?limit=100").await
}

/// The oldest 100 messages of a room over REST, as the admin.
pub async fn all_messages(app: &TestApp, room: &str) -> Vec<Value> {
    history(app, &app.admin_key, room, "?after=0&limit=100").await
}

pub fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

pub fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

/// The agent names of a list of members.
pub fn member_names(members: &[Value]) -> Vec<String> {
    members
        .iter()
        .map(|m| m["agent"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET /rooms/{room}/presence` as `key`, asserting 200: the members.
pub async fn rest_presence(app: &TestApp, key: &str, room: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/v1/rooms/{room}/presence"), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await["members"].as_array().unwrap().clone()
}

/// The names of every room `key` sees with `query` (e.g. `&archived=true`), following
/// `next_cursor` to the end.
pub async fn room_names_where(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/rooms?limit=100{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let page = json_of(res).await;
        for room in page["rooms"].as_array().expect("rooms is an array") {
            names.push(room["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null(), "page: {page}");
                return names;
            }
        }
    }
}

/// The names of every room `key` sees.
pub async fn room_names(app: &TestApp, key: &str) -> Vec<String> {
    room_names_where(app, key, "").await
}

/// Every agent's name, as the admin sees them.
pub async fn agent_names(app: &TestApp) -> Vec<String> {
    let list = expect_json(
        app.get("/api/v1/agents?limit=100", &app.admin_key).await,
        StatusCode::OK,
    )
    .await;
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET /agents/{name}` as the admin.
pub async fn get_agent(app: &TestApp, name: &str) -> Value {
    expect_json(
        app.get(&format!("/api/v1/agents/{name}"), &app.admin_key)
            .await,
        StatusCode::OK,
    )
    .await
}

/// Whether agent `name` is `online`.
pub async fn online(app: &TestApp, name: &str) -> bool {
    get_agent(app, name).await["online"]
        .as_bool()
        .expect("`online` is a bool")
}

/// The calling agent, as `GET /me` shows it.
pub async fn me(app: &TestApp, credential: &str) -> Value {
    expect_json(app.get("/api/v1/me", credential).await, StatusCode::OK).await
}

/// The status of `GET /me` with `credential`.
pub async fn me_status(app: &TestApp, credential: &str) -> StatusCode {
    app.get("/api/v1/me", credential).await.status()
}

/// Disables or enables agent `name` as the admin.
pub async fn set_disabled(app: &TestApp, name: &str, disabled: bool) {
    let res = app
        .patch(
            &format!("/api/v1/agents/{name}"),
            &app.admin_key,
            json!({ "disabled": disabled }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The tokens of agent `name` (one page, the last), as the admin.
pub async fn tokens_of(app: &TestApp, name: &str) -> Vec<Value> {
    let list = expect_json(
        app.get(&format!("/api/v1/agents/{name}/tokens"), &app.admin_key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["next_cursor"], Value::Null);
    list["tokens"].as_array().unwrap().clone()
}

/// The ids of agent `name`'s tokens, oldest first.
pub async fn token_ids(app: &TestApp, name: &str) -> Vec<String> {
    tokens_of(app, name)
        .await
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Another token for agent `name`, created by the admin with `body`: its key and id.
pub async fn new_token(app: &TestApp, name: &str, body: Value) -> (String, String) {
    let token = app.create_token(&app.admin_key, name, body).await;
    (
        token["key"].as_str().unwrap().to_owned(),
        token["id"].as_str().unwrap().to_owned(),
    )
}

/// Revokes token `id` as the admin (which kicks its sockets).
pub async fn revoke_token(app: &TestApp, id: &str) {
    let res = app
        .delete(&format!("/api/v1/tokens/{id}"), &app.admin_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// Revokes `agent`'s first API token as the admin.
pub async fn revoke_first_token(app: &TestApp, agent: &str) {
    let id = token_ids(app, agent).await.remove(0);
    revoke_token(app, &id).await;
}

/// The tables of the schema (SPEC §3).
pub const SCHEMA_TABLES: [&str; 9] = [
    "agents",
    "api_tokens",
    "rooms",
    "room_members",
    "messages",
    "audit_events",
    "read_cursors",
    "agent_cards",
    "agent_card_keys",
];

/// Every seq the `tasks` answered, sorted.
pub async fn sorted_seqs(tasks: Vec<tokio::task::JoinHandle<Vec<i64>>>) -> Vec<i64> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

/// Row count of `table`, read straight from the test database.
pub async fn count_rows(app: &TestApp, table: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&app.db.url).await.expect("test database");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap_or_else(|e| panic!("table {table} is readable: {e}"))
        .expect("a count");
    let n: i64 = row.try_get("", "n").expect("an integer count");
    db.close().await.ok();
    n
}

/// The state every hostile-input test starts from (alice, her room `general` with one
/// message) and checks again at the end with [`assert_intact`]; answers alice's key.
pub async fn seed_for_attacks(app: &TestApp) -> String {
    let alice = app.create_agent("alice", "agent").await;
    app.create_room(&alice, "general").await;
    app.post_message(&alice, "general", "before the attack")
        .await;
    alice
}

/// Agents, rooms and messages are all still there and readable.
pub async fn assert_intact(app: &TestApp, agents: &[&str], messages: i64) {
    assert_eq!(agent_names(app).await, agents);
    let got = all_messages(app, "general").await;
    assert_eq!(got.len() as i64, messages);
    assert_eq!(got[0]["body"], "before the attack");
    for table in SCHEMA_TABLES {
        assert!(count_rows(app, table).await >= 0);
    }
    assert_eq!(count_rows(app, "agents").await, agents.len() as i64);
    assert_eq!(count_rows(app, "messages").await, messages);
}
