//! Starts real clusters and checks what `walcast dev` and the test harness
//! rely on: settings, fresh databases, restarts, `pg_hba.conf` reloads, TLS,
//! persistence, and cleanup — including after the owning process aborts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pgcluster::testing::{fresh_database, own_cluster, shared_cluster, test_options};
use pgcluster::{Cluster, ClusterError, ClusterOptions, StopMode, TlsFiles};

#[test]
fn shared_cluster_has_logical_wal_and_fresh_databases() {
    let cluster = shared_cluster();
    assert_eq!(
        cluster.psql("postgres", "SHOW wal_level").expect("show"),
        "logical"
    );
    assert_eq!(
        cluster
            .psql("postgres", "SHOW wal_sender_timeout")
            .expect("show"),
        "10s"
    );

    let first = fresh_database();
    let second = fresh_database();
    assert_ne!(first.name, second.name);
    first.psql("CREATE TABLE t (id int)").expect("create table");
    second
        .psql("CREATE TABLE t (id int)")
        .expect("same table in the other database");
    assert!(first.url.ends_with(&format!("/{}", first.name)));

    // A slot (held by nobody) must not stop the database from being dropped.
    first
        .psql("SELECT pg_create_logical_replication_slot('test_slot', 'pgoutput')")
        .expect("create slot");
    let name = first.name.clone();
    drop(first);
    let left = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{name}';\n\
                 SELECT count(*) FROM pg_replication_slots WHERE database = '{name}'"
            ),
        )
        .expect("count");
    assert_eq!(left, "0\n0");
}

#[test]
fn restarts_fast_and_immediate_on_the_same_port() {
    let cluster = own_cluster(&[]);
    cluster
        .psql(
            "postgres",
            "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)",
        )
        .expect("create");
    let port = cluster.port();

    cluster.restart(StopMode::Fast).expect("fast restart");
    assert_eq!(
        cluster
            .psql("postgres", "SELECT count(*) FROM kept")
            .expect("query"),
        "1"
    );

    cluster
        .restart(StopMode::Immediate)
        .expect("immediate restart");
    assert_eq!(
        cluster
            .psql("postgres", "SELECT count(*) FROM kept")
            .expect("query"),
        "1"
    );
    assert_eq!(cluster.port(), port);

    cluster.stop(StopMode::Smart).expect("stop");
    assert!(!cluster.is_running().expect("status"));
    assert!(TcpStream::connect((cluster.host(), port)).is_err());
    cluster.start_again().expect("start again");
    assert!(cluster.is_running().expect("status"));
}

#[test]
fn prepended_hba_line_applies_after_reload() {
    let cluster = own_cluster(&[]);
    cluster
        .psql("postgres", "CREATE ROLE trustuser LOGIN")
        .expect("create role");
    assert_eq!(auth_request(&cluster, "trustuser"), AUTH_SASL);

    cluster
        .prepend_hba("host all trustuser 127.0.0.1/32 trust")
        .expect("prepend");
    assert_eq!(auth_request(&cluster, "trustuser"), AUTH_OK);
    assert_eq!(auth_request(&cluster, "postgres"), AUTH_SASL);
}

#[test]
fn serves_tls_with_the_given_certificate() {
    let dir = private_temp_dir();
    let openssl = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .output()
        .expect("run openssl");
    assert!(openssl.status.success(), "{openssl:?}");
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect("read pem");
    let options = ClusterOptions {
        tls: Some(TlsFiles {
            cert_pem: read("cert.pem"),
            key_pem: read("key.pem"),
        }),
        ..test_options()
    };
    let cluster = Cluster::start(options).expect("start");
    assert_eq!(cluster.psql("postgres", "SHOW ssl").expect("show"), "on");

    // SSLRequest: the server answers 'S' when it will do TLS.
    let mut stream = TcpStream::connect((cluster.host(), cluster.port())).expect("connect");
    stream
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .expect("send ssl request");
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).expect("read answer");
    assert_eq!(answer[0], b'S');
}

#[test]
fn start_failure_carries_the_server_log() {
    let options = test_options().with_setting("max_connections", "lots");
    match Cluster::start(options) {
        Err(ClusterError::StartFailed { log_tail, .. }) => {
            assert!(log_tail.contains("max_connections"), "{log_tail}");
        }
        other => panic!("expected a start failure, got {other:?}"),
    }
}

#[test]
fn taken_fixed_port_fails_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let options = ClusterOptions {
        port: Some(port),
        ..test_options()
    };
    match Cluster::start(options) {
        Err(ClusterError::StartFailed { log_tail, .. }) => {
            // What the free-port retry looks for.
            assert!(log_tail.contains("Address already in use"), "{log_tail}");
        }
        other => panic!("expected a start failure, got {other:?}"),
    }
}

