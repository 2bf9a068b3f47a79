//! The REST extractors of who is calling: the authenticated [`Caller`] and the [`ClientIp`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::auth::Caller;
use crate::error::Error;
use crate::net::{bearer, client_ip};
use crate::state::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        if parts.extensions.get::<super::CredentialRefused>().is_some() {
            return Err(Error::unauthorized());
        }
        let credential = bearer(&parts.headers).ok_or_else(Error::unauthorized)?;
        let caller = state.auth.authenticate(credential).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The client's address (see [`client_ip`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

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
