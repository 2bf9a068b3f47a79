//! Setting up a run over REST with the admin key (agents, their API keys, rooms), and posting
//! messages with an agent's key.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub struct Rest {
    http: reqwest::Client,
    base: String,
    /// The admin key, or the agent key of a producer.
    key: String,
}

impl Rest {
    pub fn new(addr: SocketAddr, key: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{addr}/api/v1"),
            key,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Publishes the card of agent `name` (admin key) offering `methods`.
    pub async fn card(&self, name: &str, methods: &[&str]) -> anyhow::Result<()> {
        let path = format!("/agents/{name}/card");
        let res = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"skills": [], "methods": methods}))
            .send()
            .await
            .with_context(|| format!("PUT {path}"))?;
        if !res.status().is_success() {
            bail!("PUT {path}: {}", res.status());
        }
        Ok(())
    }

    /// Creates `n` agents named `{prefix}-{i}` and returns an API key for each.
    pub async fn agents(&self, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}-{i}");
            self.post("/agents", json!({"name": name, "role": "agent"}))
                .await?;
            let token = self
                .post(&format!("/agents/{name}/tokens"), json!({}))
                .await?;
            keys.push(token["key"].as_str().context("a key")?.to_owned());
        }
        Ok(keys)
    }

    pub async fn room(&self, name: &str) -> anyhow::Result<()> {
        self.post("/rooms", json!({"name": name})).await.map(drop)
    }
}
