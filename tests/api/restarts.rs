//! Deploys that stock clients survive by themselves (SPEC §4, §10): real `agenthub`
//! processes, fleets of the official JavaScript client and of python-socketio with default
//! reconnection settings and no retry code of their own (they rejoin with `since` from their
//! `connect` handler, nothing more), producers posting throughout over REST and over a socket.
//! Every client must come back, never see a `connect_error` refusal, and end with every
//! acknowledged message exactly once after dedupe by seq.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fleet::{
    Acked, Balancer, Fleet, Library, RestProducer, add_producer_acks,
    assert_came_back_with_everything,
};
use crate::support::processes::{HubProcess, NodePair};
use crate::support::services::OwnPostgres;
use crate::support::*;

const ROOMS: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];

/// A fleet plan: `count` sockets of `agents` (keys), alternating WebSocket-only and polling
/// with upgrade unless `websocket_only`, each in two rooms.
fn plan(
    url: &str,
    keys: &[String],
    count: usize,
    websocket_only: bool,
    producer: Option<Value>,
) -> Value {
    let sockets: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "key": keys[i % keys.len()],
                "transport": if websocket_only || i % 2 == 0 { "websocket" } else { "polling" },
                "rooms": [ROOMS[i % ROOMS.len()], ROOMS[(i + 1) % ROOMS.len()]],
            })
        })
        .collect();
    json!({"url": url, "sockets": sockets, "producer": producer})
}

/// The hub's agents for a run: `js` and `py` fleet agents, a socket producer, a REST producer.
struct Agents {
    js: Vec<String>,
    py: Vec<String>,
    socket_producer: String,
    rest_producer: String,
}

async fn agents(base: &str, admin: &str) -> Agents {
    let api = Api::new(base);
    let agent_key = async |name: String| api.create_agent(admin, &name, "agent").await.0;
    let mut js = Vec::new();
    for i in 0..10 {
        js.push(agent_key(format!("js{i}")).await);
    }
    let mut py = Vec::new();
    for i in 0..3 {
        py.push(agent_key(format!("py{i}")).await);
    }
    let socket_producer = agent_key("psock".into()).await;
    let rest_producer = agent_key("prest".into()).await;
    for room in ROOMS {
        api.create_room(&rest_producer, room).await;
    }
    Agents {
        js,
        py,
        socket_producer,
        rest_producer,
    }
}

/// Restarts `hub` (SIGTERM, start, ready) and waits until every socket of both fleets is back
/// after at least `connects` connections each.
async fn restart_under_fleets(
    hub: &mut HubProcess,
    (js, py): (&mut Fleet, &mut Fleet),
    connects: u64,
) {
    hub.terminate().await;
    hub.restart().await;
    hub.wait_ready(Duration::from_secs(30)).await;
    js.wait_all_back(connects, Duration::from_secs(30)).await;
    py.wait_all_back(connects, Duration::from_secs(30)).await;
}

/// After the restart: let the producers go on, stop the REST one, check both fleets, and
/// stop them. A message the socket producer had acknowledged by the first report is required
/// (it had a second and a half to arrive); later ones may still be in flight.
async fn settle_and_check(mut js: Fleet, mut py: Fleet, rest: RestProducer, before_restart: usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut expected: Acked = rest.finish().await;
    let total: usize = expected.values().map(|m| m.len()).sum();
    assert!(
        total > before_restart,
        "the REST producer got through after the restart"
    );
    let first = js.report().await;
    add_producer_acks(&mut expected, &first, "r0");
    assert!(
        first["producer"]["acked"]
            .as_object()
            .is_some_and(|a| a.len() > 5),
        "the socket producer kept sending: {}",
        first["producer"]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let js_report = js.report().await;
    let py_report = py.report().await;
    assert_came_back_with_everything(&js_report, &expected);
    assert_came_back_with_everything(&py_report, &expected);
    js.stop().await;
    py.stop().await;
}

/// Starts both fleets on `url` (`js` + `py` sockets, the JS one with the socket producer),
/// waits until they are in, and starts the REST producer.
async fn start_traffic(
    url: &str,
    a: &Agents,
    (js, py): (usize, usize),
    websocket_only: bool,
) -> (Fleet, Fleet, RestProducer) {
    let producer =
        json!({"key": a.socket_producer, "room": "r0", "interval_ms": 50, "prefix": "sock"});
    let mut js = Fleet::start(
        Library::Node,
        &plan(url, &a.js, js, websocket_only, Some(producer)),
    );
    let mut py = Fleet::start(Library::Python, &plan(url, &a.py, py, websocket_only, None));
    js.next("ready", Duration::from_secs(60)).await;
    py.next("ready", Duration::from_secs(60)).await;
    let rest = RestProducer::start(
        vec![url.to_owned()],
        a.rest_producer.clone(),
        ROOMS.map(String::from).to_vec(),
        Duration::from_millis(40),
    );
    (js, py, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_under_live_stock_clients_brings_every_one_back_with_nothing_missed() {
    let db = TestDb::new(Backend::Postgres).await;
    let (mut hub, admin) = HubProcess::start(db.dir.path(), &db.url, &[]).await;
    let base = hub.base();
    let a = agents(&base, &admin).await;
    let (mut js, mut py, rest) = start_traffic(&base, &a, (50, 10), false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = rest.count().await;
    assert!(before > 0, "the REST producer is running");

    restart_under_fleets(&mut hub, (&mut js, &mut py), 2).await;
    settle_and_check(js, py, rest, before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_deploy_behind_a_load_balancer_brings_every_websocket_client_back() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut nodes = NodePair::start(&db).await;
    let admin = nodes.admin.clone();
    let balancer = Balancer::start(vec![nodes.one.addr(), nodes.two.addr()]).await;
    let url = balancer.url();
    let a = agents(&url, &admin).await;
    let (mut js, mut py, rest) = start_traffic(&url, &a, (30, 6), true).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = rest.count().await;

    for node in [&mut nodes.one, &mut nodes.two] {
        // Everyone is back (on either node) before the next node goes.
        restart_under_fleets(node, (&mut js, &mut py), 1).await;
    }
    settle_and_check(js, py, rest, before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_get_back_by_themselves_after_a_restart_during_a_database_outage() {
    let pg = OwnPostgres::new();
    pg.start();
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, admin) = HubProcess::start(dir.path(), &pg.url(), &[]).await;
    let base = hub.base();
    let a = agents(&base, &admin).await;
    let (mut js, mut py, rest) = start_traffic(&base, &a, (10, 4), false).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let expected = rest.finish().await;
    assert!(!expected.is_empty());

    // The database goes away, the hub is restarted into the outage and waits for it.
    let out = pg.stop_immediately();
    assert!(out.status.success(), "pg_ctl stop");
    hub.terminate().await;
    hub.restart().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stuck = js.report().await;
    assert!(
        stuck["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["connected"] == false),
        "no socket gets in while the database is down: {stuck}"
    );
    pg.start();
    hub.wait_ready(Duration::from_secs(30)).await;
    let js_report = js.wait_all_back(2, Duration::from_secs(30)).await;
    let py_report = py.wait_all_back(2, Duration::from_secs(30)).await;
    assert_came_back_with_everything(&js_report, &expected);
    assert_came_back_with_everything(&py_report, &expected);
    js.stop().await;
    py.stop().await;
}
