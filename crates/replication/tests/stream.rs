//! The replication stream against a real PostgreSQL: slot creation and
//! reuse, feedback, reconnects across server restarts, a restarted reader,
//! a slow consumer, authentication methods and TLS modes.

use std::time::Duration;

use pgcluster::testing::{TestDatabase, fresh_database, own_cluster};
use pgcluster::{Cluster, StopMode};
use pgoutput::{Lsn, Message, TupleValue};
use replication::{ConnectionConfig, Replication, ReplicationConfig, ReplicationEvent, parse_lsn};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const SETUP: &str = "CREATE TABLE items (id int PRIMARY KEY, name text);
                     CREATE PUBLICATION walcast FOR TABLE items;";

/// Slot names are cluster-wide, so each test database gets its own slot
/// (named after the database).
fn config(url: &str) -> ReplicationConfig {
    let connection = ConnectionConfig::from_url(url).expect("url");
    let slot = if connection.dbname == "postgres" {
        "walcast".to_owned()
    } else {
        connection.dbname.clone()
    };
    let mut config = ReplicationConfig::new(connection, slot, "walcast");
    config.status_interval = Duration::from_millis(200);
    config.initial_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(500);
    config
}

async fn start(config: ReplicationConfig) -> (Replication, CancellationToken) {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("replication=debug")
        .try_init();
    let shutdown = CancellationToken::new();
    let replication = replication::start(config, shutdown.clone())
        .await
        .expect("start replication");
    (replication, shutdown)
}

