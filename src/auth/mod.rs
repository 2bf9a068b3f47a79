//! Authentication and authorization: API keys, JWTs, the permission rules, refused-credential
//! limits. It knows no transport: the REST extractors live in `http`, request parsing in `net`.
//!
//! Every use of a credential is checked against its token and agent (token revoked or
//! expired, agent disabled) as the database had them within the last second (`accepted`), so
//! a revocation takes effect within the 2 s bound of SPEC §4.

mod accepted;
mod failures;
pub mod jwt;
pub mod keys;
mod permissions;
mod secret;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use entity::{agents, api_tokens};
use uuid::Uuid;

use self::accepted::{Accepted, Row};

pub use accepted::ACCEPTED_FOR;
pub use failures::{AuthFailures, ip_key};
pub use jwt::JwtKeys;
pub use permissions::{Caller, CredentialKind, credential_live};
pub use secret::load_or_create_secret;

use crate::error::{Error, Result};
use crate::model::Role;
use crate::store::Store;
use crate::telemetry::Metrics;

/// How long a refused credential is remembered, so repeating it costs no database lookup.
const REFUSED_FOR: std::time::Duration = std::time::Duration::from_secs(10);
/// At most this many refused credentials are remembered (then the memory starts over).
const REFUSED_MAX: usize = 10_000;

/// Turns credentials into callers; shared by REST and the Socket.IO handshake.
pub struct Authenticator {
    store: Store,
    jwt: JwtKeys,
    metrics: Arc<Metrics>,
    /// Digests of credentials the database refused lately: a flood of one bad key (or a
    /// revoked JWT) is answered from here. A refused credential never becomes valid again,
    /// except a key of an agent re-enabled within these seconds.
    refused: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Rows of credentials the database accepted lately.
    accepted: Accepted,
}

