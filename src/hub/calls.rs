//! Calls between agents (SPEC §12): one agent asks another to do something and waits for
//! the answer, with a deadline, progress and cancel. The hub checks a call (who may call,
//! whom, which method), keeps the calls in flight on this node, and counts their outcomes;
//! `realtime` carries them to and from the sockets. Calls are never stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use super::Hub;
use crate::auth::Caller;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{AgentRef, timestamp};
use crate::telemetry::OutcomeLabels;

/// `timeout_ms` bounds and default.
pub const MIN_CALL_TIMEOUT_MS: u64 = 100;
pub const MAX_CALL_TIMEOUT_MS: u64 = 300_000;
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 30_000;
/// Calls one socket may have in flight.
pub const MAX_CALLS_PER_SOCKET: usize = 64;

/// `rpc:call`.
#[derive(Debug, Deserialize)]
pub struct CallInput {
    pub to: String,
    pub method: String,
    #[serde(default)]
    pub params: Option<Value>,
    pub timeout_ms: Option<u64>,
}

/// A call that passed the checks, on its way to the callee.
pub struct Call {
    pub id: String,
    pub callee: AgentRef,
    pub method: String,
    pub timeout: Duration,
    pub started: Instant,
    /// `rpc:request` as the callee's socket gets it.
    pub request: RpcRequest,
}

#[derive(Debug, Clone, Serialize)]
pub struct RpcRequest {
    pub id: String,
    pub from: AgentRef,
    pub method: String,
    pub params: Value,
    pub deadline: String,
}

/// How a call ended, for `rpc_calls_total{outcome}`.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Ok,
    Error,
    Timeout,
    Canceled,
    Unavailable,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::Unavailable => "unavailable",
        }
    }
}

/// How long a callee found for (name, method) is reused without a lookup. Only finds are
/// remembered, and this node forgets them when a card is published or an agent changed here;
/// another node's change reaches this one within this long.
pub const CALLEE_REUSED_FOR: Duration = Duration::from_secs(1);

/// Callees recently found, by (name, method).
#[derive(Default)]
pub struct Callees {
    found: Mutex<HashMap<(String, String), (AgentRef, Instant)>>,
}

