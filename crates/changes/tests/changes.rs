//! Typed changes against a real PostgreSQL: row changes, logical messages
//! and values that went through a live pgoutput stream, checked as the JSON
//! walcast sends and, for values, against the server's own `to_jsonb`.
//!
//! ```text
//!  psql ──SQL──▶ PostgreSQL ──pgoutput──▶ replication ──▶ ChangeStream ──▶ Event ──serde──▶ JSON
//!                    └──────── SELECT to_jsonb(t) ─────────────────────────────────────────▶ compared
//! ```
//!
//! Every test takes a fresh database and a slot named after it; [`Feed`]
//! checks on every event that positions strictly increase. "Nothing
//! arrives" is shown with a marker: a later committed row is the next
//! event, since events arrive in commit order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use changes::{Change, ChangeKind, ChangeStream, Datum, Epoch, Event, LogicalMessage, Position};
use pgcluster::testing::{TestDatabase, fresh_database};
use replication::{ConnectionConfig, ReplicationConfig, ReplicationError};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// How long one event may take to arrive.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A table most scenarios write to.
const ITEMS: &str = "CREATE TABLE items (id int PRIMARY KEY, name text);
                     CREATE PUBLICATION walcast FOR TABLE items;";

/// A fresh database with `schema` applied.
fn database(schema: &str) -> TestDatabase {
    let db = fresh_database();
    psql(&db, schema);
    db
}

/// Runs `sql` in `db` and returns what it printed.
fn psql(db: &TestDatabase, sql: &str) -> String {
    db.psql(sql)
        .unwrap_or_else(|err| panic!("psql failed: {err}\n{sql}"))
}

/// Runs `sql` on a blocking thread, for transactions the test must watch
/// while they are open.
fn psql_in_background(db: &TestDatabase, sql: &str) -> JoinHandle<String> {
    let (cluster, name, sql) = (db.cluster(), db.name.clone(), sql.to_owned());
    tokio::task::spawn_blocking(move || {
        cluster
            .psql(&name, &sql)
            .unwrap_or_else(|err| panic!("psql failed: {err}\n{sql}"))
    })
}

/// The change stream of one test database, read the way a consumer reads
/// it: batch by batch, confirming each.
struct Feed {
    stream: ChangeStream,
    task: JoinHandle<Result<(), ReplicationError>>,
    shutdown: CancellationToken,
    /// Received but not yet taken by the test.
    pending: VecDeque<Event>,
    last: Option<Position>,
}

impl Feed {
    /// Starts replication from a new slot named after the database, on the
    /// publication `walcast`.
    async fn start(db: &TestDatabase) -> Feed {
        let connection = ConnectionConfig::from_url(&db.url).expect("url");
        let mut config = ReplicationConfig::new(connection, db.name.clone(), "walcast");
        config.status_interval = Duration::from_secs(1);
        let shutdown = CancellationToken::new();
        let replication = replication::start(config, shutdown.clone())
            .await
            .expect("start replication");
        let (stream, task) = ChangeStream::from_replication(replication);
        let epoch = Epoch::derive(&stream.handle().system().system_id, &db.name, "test");
        let stream = stream.with_epoch(epoch);
        Feed {
            stream,
            task,
            shutdown,
            pending: VecDeque::new(),
            last: None,
        }
    }

    /// Waits up to `wait` for a batch, moves it into `pending` checking that
    /// positions increase, and confirms it. False when none arrived.
    async fn receive(&mut self, wait: Duration) -> bool {
        let mut batch = Vec::new();
        let Ok(next) = timeout(wait, self.stream.next_batch(&mut batch)).await else {
            return false;
        };
        let lsn = match next {
            Some(Ok(lsn)) => lsn,
            Some(Err(err)) => panic!("the decoder rejected the stream: {err}"),
            None => panic!("the stream ended: {:?}", (&mut self.task).await),
        };
        for event in batch {
            let position = event.position();
            assert_eq!(position.epoch, self.stream.epoch(), "{position}");
            if let Some(last) = self.last {
                assert_eq!(
                    position.cmp_in_epoch(&last),
                    Some(Ordering::Greater),
                    "position {position} after {last}"
                );
            }
            self.last = Some(position);
            self.pending.push_back(event);
        }
        self.stream.confirm(lsn);
        true
    }