/// The ids inserted into `items` by each transaction event, in order.
fn inserted_ids(event: &ReplicationEvent) -> Vec<i64> {
    let ReplicationEvent::Transaction(tx) = event else {
        return Vec::new();
    };
    tx.messages
        .iter()
        .filter_map(|m| match m {
            Message::Insert(insert) => match &insert.new.0[0] {
                TupleValue::Text(text) => std::str::from_utf8(text).ok()?.parse().ok(),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Receives events until `want` ids arrived; confirms each event.
async fn collect_ids(replication: &mut Replication, want: usize) -> (Vec<i64>, Lsn) {
    let mut ids = Vec::new();
    let mut last = 0;
    while ids.len() < want {
        let event = timeout(Duration::from_secs(30), replication.events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out with {} of {want} ids", ids.len()));
        let Some(event) = event else {
            let end = (&mut replication.task).await;
            panic!("stream ended after {} of {want} ids: {end:?}", ids.len());
        };
        assert!(event.ack_lsn() > last, "ack LSNs must increase");
        last = event.ack_lsn();
        ids.extend(inserted_ids(&event));
        replication.handle.confirm(last);
    }
    (ids, last)
}

fn slot_confirmed(db: &TestDatabase) -> Lsn {
    let text = db
        .psql(&format!(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{}'",
            db.name
        ))
        .expect("query slot");
    parse_lsn(text.trim()).expect("lsn")
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_commits_in_order_and_confirms_to_the_slot() {
    let db = fresh_database();
    db.psql(SETUP).expect("setup");
    let (mut replication, shutdown) = start(config(&db.url)).await;
    assert!(!replication.handle.system().system_id.is_empty());

    db.psql("INSERT INTO items VALUES (1, 'a'); BEGIN; INSERT INTO items VALUES (2, 'b'), (3, 'c'); COMMIT;")
        .expect("insert");
    db.psql("BEGIN; INSERT INTO items VALUES (99, 'never'); ROLLBACK;")
        .expect("rollback");
    db.psql("INSERT INTO items VALUES (4, 'd')")
        .expect("insert");
    let (ids, last) = collect_ids(&mut replication, 4).await;
    assert_eq!(ids, [1, 2, 3, 4], "rolled-back rows are never delivered");

    wait_until(
        "the slot's confirmed_flush_lsn reaches the confirmed position",
        || slot_confirmed(&db) >= last,
    )
    .await;
    shutdown.cancel();
    replication
        .task
        .await
        .expect("join")
        .expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuses_the_slot_and_resumes_after_the_confirmed_position() {
    let db = fresh_database();
    db.psql(SETUP).expect("setup");
    let (mut first, shutdown) = start(config(&db.url)).await;
    db.psql("INSERT INTO items VALUES (1, 'a'); INSERT INTO items VALUES (2, 'b')")
        .expect("insert");
    collect_ids(&mut first, 2).await;
    shutdown.cancel();
    first.task.await.expect("join").expect("clean shutdown");

    db.psql("INSERT INTO items VALUES (3, 'c')")
        .expect("insert while stopped");
    let (mut second, shutdown) = start(config(&db.url)).await;
    let (ids, _) = collect_ids(&mut second, 1).await;
    assert_eq!(ids, [3], "confirmed transactions are not sent again");
    let slots = db
        .psql(&format!(
            "SELECT count(*) FROM pg_replication_slots WHERE database = '{}'",
            db.name
        ))
        .expect("slots");
    assert_eq!(slots.trim(), "1");
    shutdown.cancel();
    second.task.await.expect("join").expect("clean shutdown");
}

/// A reader killed without a goodbye (its last feedback never sent) is
/// restarted with the position it had handled: nothing is lost and
/// nothing is repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_reader_restarts_without_loss_or_repeats() {
    let db = fresh_database();
    db.psql(SETUP).expect("setup");
    let mut slow = config(&db.url);
    slow.status_interval = Duration::from_secs(3600);
    let (mut first, _shutdown) = start(slow.clone()).await;
    let one_per_transaction: String = (1..=50)
        .map(|id| format!("INSERT INTO items VALUES ({id}, 'x');"))
        .collect();
    db.psql(&one_per_transaction).expect("insert");
    let mut handled = 0;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let event = first.events.recv().await.expect("event");
        handled = event.ack_lsn();
        ids.extend(inserted_ids(&event));
    }
    first.task.abort();
    let _ = first.task.await;

    db.psql("INSERT INTO items SELECT g, 'y' FROM generate_series(51, 60) g")
        .expect("insert more");
    let mut restarted = slow;
    restarted.start_after = handled;
    let (mut second, shutdown) = start(restarted).await;
    let (rest, _) = collect_ids(&mut second, 40).await;
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(rest, (21..=60).collect::<Vec<_>>());
    shutdown.cancel();
    second.task.await.expect("join").expect("clean shutdown");
}

async fn survives_a_server_restart(mode: StopMode) {
    let cluster = std::sync::Arc::new(own_cluster(&[]));
    cluster.psql("postgres", SETUP).expect("setup");
    let url = cluster.url("postgres");
    let (mut replication, shutdown) = start(config(&url)).await;

    let writer = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || write_ids(&url, 1..=300))
    };
    let (mut ids, _) = collect_ids(&mut replication, 50).await;
    // Keep consuming while the server restarts: a fast shutdown waits until
    // the walsender's client has confirmed everything it was sent.
    let restart = {
        let cluster = std::sync::Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || cluster.restart(mode))
    };
    while !restart.is_finished() {
        if let Ok(Some(event)) =
            timeout(Duration::from_millis(100), replication.events.recv()).await
        {
            ids.extend(inserted_ids(&event));
            replication.handle.confirm(event.ack_lsn());
        }
    }
    restart.await.expect("join").expect("restart");
    writer.await.expect("writer");
    cluster
        .psql(
            "postgres",
            "INSERT INTO items SELECT g, 'late' FROM generate_series(301, 310) g",
        )
        .expect("late");

    let committed: usize = cluster
        .psql("postgres", "SELECT count(*) FROM items")
        .expect("count")
        .trim()
        .parse()
        .expect("number");
    let (rest, _) = collect_ids(&mut replication, committed - ids.len()).await;
    ids.extend(rest);
    let mut expected: Vec<i64> = cluster
        .psql("postgres", "SELECT id FROM items ORDER BY id")
        .expect("ids")
        .lines()
        .map(|l| l.parse().expect("id"))
        .collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "every committed row once, in commit order");
    assert!(replication.handle.status().reconnects >= 1);
    shutdown.cancel();
    replication
        .task
        .await
        .expect("join")
        .expect("clean shutdown");
}

/// Inserts one row per transaction, retrying while the server restarts.
/// A row whose commit outcome is unknown is re-checked, so the table ends
/// with each id at most once.
fn write_ids(url: &str, ids: std::ops::RangeInclusive<i64>) {
    let conn = ConnectionConfig::from_url(url).expect("url");
    let port = conn.port.to_string();
    for id in ids {
        let sql = format!("INSERT INTO items VALUES ({id}, 'w') ON CONFLICT DO NOTHING");
        for _ in 0..200 {
            let ok = std::process::Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    &sql,
                ])
                .env("PGPASSWORD", conn.password.as_deref().unwrap_or(""))
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            #[expect(clippy::disallowed_methods, reason = "runs on a spawn_blocking thread")]
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_across_a_fast_server_restart() {
    survives_a_server_restart(StopMode::Fast).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_across_an_immediate_server_restart() {
    survives_a_server_restart(StopMode::Immediate).await;
}

/// A consumer that stops reading for longer than `wal_sender_timeout`
/// (10 s in test clusters): status updates keep flowing, so the server
/// never drops the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_does_not_time_the_connection_out() {
    let db = fresh_database();
    db.psql(SETUP).expect("setup");
    let mut small = config(&db.url);
    small.channel_capacity = 2;
    small.status_interval = Duration::from_secs(1);
    let (mut replication, shutdown) = start(small).await;
    db.psql("INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g")
        .expect("one transaction");
    for i in 0..50 {
        db.psql(&format!(
            "INSERT INTO items VALUES ({}, 'single')",
            10_000 + i
        ))
        .expect("insert");
    }
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert!(replication.handle.status().connected);
    let (ids, _) = collect_ids(&mut replication, 2050).await;
    assert_eq!(ids.len(), 2050);
    assert_eq!(
        replication.handle.status().reconnects,
        0,
        "the server never timed us out"
    );
    shutdown.cancel();
    replication
        .task
        .await
        .expect("join")
        .expect("clean shutdown");
}

/// Writes to tables outside the publication still move the slot forward
/// while the stream is idle, so WAL does not pile up behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_slot_advances_past_unpublished_writes() {
    let db = fresh_database();
    db.psql(&format!("{SETUP} CREATE TABLE other (id int);"))
        .expect("setup");
    let (replication, shutdown) = start(config(&db.url)).await;
    db.psql("INSERT INTO other SELECT generate_series(1, 20000)")
        .expect("unpublished writes");
    let after: Lsn =
        parse_lsn(db.psql("SELECT pg_current_wal_lsn()").expect("lsn").trim()).expect("lsn");
    for _ in 0..100 {
        if slot_confirmed(&db) >= after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let confirmed = slot_confirmed(&db);
    assert!(
        confirmed >= after,
        "slot at {confirmed:X}, WAL at {after:X}, status {:?}",
        replication.handle.status()
    );
    shutdown.cancel();
    replication
        .task
        .await
        .expect("join")
        .expect("clean shutdown");
}

fn create_replication_role(cluster: &Cluster, role: &str, method: &str) {
    let encryption = if method == "md5" {
        "md5"
    } else {
        "scram-sha-256"
    };
    cluster
        .psql(
            "postgres",
            &format!(
                "SET password_encryption = '{encryption}'; CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'secret-{role}';
                 GRANT SELECT ON items TO {role};"
            ),
        )
        .expect("create role");
    cluster
        .prepend_hba(&format!("host all {role} 127.0.0.1/32 {method}"))
        .expect("hba");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticates_with_scram_md5_and_trust() {
    let cluster = own_cluster(&[]);
    cluster.psql("postgres", SETUP).expect("setup");
    for (role, method) in [
        ("r_scram", "scram-sha-256"),
        ("r_md5", "md5"),
        ("r_trust", "trust"),
    ] {
        create_replication_role(&cluster, role, method);
        let password = if method == "trust" {
            String::new()
        } else {
            format!(":secret-{role}")
        };
        let url = format!(
            "postgres://{role}{password}@127.0.0.1:{}/postgres?sslmode=disable",
            cluster.port()
        );
        let mut cfg = config(&url);
        cfg.slot = format!("slot_{role}");
        let (replication, shutdown) = start(cfg).await;
        assert!(replication.handle.status().connected, "{method}");
        shutdown.cancel();
        replication
            .task
            .await
            .expect("join")
            .expect("clean shutdown");
    }
    let url = format!(
        "postgres://r_scram:wrong@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let err = replication::start(config(&url), CancellationToken::new())
        .await
        .err()
        .expect("a wrong password fails");
    assert_eq!(err.sqlstate(), Some("28P01"), "{err}");
    assert!(!err.is_retryable());
}

/// The TLS modes against a server with a certificate for `localhost`
/// signed by a test CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_with_each_sslmode() {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.clone().self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let mut options = pgcluster::testing::test_options();
    options.tls = Some(pgcluster::TlsFiles {
        cert_pem: server.pem().into_bytes(),
        key_pem: server_key.serialize_pem().into_bytes(),
    });
    let cluster = Cluster::start(options).expect("tls cluster");
    cluster.psql("postgres", SETUP).expect("setup");
    let ca_file = tempfile::NamedTempFile::new().expect("ca file");
    std::fs::write(ca_file.path(), ca.pem()).expect("write ca");
    let base = format!(
        "postgres://postgres:{}@localhost:{}/postgres",
        cluster.password(),
        cluster.port()
    );

    for (query, expect_ssl) in [
        ("sslmode=disable".to_owned(), false),
        ("sslmode=prefer".to_owned(), true),
        ("sslmode=require".to_owned(), true),
        (
            format!(
                "sslmode=verify-full&sslrootcert={}",
                ca_file.path().display()
            ),
            true,
        ),
    ] {
        let (replication, shutdown) = start(config(&format!("{base}?{query}"))).await;
        let ssl = cluster
            .psql(
                "postgres",
                "SELECT bool_or(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid)",
            )
            .expect("pg_stat_ssl");
        assert_eq!(ssl.trim() == "t", expect_ssl, "{query}");
        shutdown.cancel();
        replication
            .task
            .await
            .expect("join")
            .expect("clean shutdown");
    }

    // verify-full against the bundled public roots must reject the test CA.
    let err = replication::start(
        config(&format!("{base}?sslmode=verify-full")),
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("an untrusted certificate is rejected");
    assert!(err.to_string().contains("certificate"), "{err}");
}
