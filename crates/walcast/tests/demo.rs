//! The demo of `walcast dev` over real HTTP: the dev API issues tokens,
//! enforces them (a visitor reaches only its conversation, an agent only
//! its tenant) and writes rows; `walcast demo-traffic` plays a whole
//! conversation; the pages come from `WALCAST_WEB_DIR` or answer 404 with
//! what to run; and `walcast serve` serves none of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const WALCAST: &str = env!("CARGO_BIN_EXE_walcast");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/walcast.toml");

/// A running walcast, killed on drop.
struct Walcast {
    child: Child,
    port: u16,
    database_url: Option<String>,
}

impl Drop for Walcast {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `walcast dev` on a free port; returns once its banner is out.
fn start_dev(data_dir: &Path, web_dir: &str) -> Walcast {
    let mut child = Command::new(WALCAST)
        .args(["dev", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("WALCAST_CONFIG", CONFIG)
        .env("WALCAST_LISTEN", "127.0.0.1:0")
        .env("WALCAST_WEB_DIR", web_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn walcast dev");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut database_url = None;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = line.trim();
            if let Some(url) = line.strip_prefix("DATABASE_URL=") {
                database_url = Some(url.to_owned());
            }
            let port = line
                .strip_prefix("WebSocket: ws://127.0.0.1:")
                .and_then(|rest| rest.split('/').next())
                .and_then(|port| port.parse::<u16>().ok());
            if let Some(port) = port {
                let _ = tx.send((port, database_url.clone()));
            }
            if line.starts_with("walcast:") {
                eprintln!("walcast stderr: {line}");
            }
        }
    });
    let (port, database_url) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("walcast dev prints its banner within 60 s");
    Walcast {
        child,
        port,
        database_url,
    }
}

/// Starts `walcast serve` for `database_url` and waits for `/health`.
fn start_serve(database_url: &str) -> Walcast {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(WALCAST)
        .arg("serve")
        .env("WALCAST_CONFIG", CONFIG)
        .env("DATABASE_URL", database_url)
        .env("WALCAST_SLOT", "serve_test")
        .env("WALCAST_JWT_SECRET", "a-secret-for-this-test")
        .env("WALCAST_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn walcast serve");
    let serve = Walcast {
        child,
        port,
        database_url: None,
    };
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/health", None, None).0 == 200
        {
            return serve;
        }
        wait(Duration::from_millis(100));
    }
    panic!("walcast serve did not answer /health within 30 s");
}

#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test process, no runtime"
)]
fn wait(duration: Duration) {
    std::thread::sleep(duration);
}

/// One HTTP/1.1 request; returns the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A directory the `postgres` user can reach when tests run as root.
fn reachable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("walcast-demo-test")
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// A stand-in `web/` with the files the demo serves.
fn fake_web_dir(root: &Path) -> String {
    let web = root.join("web");
    let vendor = web.join("node_modules/@supabase/supabase-js/dist/umd");
    std::fs::create_dir_all(&vendor).expect("mkdir");
    std::fs::write(web.join("widget.html"), "<h1>widget</h1>").expect("write");
    std::fs::write(web.join("index.html"), "<h1>index</h1>").expect("write");
    std::fs::write(vendor.join("supabase.js"), "var supabase = {};").expect("write");
    std::fs::write(root.join("secret.txt"), "outside web/").expect("write");
    web.display().to_string()
}

