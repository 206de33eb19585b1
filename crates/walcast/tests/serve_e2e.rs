//! `walcast serve` end to end: a real PostgreSQL, the gateway on port 0,
//! real WebSocket clients speaking both protocol versions, resumes from the
//! replay window, and a `kill -9` of walcast while rows are written.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use pgcluster::StopMode;
use pgcluster::testing::{TestDatabase, fresh_database, own_cluster};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WALCAST: &str = env!("CARGO_BIN_EXE_walcast");
const SECRET: &str = "serve-e2e-secret";

/// Open access to the test's own table.
const CONFIG: &str = r#"
[database]
tables = ["public.items"]

[channels]
open_roles = ["anon"]

[[policies]]
table = "public.items"
role = "anon"
row = "*"
"#;

/// A `walcast serve` process for one test database.
struct Serve {
    child: Child,
    addr: SocketAddr,
    _config: tempfile::NamedTempFile,
}

impl Serve {
    fn start(db: &TestDatabase, listen: &str) -> Serve {
        Self::start_on(&db.url, &db.name, listen)
    }

    fn start_on(url: &str, slot: &str, listen: &str) -> Serve {
        let config = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(config.path(), CONFIG).expect("write config");
        let mut child = Command::new(WALCAST)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("WALCAST_CONFIG", config.path())
            .env("WALCAST_SLOT", slot)
            .env("WALCAST_PUBLICATION", slot)
            .env("WALCAST_JWT_SECRET", SECRET)
            .env("WALCAST_LISTEN", listen)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn walcast serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                if !sent
                    && line.contains("walcast ready")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.to_owned());
                    sent = true;
                }
                if line.contains("ERROR") {
                    eprintln!("walcast: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("walcast serve is ready within 60 s")
            .parse()
            .expect("an address");
        Serve {
            child,
            addr,
            _config: config,
        }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn token(role: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({"role": role, "iat": now, "exp": now + 3600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A protocol client that normalises both vsns to (topic, event, payload).
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    vsn: &'static str,
    next_ref: u32,
}

impl Client {
    async fn connect(addr: SocketAddr, vsn: &'static str) -> Client {
        let url = format!(
            "ws://{addr}/realtime/v1/websocket?apikey={}&vsn={vsn}",
            token("anon")
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client {
            ws,
            vsn,
            next_ref: 0,
        }
    }

    async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        self.next_ref += 1;
        let reference = self.next_ref.to_string();
        let frame = if self.vsn == "1.0.0" {
            json!({"topic": topic, "event": event, "payload": payload, "ref": reference})
        } else {
            json!([reference, reference, topic, event, payload])
        };
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
        reference
    }

    /// The next frame as (topic, event, payload), within 10 s.
    async fn next(&mut self) -> (String, String, Value) {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("socket open")
                .expect("frame");
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).expect("JSON frame");
            let (topic, event, payload) = match frame {
                Value::Array(parts) => (parts[2].clone(), parts[3].clone(), parts[4].clone()),
                Value::Object(map) => (
                    map["topic"].clone(),
                    map["event"].clone(),
                    map["payload"].clone(),
                ),
                other => panic!("unexpected frame {other}"),
            };
            return (
                topic.as_str().unwrap_or_default().to_owned(),
                event.as_str().unwrap_or_default().to_owned(),
                payload,
            );
        }
    }

    /// The next frame whose event is `event`.
    async fn next_event(&mut self, event: &str) -> Value {
        loop {
            let (_, got, payload) = self.next().await;
            if got == event {
                return payload;
            }
        }
    }

    /// Joins `topic` with one filtered INSERT binding; returns the
    /// binding id from the reply. `resume` adds `config.resume`.
    async fn join(&mut self, topic: &str, filter: &str, resume: Option<&str>) -> u64 {
        let mut config = json!({
            "broadcast": {"self": false, "ack": false},
            "presence": {"enabled": false, "key": ""},
            "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "items", "filter": filter}],
            "private": false,
        });
        if let Some(position) = resume {
            config["resume"] = json!({ "position": position });
        }
        self.push(topic, "phx_join", json!({"config": config}))
            .await;
        let reply = self.next_event("phx_reply").await;
        assert_eq!(reply["status"], "ok", "join reply: {reply}");
        let binding = &reply["response"]["postgres_changes"][0];
        assert_eq!(binding["filter"], filter, "the binding is echoed");
        let system = self.next_event("system").await;
        assert_eq!(system["status"], "ok", "{system}");
        binding["id"].as_u64().expect("an id")
    }

    /// The next `postgres_changes` event's `data`.
    async fn next_change(&mut self, id: u64) -> Value {
        let payload = self.next_event("postgres_changes").await;
        assert_eq!(payload["ids"], json!([id]), "{payload}");
        payload["data"].clone()
    }
}

fn insert(db: &TestDatabase, id: i32, room: i32) {
    db.psql(&format!(
        "INSERT INTO items VALUES ({id}, {room}, 'item {id}')"
    ))
    .expect("insert");
}

fn new_items_db() -> TestDatabase {
    let db = fresh_database();
    db.psql("CREATE TABLE items (id int PRIMARY KEY, room int NOT NULL, body text)")
        .expect("create table");
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_vsns_receive_exactly_their_filtered_rows() {
    let db = new_items_db();
    let serve = Serve::start(&db, "127.0.0.1:0");
    for (n, vsn) in ["1.0.0", "2.0.0"].into_iter().enumerate() {
        let mut client = Client::connect(serve.addr, vsn).await;
        let room = 100 + n as i32;
        let id = client
            .join("realtime:room", &format!("room=eq.{room}"), None)
            .await;
        insert(&db, 1000 * room, room + 1000);
        insert(&db, 1000 * room + 1, room);
        let data = client.next_change(id).await;
        assert_eq!(data["type"], "INSERT");
        assert_eq!(data["table"], "items");
        assert_eq!(
            data["record"],
            json!({"id": 1000 * room + 1, "room": room, "body": format!("item {}", 1000 * room + 1)}),
            "vsn {vsn}: typed values, only the filtered row"
        );
        let position = data["position"].as_str().expect("position");
        let (epoch, rest) = position.split_once('/').expect("epoch/lsn.index");
        assert_eq!(epoch.len(), 16);
        assert_eq!(rest.len(), 16 + 1 + 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_with_a_position_gets_exactly_what_it_missed_then_live() {
    let db = new_items_db();
    let serve = Serve::start(&db, "127.0.0.1:0");
    let mut client = Client::connect(serve.addr, "2.0.0").await;
    let id = client.join("realtime:room", "room=eq.1", None).await;
    insert(&db, 1, 1);
    let seen = client.next_change(id).await;
    let position = seen["position"].as_str().expect("position").to_owned();
    drop(client);

    // Missed while away: two rows of room 1, one of room 2.
    insert(&db, 2, 1);
    insert(&db, 3, 2);
    insert(&db, 4, 1);

    let mut client = Client::connect(serve.addr, "1.0.0").await;
    let id = client
        .join("realtime:room", "room=eq.1", Some(&position))
        .await;
    assert_eq!(client.next_change(id).await["record"]["id"], 2);
    assert_eq!(client.next_change(id).await["record"]["id"], 4);
    insert(&db, 5, 1);
    assert_eq!(
        client.next_change(id).await["record"]["id"],
        5,
        "live after the replay, nothing twice"
    );

    // Positions walcast did not hand out are refused, and the channel stays live.
    for bad in [
        "nonsense".to_owned(),
        format!(
            "ffffffffffffffff/{}",
            position.split_once('/').expect("epoch").1
        ),
    ] {
        let mut client = Client::connect(serve.addr, "2.0.0").await;
        client
            .push(
                "realtime:other",
                "phx_join",
                json!({"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "items", "filter": "room=eq.7"}], "resume": {"position": bad}}}),
            )
            .await;
        assert_eq!(client.next_event("phx_reply").await["status"], "ok");
        assert_eq!(client.next_event("presence_state").await, json!({}));
        let ok = client.next_event("system").await;
        assert_eq!(ok["status"], "ok");
        let refused = client.next_event("system").await;
        assert_eq!(refused["status"], "error");
        assert_eq!(refused["extension"], "postgres_changes");
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ResumeUnavailable: ")),
            "{refused}"
        );
        insert(&db, 70 + bad.len() as i32, 7);
        assert_eq!(
            client.next_event("postgres_changes").await["data"]["record"]["room"],
            7
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_committed_while_walcast_was_killed_are_replayed_after_restart() {
    let db = new_items_db();
    let serve = Serve::start(&db, "127.0.0.1:0");
    let addr = serve.addr;
    let mut client = Client::connect(addr, "2.0.0").await;
    let id = client.join("realtime:room", "room=eq.1", None).await;
    insert(&db, 1, 1);
    let position = client.next_change(id).await["position"]
        .as_str()
        .expect("position")
        .to_owned();
    insert(&db, 2, 1);
    assert_eq!(client.next_change(id).await["record"]["id"], 2);
    // Killed without a chance to say goodbye; then rows keep coming.
    serve.kill9();
    insert(&db, 3, 1);
    insert(&db, 4, 2);
    insert(&db, 5, 1);

    let serve = Serve::start(&db, "127.0.0.1:0");
    let mut client = Client::connect(serve.addr, "2.0.0").await;
    let id = client
        .join("realtime:room", "room=eq.1", Some(&position))
        .await;
    let ids: Vec<Value> = [
        client.next_change(id).await,
        client.next_change(id).await,
        client.next_change(id).await,
    ]
    .iter()
    .map(|data| data["record"]["id"].clone())
    .collect();
    assert_eq!(
        ids,
        [json!(2), json!(3), json!(5)],
        "what the first process delivered after the position, then what it never saw"
    );
    insert(&db, 6, 1);
    assert_eq!(client.next_change(id).await["record"]["id"], 6);
}

/// `GET path` on the gateway: (status code, body).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: walcast\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `GET path` until its status is `want`, within 30 s.
async fn wait_for_status(addr: SocketAddr, path: &str, want: u16) -> String {
    for _ in 0..300 {
        let (status, body) = http_get(addr, path).await;
        if status == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} did not answer {want} within 30 s");
}

/// A value of the Prometheus text: the sample line `name value`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_follow_the_database() {
    let cluster = own_cluster(&[]);
    let url = cluster.url("postgres");
    cluster
        .psql(
            "postgres",
            "CREATE TABLE items (id int PRIMARY KEY, room int NOT NULL, body text)",
        )
        .expect("create table");
    let serve = Serve::start_on(&url, "walcast", "127.0.0.1:0");
    let body = wait_for_status(serve.addr, "/health/ready", 200).await;
    let health: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["replication"]["connected"], true);
    assert_eq!(health["replication"]["replay_ready"], true);
    assert!(
        health["memory"]["resident_bytes"]
            .as_u64()
            .is_some_and(|rss| rss > 0)
    );

    let mut client = Client::connect(serve.addr, "2.0.0").await;
    let id = client.join("realtime:room", "room=eq.1", None).await;
    cluster
        .psql(
            "postgres",
            "INSERT INTO items VALUES (1, 1, 'one'), (2, 2, 'two')",
        )
        .expect("insert");
    client.next_change(id).await;
    let (status, health) = http_get(serve.addr, "/health").await;
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&health).expect("JSON");
    assert_eq!(health["connections"], 1);
    assert_eq!(health["channels"]["postgres_changes"], 1);
    let (status, text) = http_get(serve.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "walcast_connections"), 1.0);
    assert_eq!(metric(&text, "walcast_joins_total"), 1.0);
    assert_eq!(metric(&text, "walcast_changes_total"), 2.0);
    assert_eq!(metric(&text, "walcast_deliveries_total"), 1.0);
    assert_eq!(metric(&text, "walcast_commit_to_send_seconds_count"), 1.0);
    assert!(text.contains("# TYPE walcast_decode_seconds histogram"));

    // The database goes away: still alive, not ready; back: ready again,
    // and the stream continues where it was.
    cluster.stop(StopMode::Fast).expect("stop");
    let body = wait_for_status(serve.addr, "/health/ready", 503).await;
    let health: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["replication"]["connected"], false);
    assert_eq!(http_get(serve.addr, "/health").await.0, 200, "alive");
    cluster.start_again().expect("start");
    wait_for_status(serve.addr, "/health/ready", 200).await;
    cluster
        .psql("postgres", "INSERT INTO items VALUES (3, 1, 'three')")
        .expect("insert");
    assert_eq!(client.next_change(id).await["record"]["id"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walcast_tail_prints_a_channels_events_as_json_lines() {
    let db = new_items_db();
    let serve = Serve::start(&db, "127.0.0.1:0");
    let url = format!("ws://{}/realtime/v1/websocket", serve.addr);
    let mut tail = Command::new(WALCAST)
        .args([
            "tail",
            "room:9",
            "--table",
            "items",
            "--filter",
            "room=eq.9",
        ])
        .args(["--url", &url, "--token", &token("anon")])
        .env("WALCAST_CONFIG", "/dev/null")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn walcast tail");
    let (tx, rx) = mpsc::channel();
    let stdout = tail.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s");
        serde_json::from_str::<Value>(&line).expect("a JSON line")
    };
    // Presence state (presence is on), then the system message that says
    // the binding is live; rows follow.
    assert_eq!(next()["event"], "presence_state");
    let system = next();
    assert_eq!(system["event"], "system");
    assert_eq!(system["payload"]["status"], "ok");
    insert(&db, 1, 8);
    insert(&db, 2, 9);
    let change = next();
    assert_eq!(change["event"], "postgres_changes");
    assert_eq!(change["payload"]["data"]["record"]["id"], 2);
    let _ = tail.kill();
    let _ = tail.wait();

    // A bad token: one line saying why, and a failing exit.
    let output = Command::new(WALCAST)
        .args(["tail", "room:9", "--url", &url, "--token", "not-a-jwt"])
        .env("WALCAST_CONFIG", "/dev/null")
        .output()
        .expect("run walcast tail");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("walcast: cannot connect"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_clients_and_exits_cleanly() {
    let db = new_items_db();
    let mut serve = Serve::start(&db, "127.0.0.1:0");
    let mut client = Client::connect(serve.addr, "2.0.0").await;
    client.join("realtime:room", "room=eq.1", None).await;
    let status = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());

    let system = client.next_event("system").await;
    assert_eq!(system["message"], "Server requested disconnect");
    let close = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), client.ws.next())
            .await
            .expect("a close within 10 s");
        match message {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        close.map(|frame| u16::from(frame.code)),
        Some(1001),
        "going away"
    );
    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..150 {
            if let Some(status) = serve.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
        None
    })
    .await
    .expect("join");
    assert!(
        exited.is_some_and(|status| status.success()),
        "exits 0 within 15 s of SIGTERM: {exited:?}"
    );
}
