//! Socket.IO authentication at the handshake (SPEC §4): API keys and JWTs in the auth payload
//! or the Authorization header (never the query string), refusals of bad, disabled and revoked
//! credentials, foreign origins, and the socket cap per agent.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::jwt::b64;
use crate::support::sio::{handshake_at, refusal, token_refusal};
use crate::support::*;

async fn api_keys_and_jwts_authenticate_the_handshake_in_auth_or_header(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let via_auth_key = Sio::connect(app.addr, &amy).await;
    let via_auth_jwt = Sio::connect(app.addr, &jwt).await;
    let header_key = format!("Bearer {amy}");
    let header_jwt = format!("Bearer {jwt}");
    let via_header_key = Sio::connect_with(app.addr, None, &[("authorization", &header_key)])
        .await
        .expect("API key in the Authorization header connects");
    let via_header_jwt = Sio::connect_with(app.addr, None, &[("authorization", &header_jwt)])
        .await
        .expect("JWT in the Authorization header connects");
    for (i, s) in [
        &via_auth_key,
        &via_auth_jwt,
        &via_header_key,
        &via_header_jwt,
    ]
    .into_iter()
    .enumerate()
    {
        let ack = join(s, "lobby").await;
        let members = ack["members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "one agent: {ack}");
        assert_eq!(members[0]["agent"]["name"], "amy");
        assert_eq!(members[0]["connections"], i + 1);
    }
}

async fn a_token_in_the_query_string_is_not_accepted(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    let base = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
    for query in [
        format!("&token={amy}"),
        format!("&token={jwt}"),
        format!("&access_token={jwt}"),
        format!("&api_key={amy}"),
        format!("&auth={amy}"),
    ] {
        let url = format!("{base}{query}");
        assert_eq!(
            handshake_at(&url, None).await,
            Err("unauthorized".to_owned()),
            "{query}"
        );
    }
    // The same connection with the token in the auth payload does connect.
    assert_eq!(
        handshake_at(&base, Some(json!({"token": amy}))).await,
        Ok(())
    );
}

async fn handshakes_with_bad_credentials_are_refused_as_unauthorized(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    // Another payload under the original signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let claims = b64(
        br#"{"sub":"x","name":"admin","role":"admin","iss":"agenthub","aud":"agenthub","exp":9999999999}"#,
    );
    let tampered = format!("{}.{claims}.{}", parts[0], parts[2]);
    let unauthorized = Refused::ConnectError("unauthorized".into());
    for auth in [
        json!({"token": tampered}),
        json!({"token": ""}),
        json!({"token": 5}),
        json!({"token": format!("Bearer {amy}")}),
        json!({"key": amy}),
    ] {
        assert_eq!(
            refusal(app.addr, Some(auth.clone()), &[]).await,
            unauthorized,
            "{auth}"
        );
    }
    let basic = "Basic YW15OnNlY3JldA==";
    assert_eq!(
        refusal(app.addr, None, &[("authorization", basic)]).await,
        unauthorized
    );
}

async fn a_disabled_agent_is_refused_at_the_handshake(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    set_disabled(&app, "amy", true).await;
    assert_eq!(token_refusal(app.addr, &amy).await, "unauthorized");
    assert_eq!(
        token_refusal(app.addr, &jwt).await,
        "unauthorized",
        "a JWT minted before the agent was disabled"
    );
    let header = format!("Bearer {amy}");
    assert_eq!(
        refusal(app.addr, None, &[("authorization", &header)]).await,
        Refused::ConnectError("unauthorized".into())
    );
    // Enabled again, the same key connects.
    set_disabled(&app, "amy", false).await;
    let s = Sio::connect(app.addr, &amy).await;
    s.assert_alive().await;
}

async fn a_revoked_tokens_key_and_jwts_are_refused_at_the_handshake(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let jwt = app.jwt(&amy).await;
    revoke_first_token(&app, "amy").await;
    for token in [&amy, &jwt] {
        assert_eq!(token_refusal(app.addr, token).await, "unauthorized");
    }
}

async fn an_agent_over_the_socket_cap_is_refused_with_too_many_connections(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let jwt = app.jwt(&amy).await;
    let first = Sio::connect(app.addr, &amy).await;
    let _second = Sio::connect(app.addr, &jwt).await;
    for token in [&amy, &jwt] {
        assert_eq!(token_refusal(app.addr, token).await, "too_many_connections");
    }
    // Other agents are not affected.
    let b1 = Sio::connect(app.addr, &bob).await;
    let _b2 = Sio::connect(app.addr, &bob).await;
    b1.assert_alive().await;
    // A freed slot can be used again.
    first.close().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match Sio::connect_with(app.addr, Some(json!({"token": amy})), &[]).await {
            Ok(s) => {
                s.assert_alive().await;
                break;
            }
            Err(Refused::ConnectError(m)) if m == "too_many_connections" => {
                assert!(Instant::now() < deadline, "the slot is freed within 2 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

async fn a_handshake_from_a_foreign_origin_is_refused_with_403(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let auth = Some(json!({"token": amy}));
    assert_eq!(
        refusal(app.addr, auth.clone(), &[("origin", "http://evil.example")]).await,
        Refused::Http(403)
    );
    // The same origin, and no Origin at all (agents), are allowed.
    let same = format!("http://{}", app.addr);
    let s = Sio::connect_with(app.addr, auth.clone(), &[("origin", &same)])
        .await
        .expect("same origin connects");
    s.assert_alive().await;
    let s = Sio::connect_with(app.addr, auth, &[])
        .await
        .expect("no Origin connects");
    s.assert_alive().await;
}

crate::on_both_backends!(
    api_keys_and_jwts_authenticate_the_handshake_in_auth_or_header,
    a_handshake_from_a_foreign_origin_is_refused_with_403,
    a_token_in_the_query_string_is_not_accepted,
    handshakes_with_bad_credentials_are_refused_as_unauthorized,
    a_disabled_agent_is_refused_at_the_handshake,
    a_revoked_tokens_key_and_jwts_are_refused_at_the_handshake,
);

crate::on_both_backends_with!(
    with_two_sockets_per_agent,
    |s| s.max_sockets_per_agent = 2,
    [an_agent_over_the_socket_cap_is_refused_with_too_many_connections]
);
