//! Calls between agents (SPEC §12): `rpc:call` to one socket of the callee and its answer
//! back, progress, cancel at both ends, deadlines, refusals and limits; across two nodes,
//! including the callee's node killed mid-call.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cluster::Cluster;
use crate::support::services::shared_redis_url;
use crate::support::*;

/// Publishes a card for `name` (with its own key) listing `methods`.
async fn card(api: &Api, key: &str, name: &str, methods: &[&str]) {
    let res = api
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/agents/{name}/card"),
            Some(key),
        )
        .json(&json!({"skills": [], "methods": methods}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK, "card of {name}");
}

/// amy calls, bob (with a card offering `search` and `slow`) is called.
async fn pair(app: &TestApp) -> (Sio, Sio, String, String) {
    let [amy, bob] = app.create_agents(["amy", "bob"]).await;
    card(app, &bob, "bob", &["search", "slow"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let b = Sio::connect(app.addr, &bob).await;
    (a, b, amy, bob)
}

async fn a_call_reaches_the_callee_and_its_answer_comes_back(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let call = json!({"to": "bob", "method": "search", "params": {"q": "rust"}});
    let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
        let (request, id) = b.next_request("rpc:request").await;
        assert_eq!(
            keys(&request),
            key_set(&["id", "from", "method", "params", "deadline"])
        );
        assert_ref(&request["from"], "amy");
        assert_eq!(request["method"], "search");
        assert_eq!(request["params"], json!({"q": "rust"}));
        assert_timestamp(&request["deadline"]);
        let deadline = chrono::DateTime::parse_from_rfc3339(request["deadline"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let ahead = deadline - chrono::Utc::now();
        assert!(
            ahead > chrono::Duration::seconds(25) && ahead <= chrono::Duration::seconds(30),
            "the default deadline is 30 s ahead: {ahead}"
        );
        // The caller learnt the id first, so it could cancel.
        let accepted = a.next_event("rpc:accepted").await;
        assert_eq!(
            accepted,
            json!({"id": request["id"], "to": "bob", "method": "search"})
        );
        b.answer(id, json!({"ok": true, "result": {"hits": 3}}));
    });
    assert_eq!(ack, json!({"ok": true, "result": {"hits": 3}}));
    let text = app.metrics_text().await;
    assert!(text.contains("rpc_calls_total{outcome=\"ok\"} 1"), "{text}");
    assert!(text.contains("rpc_call_duration_seconds_count 1"), "{text}");
    // A result of any JSON, params omitted.
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "search"})),
        async {
            let (request, id) = b.next_request("rpc:request").await;
            assert_eq!(request["params"], Value::Null);
            b.answer(id, json!({"ok": true, "result": [1, "two", null]}));
        }
    );
    assert_eq!(ack["result"], json!([1, "two", null]));
}

async fn the_callees_refusal_reaches_the_caller_as_it_was_given(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    for (answer, code, message) in [
        (
            json!({"ok": false, "error": {"code": "bad_request", "message": "no query"}}),
            "bad_request",
            Some("no query"),
        ),
        (
            json!({"ok": false, "error": {"code": "not_found", "message": "nothing"}}),
            "not_found",
            Some("nothing"),
        ),
        (
            json!({"ok": false, "error": {"code": "made_up", "message": "?"}}),
            "internal",
            Some("?"),
        ),
        (json!("yes"), "internal", None),
        (json!({"result": 1}), "internal", None),
    ] {
        let call = json!({"to": "bob", "method": "search"});
        let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
            let (_, id) = b.next_request("rpc:request").await;
            b.answer(id, answer.clone());
        });
        assert_error(&ack, code);
        if let Some(m) = message {
            assert_eq!(ack["error"]["message"], m, "{ack}");
        }
    }
    let text = app.metrics_text().await;
    assert!(
        text.contains("rpc_calls_total{outcome=\"error\"} 5"),
        "{text}"
    );
}

