//! Socket.IO (SPEC §4–§5) over real WebSockets: handshake, events, broadcasts, presence.

use std::time::Duration;

use serde_json::json;

use crate::support::sio::refusal;
use crate::support::*;

async fn a_message_reaches_the_room_but_not_the_sending_socket(app: TestApp) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    let [a1, a2, b] = joined_sockets(&app, "lobby", [&amy, &amy, &bob]).await;
    let ack = a1
        .send_message(json!({"room": "lobby", "body": "hi <b>all</b>", "client_id": "c1"}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["duplicate"], false);
    let message = &ack["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["room"], "lobby");
    assert_eq!(message["sender"]["name"], "amy");
    assert_eq!(message["body"], "hi <b>all</b>");
    for other in [&a2, &b] {
        let got = other.next_event("message:new").await;
        assert_eq!(&got, message);
    }
    a1.assert_no_event("message:new", Duration::from_millis(300))
        .await;

    // A repeated client_id: the stored message, no second broadcast.
    let again = a1
        .send_message(json!({"room": "lobby", "body": "changed", "client_id": "c1"}))
        .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"], *message);
    b.assert_no_event("message:new", Duration::from_millis(300))
        .await;
}

async fn handshakes_without_a_valid_credential_are_refused(app: TestApp) {
    for auth in [
        None,
        Some(json!({})),
        Some(json!({"token": "ahk_nope"})),
        Some(json!({"token": "not.a.jwt"})),
    ] {
        assert_eq!(
            refusal(app.addr, auth.clone(), &[]).await,
            Refused::ConnectError("unauthorized".into()),
            "{auth:?}"
        );
    }
    // The Authorization header works too.
    let header = format!("Bearer {}", app.admin_key);
    let s = Sio::connect_with(app.addr, None, &[("authorization", header.as_str())]).await;
    assert!(s.is_ok());
}

async fn a_revoked_token_disconnects_its_socket_within_two_seconds(app: TestApp) {
    let amy = app.create_agent("amy", "agent").await;
    let s = Sio::connect(app.addr, &amy).await;
    revoke_first_token(&app, "amy").await;
    assert!(
        s.closed_within(Duration::from_secs(2)).await,
        "kicked within 2 s"
    );
    let kicked = app.audit_events("socket-kicked").await;
    assert_eq!(kicked.len(), 1);
}

crate::on_both_backends!(
    a_message_reaches_the_room_but_not_the_sending_socket,
    handshakes_without_a_valid_credential_are_refused,
    a_revoked_token_disconnects_its_socket_within_two_seconds,
);
