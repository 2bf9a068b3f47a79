//! REST extractors: the authenticated `Caller` and the client IP.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::Caller;
use crate::app::AppState;
use crate::error::Error;

/// The `Bearer` credential of an `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        if parts
            .extensions
            .get::<crate::http::CredentialRefused>()
            .is_some()
        {
            return Err(Error::unauthorized());
        }
        let credential = bearer(&parts.headers).ok_or_else(Error::unauthorized)?;
        let caller = state.auth.authenticate(credential).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The client's address: the TCP peer, or with `TRUST_PROXY=true` the address the nearest
/// proxy put last in `X-Forwarded-For` (the entries before it are client-controlled).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy {
        // Only the last entry was written by the nearest proxy; one that does not parse is
        // not skipped for an earlier, client-written one: the peer address is used instead.
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
        if last.is_some() {
            return last;
        }
    }
    peer.map(|p| p.ip())
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(
            &parts.headers,
            peer,
            state.settings.trust_proxy,
        )))
    }
}

impl ClientIp {
    pub fn to_string_opt(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }

    /// The caller at this address, as the audit trail records it.
    pub fn actor(self, caller: &Caller) -> crate::hub::Actor {
        crate::hub::Actor {
            agent_id: Some(caller.agent.id),
            ip: self.to_string_opt(),
        }
    }
}