impl Callees {
    fn get(&self, name: &str, method: &str) -> Option<AgentRef> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        let (agent, at) = found.get(&(name.to_owned(), method.to_owned()))?;
        (at.elapsed() < CALLEE_REUSED_FOR).then(|| agent.clone())
    }

    fn put(&self, name: &str, method: &str, agent: AgentRef) {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= 10_000 {
            found.retain(|_, (_, at)| at.elapsed() < CALLEE_REUSED_FOR);
        }
        found.insert(
            (name.to_owned(), method.to_owned()),
            (agent, Instant::now()),
        );
    }

    /// Forgets every find (a card or an agent changed).
    pub fn clear(&self) {
        self.found.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

struct Pending {
    caller_sid: String,
    callee_sid: String,
    cancel: Option<oneshot::Sender<()>>,
}

/// The calls in flight from this node's sockets, by id.
#[derive(Default)]
pub struct Calls {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The socket a call id was made for: ids are `rpc_<random>.<caller socket id>`, so the
/// callee's node can route progress back to the caller's node without a lookup. The random
/// part makes an id a capability only the caller and the callee hold.
pub fn caller_socket_of(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("rpc_")?;
    let (random, sid) = rest.split_once('.')?;
    (random.len() == 32 && !sid.is_empty()).then_some(sid)
}

/// The callee's answer to `rpc:request`, as the caller's ack gets it: `{"ok":true,
/// "result"}` or `{"ok":false,"error":{"code","message"}}`. Anything else is `internal`.
pub fn answer_of(ack: Value, max_bytes: usize) -> Result<Value> {
    // The ack's arguments: the first one is the answer.
    let answer = match ack {
        Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
        other => other,
    };
    let malformed = || {
        Error::new(
            ErrorCode::Internal,
            "the callee answered with a malformed ack",
        )
    };
    let Value::Object(mut answer) = answer else {
        return Err(malformed());
    };
    match answer.get("ok") {
        Some(Value::Bool(true)) => {
            let result = answer.remove("result").unwrap_or(Value::Null);
            if serde_json::to_vec(&result).map_or(usize::MAX, |v| v.len()) > max_bytes {
                return Err(Error::payload_too_large(format!(
                    "the callee's result exceeds {max_bytes} bytes (MAX_MESSAGE_BYTES)"
                )));
            }
            Ok(result)
        }
        Some(Value::Bool(false)) => {
            let error = answer.get("error").ok_or_else(malformed)?;
            let code = error
                .get("code")
                .cloned()
                .and_then(|c| serde_json::from_value::<ErrorCode>(c).ok())
                .unwrap_or(ErrorCode::Internal);
            let message: String = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the callee refused the call")
                .chars()
                .take(1024)
                .collect();
            let mut e = Error::new(code, message);
            if code == ErrorCode::RateLimited {
                // `rate_limited` always says when to retry (SPEC §5): the callee's, or 1 s.
                e.retry_after_ms = Some(
                    error
                        .get("retry_after_ms")
                        .and_then(Value::as_u64)
                        .unwrap_or(1000),
                );
            }
            Err(e)
        }
        _ => Err(malformed()),
    }
}

fn size_of(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

impl Hub {
    /// Checks a call: observers may not call; the callee must exist, be enabled and list the
    /// method in its card (`not_found`); `timeout_ms` is 100..=300000; params are at most
    /// `MAX_MESSAGE_BYTES` serialized. Whether it is online is for the caller of this to find.
    pub async fn prepare_call(
        &self,
        caller: &Caller,
        socket: &str,
        input: CallInput,
    ) -> Result<Call> {
        if !caller.role.can_write() {
            return Err(Error::forbidden("observers cannot call"));
        }
        let timeout_ms = input.timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS);
        if !(MIN_CALL_TIMEOUT_MS..=MAX_CALL_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(Error::bad_request("timeout_ms must be 100 to 300000"));
        }
        let params = input.params.unwrap_or(Value::Null);
        let max = self.settings.max_message_bytes;
        if size_of(&params) > max {
            return Err(Error::payload_too_large(format!(
                "params exceed {max} bytes (MAX_MESSAGE_BYTES)"
            )));
        }
        if !super::is_method_name(&input.method) {
            return Err(Error::bad_request(
                "method must match ^[a-z][a-z0-9_.:-]{0,63}$",
            ));
        }
        let callee = match self.callees.get(&input.to, &input.method) {
            Some(callee) => callee,
            None => {
                let agent = self.agent_named(&input.to).await?;
                if agent.disabled_at.is_some()
                    || !self.offers_method(agent.id, &input.method).await?
                {
                    return Err(Error::not_found("agent with that method"));
                }
                let callee = AgentRef::from_model(&agent);
                self.callees.put(&input.to, &input.method, callee.clone());
                callee
            }
        };
        let timeout = Duration::from_millis(timeout_ms);
        let deadline = Utc::now() + chrono::Duration::milliseconds(timeout_ms as i64);
        let id = format!("rpc_{}.{socket}", uuid::Uuid::new_v4().simple());
        Ok(Call {
            request: RpcRequest {
                id: id.clone(),
                from: AgentRef::from_model(&caller.agent),
                method: input.method.clone(),
                params,
                deadline: timestamp(deadline),
            },
            id,
            callee,
            method: input.method,
            timeout,
            started: Instant::now(),
        })
    }

    /// Records a call in flight from `caller_sid` to `callee_sid`; past
    /// [`MAX_CALLS_PER_SOCKET`] it is `rate_limited`. Resolves when the caller cancels it.
    pub fn start_call(
        &self,
        id: &str,
        caller_sid: &str,
        callee_sid: &str,
    ) -> Result<oneshot::Receiver<()>> {
        let mut pending = self.calls.lock();
        let mine = pending
            .values()
            .filter(|p| p.caller_sid == caller_sid)
            .count();
        if mine >= MAX_CALLS_PER_SOCKET {
            return Err(Error::rate_limited(100));
        }
        let (cancel, canceled) = oneshot::channel();
        pending.insert(
            id.to_owned(),
            Pending {
                caller_sid: caller_sid.to_owned(),
                callee_sid: callee_sid.to_owned(),
                cancel: Some(cancel),
            },
        );
        Ok(canceled)
    }

    /// `rpc:cancel` from the caller's socket (`not_found` for any other, or a call over).
    pub fn cancel_call(&self, caller_sid: &str, id: &str) -> Result<()> {
        let mut pending = self.calls.lock();
        let call = pending
            .get_mut(id)
            .filter(|p| p.caller_sid == caller_sid)
            .ok_or_else(|| Error::not_found("call"))?;
        if let Some(cancel) = call.cancel.take() {
            let _ = cancel.send(());
        }
        Ok(())
    }

    /// Cancels every call of a caller's socket that is gone.
    pub fn cancel_calls_of(&self, caller_sid: &str) {
        for p in self.calls.lock().values_mut() {
            if p.caller_sid == caller_sid
                && let Some(cancel) = p.cancel.take()
            {
                let _ = cancel.send(());
            }
        }
    }

    /// Whether `callee_sid` may send progress for call `id`: `Some(true)` it is the call's
    /// callee, `Some(false)` it is not, `None` the call is not from this node (its id is the
    /// capability then).
    pub fn is_callee_of(&self, id: &str, callee_sid: &str) -> Option<bool> {
        self.calls
            .lock()
            .get(id)
            .map(|p| p.callee_sid == callee_sid)
    }

    /// The call is over: forgotten and counted.
    pub fn finish_call(&self, call: &Call, outcome: Outcome) {
        self.calls.lock().remove(&call.id);
        self.metrics
            .rpc_calls_total
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.metrics
            .rpc_call_duration
            .observe(call.started.elapsed().as_secs_f64());
    }
}
