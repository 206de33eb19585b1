//! Start-up checks against a real PostgreSQL: each misconfiguration gives
//! one line that says what is wrong and the SQL or setting that fixes it.

use pgcluster::testing::{fresh_database, own_cluster};
use replication::checks::{self, CheckError};
use replication::{ConnectionConfig, ReplicationConfig};
use tokio_util::sync::CancellationToken;

async fn client(url: &str) -> tokio_postgres::Client {
    checks::connect_sql(&ConnectionConfig::from_url(url).expect("url"))
        .await
        .expect("connect")
}

#[tokio::test]
async fn wal_level_replica_is_refused_with_the_fix() {
    let cluster = own_cluster(&[("wal_level", "replica")]);
    let url = cluster.url("postgres");
    let err = checks::run(&client(&url).await, "walcast", &[])
        .await
        .expect_err("wal_level");
    assert!(matches!(err, CheckError::WalLevel(_)));
    assert_eq!(
        err.to_string(),
        "wal_level is replica, but walcast needs wal_level=logical: run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"
    );

    // The replication connection itself refuses too, and retrying cannot help.
    let config = ReplicationConfig::new(
        ConnectionConfig::from_url(&url).expect("url"),
        "walcast",
        "walcast",
    );
    let err = replication::start(config, CancellationToken::new())
        .await
        .err()
        .expect("no logical decoding");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("wal_level"), "{err}");
}

#[tokio::test]
async fn a_role_without_replication_is_refused_with_the_fix() {
    let db = fresh_database();
    let role = format!("{}_app", db.name);
    db.psql(&format!("CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
        .expect("role");
    let url = format!(
        "postgres://{role}:pw@127.0.0.1:{}/{}",
        db.cluster().port(),
        db.name
    );
    let err = checks::check_replication_privilege(&client(&url).await)
        .await
        .expect_err("no REPLICATION");
    assert_eq!(
        err.to_string(),
        format!(
            "role {role} lacks the REPLICATION attribute: run ALTER ROLE {role} WITH REPLICATION;"
        )
    );
    db.psql(&format!("DROP ROLE {role}")).ok();
}

#[tokio::test]
async fn the_publication_is_created_then_extended_for_the_configured_tables() {
    let db = fresh_database();
    db.psql("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);")
        .expect("tables");
    let client = client(&db.url).await;
    checks::run(&client, "walcast", &["public.a".into()])
        .await
        .expect("create");
    checks::run(&client, "walcast", &["public.a".into(), "b".into()])
        .await
        .expect("extend");
    let tables = db
        .psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'walcast'")
        .expect("tables");
    assert_eq!(tables.trim(), "a,b");

    let err = checks::run(&client, "walcast", &["public.missing".into()])
        .await
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "table public.missing does not exist (check the configured tables, or run the migrations)"
    );
}

#[tokio::test]
async fn tables_whose_updates_would_fail_are_named_with_the_fix() {
    let db = fresh_database();
    db.psql("CREATE TABLE nokey (v int); CREATE TABLE nothing (id int PRIMARY KEY); ALTER TABLE nothing REPLICA IDENTITY NOTHING;")
        .expect("tables");
    let client = client(&db.url).await;
    let err = checks::run(&client, "p1", &["nokey".into()])
        .await
        .expect_err("no key");
    assert_eq!(
        err.to_string(),
        "table public.nokey has no primary key and REPLICA IDENTITY DEFAULT, so UPDATE and DELETE on it fail: run ALTER TABLE public.nokey REPLICA IDENTITY FULL; (or add a primary key)"
    );
    let err = checks::run(&client, "p2", &["nothing".into()])
        .await
        .expect_err("nothing");
    assert!(
        err.to_string()
            .starts_with("table public.nothing has REPLICA IDENTITY NOTHING"),
        "{err}"
    );

    db.psql("ALTER TABLE nokey REPLICA IDENTITY FULL")
        .expect("fix");
    checks::run(&client, "p1", &["nokey".into()])
        .await
        .expect("fixed");
}

#[tokio::test]
async fn slot_lag_is_reported_in_bytes() {
    let db = fresh_database();
    let client = client(&db.url).await;
    assert_eq!(
        checks::slot_lag_bytes(&client, &db.name)
            .await
            .expect("query"),
        None
    );
    db.psql(&format!(
        "SELECT pg_create_logical_replication_slot('{}', 'pgoutput'); CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000);",
        db.name
    ))
    .expect("slot and writes");
    let lag = checks::slot_lag_bytes(&client, &db.name)
        .await
        .expect("query")
        .expect("slot exists");
    assert!(lag > 10_000, "1000 rows of WAL behind the slot, got {lag}");
}

#[tokio::test]
async fn slot_token_names_one_life_of_the_slot() {
    let db = fresh_database();
    let client = client(&db.url).await;
    let slot = db.name.as_str();

    // No slot yet: a token is made, and made again while the slot is missing.
    let first = checks::slot_token(&client, slot).await.expect("token");
    let again = checks::slot_token(&client, slot).await.expect("token");
    assert_ne!(first, again, "a slot about to be created gets a new token");

    // Once the slot exists, the token is stable.
    client
        .execute(
            "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&slot],
        )
        .await
        .expect("create slot");
    let kept = checks::slot_token(&client, slot).await.expect("token");
    assert_eq!(kept, again);
    assert_eq!(
        checks::slot_token(&client, slot).await.expect("token"),
        kept
    );

    // Dropped and re-created: a new life, a new token.
    client
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .expect("drop slot");
    let renewed = checks::slot_token(&client, slot).await.expect("token");
    assert_ne!(renewed, kept);
}
