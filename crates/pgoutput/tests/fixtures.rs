//! Decodes pgoutput messages captured from a real PostgreSQL 15 server (see
//! `fixtures/capture.sh` for the SQL behind each file) and checks every
//! decoded field that the scenario determines.
//!
//! OIDs, xids, LSNs and timestamps change whenever the fixtures are
//! regenerated, so they are checked by relationship (an Insert names the OID
//! of the Relation before it; a Commit's LSN is its Begin's final LSN), not
//! by value.

mod support;

use bytes::Bytes;
use pgoutput::{
    BeginBody, ColumnInfo, CommitBody, InsertBody, Message, OldTuple, RelationBody,
    ReplicaIdentity, TupleData, TupleValue, UpdateBody,
};
use support::{FIXTURES, decode_all};

// Built-in type OIDs (pg_type.dat).
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const INT8: u32 = 20;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const FLOAT8: u32 = 701;
const VARCHAR: u32 = 1043;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;

/// A tuple of text values; `None` is NULL.
fn text(values: &[Option<&str>]) -> TupleData {
    TupleData(
        values
            .iter()
            .map(|value| match value {
                Some(text) => TupleValue::Text(Bytes::copy_from_slice(text.as_bytes())),
                None => TupleValue::Null,
            })
            .collect(),
    )
}

fn column(is_key: bool, name: &str, type_oid: u32, type_modifier: i32) -> ColumnInfo {
    ColumnInfo {
        is_key,
        name: name.into(),
        type_oid,
        type_modifier,
    }
}

/// Checks that a Begin and its Commit agree, and returns the xid.
fn transaction(begin: &BeginBody, commit: &CommitBody) -> u32 {
    assert_eq!(commit.flags, 0);
    assert_eq!(begin.final_lsn, commit.commit_lsn);
    assert!(commit.end_lsn > commit.commit_lsn);
    assert_eq!(begin.commit_ts, commit.commit_ts);
    assert_ne!(begin.xid, 0);
    begin.xid
}