    /// The next `count` events.
    async fn events(&mut self, count: usize) -> Vec<Event> {
        while self.pending.len() < count {
            let received = self.receive(EVENT_TIMEOUT).await;
            assert!(
                received,
                "timed out with {} of {count} events",
                self.pending.len()
            );
        }
        self.pending.drain(..count).collect()
    }

    /// The next `count` events, all of them changes.
    async fn changes(&mut self, count: usize) -> Vec<Change> {
        let events = self.events(count).await;
        events
            .into_iter()
            .map(|event| match event {
                Event::Change(change) => change,
                Event::Message(message) => panic!("expected a change, got {message:?}"),
            })
            .collect()
    }

    /// The next event, a change.
    async fn change(&mut self) -> Change {
        self.changes(1).await.remove(0)
    }

    /// Fails when an event arrives within `wait`.
    async fn assert_nothing_arrives(&mut self, wait: Duration) {
        self.receive(wait).await;
        assert!(
            self.pending.is_empty(),
            "unexpected events: {:?}",
            self.pending
        );
    }

    /// Checks that nothing else arrived, then shuts replication down.
    async fn stop(mut self) {
        self.assert_nothing_arrives(Duration::from_millis(200))
            .await;
        assert_eq!(self.stream.handle().status().reconnects, 0);
        self.shutdown.cancel();
        self.task
            .await
            .expect("replication task")
            .expect("clean shutdown");
    }
}

/// The JSON walcast sends for `change`, without `commit_timestamp` and
/// `position` (checked for shape here, compared across events by tests).
fn data(change: &Change) -> Value {
    let mut value = serde_json::to_value(change).expect("serializes");
    let object = value.as_object_mut().expect("an object");
    let commit = object.remove("commit_timestamp").expect("commit_timestamp");
    let commit = commit.as_str().expect("a string");
    assert!(
        commit.len() == 24 && commit.ends_with('Z') && commit.as_bytes()[10] == b'T',
        "{commit}"
    );
    let position = object.remove("position").expect("position");
    assert_eq!(
        position.as_str().and_then(Position::parse),
        Some(change.position)
    );
    value
}

/// `[{"name": …, "type": …}]`.
fn columns(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(name, ty)| json!({"name": name, "type": ty}))
        .collect()
}

/// The expected JSON of a change to `public.table`.
fn expected(table: &str, kind: &str, columns: &Value, rows: Value) -> Value {
    let mut value = json!({
        "schema": "public",
        "table": table,
        "type": kind,
        "columns": columns,
        "errors": null,
    });
    let object = value.as_object_mut().expect("an object");
    for (key, row) in rows.as_object().expect("rows").clone() {
        object.insert(key, row);
    }
    value
}

/// The first column of a change's record (or old record) as an integer.
fn id(change: &Change) -> i64 {
    let row = change
        .record
        .as_ref()
        .or(change.old_record.as_ref())
        .expect("a row");
    match row.get(0) {
        Some(Datum::Int(id)) => *id,
        other => panic!("id column is {other:?}"),
    }
}

/// `stream_txns` of the test database's slot: transactions the server
/// streamed before they ended.
fn streamed_transactions(db: &TestDatabase) -> u64 {
    psql(
        db,
        &format!(
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '{}'",
            db.name
        ),
    )
    .trim()
    .parse()
    .expect("a count")
}

/// Polls `condition` every 50 ms for up to 10 s.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// JSON text without whitespace outside strings, to compare `jsonb`'s
/// spaced output with serde_json's compact output.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// A JSON object's members as their exact text.
fn raw_members(json: &str) -> BTreeMap<String, Box<RawValue>> {
    serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}: {json}"))
}

// Replica identity and the old record.

