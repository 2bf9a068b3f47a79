//! Sending and reading messages: validation, permissions, persistence.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::Hub;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{AgentRef, MessageView, Room, RoomName};
use crate::store::{HistoryPage, HistoryQuery, NewMessage, OnCommit, Queued, SendOutcome, Store};
use crate::telemetry::Metrics;

/// Serialized metadata may not exceed this many bytes (SPEC §3).
pub const MAX_METADATA_BYTES: usize = 4096;
/// `client_id` may not exceed this many characters (SPEC §3).
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// A page of messages (`missed`, history) holds at most this many bytes of serialized
/// messages (SPEC §5): 500 bodies of control characters would otherwise make one ack tens
/// of MiB.
pub const MAX_PAGE_BYTES: usize = 1 << 20;

/// Which end of a page to keep when it is over [`MAX_PAGE_BYTES`].
#[derive(Clone, Copy)]
enum Keep {
    /// Ascending from a cursor (`after`, `missed`): keep the oldest.
    Oldest,
    /// Back from a cursor (`before`, the latest): keep the newest.
    Newest,
}

/// Cuts an ascending page to [`MAX_PAGE_BYTES`]; true when it was cut (so more exist in the
/// page's direction).
fn cap_page(views: &mut Vec<MessageView>, keep: Keep) -> bool {
    let size = |v: &MessageView| serde_json::to_vec(v).map_or(0, |b| b.len() + 1);
    let mut total = 0;
    let fits = match keep {
        Keep::Oldest => views
            .iter()
            .take_while(|v| {
                total += size(v);
                total <= MAX_PAGE_BYTES
            })
            .count(),
        Keep::Newest => views
            .iter()
            .rev()
            .take_while(|v| {
                total += size(v);
                total <= MAX_PAGE_BYTES
            })
            .count(),
    };
    if fits == views.len() {
        return false;
    }
    match keep {
        Keep::Oldest => views.truncate(fits),
        Keep::Newest => {
            views.drain(..views.len() - fits);
        }
    }
    true
}

/// A message as a client submits it (REST body, `message:send`, `dm:send`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MessageInput {
    pub body: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    /// The seq of the message of the same room this one answers (SPEC §11 threads).
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// A [`MessageInput`] that passed [`MessageInput::validate`]: only these are stored.
#[derive(Debug, Clone)]
pub struct ValidMessage {
    body: String,
    client_id: Option<String>,
    /// An object, never JSON `null`.
    metadata: Option<Value>,
    reply_to: Option<i64>,
    /// The stream this message ends (set by the hub only).
    stream: Option<String>,
}

/// Where a post comes from, for its broadcast and its latency metric.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// When the send arrived, for `message_send_latency_seconds`.
    pub received: Instant,
    /// The socket that sent it, which gets its ack instead of a `message:new`.
    pub socket: Option<&'a str>,
}

/// A message in the write path (see [`Hub::submit_message`]).
pub struct Submitted {
    queued: Queued,
    room_id: uuid::Uuid,
    room: RoomName,
    sender: AgentRef,
    received: Instant,
    metrics: Arc<Metrics>,
    store: Store,
}

impl Submitted {
    /// The stored message, after its commit.
    pub async fn posted(self) -> Result<Posted> {
        let SendOutcome { message, duplicate } = self.queued.outcome().await?;
        if !duplicate {
            self.metrics.message_sent(self.received.elapsed());
        }
        let mut view = MessageView::from_model(self.room.as_str(), message, self.sender);
        // A new message has no replies yet; a repeat of a stored one may.
        if duplicate {
            view.reply_count = self
                .store
                .reply_counts(self.room_id, vec![view.seq])
                .await?
                .remove(&view.seq)
                .unwrap_or(0);
        }
        Ok(Posted {
            message: view,
            duplicate,
        })
    }
}

/// A stored message and whether it was already there (idempotent `client_id`).
pub struct Posted {
    pub message: MessageView,
    pub duplicate: bool,
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

impl ValidMessage {
    pub fn reply_to(&self) -> Option<i64> {
        self.reply_to
    }

