//! JWT issue and verify: HS256 only, `iss`/`aud` = `agenthub`, `kid` naming the signing key.
//!
//! Verification accepts the current secret and, while configured, the previous one, so the
//! secret rotates with zero downtime (RUNBOOK.md).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const ISSUER: &str = "agenthub";
const AUDIENCE: &str = "agenthub";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The agent id.
    pub sub: Uuid,
    pub name: String,
    pub role: String,
    /// The API token this JWT was minted from: revoking it ends the JWT too.
    pub tid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(secret: &[u8]) -> Self {
        // The kid names the key without revealing it: a short hash of the secret.
        let kid = hex::encode(&Sha256::digest(secret)[..6]);
        Self {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

pub struct JwtKeys {
    current: Key,
    old: Option<Key>,
    ttl_seconds: i64,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8], old: Option<&[u8]>, ttl_seconds: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // We are the only issuer, so there is no foreign clock to forgive.
        validation.leeway = 0;
        Self {
            current: Key::new(secret),
            old: old.map(Key::new),
            ttl_seconds: ttl_seconds as i64,
            validation,
        }
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Signs a JWT for an agent, minted from one of its API tokens.
    pub fn issue(
        &self,
        agent_id: Uuid,
        name: &str,
        role: &str,
        token_id: Uuid,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let exp = now + self.ttl_seconds;
        let claims = Claims {
            sub: agent_id,
            name: name.to_owned(),
            role: role.to_owned(),
            tid: token_id,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp,
            jti: Uuid::now_v7(),
        };
        let header = Header {
            kid: Some(self.current.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.current.encoding)?;
        Ok((token, DateTime::from_timestamp(exp, 0).unwrap_or_default()))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry. The `kid` picks the key;
    /// without a known `kid` every configured key is tried.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let keys = [Some(&self.current), self.old.as_ref()];
        let matching = keys
            .iter()
            .flatten()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()));
        match matching {
            Some(key) => self.decode(token, key),
            None => keys.iter().flatten().find_map(|k| self.decode(token, k)),
        }
    }

    fn decode(&self, token: &str, key: &Key) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn a_jwt_verifies_with_its_key_and_the_rotation_fallback() {
        let old = JwtKeys::new(A, None, 60);
        let (token, _) = old
            .issue(Uuid::now_v7(), "amy", "agent", Uuid::now_v7())
            .unwrap();
        assert!(old.verify(&token).is_some());
        assert!(JwtKeys::new(B, Some(A), 60).verify(&token).is_some());
        assert!(JwtKeys::new(B, None, 60).verify(&token).is_none());
    }

    #[test]
    fn a_tampered_jwt_is_refused() {
        let keys = JwtKeys::new(A, None, 60);
        let (token, _) = keys
            .issue(Uuid::now_v7(), "amy", "agent", Uuid::now_v7())
            .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"00000000-0000-0000-0000-000000000000","role":"admin"}"#,
        );
        parts[1] = &forged;
        assert!(keys.verify(&parts.join(".")).is_none());
    }
}