const PAIRS: &str = "CREATE TABLE pairs (a int, b text, note text, PRIMARY KEY (a, b));
                     CREATE PUBLICATION walcast FOR TABLE pairs;";

const PAIR_CHANGES: &str = "INSERT INTO pairs VALUES (1, 'x', 'first');
                            UPDATE pairs SET note = 'second' WHERE a = 1;
                            UPDATE pairs SET b = 'y' WHERE a = 1;
                            DELETE FROM pairs WHERE a = 1;";

fn pair_columns() -> Value {
    columns(&[("a", "int4"), ("b", "text"), ("note", "text")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_identity_sends_the_primary_key_as_old_record() {
    let db = database(PAIRS);
    let mut feed = Feed::start(&db).await;
    psql(&db, PAIR_CHANGES);
    let changes = feed.changes(4).await;
    let cols = pair_columns();
    let row = |a: i64, b: &str, note: &str| json!({"a": a, "b": b, "note": note});
    let sent: Vec<Value> = changes.iter().map(data).collect();
    assert_eq!(
        sent,
        [
            expected(
                "pairs",
                "INSERT",
                &cols,
                json!({"record": row(1, "x", "first")})
            ),
            // Key unchanged: no K image, the key is taken from the new row.
            expected(
                "pairs",
                "UPDATE",
                &cols,
                json!({"record": row(1, "x", "second"), "old_record": {"a": 1, "b": "x"}})
            ),
            // Key changed: the old key from the K image.
            expected(
                "pairs",
                "UPDATE",
                &cols,
                json!({"record": row(1, "y", "second"), "old_record": {"a": 1, "b": "x"}})
            ),
            expected(
                "pairs",
                "DELETE",
                &cols,
                json!({"old_record": {"a": 1, "b": "y"}})
            ),
        ]
    );
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_identity_sends_the_whole_old_row() {
    let db = database(&format!("{PAIRS} ALTER TABLE pairs REPLICA IDENTITY FULL;"));
    let mut feed = Feed::start(&db).await;
    psql(&db, PAIR_CHANGES);
    let changes = feed.changes(4).await;
    let cols = pair_columns();
    let row = |a: i64, b: &str, note: &str| json!({"a": a, "b": b, "note": note});
    let sent: Vec<Value> = changes.iter().map(data).collect();
    assert_eq!(
        sent,
        [
            expected(
                "pairs",
                "INSERT",
                &cols,
                json!({"record": row(1, "x", "first")})
            ),
            expected(
                "pairs",
                "UPDATE",
                &cols,
                json!({"record": row(1, "x", "second"), "old_record": row(1, "x", "first")})
            ),
            expected(
                "pairs",
                "UPDATE",
                &cols,
                json!({"record": row(1, "y", "second"), "old_record": row(1, "x", "second")})
            ),
            expected(
                "pairs",
                "DELETE",
                &cols,
                json!({"old_record": row(1, "y", "second")})
            ),
        ]
    );
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_arrives_as_one_change_per_table() {
    let db = database(
        "CREATE TABLE first (id int PRIMARY KEY);
         CREATE TABLE second (id int PRIMARY KEY, name text);
         ALTER TABLE second REPLICA IDENTITY FULL;
         CREATE PUBLICATION walcast FOR ALL TABLES;",
    );
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        "INSERT INTO first VALUES (1); INSERT INTO second VALUES (2, 'b');
         TRUNCATE first, second;",
    );
    let inserts = feed.changes(2).await;
    assert_eq!(
        inserts.iter().map(id).collect::<Vec<_>>(),
        [1, 2],
        "rows before the truncate"
    );
    let truncates = feed.changes(2).await;
    assert_eq!(
        truncates.iter().map(data).collect::<Vec<_>>(),
        [
            expected("first", "TRUNCATE", &columns(&[("id", "int4")]), json!({})),
            expected(
                "second",
                "TRUNCATE",
                &columns(&[("id", "int4"), ("name", "text")]),
                json!({})
            ),
        ]
    );
    assert_eq!(
        truncates[0].position.lsn, truncates[1].position.lsn,
        "one transaction"
    );
    assert!(truncates.iter().all(|c| c.kind == ChangeKind::Truncate));
    feed.stop().await;
}

// TOAST.

/// `docs` with `big` stored out of line, and one row whose `big` is ~10 kB
/// of random text; returns that text.
fn toasted_docs(db: &TestDatabase, identity: &str) -> String {
    psql(
        db,
        &format!(
            "CREATE TABLE docs (id int PRIMARY KEY, note text, big text);
             ALTER TABLE docs ALTER COLUMN big SET STORAGE EXTERNAL;
             ALTER TABLE docs REPLICA IDENTITY {identity};
             CREATE PUBLICATION walcast FOR TABLE docs;"
        ),
    );
    random_text(db)
}

/// ~10 kB of random hex text, generated by the server.
fn random_text(db: &TestDatabase) -> String {
    psql(
        db,
        "SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 320)",
    )
}

/// Inserts the doc and checks that `big` went to the TOAST table.
fn insert_toasted_doc(db: &TestDatabase, big: &str) {
    psql(
        db,
        &format!("INSERT INTO docs VALUES (1, 'first', '{big}')"),
    );
    let toast = psql(
        db,
        "SELECT reltoastrelid::regclass FROM pg_class WHERE relname = 'docs'",
    );
    let chunks: u64 = psql(db, &format!("SELECT count(*) FROM {toast}"))
        .trim()
        .parse()
        .expect("count");
    assert!(chunks > 1, "big is stored out of line ({chunks} chunks)");
}

fn doc_columns() -> Value {
    columns(&[("id", "int4"), ("note", "text"), ("big", "text")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_toasted_column_is_left_out_under_default_identity() {
    let db = fresh_database();
    let big = toasted_docs(&db, "DEFAULT");
    let mut feed = Feed::start(&db).await;
    insert_toasted_doc(&db, &big);
    psql(&db, "UPDATE docs SET note = 'second' WHERE id = 1");
    let [insert, update] = <[Change; 2]>::try_from(feed.changes(2).await).expect("two");
    assert_eq!(
        data(&insert),
        expected(
            "docs",
            "INSERT",
            &doc_columns(),
            json!({"record": {"id": 1, "note": "first", "big": big}})
        )
    );
    assert_eq!(
        data(&update),
        expected(
            "docs",
            "UPDATE",
            &doc_columns(),
            json!({"record": {"id": 1, "note": "second"}, "old_record": {"id": 1}})
        ),
        "big is absent, not null"
    );
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_toasted_column_is_filled_from_the_old_row_under_full_identity() {
    let db = fresh_database();
    let big = toasted_docs(&db, "FULL");
    let mut feed = Feed::start(&db).await;
    insert_toasted_doc(&db, &big);
    psql(&db, "UPDATE docs SET note = 'second' WHERE id = 1");
    let update = feed.changes(2).await.remove(1);
    assert_eq!(
        data(&update),
        expected(
            "docs",
            "UPDATE",
            &doc_columns(),
            json!({
                "record": {"id": 1, "note": "second", "big": big},
                "old_record": {"id": 1, "note": "first", "big": big},
            })
        )
    );
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_toasted_column_arrives_in_full() {
    let db = fresh_database();
    let big = toasted_docs(&db, "DEFAULT");
    let bigger = format!("{}{}", random_text(&db), random_text(&db));
    let mut feed = Feed::start(&db).await;
    insert_toasted_doc(&db, &big);
    psql(
        &db,
        &format!("UPDATE docs SET big = '{bigger}' WHERE id = 1"),
    );
    let update = feed.changes(2).await.remove(1);
    assert_eq!(
        data(&update),
        expected(
            "docs",
            "UPDATE",
            &doc_columns(),
            json!({"record": {"id": 1, "note": "first", "big": bigger}, "old_record": {"id": 1}})
        )
    );
    feed.stop().await;
}

// Values.

/// One table with a column of every type the decoder knows, and rows that
/// reach the edges of each.
const EVERY_TYPE: &str = r#"
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE everything (
        id int PRIMARY KEY,
        b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric,
        t text, vc varchar(10), c char(5), nm name, e mood, u uuid, j json, jb jsonb,
        tstz timestamptz, ts timestamp, d date, tm time, iv interval, by bytea,
        ai int4[], at text[], ajb jsonb[], atstz timestamptz[]
    );
    CREATE PUBLICATION walcast FOR TABLE everything;"#;

const EVERY_TYPE_ROWS: &str = r#"
    INSERT INTO everything VALUES (
        1, true, -32768, 2147483647, -9223372036854775808, 1.1, 0.1,
        12345678901234567890.000100,
        E'line1\nline2 "quoted" \\ é ☃ \x01 /', 'x y', 'ab', 'n', 'happy',
        'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
        '{"b": [1, 2],  "a": "x", "a": "dup"}', '{"b": [1, 2.50], "a": {"c": null}}',
        '2025-11-03 09:32:55.123+05:30', '2025-11-03 09:32:55.123456', '2025-11-03',
        '09:32:55.5', '1 year 2 mons 3 days 04:05:06.789', '\x0102ff',
        '{1,NULL,3}', ARRAY['a b', NULL, 'NULL', 'c"d', '', 'x\y', '{}'],
        ARRAY['{"a": 1}', 'null', NULL, '"s"', '[1, "x"]']::jsonb[],
        ARRAY['2025-11-03 09:32:55+00', 'infinity', NULL]::timestamptz[]);
    INSERT INTO everything VALUES (
        2, false, 32767, -2147483648, 9223372036854775807, 'NaN', 'Infinity', 'NaN',
        '', '', '', '', 'sad', '00000000-0000-0000-0000-000000000000',
        '[]', '"str"',
        'infinity', '-infinity', '0044-03-15 BC', '24:00:00', '-9 mons -00:00:01.5', '\x',
        '{}', '{}', '{}', '{}');
    INSERT INTO everything (id, f4, f8, n, tstz, ts, d, tm, iv, j, jb)
        VALUES (3, '-Infinity', '-Infinity', 'Infinity',
                '0001-01-01 00:00:00+00 BC', '1999-12-31 23:59:59.999999', 'infinity',
                '00:00:00', '00:00:00', '12.50', '12.50');
    INSERT INTO everything (id, f4, f8, n, tstz) VALUES
        (4, 3.4e38, 1e300, '-Infinity', '20000-01-01 00:00:00+00'),
        (5, '-0', 5e-324, -0.00000000000000000001, '1850-01-01 00:00:00+00'),
        (6, 1.2345679e+11, 1.2345678901234568e-05, 0.00, '2025-01-01 00:00:00.5+00'),
        (7, 1e-45, -2.5e20, -42, NULL);
    INSERT INTO everything (id) VALUES (8);"#;

/// `(column, typname)` of [`EVERY_TYPE`].
const EVERY_TYPE_COLUMNS: &[(&str, &str)] = &[
    ("id", "int4"),
    ("b", "bool"),
    ("i2", "int2"),
    ("i4", "int4"),
    ("i8", "int8"),
    ("f4", "float4"),
    ("f8", "float8"),
    ("n", "numeric"),
    ("t", "text"),
    ("vc", "varchar"),
    ("c", "bpchar"),
    ("nm", "name"),
    ("e", "mood"),
    ("u", "uuid"),
    ("j", "json"),
    ("jb", "jsonb"),
    ("tstz", "timestamptz"),
    ("ts", "timestamp"),
    ("d", "date"),
    ("tm", "time"),
    ("iv", "interval"),
    ("by", "bytea"),
    ("ai", "_int4"),
    ("at", "_text"),
    ("ajb", "_jsonb"),
    ("atstz", "_timestamptz"),
];

/// Each record is compared, member by member and as exact text (numbers
/// keep their digits), with `to_jsonb` of the same row in a session with
/// the settings the replication connection pins. The one documented
/// difference: a `json` value is sent as stored, where `to_jsonb` re-parses
/// it (spacing, key order, duplicate keys); there the JSON values must be
/// equal and the text is the stored text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_type_matches_the_servers_to_jsonb() {
    let db = database(EVERY_TYPE);
    let mut column_types = EVERY_TYPE_COLUMNS.to_vec();
    match db.psql("CREATE EXTENSION IF NOT EXISTS citext") {
        Ok(_) => {
            psql(&db, "ALTER TABLE everything ADD COLUMN ci citext");
            column_types.push(("ci", "citext"));
        }
        Err(err) => eprintln!("citext is not available, not testing it: {err}"),
    }
    let mut feed = Feed::start(&db).await;
    psql(&db, EVERY_TYPE_ROWS);
    if column_types.len() > EVERY_TYPE_COLUMNS.len() {
        psql(
            &db,
            "UPDATE everything SET ci = 'MiXeD Case' WHERE id = 1; UPDATE everything SET ci = '' WHERE id = 2",
        );
    }
    let server: Vec<(i64, String)> = psql(
        &db,
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
         SET extra_float_digits = 3; SET bytea_output = 'hex';
         SELECT id, to_jsonb(everything)::text FROM everything ORDER BY id",
    )
    .lines()
    .map(|line| {
        let (id, json) = line.split_once('|').expect("id|json");
        (id.parse().expect("id"), json.to_owned())
    })
    .collect();
    let inserts = feed.changes(8).await;
    let updates = if column_types.len() > EVERY_TYPE_COLUMNS.len() {
        feed.changes(2).await
    } else {
        Vec::new()
    };
    // The latest change of each row holds its current values.
    let mut latest: BTreeMap<i64, &Change> = BTreeMap::new();
    for change in inserts.iter().chain(&updates) {
        latest.insert(id(change), change);
    }
    assert_eq!(latest.len(), server.len());

    for (id, server_json) in &server {
        let change = latest[id];
        assert_eq!(data(change)["columns"], columns(&column_types));
        let sent = serde_json::to_string(change).expect("serializes");
        let record = raw_members(raw_members(&sent)["record"].get());
        let expected = raw_members(server_json);
        assert_eq!(
            record.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "row {id}: every column is in the record"
        );
        for (column, value) in &expected {
            let ours = record[column].get();
            if column == "j" {
                let parsed = |text: &str| serde_json::from_str::<Value>(text).expect("json");
                assert_eq!(parsed(ours), parsed(value.get()), "row {id} column j");
                continue;
            }
            assert_eq!(
                compact(ours),
                compact(value.get()),
                "row {id} column {column}"
            );
        }
    }
    // json is sent as stored, including the duplicate key to_jsonb drops.
    let sent = serde_json::to_string(latest[&1]).expect("serializes");
    assert_eq!(
        raw_members(raw_members(&sent)["record"].get())["j"].get(),
        r#"{"b": [1, 2],  "a": "x", "a": "dup"}"#
    );
    feed.stop().await;
}

// Large and streamed transactions.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_transaction_arrives_complete_and_in_order() {
    const ROWS: usize = 100_000;
    let db = database(
        "CREATE TABLE numbers (id int PRIMARY KEY);
         CREATE PUBLICATION walcast FOR TABLE numbers;",
    );
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        &format!("INSERT INTO numbers SELECT generate_series(1, {ROWS})"),
    );
    let changes = feed.changes(ROWS).await;
    let (first, last) = (&changes[0], &changes[ROWS - 1]);
    assert!(changes.iter().enumerate().all(|(index, change)| {
        change.kind == ChangeKind::Insert
            && change.xid == first.xid
            && change.position.lsn == first.position.lsn
            && change.position.index as usize == index
            && id(change) == index as i64 + 1
    }));
    assert_eq!(
        data(last),
        expected(
            "numbers",
            "INSERT",
            &columns(&[("id", "int4")]),
            json!({"record": {"id": ROWS}})
        )
    );
    feed.stop().await;
}

/// Rows with enough padding that a few thousand exceed
/// `logical_decoding_work_mem` (64kB in test clusters) many times over.
fn padded_rows(from: usize, to: usize) -> String {
    format!("INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series({from}, {to}) g;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_transaction_arrives_once_after_its_commit() {
    let db = database(&format!("{ITEMS} CREATE TABLE gate (open bool);"));
    let mut feed = Feed::start(&db).await;
    // Holds the transaction open until the test opens the gate.
    let writer = psql_in_background(
        &db,
        &format!(
            "BEGIN; {}
             DO $$ BEGIN
                 WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.05); END LOOP;
             END $$;
             COMMIT;",
            padded_rows(1, 5000)
        ),
    );
    wait_until("the open transaction was streamed", || {
        streamed_transactions(&db) >= 1
    })
    .await;
    feed.assert_nothing_arrives(Duration::from_millis(500))
        .await;
    psql(&db, "INSERT INTO gate VALUES (true)");
    writer.await.expect("writer");
    let changes = feed.changes(5000).await;
    assert_eq!(
        changes.iter().map(id).collect::<Vec<_>>(),
        (1..=5000).collect::<Vec<_>>()
    );
    assert!(changes.iter().all(|c| c.xid == changes[0].xid));
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_streamed_transaction_never_arrives() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(&db, &format!("BEGIN; {} ROLLBACK;", padded_rows(1, 5000)));
    psql(&db, "INSERT INTO items VALUES (0, 'marker')");
    let marker = feed.change().await;
    assert_eq!(id(&marker), 0, "the marker is the next change");
    wait_until("the aborted transaction was streamed", || {
        streamed_transactions(&db) >= 1
    })
    .await;
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_savepoint_rolled_back_in_a_streamed_transaction_drops_only_its_rows() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        &format!(
            "BEGIN; {}
             SAVEPOINT doomed; {} ROLLBACK TO SAVEPOINT doomed;
             SAVEPOINT kept; {} RELEASE SAVEPOINT kept;
             {}
             COMMIT;",
            padded_rows(1, 2000),
            padded_rows(2001, 4000),
            padded_rows(4001, 4500),
            padded_rows(4501, 6000),
        ),
    );
    let changes = feed.changes(4000).await;
    assert_eq!(
        changes.iter().map(id).collect::<Vec<_>>(),
        (1..=2000).chain(4001..=6000).collect::<Vec<_>>()
    );
    assert!(
        streamed_transactions(&db) >= 1,
        "the transaction was streamed"
    );
    feed.stop().await;
}

/// pgoutput tags a Relation sent inside a streamed block with the xid of
/// the subtransaction whose row needed it, so a Stream Abort of that
/// subtransaction discards the Relation too; the server then sends it again
/// before the next row of the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_after_a_rolled_back_savepoint_that_first_used_the_table_still_decode() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        &format!(
            "BEGIN;
             SAVEPOINT doomed; {} ROLLBACK TO SAVEPOINT doomed;
             {}
             COMMIT;",
            padded_rows(1, 2000),
            padded_rows(2001, 4000),
        ),
    );
    let changes = feed.changes(2000).await;
    assert_eq!(
        changes.iter().map(id).collect::<Vec<_>>(),
        (2001..=4000).collect::<Vec<_>>()
    );
    assert!(
        streamed_transactions(&db) >= 1,
        "the transaction was streamed"
    );
    feed.stop().await;
}

// Schema changes.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_dropping_a_column_changes_the_columns_of_the_next_change() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        "INSERT INTO items VALUES (1, 'a');
         BEGIN;
         INSERT INTO items VALUES (2, 'b');
         ALTER TABLE items ADD COLUMN extra int DEFAULT 7;
         INSERT INTO items VALUES (3, 'c', 8);
         COMMIT;
         UPDATE items SET name = 'a2' WHERE id = 1;
         ALTER TABLE items DROP COLUMN name;
         INSERT INTO items VALUES (4, 9);",
    );
    let before = columns(&[("id", "int4"), ("name", "text")]);
    let added = columns(&[("id", "int4"), ("name", "text"), ("extra", "int4")]);
    let dropped = columns(&[("id", "int4"), ("extra", "int4")]);
    let sent: Vec<Value> = feed.changes(5).await.iter().map(data).collect();
    assert_eq!(
        sent,
        [
            expected(
                "items",
                "INSERT",
                &before,
                json!({"record": {"id": 1, "name": "a"}})
            ),
            expected(
                "items",
                "INSERT",
                &before,
                json!({"record": {"id": 2, "name": "b"}})
            ),
            expected(
                "items",
                "INSERT",
                &added,
                json!({"record": {"id": 3, "name": "c", "extra": 8}})
            ),
            // Row 1 predates the column: its default comes with it.
            expected(
                "items",
                "UPDATE",
                &added,
                json!({"record": {"id": 1, "name": "a2", "extra": 7}, "old_record": {"id": 1}})
            ),
            expected(
                "items",
                "INSERT",
                &dropped,
                json!({"record": {"id": 4, "extra": 9}})
            ),
        ]
    );
    feed.stop().await;
}