    /// The message that ends stream `id`.
    pub fn ending_stream(mut self, id: &str) -> Self {
        self.stream = Some(id.to_owned());
        self
    }
}

impl MessageInput {
    /// Checks sizes and characters against SPEC §3 before anything is stored.
    pub fn validate(self, max_body_bytes: usize) -> Result<ValidMessage> {
        self.check(max_body_bytes)?;
        Ok(ValidMessage {
            body: self.body,
            client_id: self.client_id,
            metadata: self.metadata.filter(|m| !m.is_null()),
            reply_to: self.reply_to,
            stream: None,
        })
    }

    fn check(&self, max_body_bytes: usize) -> Result<()> {
        if self.body.is_empty() {
            return Err(Error::bad_request("body must not be empty"));
        }
        if self.body.len() > max_body_bytes {
            return Err(Error::payload_too_large(format!(
                "body exceeds {max_body_bytes} bytes"
            )));
        }
        if self.body.contains('\0') {
            return Err(Error::bad_request("body must not contain U+0000"));
        }
        check_reply_to(self.reply_to)?;
        if let Some(id) = &self.client_id {
            let n = id.chars().count();
            if n == 0 || n > MAX_CLIENT_ID_CHARS || id.contains('\0') {
                return Err(Error::bad_request(
                    "client_id must be 1 to 64 characters without U+0000",
                ));
            }
        }
        check_metadata(self.metadata.as_ref())
    }
}

/// `reply_to` is a seq: 1 or more (whether it exists is checked against the room).
pub fn check_reply_to(reply_to: Option<i64>) -> Result<()> {
    if reply_to.is_some_and(|r| r < 1) {
        return Err(Error::bad_request("reply_to must be a seq, 1 or more"));
    }
    Ok(())
}

/// Metadata is a JSON object of at most [`MAX_METADATA_BYTES`] without U+0000, or null.
pub fn check_metadata(metadata: Option<&Value>) -> Result<()> {
    match metadata {
        None | Some(Value::Null) => Ok(()),
        Some(m @ Value::Object(_)) => {
            if serde_json::to_vec(m).map_or(usize::MAX, |v| v.len()) > MAX_METADATA_BYTES {
                return Err(Error::payload_too_large("metadata exceeds 4096 bytes"));
            }
            if contains_nul(m) {
                return Err(Error::bad_request("metadata must not contain U+0000"));
            }
            Ok(())
        }
        Some(_) => Err(Error::bad_request("metadata must be an object or null")),
    }
}

impl Hub {
    /// Stores a message in a room the caller may write to and broadcasts it (unless it
    /// repeats a `client_id`): the one write path of `message:send`, `dm:send` and REST
    /// posts. Callers that need a joined socket check that first; this checks role,
    /// archival and DM membership.
    pub async fn post_message(
        &self,
        caller: &Caller,
        room: &Room,
        message: ValidMessage,
        origin: Origin<'_>,
    ) -> Result<Posted> {
        self.submit_message(caller, room, message, origin)
            .await?
            .posted()
            .await
    }

    /// [`Hub::post_message`] in two steps: this checks and queues the message, and returns
    /// once it is queued; [`Submitted::posted`] answers it after its commit. Messages
    /// submitted one after another are stored (and broadcast) in that order, so a socket may
    /// submit its next send before the previous one is answered.
    pub async fn submit_message(
        &self,
        caller: &Caller,
        room: &Room,
        message: ValidMessage,
        origin: Origin<'_>,
    ) -> Result<Submitted> {
        caller.require_poster(room)?;
        self.check_reply_exists(room, message.reply_to).await?;
        let sender = AgentRef::from_model(&caller.agent);
        // Broadcast from the write path, in commit order (see `deliver_in_order`).
        // The agent's message ends its activity in the room (SPEC §11), right after it.
        let on_commit: OnCommit = {
            let deliveries = self.deliveries.clone();
            let activity = self.activity.clone();
            let room = room.name.clone();
            let sender = sender.clone();
            let except = origin.socket.map(str::to_owned);
            Box::new(move |stored| {
                let idle = activity.end(&sender, room.as_str());
                let message = MessageView::from_model(room.as_str(), stored.clone(), sender);
                let message = super::Broadcast::Message(message);
                let Some(idle) = idle else {
                    let _ = deliveries.send(super::Delivery {
                        room,
                        what: message,
                        except,
                    });
                    return;
                };
                let _ = deliveries.send(super::Delivery {
                    room: room.clone(),
                    what: message,
                    except: except.clone(),
                });
                let _ = deliveries.send(super::Delivery {
                    room,
                    what: super::Broadcast::Event(super::RoomEvent::Activity(idle)),
                    except,
                });
            })
        };
        let queued = self
            .store
            .enqueue_message(NewMessage {
                room_id: room.id,
                sender_id: caller.agent.id,
                body: message.body,
                metadata: message.metadata,
                client_id: message.client_id,
                reply_to: message.reply_to,
                stream: message.stream,
                on_commit: Some(on_commit),
            })
            .await?;
        Ok(Submitted {
            queued,
            room_id: room.id,
            room: room.name.clone(),
            sender,
            received: origin.received,
            metrics: self.metrics.clone(),
            store: self.store.clone(),
        })
    }

