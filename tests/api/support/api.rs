//! A hub's REST API at a base URL, whichever process serves it: the in-process test server,
//! an `agenthub` OS process, or a node of a cluster.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request sent")
}

impl Api {
    pub fn new(base: impl Into<String>) -> Api {
        Api::with_client(base, reqwest::Client::new())
    }

    pub fn with_client(base: impl Into<String>, http: reqwest::Client) -> Api {
        Api {
            base: base.into(),
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to `path` (e.g. `/api/v1/me`), with `Authorization: Bearer <token>` if given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        send(self.request(Method::GET, path, Some(token))).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        send(self.request(Method::POST, path, Some(token)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        send(self.request(Method::PATCH, path, Some(token)).json(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str) -> Response {
        send(self.request(Method::PUT, path, Some(token))).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        send(self.request(Method::DELETE, path, Some(token))).await
    }

    /// `method path` without any credential.
    pub async fn anonymous(&self, method: Method, path: &str) -> Response {
        send(self.request(method, path, None)).await
    }

    /// Polls `GET path` every 50 ms until it answers 200; panics with `what` after `limit`.
    pub async fn wait_for_ok(&self, path: &str, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(res) = self.http.get(self.url(path)).send().await
                && res.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET path` as `token`, asserting 200, and its JSON body.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let res = self.get(path, token).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("a JSON body")
    }

    /// `GET path` without a credential: (status, JSON body or null).
    pub async fn probe(&self, path: &str) -> (StatusCode, Value) {
        let res = self.anonymous(Method::GET, path).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The `/metrics` text of a hub without `METRICS_TOKEN`.
    pub async fn metrics_text(&self) -> String {
        let res = self.anonymous(Method::GET, "/metrics").await;
        assert_eq!(res.status(), StatusCode::OK, "GET /metrics");
        res.text().await.expect("the metrics text")
    }

    /// Creates an agent with `role` as `admin`, and an API token for it: (key, token id).
    pub async fn create_agent(&self, admin: &str, name: &str, role: &str) -> (String, String) {
        let res = self
            .post("/api/v1/agents", admin, json!({"name": name, "role": role}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating agent {name}");
        let token = self.create_token(admin, name, json!({})).await;
        (
            token["key"].as_str().unwrap().to_owned(),
            token["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A token of agent `name` created with `credential`: the created-token body.
    pub async fn create_token(&self, credential: &str, name: &str, body: Value) -> Value {
        let res = self
            .post(&format!("/api/v1/agents/{name}/tokens"), credential, body)
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "creating a token for {name}"
        );
        res.json().await.expect("a JSON body")
    }

    /// Creates a room as `key` with `body` (`name`, `topic`, `private`), asserting 201.
    pub async fn create_room_with(&self, key: &str, body: Value) -> Value {
        let res = self.post("/api/v1/rooms", key, body.clone()).await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating room {body}");
        res.json().await.expect("a JSON body")
    }

    /// Creates a public room `name` as `key`, asserting 201, and returns it.
    pub async fn create_room(&self, key: &str, name: &str) -> Value {
        self.create_room_with(key, json!({"name": name})).await
    }

    /// Creates a private room `name` as `key`, asserting 201, and returns it.
    pub async fn create_private_room(&self, key: &str, name: &str) -> Value {
        self.create_room_with(key, json!({"name": name, "private": true}))
            .await
    }

    /// Posts a text message to `room` as `key`, asserting 201, and returns it.
    pub async fn post_message(&self, key: &str, room: &str, body: &str) -> Value {
        let res = self
            .post(
                &format!("/api/v1/rooms/{room}/messages"),
                key,
                json!({"body": body}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "posting to {room}");
        res.json().await.expect("a JSON body")
    }

    /// Exchanges an API key for a JWT.
    pub async fn jwt(&self, key: &str) -> String {
        let res = send(self.request(Method::POST, "/api/v1/auth/token", Some(key))).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The whole history of `room` as `key`, oldest first (pages of 100 with `after`).
    pub async fn whole_history(&self, key: &str, room: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/api/v1/rooms/{room}/messages?after={after}&limit=100");
            let res = self.get(&path, key).await;
            assert_eq!(res.status(), StatusCode::OK, "history of {room}");
            let page: Value = res.json().await.unwrap();
            let messages = page["messages"].as_array().unwrap().clone();
            let Some(last) = messages.last() else {
                return all;
            };
            after = last["seq"].as_i64().unwrap();
            all.extend(messages);
            if page["has_more"] != true {
                return all;
            }
        }
    }
}
