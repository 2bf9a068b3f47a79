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

#[cfg(test)]
mod fuzz {
    //! Property tests over the client-address input: whatever a client writes in
    //! `X-Forwarded-For`, the address is the peer's or the header's last entry, never an
    //! earlier one, and nothing panics.

    use std::net::{IpAddr, SocketAddr};

    use axum::http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    use super::client_ip;

    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
            any::<std::net::Ipv6Addr>().prop_map(|ip| ip.to_string()),
            "[ -~]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn the_client_address_is_the_peer_or_the_last_forwarded_entry(
            entries in prop::collection::vec(entry(), 0..6),
            trust in any::<bool>(),
        ) {
            let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
            let mut headers = HeaderMap::new();
            let joined = entries.join(",");
            if let Ok(value) = HeaderValue::from_str(&joined) {
                headers.insert("x-forwarded-for", value);
            }
            let got = client_ip(&headers, Some(peer), trust);
            let last = headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|e| e.trim().parse::<IpAddr>().ok());
            let expected = if trust { last.unwrap_or(peer.ip()) } else { peer.ip() };
            prop_assert_eq!(got, Some(expected));
        }

        #[test]
        fn ip_keys_are_stable_and_group_ipv6_by_64(ip in any::<std::net::Ipv6Addr>(), low in any::<u64>()) {
            let key = crate::auth::ip_key(IpAddr::V6(ip));
            prop_assert_eq!(crate::auth::ip_key(key), key);
            let same_64 = std::net::Ipv6Addr::from((u128::from(ip) & !u128::from(u64::MAX)) | u128::from(low));
            if ip.to_ipv4_mapped().is_none() && same_64.to_ipv4_mapped().is_none() {
                prop_assert_eq!(crate::auth::ip_key(IpAddr::V6(same_64)), key);
            }
        }
    }
}
