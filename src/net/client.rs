//! Who a request comes from, read from the request itself: the bearer credential of an
//! `Authorization` header and the client's address (the TCP peer, or with `TRUST_PROXY` the
//! nearest proxy's `X-Forwarded-For` entry). Shared by REST and the Socket.IO handshake.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

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

/// The client's address: the TCP peer, or with `TRUST_PROXY=true` the address the nearest
/// proxy put last in `X-Forwarded-For` (the entries before it are client-controlled).
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

    }
}
