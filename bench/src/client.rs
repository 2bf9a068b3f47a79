//! The smallest Socket.IO v5 client that can load the hub: Engine.IO 4 over one WebSocket,
//! the CONNECT with `{"token"}`, pings answered, events written as text frames, and every
//! frame the server sends handed as text to the scenario's callback (it parses only what it
//! measures), so the generator spends little CPU of its own.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A connected socket: frames go out through `send`; the reader task runs until the server
/// closes the connection.
#[derive(Clone)]
pub struct Socket {
    out: mpsc::UnboundedSender<Message>,
    /// Turns true when the reader task ends (the connection is gone).
    closed: watch::Receiver<bool>,
}

impl Socket {
    /// Connects and authenticates; `on_frame` sees every Socket.IO frame after the CONNECT
    /// (not Engine.IO pings), in the reader task.
    pub async fn connect(
        addr: SocketAddr,
        token: &str,
        mut on_frame: impl FnMut(&str) + Send + 'static,
    ) -> anyhow::Result<Socket> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("websocket connect")?;
        let (mut sink, mut stream) = ws.split();
        // Engine.IO OPEN, then our Socket.IO CONNECT and the server's answer.
        let open = next_text(&mut stream).await?;
        if !open.starts_with('0') {
            bail!("expected the Engine.IO open packet, got {open:?}");
        }
        let connect = format!("40{}", serde_json::json!({ "token": token }));
        sink.send(Message::text(connect)).await?;
        loop {
            let answer = next_text(&mut stream).await?;
            match answer.as_bytes() {
                [b'4', b'0', ..] => break,
                [b'4', b'4', ..] => bail!("connect_error: {answer}"),
                [b'2'] => sink.send(Message::text("3")).await?,
                _ => bail!("unexpected answer to CONNECT: {answer:?}"),
            }
        }
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pong = out.clone();
        let (gone, closed) = watch::channel(false);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                match msg {
                    Message::Text(t) if t.as_str() == "2" => {
                        let _ = pong.send(Message::text("3"));
                    }
                    Message::Text(t) => on_frame(t.as_str()),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = gone.send(true);
        });
        Ok(Socket { out, closed })
    }

    /// Resolves once the connection is gone.
    pub async fn closed(&self) {
        let _ = self.closed.clone().wait_for(|gone| *gone).await;
    }

    /// Emits `event` with a JSON `payload`, asking for an ack with `ack_id`.
    pub fn emit_with_ack(&self, ack_id: u64, event: &str, payload: &str) -> bool {
        let frame = format!("42{ack_id}[\"{event}\",{payload}]");
        self.out.send(Message::text(frame)).is_ok()
    }

    /// Emits `event` with a JSON `payload`, without an ack.
    pub fn emit(&self, event: &str, payload: &str) -> bool {
        let frame = format!("42[\"{event}\",{payload}]");
        self.out.send(Message::text(frame)).is_ok()
    }

    /// Answers the server's event `ack_id` with one JSON argument.
    pub fn ack(&self, ack_id: u64, payload: &str) -> bool {
        let frame = format!("43{ack_id}[{payload}]");
        self.out.send(Message::text(frame)).is_ok()
    }

    /// Closes the connection (the reader task ends when the server answers).
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

async fn next_text<S>(stream: &mut S) -> anyhow::Result<String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => bail!("connection closed"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// The ack id of an ack frame (`43<id>[…]`).
pub fn ack_id(frame: &str) -> Option<u64> {
    let rest = frame.strip_prefix("43")?;
    let end = rest.find('[')?;
    rest[..end].parse().ok()
}

/// The number that follows `marker` in `frame` (digits only), without parsing the JSON.
pub fn number_after(frame: &str, marker: &str) -> Option<u64> {
    let at = frame.find(marker)? + marker.len();
    let digits = frame[at..].bytes().take_while(u8::is_ascii_digit).count();
    frame[at..at + digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_without_parsing_json() {
        assert_eq!(ack_id(r#"4317[{"ok":true}]"#), Some(17));
        assert_eq!(ack_id(r#"42["message:new",{}]"#), None);
        let frame = r#"42["message:new",{"seq":42,"body":"t:123456"}]"#;
        assert_eq!(number_after(frame, r#""seq":"#), Some(42));
        assert_eq!(number_after(frame, "t:"), Some(123456));
    }
}