async fn progress_from_the_callee_reaches_the_caller_only(app: TestApp) {
    let (a, b, _, bob) = pair(&app).await;
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "slow"})),
        async {
            let (request, id) = b.next_request("rpc:request").await;
            let call_id = request["id"].clone();
            for pct in [25, 50] {
                let p = b
                    .emit("rpc:progress", json!({"id": call_id, "data": {"pct": pct}}))
                    .await;
                assert_eq!(p, json!({"ok": true}));
                assert_eq!(
                    a.next_event("rpc:progress").await,
                    json!({"id": call_id, "data": {"pct": pct}})
                );
            }
            // Another socket, even of the callee, is not the one called.
            let other = Sio::connect(app.addr, &bob).await;
            let p = other
                .emit("rpc:progress", json!({"id": call_id, "data": 1}))
                .await;
            assert_error(&p, "not_found");
            let bogus = b
                .emit("rpc:progress", json!({"id": "rpc_nope", "data": 1}))
                .await;
            assert_error(&bogus, "not_found");
            b.answer(id, json!({"ok": true, "result": "done"}));
        }
    );
    assert_eq!(ack["result"], "done");
    a.assert_no_event("rpc:progress", QUIET).await;
    // The call is over: its progress is refused, not delivered late.
    let accepted = a.next_event("rpc:accepted").await;
    let late = b
        .emit("rpc:progress", json!({"id": accepted["id"], "data": 1}))
        .await;
    assert_error(&late, "not_found");
    a.assert_no_event("rpc:progress", QUIET).await;
}

/// SPEC §12 gives a call no id of the caller's: the caller tells its calls apart by the
/// order of their `rpc:accepted`, which follows the order it sent them in.
async fn rpc_accepted_follows_the_order_of_the_callers_calls(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let call = |n: i64| json!({"to": "bob", "method": "search", "params": {"n": n}});
    let (one, two, three, ()) = tokio::join!(
        a.try_emit("rpc:call", call(1), Duration::from_secs(5)),
        a.try_emit("rpc:call", call(2), Duration::from_secs(5)),
        a.try_emit("rpc:call", call(3), Duration::from_secs(5)),
        async {
            let mut by_id = std::collections::HashMap::new();
            for _ in 0..3 {
                let (request, id) = b.next_request("rpc:request").await;
                by_id.insert(
                    request["id"].as_str().unwrap().to_owned(),
                    request["params"]["n"].clone(),
                );
                b.answer(id, json!({"ok": true, "result": request["params"]["n"]}));
            }
            for n in 1..=3 {
                let accepted = a.next_event("rpc:accepted").await;
                assert_eq!(
                    by_id[accepted["id"].as_str().unwrap()],
                    n,
                    "accepted in call order"
                );
            }
        }
    );
    for (ack, n) in [(one, 1), (two, 2), (three, 3)] {
        assert_eq!(ack.expect("an answer")["result"], n);
    }
}

async fn a_callees_rate_limited_refusal_says_when_to_retry(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    for (error, retry) in [
        (
            json!({"code": "rate_limited", "message": "busy", "retry_after_ms": 250}),
            250,
        ),
        (json!({"code": "rate_limited", "message": "busy"}), 1000),
    ] {
        let (ack, ()) = tokio::join!(
            a.emit("rpc:call", json!({"to": "bob", "method": "search"})),
            async {
                let (_, id) = b.next_request("rpc:request").await;
                b.answer(id, json!({"ok": false, "error": error}));
            }
        );
        assert_error(&ack, "rate_limited");
        assert_eq!(ack["error"]["retry_after_ms"], retry, "{ack}");
    }
}

async fn the_caller_cancels_and_the_callee_is_told(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let started = Instant::now();
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "slow"})),
        async {
            let (request, id) = b.next_request("rpc:request").await;
            let accepted = a.next_event("rpc:accepted").await;
            assert_eq!(accepted["id"], request["id"]);
            let c = a.emit("rpc:cancel", json!({"id": accepted["id"]})).await;
            assert_eq!(c, json!({"ok": true}));
            assert_eq!(
                b.next_event("rpc:cancel").await,
                json!({"id": request["id"], "reason": "canceled"})
            );
            // A late answer goes nowhere.
            b.answer(id, json!({"ok": true, "result": "too late"}));
            // Over: canceling again finds nothing.
            let again = a.emit("rpc:cancel", json!({"id": accepted["id"]})).await;
            assert_error(&again, "not_found");
        }
    );
    assert_error(&ack, "conflict");
    assert_eq!(ack["error"]["message"], "canceled");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered at once"
    );
    // Only the caller's socket may cancel.
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "slow"})),
        async {
            let (request, id) = b.next_request("rpc:request").await;
            let c = b.emit("rpc:cancel", json!({"id": request["id"]})).await;
            assert_error(&c, "not_found");
            b.answer(id, json!({"ok": true, "result": 1}));
        }
    );
    assert_ok(&ack);
    let text = app.metrics_text().await;
    assert!(
        text.contains("rpc_calls_total{outcome=\"canceled\"} 1"),
        "{text}"
    );
}