// Logical messages.

fn message(event: &Event) -> &LogicalMessage {
    match event {
        Event::Message(message) => message,
        Event::Change(change) => panic!("expected a message, got {change:?}"),
    }
}

fn change(event: &Event) -> &Change {
    match event {
        Event::Change(change) => change,
        Event::Message(message) => panic!("expected a change, got {message:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_message_arrives_in_order_with_its_transaction() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        r#"BEGIN;
           INSERT INTO items VALUES (1, 'a');
           SELECT pg_logical_emit_message(true, 'walcast', '{"topic":"x"}');
           INSERT INTO items VALUES (2, 'b');
           COMMIT;"#,
    );
    let events = feed.events(3).await;
    let (first, sent, second) = (change(&events[0]), message(&events[1]), change(&events[2]));
    assert_eq!((id(first), id(second)), (1, 2));
    let first_json = serde_json::to_value(first).expect("serializes");
    assert_eq!(
        serde_json::to_value(sent).expect("serializes"),
        json!({
            "type": "MESSAGE",
            "prefix": "walcast",
            "content": r#"{"topic":"x"}"#,
            "transactional": true,
            "commit_timestamp": first_json["commit_timestamp"],
            "position": sent.position.to_string(),
        })
    );
    assert_eq!(
        events.iter().map(Event::position).collect::<Vec<_>>(),
        (0..3)
            .map(|index| Position {
                index,
                ..first.position
            })
            .collect::<Vec<_>>(),
        "one transaction, in statement order"
    );
    feed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_non_transactional_message_of_a_rolled_back_transaction_arrives() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        r#"BEGIN;
           INSERT INTO items VALUES (1, 'never');
           SELECT pg_logical_emit_message(true, 'walcast', '{"topic":"rolled-back"}');
           SELECT pg_logical_emit_message(false, 'walcast', '{"topic":"x"}');
           ROLLBACK;
           INSERT INTO items VALUES (2, 'marker');"#,
    );
    let events = feed.events(2).await;
    let sent = message(&events[0]);
    assert_eq!(
        serde_json::to_value(sent).expect("serializes"),
        json!({
            "type": "MESSAGE",
            "prefix": "walcast",
            "content": r#"{"topic":"x"}"#,
            "transactional": false,
            "position": sent.position.to_string(),
        })
    );
    assert_eq!(id(change(&events[1])), 2, "the marker is the next event");
    feed.stop().await;
}

// Rollbacks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_insert_is_never_delivered() {
    let db = database(ITEMS);
    let mut feed = Feed::start(&db).await;
    psql(
        &db,
        "INSERT INTO items VALUES (1, 'a');
         BEGIN; INSERT INTO items VALUES (2, 'never'); ROLLBACK;
         INSERT INTO items VALUES (3, 'c');",
    );
    let ids: Vec<i64> = feed.changes(2).await.iter().map(id).collect();
    assert_eq!(ids, [1, 3]);
    feed.stop().await;
}