#[test]
fn dropping_a_throwaway_cluster_removes_it() {
    let cluster = own_cluster(&[]);
    let root = cluster.data_dir().parent().expect("root").to_owned();
    let port = cluster.port();
    assert!(root.is_dir());
    drop(cluster);
    assert!(!root.exists(), "{} left behind", root.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn persistent_data_dir_survives_with_its_password() {
    let dir = traversable_temp_dir();
    let data_dir = dir.path().join("pgdata");

    let cluster = Cluster::start(ClusterOptions::persistent(&data_dir)).expect("first start");
    cluster
        .psql("postgres", "CREATE TABLE kept (id int)")
        .expect("create");
    let password = cluster.password().to_owned();
    let port = cluster.port();

    match Cluster::start(ClusterOptions::persistent(&data_dir)) {
        Err(ClusterError::AlreadyRunning { .. }) => {}
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert!(matches!(
        pgcluster::wipe(&data_dir),
        Err(ClusterError::AlreadyRunning { .. })
    ));

    drop(cluster);
    assert!(data_dir.join("PG_VERSION").is_file());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still running"
    );

    let cluster = Cluster::start(ClusterOptions::persistent(&data_dir)).expect("second start");
    assert_eq!(cluster.password(), password);
    assert_eq!(
        cluster
            .psql("postgres", "SELECT count(*) FROM kept")
            .expect("query"),
        "0"
    );
    assert!(cluster.url("postgres").contains(&password));
    drop(cluster);

    pgcluster::wipe(&data_dir).expect("wipe");
    assert!(!data_dir.exists());
}

#[test]
fn refuses_a_directory_it_did_not_create() {
    let dir = traversable_temp_dir();
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    match Cluster::start(ClusterOptions::persistent(dir.path())) {
        Err(ClusterError::ForeignDataDir { .. }) => {}
        other => panic!("expected ForeignDataDir, got {other:?}"),
    }
    assert!(dir.path().join("notes.txt").is_file());
}

/// The environment variable that makes [`aborting_owner_of_a_cluster`] run.
const ABORT_HELPER: &str = "PGCLUSTER_ABORT_HELPER";

#[test]
fn watchdog_cleans_up_after_the_owner_aborts() {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "aborting_owner_of_a_cluster",
            "--ignored",
            "--nocapture",
        ])
        .env(ABORT_HELPER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let data_dir = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("data_dir=").map(PathBuf::from))
        .expect("helper printed its data dir");
    let status = child.wait().expect("wait for helper");
    assert!(!status.success(), "helper should abort");

    let root = data_dir.parent().expect("root").to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    while root.exists() {
        assert!(
            Instant::now() < deadline,
            "watchdog left {} behind",
            root.display()
        );
        #[expect(clippy::disallowed_methods, reason = "a plain blocking test")]
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "run by watchdog_cleans_up_after_the_owner_aborts in a child process"]
fn aborting_owner_of_a_cluster() {
    if std::env::var_os(ABORT_HELPER).is_none() {
        return;
    }
    let cluster = own_cluster(&[]);
    cluster.psql("postgres", "SELECT 1").expect("query");
    println!("data_dir={}", cluster.data_dir().display());
    std::io::stdout().flush().expect("flush");
    std::process::abort();
}

const AUTH_OK: i32 = 0;
const AUTH_SASL: i32 = 10;

/// Sends a startup message for `user` to database `postgres` and returns
/// the authentication request code the server answers with.
fn auth_request(cluster: &Cluster, user: &str) -> i32 {
    let mut body = 196_608_i32.to_be_bytes().to_vec(); // protocol 3.0
    for part in ["user", user, "database", "postgres", ""] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let length = i32::try_from(body.len() + 4).expect("length");
    let mut message = length.to_be_bytes().to_vec();
    message.extend(body);

    let mut stream = TcpStream::connect((cluster.host(), cluster.port())).expect("connect");
    stream.write_all(&message).expect("send startup");
    let mut reply = [0u8; 9];
    stream.read_exact(&mut reply).expect("read reply");
    assert_eq!(reply[0], b'R', "expected an authentication request");
    i32::from_be_bytes([reply[5], reply[6], reply[7], reply[8]])
}

/// A temp dir only we may enter.
fn private_temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A temp dir the `postgres` user may pass through when we run as root
/// (`tempfile` makes it 0700, which would keep the server out of the data
/// directory inside).
fn traversable_temp_dir() -> tempfile::TempDir {
    let dir = private_temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}