async fn a_call_without_an_answer_before_its_deadline_times_out(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let started = Instant::now();
    let call = json!({"to": "bob", "method": "slow", "timeout_ms": 400});
    let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
        let (request, _) = b.next_request("rpc:request").await;
        assert_eq!(
            b.next_event("rpc:cancel").await,
            json!({"id": request["id"], "reason": "timeout"})
        );
    });
    assert_error(&ack, "timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(380) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let text = app.metrics_text().await;
    assert!(
        text.contains("rpc_calls_total{outcome=\"timeout\"} 1"),
        "{text}"
    );
}

async fn a_callee_that_disconnects_mid_call_fails_it_as_unavailable(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let started = Instant::now();
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "slow"})),
        async {
            b.next_request("rpc:request").await;
            b.close().await;
        }
    );
    assert_error(&ack, "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let text = app.metrics_text().await;
    assert!(
        text.contains("rpc_calls_total{outcome=\"unavailable\"} 1"),
        "{text}"
    );
}

async fn calls_to_nobody_who_can_answer_are_not_found_and_bad_calls_are_refused(app: TestApp) {
    let [amy, bob, cat, dan] = app.create_agents(["amy", "bob", "cat", "dan"]).await;
    let obs = app.create_agent("oscar", "observer").await;
    card(&app, &bob, "bob", &["search"]).await;
    card(&app, &dan, "dan", &["search"]).await;
    let a = Sio::connect(app.addr, &amy).await;
    let _b = Sio::connect(app.addr, &bob).await;
    let _c = Sio::connect(app.addr, &cat).await;
    for (call, code) in [
        (json!({"to": "ghost", "method": "search"}), "not_found"),
        (json!({"to": "bob", "method": "write"}), "not_found"),
        // cat is online but has no card; dan has the method but is offline.
        (json!({"to": "cat", "method": "search"}), "not_found"),
        (json!({"to": "dan", "method": "search"}), "not_found"),
        (
            json!({"to": "bob", "method": "search", "timeout_ms": 99}),
            "bad_request",
        ),
        (
            json!({"to": "bob", "method": "search", "timeout_ms": 300001}),
            "bad_request",
        ),
        (
            json!({"to": "bob", "method": "search", "timeout_ms": "1000"}),
            "bad_request",
        ),
        (json!({"to": "bob", "method": "Bad Method"}), "bad_request"),
        (json!({"to": "bob"}), "bad_request"),
        (json!({"method": "search"}), "bad_request"),
        (
            json!({"to": "bob", "method": "search", "params": {"big": "x".repeat(17000)}}),
            "payload_too_large",
        ),
    ] {
        let ack = a.emit("rpc:call", call.clone()).await;
        assert_error(&ack, code);
    }
    assert_error(
        &a.emit_args("rpc:call", vec![json!("bob")]).await,
        "bad_request",
    );
    a.assert_no_event("rpc:accepted", Duration::ZERO).await;
    let o = Sio::connect(app.addr, &obs).await;
    let ack = o
        .emit("rpc:call", json!({"to": "bob", "method": "search"}))
        .await;
    assert_error(&ack, "forbidden");
    // A disabled callee is not found either.
    set_disabled(&app, "bob", true).await;
    let ack = a
        .emit("rpc:call", json!({"to": "bob", "method": "search"}))
        .await;
    assert_error(&ack, "not_found");
}

async fn a_socket_has_at_most_64_calls_in_flight(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    for _ in 0..64 {
        a.emit_noack(
            "rpc:call",
            json!({"to": "bob", "method": "slow", "timeout_ms": 20000}),
        );
    }
    let mut ids = Vec::new();
    for _ in 0..64 {
        ids.push(b.next_request("rpc:request").await.1);
    }
    let ack = a
        .emit("rpc:call", json!({"to": "bob", "method": "slow"}))
        .await;
    assert_error(&ack, "rate_limited");
    // One answered: there is room again.
    b.answer(ids[0], json!({"ok": true, "result": null}));
    let mut answered = false;
    for _ in 0..50 {
        let call = json!({"to": "bob", "method": "search", "timeout_ms": 2000});
        let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
            if let Ok((_, id)) =
                tokio::time::timeout(Duration::from_millis(500), b.next_request("rpc:request"))
                    .await
            {
                b.answer(id, json!({"ok": true, "result": "room"}));
            }
        });
        if ack["ok"] == true {
            assert_eq!(ack["result"], "room");
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "a call fits again once one is over");
}

