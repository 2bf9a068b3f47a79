//! Reading and forging JWTs the way an attacker (or a careful client) would: their parts
//! unverified, and HMAC signatures with any algorithm and secret.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The header and the claims of a JWT, unverified.
pub fn parts_of(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialization");
    (decode_part(parts[0]), decode_part(parts[1]))
}

/// The `exp` claim of a JWT.
pub fn jwt_exp(jwt: &str) -> i64 {
    parts_of(jwt).1["exp"].as_i64().expect("an exp claim")
}

/// A Unix time as the API writes timestamps.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Signs `claims` with `secret` using `alg` (an HMAC algorithm), with no `kid`.
pub fn sign(alg: Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing")
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The local instant of a Unix time in seconds (a JWT's `exp`, say).
pub fn instant_of(unix: i64) -> Instant {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let delta = unix * 1000 - now_ms;
    if delta >= 0 {
        Instant::now() + Duration::from_millis(delta as u64)
    } else {
        Instant::now() - Duration::from_millis((-delta) as u64)
    }
}

/// How long until `t` (zero once it has passed).
pub fn until(t: Instant) -> Duration {
    t.saturating_duration_since(Instant::now())
}
