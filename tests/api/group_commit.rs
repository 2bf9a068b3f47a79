//! The group-commit write path: concurrent sends from many sockets to many rooms land in
//! shared transactions, and each keeps the guarantees of a single send — gap-free seq per
//! room, one stored message per `client_id` (also when its repeats are in one batch), nothing
//! stored for a room archived after the sender joined it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::support::*;

const ROOMS: usize = 4;
const SOCKETS: usize = 12;
const EACH: usize = 15;

async fn concurrent_sends_to_many_rooms_stay_gap_free_and_each_client_id_is_stored_once(
    app: TestApp,
) {
    for r in 0..ROOMS {
        app.create_room(&app.admin_key, &format!("batch-{r}")).await;
    }
    let mut tasks = Vec::new();
    for s in 0..SOCKETS {
        let key = app.create_agent(&format!("sender-{s}"), "agent").await;
        let room = format!("batch-{}", s % ROOMS);
        // Two sockets of one agent send the same client_ids at the same moment: the repeats
        // land in one batch or in the next, and each is answered with the stored message.
        let twins = [
            Sio::joined(app.addr, &key, &room).await,
            Sio::joined(app.addr, &key, &room).await,
        ];
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..EACH {
                let payload = json!({"room": room, "body": format!("s{s} m{i}"), "client_id": format!("s{s}-{i}")});
                let (a, b) = tokio::join!(
                    twins[0].send_message(payload.clone()),
                    twins[1].send_message(payload)
                );
                acks.push((room.clone(), a, b));
            }
            acks
        }));
    }
    let mut seqs_by_room: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for task in tasks {
        for (room, a, b) in task.await.unwrap() {
            assert_eq!(
                (&a["ok"], &b["ok"]),
                (&json!(true), &json!(true)),
                "{a} {b}"
            );
            assert_eq!(
                a["message"], b["message"],
                "both answers are the one stored message"
            );
            let duplicates = [&a, &b]
                .iter()
                .filter(|ack| ack["duplicate"] == true)
                .count();
            assert_eq!(
                duplicates, 1,
                "exactly one of the twins is the repeat: {a} {b}"
            );
            seqs_by_room
                .entry(room)
                .or_default()
                .push(a["message"]["seq"].as_i64().unwrap());
        }
    }
    // Sends did share transactions: more messages than commits.
    let text = app.metrics_text().await;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let (messages, batches) = (
        value("message_write_batch_size_sum"),
        value("message_write_batch_size_count"),
    );
    assert!(
        messages > batches,
        "{messages} messages in {batches} batches"
    );
    for (room, mut acked) in seqs_by_room {
        acked.sort();
        let stored = (SOCKETS / ROOMS * EACH) as i64;
        assert_eq!(acked, (1..=stored).collect::<Vec<_>>(), "room {room}");
        assert_eq!(last_seq(&app, &room).await, stored, "room {room}");
        let history = all_messages(&app, &room).await;
        assert_eq!(
            seqs(&history),
            (1..=stored).collect::<Vec<_>>(),
            "room {room}"
        );
        let client_ids: BTreeSet<&str> = history
            .iter()
            .map(|m| m["client_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            client_ids.len(),
            stored as usize,
            "room {room}: each client_id once"
        );
    }
}

async fn a_room_archived_after_the_join_takes_nothing_while_other_rooms_go_on(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    app.create_room(&alice, "closing").await;
    app.create_room(&alice, "open").await;
    let closing = Sio::joined(app.addr, &alice, "closing").await;
    let open = Sio::joined(app.addr, &alice, "open").await;
    assert_eq!(send(&closing, "closing", "before").await["seq"], 1);

    let res = app
        .patch("/api/v1/rooms/closing", &alice, json!({"archived": true}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    // Sends to both rooms at once: the archived room's is refused, the other is stored.
    let (refused, stored) = tokio::join!(
        closing.send_message(json!({"room": "closing", "body": "after"})),
        open.send_message(json!({"room": "open", "body": "still open"}))
    );
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    assert_eq!(
        refused["error"]["message"], "the room is archived",
        "{refused}"
    );
    assert_eq!(stored["ok"], true, "{stored}");
    assert_eq!(stored["message"]["seq"], 1);
    assert_eq!(
        last_seq(&app, "closing").await,
        1,
        "nothing stored, no seq taken"
    );
    let history = all_messages(&app, "closing").await;
    assert_eq!(bodies(&history), vec!["before".to_owned()]);
}

/// Senders of one batch are answered together; their broadcasts still go out in seq order,
/// so a reader that tracks the last seq it saw never sees one go backwards.
async fn readers_see_concurrent_senders_messages_in_seq_order(app: TestApp) {
    const SENDERS: usize = 8;
    const EACH: usize = 20;
    app.create_room(&app.admin_key, "ordered").await;
    let reader = Sio::joined(app.addr, &app.admin_key, "ordered").await;
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let key = app.create_agent(&format!("writer-{s}"), "agent").await;
        let socket = Sio::joined(app.addr, &key, "ordered").await;
        tasks.push(tokio::spawn(async move {
            let sends = (0..EACH).map(|i| {
                socket.send_message(json!({"room": "ordered", "body": format!("s{s} m{i}")}))
            });
            for ack in futures_util::future::join_all(sends).await {
                assert_eq!(ack["ok"], true, "{ack}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..SENDERS * EACH {
        seen.push(
            reader.next_event("message:new").await["seq"]
                .as_i64()
                .unwrap(),
        );
    }
    let total = (SENDERS * EACH) as i64;
    assert_eq!(
        seen,
        (1..=total).collect::<Vec<_>>(),
        "in seq order, each once"
    );
}

crate::on_both_backends!(
    readers_see_concurrent_senders_messages_in_seq_order,
    concurrent_sends_to_many_rooms_stay_gap_free_and_each_client_id_is_stored_once,
    a_room_archived_after_the_join_takes_nothing_while_other_rooms_go_on,
);