async fn an_answer_larger_than_max_message_bytes_is_refused(app: TestApp) {
    let (a, b, _, _) = pair(&app).await;
    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "search"})),
        async {
            let (request, id) = b.next_request("rpc:request").await;
            let big = b
                .emit(
                    "rpc:progress",
                    json!({"id": request["id"], "data": "p".repeat(70)}),
                )
                .await;
            assert_error(&big, "payload_too_large");
            b.answer(id, json!({"ok": true, "result": "r".repeat(70)}));
        }
    );
    assert_error(&ack, "payload_too_large");
}

crate::on_both_backends!(
    a_call_reaches_the_callee_and_its_answer_comes_back,
    the_callees_refusal_reaches_the_caller_as_it_was_given,
    progress_from_the_callee_reaches_the_caller_only,
    rpc_accepted_follows_the_order_of_the_callers_calls,
    a_callees_rate_limited_refusal_says_when_to_retry,
    the_caller_cancels_and_the_callee_is_told,
    a_call_without_an_answer_before_its_deadline_times_out,
    a_callee_that_disconnects_mid_call_fails_it_as_unavailable,
    calls_to_nobody_who_can_answer_are_not_found_and_bad_calls_are_refused,
);

crate::on_both_backends_with!(
    many_events,
    |s| s.rate_limit_ws_events_per_sec = 1000,
    [a_socket_has_at_most_64_calls_in_flight]
);

crate::on_both_backends_with!(
    small_messages,
    |s| s.max_message_bytes = 64,
    [an_answer_larger_than_max_message_bytes_is_refused]
);

/// Two nodes over Redis: the call, its progress and its answer cross nodes; so do cancel
/// and the deadline's cancel; the callee's node killed mid-call fails the call
/// `unavailable` within the node-death bound (SPEC §8, 15 s), before its 60 s deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_cross_nodes_and_fail_when_the_callees_node_dies() {
    let mut c = Cluster::start(2, shared_redis_url(), &[]).await;
    let [amy, bob] = c.agents(["amy", "bob"]).await;
    card(c.api(0), &bob, "bob", &["search"]).await;
    let a = Sio::connect(c.addr(0), &amy).await;
    let b = Sio::connect(c.addr(1), &bob).await;

    let call = json!({"to": "bob", "method": "search", "params": [1, 2]});
    let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
        let (request, id) = b.next_request("rpc:request").await;
        assert_eq!(request["params"], json!([1, 2]));
        assert_ref(&request["from"], "amy");
        let p = b
            .emit("rpc:progress", json!({"id": request["id"], "data": "half"}))
            .await;
        assert_ok(&p);
        assert_eq!(a.next_event("rpc:progress").await["data"], "half");
        b.answer(id, json!({"ok": true, "result": {"sum": 3}}));
    });
    assert_eq!(ack, json!({"ok": true, "result": {"sum": 3}}));

    let (ack, ()) = tokio::join!(
        a.emit("rpc:call", json!({"to": "bob", "method": "search"})),
        async {
            let (request, _) = b.next_request("rpc:request").await;
            assert_ok(&a.emit("rpc:cancel", json!({"id": request["id"]})).await);
            assert_eq!(b.next_event("rpc:cancel").await["reason"], "canceled");
        }
    );
    assert_error(&ack, "conflict");

    let call = json!({"to": "bob", "method": "search", "timeout_ms": 300});
    let (ack, ()) = tokio::join!(a.emit("rpc:call", call), async {
        b.next_request("rpc:request").await;
        assert_eq!(b.next_event("rpc:cancel").await["reason"], "timeout");
    });
    assert_error(&ack, "timeout");

    // kill -9 of the callee's node mid-call.
    let started = Instant::now();
    let call = json!({"to": "bob", "method": "search", "timeout_ms": 60000});
    let (ack, ()) = tokio::join!(
        a.try_emit("rpc:call", call, Duration::from_secs(25)),
        async {
            b.next_request("rpc:request").await;
            c.nodes[1].kill9();
        }
    );
    let ack = ack.expect("the call is answered within the node-death bound, not its deadline");
    assert_error(&ack, "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(22),
        "{:?}",
        started.elapsed()
    );
}