#[test]
fn dev_api_issues_and_enforces_tokens_and_writes_rows() {
    let dir = reachable_dir();
    let web = fake_web_dir(dir.path());
    let pgdata = dir.path().join("pgdata");
    let dev = start_dev(&pgdata, &web);
    let port = dev.port;

    // Sign-in calls are open and return tokens.
    let (status, body) = http(
        port,
        "POST",
        "/dev/api/conversations",
        None,
        Some(json!({"visitor_name": "Vera"})),
    );
    assert_eq!(status, 201, "{body}");
    let visitor = json_of(&body);
    let conversation = visitor["conversation_id"].as_str().expect("id").to_owned();
    let visitor_token = visitor["token"].as_str().expect("token").to_owned();
    let (_, body) = http(
        port,
        "POST",
        "/dev/api/conversations",
        None,
        Some(json!({})),
    );
    let other = json_of(&body)["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = http(
        port,
        "POST",
        "/dev/api/agents",
        None,
        Some(json!({"name": "Alice"})),
    );
    assert_eq!(status, 200, "{body}");
    let agent = json_of(&body);
    let agent_token = agent["token"].as_str().expect("token").to_owned();
    let agent_id = agent["agent_id"].as_str().expect("id").to_owned();
    let (_, again) = http(
        port,
        "POST",
        "/dev/api/agents",
        None,
        Some(json!({"name": "alice"})),
    );
    assert_eq!(json_of(&again)["agent_id"], agent_id, "one agent per name");
    let (status, _) = http(
        port,
        "POST",
        "/dev/api/agents",
        None,
        Some(json!({"name": " "})),
    );
    assert_eq!(status, 400);

    // A visitor writes to its own conversation only, as itself only.
    let messages = format!("/dev/api/conversations/{conversation}/messages");
    let (status, body) = http(
        port,
        "POST",
        &messages,
        Some(&visitor_token),
        Some(json!({"body": "hello"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(json_of(&body)["sender_type"], "visitor");
    let (status, _) = http(
        port,
        "POST",
        &messages,
        Some(&visitor_token),
        Some(json!({"body": "hi", "sender_type": "agent"})),
    );
    assert_eq!(status, 403);
    let elsewhere = format!("/dev/api/conversations/{other}/messages");
    let (status, _) = http(port, "GET", &elsewhere, Some(&visitor_token), None);
    assert_eq!(status, 404, "another visitor's conversation");
    let (status, _) = http(
        port,
        "GET",
        "/dev/api/conversations",
        Some(&visitor_token),
        None,
    );
    assert_eq!(status, 403, "visitors cannot list");
    let (status, _) = http(port, "GET", &messages, None, None);
    assert_eq!(status, 401);
    let (status, _) = http(port, "GET", &messages, Some("not.a.token"), None);
    assert_eq!(status, 401);
    let (status, _) = http(
        port,
        "GET",
        "/dev/api/conversations/x'--/messages",
        Some(&agent_token),
        None,
    );
    assert_eq!(status, 400);
    let (status, _) = http(
        port,
        "POST",
        &messages,
        Some(&visitor_token),
        Some(json!({"body": ""})),
    );
    assert_eq!(status, 400);

    // An agent sees the tenant, assigns itself, and reads the history.
    let assign = format!("/dev/api/conversations/{conversation}/assign");
    let (status, _) = http(port, "POST", &assign, Some(&visitor_token), Some(json!({})));
    assert_eq!(status, 403);
    let (status, body) = http(
        port,
        "POST",
        &assign,
        Some(&agent_token),
        Some(json!({"agent_id": agent_id})),
    );
    assert_eq!(status, 200, "{body}");
    let assigned = json_of(&body);
    assert_eq!(assigned["status"], "active");
    assert_eq!(assigned["assigned_agent_name"], "Alice");
    let (status, body) = http(port, "GET", &messages, Some(&agent_token), None);
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)[0]["body"], "hello");
    let typing = format!("/dev/api/conversations/{conversation}/typing");
    let (status, _) = http(
        port,
        "POST",
        &typing,
        Some(&agent_token),
        Some(json!({"is_typing": true})),
    );
    assert_eq!(status, 204);
    let (status, _) = http(
        port,
        "POST",
        &format!("/dev/api/conversations/{conversation}/close"),
        Some(&visitor_token),
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = http(
        port,
        "POST",
        &messages,
        Some(&visitor_token),
        Some(json!({"body": "late"})),
    );
    assert_eq!(status, 409, "closed conversations take no messages");
    let (status, _) = http(port, "DELETE", &messages, Some(&agent_token), None);
    assert_eq!(status, 405);

    // The simulated backend plays a whole conversation.
    let database_url = dev
        .database_url
        .clone()
        .expect("DATABASE_URL in the banner");
    let output = Command::new(WALCAST)
        .args([
            "demo-traffic",
            "--conversations",
            "1",
            "--rate",
            "200",
            "--database-url",
            &database_url,
        ])
        .env("WALCAST_CONFIG", CONFIG)
        .output()
        .expect("demo-traffic");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, body) = http(
        port,
        "GET",
        "/dev/api/conversations",
        Some(&agent_token),
        None,
    );
    let list = json_of(&body);
    let played = list
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["subject"] == "Visitor 1 (simulated)")
        .expect("the simulated conversation");
    assert_eq!(played["status"], "closed");
    assert_eq!(played["assigned_agent_name"], "Sam (simulated)");

    // The pages: from WALCAST_WEB_DIR, nothing outside it.
    let (status, body) = http(port, "GET", "/demo/widget", None, None);
    assert_eq!((status, body.as_str()), (200, "<h1>widget</h1>"));
    let (status, _) = http(port, "GET", "/demo/vendor/supabase.js", None, None);
    assert_eq!(status, 200);
    let (status, _) = http(port, "GET", "/demo/../secret.txt", None, None);
    assert_eq!(status, 404);
    let (status, _) = http(port, "GET", "/demo/%2e%2e%2fsecret.txt", None, None);
    assert_eq!(status, 404);
}

#[test]
fn demo_pages_say_what_to_run_and_serve_has_no_demo() {
    let dir = reachable_dir();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let pgdata = dir.path().join("pgdata");
    let dev = start_dev(&pgdata, empty.to_str().expect("utf-8"));
    let (status, body) = http(dev.port, "GET", "/demo/widget", None, None);
    assert_eq!(status, 404);
    assert!(body.contains("npm ci"), "{body}");

    // `walcast serve` on the same database (its own slot): no demo.
    let database_url = dev.database_url.clone().expect("DATABASE_URL");
    let serve = start_serve(&database_url);
    for path in ["/demo/widget", "/dev/api/conversations", "/"] {
        let (status, body) = http(serve.port, "GET", path, None, None);
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = http(
        serve.port,
        "POST",
        "/dev/api/conversations",
        None,
        Some(json!({})),
    );
    assert_eq!(status, 404);
}