impl Authenticator {
    pub fn new(store: Store, jwt: JwtKeys, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            jwt,
            metrics,
            refused: Default::default(),
            accepted: Accepted::default(),
        }
    }

    /// A token or agent changed on this node (revoked, disabled, enabled): its next use reads
    /// it again. Other nodes see the change within [`ACCEPTED_FOR`].
    pub fn credentials_changed(&self) {
        self.accepted.clear();
    }

    /// Forgets every remembered refusal (an agent was enabled again on this node; other
    /// nodes accept its keys again within `REFUSED_FOR`).
    pub fn forget_refusals(&self) {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn recently_refused(&self, digest: &str) -> bool {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused
            .get(digest)
            .is_some_and(|at| at.elapsed() < REFUSED_FOR)
    }

    fn remember_refused(&self, digest: String) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= REFUSED_MAX {
            refused.retain(|_, at| at.elapsed() < REFUSED_FOR);
            if refused.len() >= REFUSED_MAX {
                refused.clear();
            }
        }
        refused.insert(digest, std::time::Instant::now());
    }

    /// Counts a refused credential (`auth_failures_total`).
    pub fn count_failure(&self) {
        self.metrics.auth_failures.inc();
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// Authenticates a bearer credential: an API key (`ahk_…`) or a JWT.
    pub async fn authenticate(&self, credential: &str) -> Result<Caller> {
        self.authenticate_as_of(credential)
            .await
            .map(|(caller, _)| caller)
    }

    /// [`Self::authenticate`], and when the database state it was checked against was read
    /// (earlier than now when a remembered row served it).
    pub async fn authenticate_as_of(&self, credential: &str) -> Result<(Caller, Instant)> {
        let digest = keys::hash(credential);
        let result = if self.recently_refused(&digest) {
            Err(Error::unauthorized())
        } else if keys::is_api_key(credential) {
            self.key(&digest).await
        } else {
            self.authenticate_jwt(credential).await
        };
        self.remembered(digest, result)
    }

    pub async fn authenticate_key(&self, key: &str) -> Result<Caller> {
        let digest = keys::hash(key);
        let result = if self.recently_refused(&digest) {
            Err(Error::unauthorized())
        } else {
            self.key(&digest).await
        };
        self.remembered(digest, result).map(|(caller, _)| caller)
    }

    /// Whether the credential of `token_id` is still live (token neither revoked nor expired,
    /// agent enabled), against state no older than [`ACCEPTED_FOR`].
    pub async fn still_live(&self, token_id: Uuid) -> Result<bool> {
        Ok(self
            .row(token_id)
            .await?
            .is_some_and(|r| credential_live(&r.token, &r.agent, Utc::now())))
    }

    /// Counts a refusal and remembers the credential as refused.
    fn remembered<T>(&self, digest: String, result: Result<T>) -> Result<T> {
        if result
            .as_ref()
            .is_err_and(|e| e.code == crate::error::ErrorCode::Unauthorized)
        {
            self.remember_refused(digest);
        }
        self.counted(result)
    }

    fn counted<T>(&self, result: Result<T>) -> Result<T> {
        if result
            .as_ref()
            .is_err_and(|e| e.code == crate::error::ErrorCode::Unauthorized)
        {
            self.count_failure();
        }
        result
    }

    /// The token row of `token_id` and its agent: remembered, or read now.
    async fn row(&self, token_id: Uuid) -> Result<Option<Row>> {
        if let Some(row) = self.accepted.fresh(token_id) {
            return Ok(Some(row));
        }
        let as_of = Instant::now();
        let found = self.store.token_by_id(token_id).await?;
        Ok(found.map(|(token, agent)| self.keep(as_of, token, agent)))
    }

    fn keep(&self, as_of: Instant, token: api_tokens::Model, agent: agents::Model) -> Row {
        let row = Row {
            as_of,
            token,
            agent,
        };
        self.accepted.keep(row.clone());
        row
    }

    async fn key(&self, digest: &str) -> Result<(Caller, Instant)> {
        let remembered = self
            .accepted
            .key_id(digest)
            .and_then(|id| self.accepted.fresh(id));
        let (row, read) = match remembered {
            Some(row) => (row, false),
            None => {
                let as_of = Instant::now();
                let (token, agent) = self
                    .store
                    .token_by_hash(digest)
                    .await?
                    .ok_or_else(Error::unauthorized)?;
                self.accepted.keep_key_id(digest.to_owned(), token.id);
                (self.keep(as_of, token, agent), true)
            }
        };
        let Row {
            as_of,
            token,
            agent,
        } = row;
        let caller = Self::caller(token.clone(), agent, CredentialKind::ApiKey)?;
        if read {
            // Off the request's path: `last_used_at` is advisory (at most once a minute).
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(&token).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
        Ok((caller, as_of))
    }

    async fn authenticate_jwt(&self, jwt: &str) -> Result<(Caller, Instant)> {
        let claims = self.jwt.verify(jwt).ok_or_else(Error::unauthorized)?;
        // A JWT is dead from its `exp` second on (the library still accepts `exp == now`).
        if claims.exp <= Utc::now().timestamp() {
            return Err(Error::unauthorized());
        }
        let Row {
            as_of,
            token,
            agent,
        } = self
            .row(claims.tid)
            .await?
            .ok_or_else(Error::unauthorized)?;
        if agent.id != claims.sub {
            return Err(Error::unauthorized());
        }
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        let caller = Self::caller(token, agent, CredentialKind::Jwt { expires_at })?;
        Ok((caller, as_of))
    }

    /// The state checks every use repeats: token live, agent enabled, role known.
    fn caller(
        token: api_tokens::Model,
        agent: agents::Model,
        kind: CredentialKind,
    ) -> Result<Caller> {
        if !credential_live(&token, &agent, Utc::now()) {
            return Err(Error::unauthorized());
        }
        let role = Role::parse(&agent.role).ok_or_else(Error::unauthorized)?;
        Ok(Caller {
            token_id: token.id,
            agent,
            role,
            kind,
        })
    }

    /// Mints a JWT for an authenticated API-key caller.
    pub fn issue_jwt(&self, caller: &Caller) -> Result<(String, DateTime<Utc>)> {
        self.jwt
            .issue(
                caller.agent.id,
                &caller.agent.name,
                caller.role.as_str(),
                caller.token_id,
            )
            .map_err(Error::internal)
    }
}