    /// `reply_to` must name a message of the room (`not_found` otherwise). Messages are never
    /// deleted and seqs only grow, so one at or below the room's `last_seq` as the caller
    /// last read it exists without a lookup.
    pub async fn check_reply_exists(&self, room: &Room, reply_to: Option<i64>) -> Result<()> {
        let Some(seq) = reply_to else { return Ok(()) };
        if seq <= room.last_seq || self.store.message_exists(room.id, seq).await? {
            Ok(())
        } else {
            Err(Error::not_found("message to reply to"))
        }
    }

    /// Renders a page of one room's messages with their senders.
    async fn views(&self, room: &Room, page: HistoryPage) -> Result<Vec<MessageView>> {
        let senders = self.store.senders(&page.messages).await?;
        let seqs = page.messages.iter().map(|m| m.seq).collect();
        let counts = self.store.reply_counts(room.id, seqs).await?;
        Ok(page
            .messages
            .into_iter()
            .map(|m| {
                let sender = senders
                    .iter()
                    .find(|a| a.id == m.sender_id)
                    .map(AgentRef::from_model)
                    .unwrap_or_else(|| AgentRef {
                        id: m.sender_id,
                        name: String::new(),
                        display_name: String::new(),
                    });
                let mut view = MessageView::from_model(room.name.as_str(), m, sender);
                view.reply_count = counts.get(&view.seq).copied().unwrap_or(0);
                view
            })
            .collect())
    }

    /// What a rejoining socket missed: the oldest `max` messages after `since`, and whether
    /// more exist.
    pub async fn missed_since(
        &self,
        room: &Room,
        since: i64,
        max: u64,
    ) -> Result<(Vec<MessageView>, bool)> {
        let page = self
            .store
            .history(room.id, None, HistoryQuery::After(since), max)
            .await?;
        let has_more = page.has_more;
        let mut views = self.views(room, page).await?;
        let cut = cap_page(&mut views, Keep::Oldest);
        Ok((views, has_more || cut))
    }

    /// A page of history for a reader of the room — with `thread`, of the replies to that
    /// seq (which must exist); `limit` must be 1..=100.
    pub async fn history(
        &self,
        room: &Room,
        thread: Option<i64>,
        before: Option<i64>,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<(Vec<MessageView>, bool)> {
        let limit = match limit {
            None => 50,
            Some(l @ 1..=100) => l as u64,
            Some(_) => return Err(Error::bad_request("limit must be 1 to 100")),
        };
        if before.is_some_and(|b| b < 0) || after.is_some_and(|a| a < 0) {
            return Err(Error::bad_request("before and after are seqs: 0 or more"));
        }
        let (query, keep) = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(Error::bad_request("use either before or after, not both"));
            }
            (Some(b), None) => (HistoryQuery::Before(b), Keep::Newest),
            (None, Some(a)) => (HistoryQuery::After(a), Keep::Oldest),
            (None, None) => (HistoryQuery::Latest, Keep::Newest),
        };
        check_reply_to(thread)
            .map_err(|_| Error::bad_request("thread must be a seq, 1 or more"))?;
        if thread.is_some() {
            self.check_reply_exists(room, thread).await?;
        }
        let page = self.store.history(room.id, thread, query, limit).await?;
        let has_more = page.has_more;
        let mut views = self.views(room, page).await?;
        let cut = cap_page(&mut views, keep);
        Ok((views, has_more || cut))
    }
}