#[test]
fn every_fixture_file_is_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .filter_map(|name| name.strip_suffix(".hex").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_fixture_decodes() {
    for (name, _) in FIXTURES {
        assert!(!decode_all(name).is_empty(), "{name} is empty");
    }
}

#[test]
fn replica_identity_default() {
    let messages = decode_all("v1_default_identity");
    let [
        Message::Begin(b1),
        Message::Relation(rel),
        Message::Insert(apple),
        Message::Insert(pear),
        Message::Commit(c1),
        Message::Begin(b2),
        Message::Update(price),
        Message::Commit(c2),
        Message::Begin(b3),
        Message::Update(rekey),
        Message::Commit(c3),
        Message::Begin(b4),
        Message::Delete(delete),
        Message::Commit(c4),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    let xids = [
        transaction(b1, c1),
        transaction(b2, c2),
        transaction(b3, c3),
        transaction(b4, c4),
    ];
    assert!(xids.windows(2).all(|pair| pair[0] < pair[1]), "{xids:?}");
    assert!(c1.end_lsn <= c2.commit_lsn);

    assert_eq!(
        *rel,
        RelationBody {
            xid: None,
            oid: rel.oid,
            namespace: "public".into(),
            name: "items".into(),
            replica_identity: ReplicaIdentity::Default,
            columns: vec![
                column(true, "id", INT4, -1),
                column(false, "name", TEXT, -1),
                // numeric(10,2): ((10 << 16) | 2) + VARHDRSZ
                column(false, "price", NUMERIC, (10 << 16 | 2) + 4),
                // varchar(20): 20 + VARHDRSZ
                column(false, "note", VARCHAR, 24),
            ],
        }
    );
    assert_eq!(
        *apple,
        InsertBody {
            xid: None,
            relation: rel.oid,
            new: text(&[Some("1"), Some("apple"), Some("1.25"), None]),
        }
    );
    assert_eq!(
        pear.new,
        text(&[Some("2"), Some("pear"), Some("0.50"), Some("ripe")])
    );

    // Key unchanged: no old tuple.
    assert_eq!(
        *price,
        UpdateBody {
            xid: None,
            relation: rel.oid,
            old: None,
            new: text(&[Some("1"), Some("apple"), Some("1.50"), None]),
        }
    );
    // Key changed: the old key, other columns NULL.
    assert_eq!(
        rekey.old,
        Some(OldTuple::Key(text(&[Some("2"), None, None, None])))
    );
    assert_eq!(
        rekey.new,
        text(&[Some("10"), Some("pear"), Some("0.50"), Some("ripe")])
    );

    assert_eq!(delete.relation, rel.oid);
    assert_eq!(delete.xid, None);
    assert_eq!(
        delete.old,
        OldTuple::Key(text(&[Some("10"), None, None, None]))
    );
}

#[test]
fn replica_identity_full_index_and_nothing() {
    let messages = decode_all("v1_identities");
    let data: Vec<&Message> = messages
        .iter()
        .filter(|message| !matches!(message, Message::Begin(_) | Message::Commit(_)))
        .collect();
    let [
        Message::Relation(accounts),
        Message::Insert(insert),
        Message::Update(update),
        Message::Delete(delete),
        Message::Relation(tags),
        Message::Insert(tag_insert),
        Message::Update(tag_update),
        Message::Relation(log_lines),
        Message::Insert(line),
    ] = data.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    // Six transactions, each Begin … Commit.
    assert_eq!(messages.len(), data.len() + 12);

    assert_eq!(accounts.name, "accounts");
    assert_eq!(accounts.replica_identity, ReplicaIdentity::Full);
    // FULL: every column is part of the identity.
    assert_eq!(
        accounts.columns,
        vec![
            column(true, "id", INT4, -1),
            column(true, "owner", TEXT, -1),
            column(true, "balance", INT8, -1),
        ]
    );
    assert_eq!(insert.relation, accounts.oid);
    assert_eq!(insert.new, text(&[Some("1"), Some("ada"), Some("100")]));
    assert_eq!(update.relation, accounts.oid);
    assert_eq!(
        update.old,
        Some(OldTuple::Full(text(&[Some("1"), Some("ada"), Some("100")])))
    );
    assert_eq!(update.new, text(&[Some("1"), Some("ada"), Some("90")]));
    assert_eq!(delete.relation, accounts.oid);
    assert_eq!(
        delete.old,
        OldTuple::Full(text(&[Some("1"), Some("ada"), Some("90")]))
    );

    assert_eq!(tags.name, "tags");
    assert_eq!(tags.replica_identity, ReplicaIdentity::Index);
    // USING INDEX on `code`: the primary key is not the identity.
    assert_eq!(
        tags.columns,
        vec![
            column(false, "id", INT4, -1),
            column(true, "code", TEXT, -1)
        ]
    );
    assert_eq!(tag_insert.new, text(&[Some("1"), Some("red")]));
    assert_eq!(tag_update.relation, tags.oid);
    assert_eq!(
        tag_update.old,
        Some(OldTuple::Key(text(&[None, Some("red")])))
    );
    assert_eq!(tag_update.new, text(&[Some("1"), Some("blue")]));

    assert_eq!(log_lines.name, "log_lines");
    assert_eq!(log_lines.replica_identity, ReplicaIdentity::Nothing);
    assert_eq!(log_lines.columns, vec![column(false, "line", TEXT, -1)]);
    assert_eq!(line.relation, log_lines.oid);
    assert_eq!(line.new, text(&[Some("hello")]));
}

#[test]
fn unchanged_toast_column() {
    let messages = decode_all("v1_unchanged_toast");
    let [
        Message::Begin(_),
        Message::Relation(docs),
        Message::Insert(insert),
        Message::Commit(_),
        Message::Begin(_),
        Message::Update(update),
        Message::Commit(_),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    assert_eq!(docs.name, "docs");
    let [id, title, TupleValue::Text(big)] = insert.new.0.as_slice() else {
        panic!("unexpected insert: {insert:?}");
    };
    assert_eq!(
        [id, title],
        [
            &TupleValue::Text("1".into()),
            &TupleValue::Text("draft".into())
        ]
    );
    // 160 md5 hex digests.
    assert_eq!(big.len(), 160 * 32);
    assert!(big.iter().all(u8::is_ascii_hexdigit));

    // The stored-out-of-line value was not touched, so it is not resent.
    assert_eq!(update.relation, docs.oid);
    assert_eq!(update.old, None);
    assert_eq!(
        update.new.0,
        [
            TupleValue::Text(Bytes::from_static(b"1")),
            TupleValue::Text(Bytes::from_static(b"final")),
            TupleValue::UnchangedToast,
        ]
    );
}

#[test]
fn truncate_cascade_and_restart_identity() {
    let messages = decode_all("v1_truncate");
    let relations: Vec<&RelationBody> = messages
        .iter()
        .filter_map(|message| match message {
            Message::Relation(body) => Some(body),
            _ => None,
        })
        .collect();
    let oid = |name: &str| {
        relations
            .iter()
            .find(|relation| relation.name == name)
            .map(|relation| relation.oid)
            .expect("relation sent")
    };
    let (parents, children) = (oid("parents"), oid("children"));
    assert_eq!(
        relations
            .iter()
            .find(|r| r.name == "children")
            .map(|r| r.columns.clone()),
        Some(vec![
            column(true, "id", INT4, -1),
            column(false, "parent", INT4, -1)
        ])
    );

    let truncates: Vec<_> = messages
        .iter()
        .filter_map(|message| match message {
            Message::Truncate(body) => Some((body.xid, body.options, body.relations.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        truncates,
        vec![
            // TRUNCATE parents CASCADE: both tables, one message, CASCADE bit.
            (None, 1, vec![parents, children]),
            // TRUNCATE children RESTART IDENTITY.
            (None, 2, vec![children]),
        ]
    );
}

#[test]
fn custom_type_is_described_before_its_relation() {
    let messages = decode_all("v1_enum_type");
    let [
        Message::Begin(_),
        Message::Type(mood),
        Message::Relation(people),
        Message::Insert(insert),
        Message::Commit(_),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    assert_eq!(
        (mood.xid, mood.namespace.as_str(), mood.name.as_str()),
        (None, "public", "mood")
    );
    assert_eq!(
        people.columns,
        vec![
            column(true, "id", INT4, -1),
            column(false, "feeling", mood.oid, -1)
        ]
    );
    assert_eq!(insert.new, text(&[Some("1"), Some("happy")]));
}

#[test]
fn logical_messages() {
    let messages = decode_all("v1_messages");
    let [
        Message::Message(loose),
        Message::Begin(b1),
        Message::Message(in_tx),
        Message::Relation(_),
        Message::Insert(_),
        Message::Commit(c1),
        Message::Begin(b2),
        Message::Message(binary),
        Message::Commit(c2),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    transaction(b1, c1);
    transaction(b2, c2);

    // Non-transactional: sent at once, outside any Begin/Commit.
    assert!(!loose.transactional);
    assert_eq!(loose.prefix, "walcast");
    assert_eq!(loose.content, Bytes::from_static(b"not in a transaction"));
    assert!(loose.lsn > 0 && loose.lsn < b1.final_lsn);

    assert!(in_tx.transactional);
    assert_eq!(in_tx.xid, None);
    assert_eq!(in_tx.prefix, "walcast");
    assert_eq!(in_tx.content, Bytes::from_static(b"in a transaction"));
    assert!(in_tx.lsn < c1.commit_lsn);

    assert!(binary.transactional);
    assert_eq!(binary.prefix, "walcast/bin");
    assert_eq!(binary.content, Bytes::from_static(&[0x00, 0xff, 0x0a]));
}

#[test]
fn origin_follows_begin() {
    let messages = decode_all("v1_origin");
    let [
        Message::Begin(_),
        Message::Origin(origin),
        Message::Relation(relation),
        Message::Insert(insert),
        Message::Commit(_),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    // pg_replication_origin_xact_setup('0/ABCDEF', …)
    assert_eq!(origin.commit_lsn, 0xAB_CDEF);
    assert_eq!(origin.name, "upstream");
    assert_eq!(relation.name, "replicated");
    assert_eq!(insert.new, text(&[Some("1")]));
}

#[test]
fn binary_values() {
    let messages = decode_all("v1_binary");
    let [
        Message::Begin(_),
        Message::Relation(readings),
        Message::Insert(first),
        Message::Insert(second),
        Message::Commit(_),
    ] = messages.as_slice()
    else {
        panic!("unexpected sequence: {messages:#?}");
    };
    assert_eq!(
        readings.columns,
        vec![
            column(true, "id", INT8, -1),
            column(false, "label", TEXT, -1),
            column(false, "value", FLOAT8, -1),
            column(false, "taken", TIMESTAMPTZ, -1),
            column(false, "ok", BOOL, -1),
            column(false, "raw", BYTEA, -1),
        ]
    );
    let binary = |bytes: &[u8]| TupleValue::Binary(Bytes::copy_from_slice(bytes));
    // 2024-01-02 03:04:05 UTC in µs since 2000-01-01.
    let taken: i64 = (8767 * 86_400 + 3 * 3600 + 4 * 60 + 5) * 1_000_000;
    assert_eq!(
        first.new.0,
        [
            binary(&1i64.to_be_bytes()),
            binary(b"temp"),
            binary(&21.5f64.to_be_bytes()),
            binary(&taken.to_be_bytes()),
            binary(&[1]),
            binary(&[0x00, 0x01, 0xff]),
        ]
    );
    // Empty text and bytea are zero-length values, distinct from NULL.
    assert_eq!(
        second.new.0,
        [
            binary(&2i64.to_be_bytes()),
            binary(b""),
            TupleValue::Null,
            binary(&0i64.to_be_bytes()),
            binary(&[0]),
            binary(b""),
        ]
    );
}

/// One streamed transaction, as seen through its stream blocks.
struct Streamed<'a> {
    /// The xid of its Stream Start messages.
    xid: u32,
    /// Number of Stream Start … Stream Stop blocks.
    blocks: usize,
    /// Every message inside a block, with the xid it carried.
    data: Vec<(u32, &'a Message)>,
}

/// Walks stream blocks, checking that every data message inside one carries
/// an xid and none outside does, that only the first block is marked first,
/// and that only Begin, Commit and the stream end messages appear outside.
fn streamed(messages: &[Message]) -> Streamed<'_> {
    let mut in_block = false;
    let mut result = Streamed {
        xid: 0,
        blocks: 0,
        data: Vec::new(),
    };
    for message in messages {
        let xid = match message {
            Message::StreamStart(start) => {
                assert!(!in_block, "nested Stream Start");
                assert_eq!(start.first_segment, result.blocks == 0);
                if result.blocks == 0 {
                    result.xid = start.xid;
                }
                assert_eq!(start.xid, result.xid, "one streamed transaction");
                result.blocks += 1;
                in_block = true;
                continue;
            }
            Message::StreamStop => {
                assert!(in_block, "Stream Stop outside a block");
                in_block = false;
                continue;
            }
            Message::Relation(body) => body.xid,
            Message::Type(body) => body.xid,
            Message::Insert(body) => body.xid,
            Message::Update(body) => body.xid,
            Message::Delete(body) => body.xid,
            Message::Truncate(body) => body.xid,
            Message::Message(body) => body.xid,
            Message::Begin(_)
            | Message::Commit(_)
            | Message::Origin(_)
            | Message::StreamCommit(_)
            | Message::StreamAbort(_) => {
                assert!(!in_block, "{message:?} inside a stream block");
                continue;
            }
        };
        match xid {
            Some(xid) if in_block => result.data.push((xid, message)),
            None if !in_block => {}
            _ => panic!("{message:?} has the wrong layout for in_block={in_block}"),
        }
    }
    assert!(!in_block);
    result
}

/// The integer first column of every Insert into `relation`, with the xid
/// each carried.
fn insert_ids(data: &[(u32, &Message)], relation: u32) -> Vec<(u32, i32)> {
    data.iter()
        .filter_map(|(xid, message)| match message {
            Message::Insert(insert) if insert.relation == relation => Some((*xid, insert)),
            _ => None,
        })
        .map(|(xid, insert)| match insert.new.0.first() {
            Some(TupleValue::Text(id)) => {
                let id = std::str::from_utf8(id)
                    .expect("utf-8")
                    .parse()
                    .expect("integer id");
                (xid, id)
            }
            other => panic!("unexpected id {other:?}"),
        })
        .collect()
}

fn relation<'a>(data: &[(u32, &'a Message)], name: &str) -> &'a RelationBody {
    data.iter()
        .find_map(|(_, message)| match message {
            Message::Relation(body) if body.name == name => Some(body),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Relation {name}"))
}

#[test]
fn streamed_transaction_commits() {
    let messages = decode_all("v2_stream_commit");
    let stream = streamed(&messages);
    // Streamed in blocks before the commit, not in one piece at the end.
    assert!(stream.blocks >= 2, "{} blocks", stream.blocks);
    // No subtransactions: every change carries the streamed xid.
    assert!(stream.data.iter().all(|(xid, _)| *xid == stream.xid));
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, Message::Begin(_) | Message::Commit(_)))
    );
    let Some(Message::StreamCommit(commit)) = messages.last() else {
        panic!("last message is not Stream Commit");
    };
    assert_eq!(commit.xid, stream.xid);
    assert_eq!(commit.flags, 0);
    assert!(commit.end_lsn > commit.commit_lsn);

    let level = stream
        .data
        .iter()
        .find_map(|(_, message)| match message {
            Message::Type(body) => Some(body),
            _ => None,
        })
        .expect("Type for the enum");
    assert_eq!(
        (level.namespace.as_str(), level.name.as_str()),
        ("public", "level")
    );
    let bulk = relation(&stream.data, "bulk");
    let side = relation(&stream.data, "side");
    assert_eq!(bulk.columns[1], column(false, "lvl", level.oid, -1));

    let ids = |relation| -> Vec<i32> {
        insert_ids(&stream.data, relation)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    };
    assert_eq!(ids(side.oid), [1]);
    assert_eq!(ids(bulk.oid), (1..=1000).collect::<Vec<_>>());

    let tail: Vec<&Message> = stream
        .data
        .iter()
        .map(|(_, message)| *message)
        .filter(|message| !matches!(message, Message::Insert(_) | Message::Relation(_)))
        .collect();
    let [
        Message::Type(_),
        Message::Message(note),
        Message::Update(update),
        Message::Delete(delete),
        Message::Truncate(truncate),
    ] = tail.as_slice()
    else {
        panic!("unexpected streamed changes: {tail:#?}");
    };
    assert!(note.transactional);
    assert_eq!(
        (note.prefix.as_str(), &note.content[..]),
        ("walcast", &b"streamed"[..])
    );
    assert_eq!(update.relation, bulk.oid);
    assert_eq!(update.old, None);
    assert_eq!(update.new, text(&[Some("1"), Some("high")]));
    assert_eq!(delete.relation, bulk.oid);
    assert_eq!(delete.old, OldTuple::Key(text(&[Some("2"), None])));
    assert_eq!(
        (truncate.options, truncate.relations.as_slice()),
        (0, &[side.oid][..])
    );
}

#[test]
fn streamed_transaction_aborts() {
    let messages = decode_all("v2_stream_abort");
    // The committed warm-up row comes first, as an ordinary transaction.
    let [
        Message::Begin(begin),
        Message::Relation(doomed),
        Message::Insert(warm_up),
        Message::Commit(commit),
        ..,
    ] = messages.as_slice()
    else {
        panic!("unexpected start: {messages:#?}");
    };
    transaction(begin, commit);
    assert_eq!(warm_up.new, text(&[Some("0")]));

    let stream = streamed(&messages);
    assert!(stream.blocks >= 2, "{} blocks", stream.blocks);
    let aborts: Vec<_> = messages
        .iter()
        .filter_map(|message| match message {
            Message::StreamAbort(body) => Some(*body),
            _ => None,
        })
        .collect();
    // ROLLBACK TO SAVEPOINT aborts the first subtransaction; ROLLBACK aborts
    // the second one (the savepoint is kept, so a new subtransaction follows)
    // and then the whole transaction.
    let [first_sub, second_sub, top] = aborts.as_slice() else {
        panic!("unexpected aborts: {aborts:?}");
    };
    assert!(
        [first_sub, second_sub, top]
            .iter()
            .all(|abort| abort.xid == stream.xid)
    );
    assert_eq!(top.subxid, top.xid);
    assert!(first_sub.subxid != top.xid && second_sub.subxid != top.xid);
    assert_ne!(first_sub.subxid, second_sub.subxid);
    assert!(matches!(messages.last(), Some(Message::StreamAbort(last)) if last == top));

    // Rows arrive in order, each carrying the xid of the (sub)transaction
    // that wrote it; the Stream Abort for a subxid discards those rows.
    let ids = insert_ids(&stream.data, doomed.oid);
    assert!(ids.windows(2).all(|pair| pair[0].1 < pair[1].1));
    assert_eq!(
        ids[..600],
        (1..=600).map(|id| (top.xid, id)).collect::<Vec<_>>()
    );
    for (xid, id) in &ids {
        let expected = match id {
            1..=600 => top.xid,
            601..=1200 => first_sub.subxid,
            1201..=1800 => second_sub.subxid,
            _ => panic!("unexpected id {id}"),
        };
        assert_eq!(*xid, expected, "row {id}");
    }
    assert!(ids.iter().any(|(xid, _)| xid == &first_sub.subxid));
    assert!(ids.iter().any(|(xid, _)| xid == &second_sub.subxid));
}
