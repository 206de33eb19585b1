use std::sync::Arc;

use changes::{ChangeKind, Relation};

use super::*;
use crate::testing::{change, relation, row};

fn parse(text: &str) -> Vec<Term> {
    Filter::parse(text)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
        .terms
        .into_vec()
}

fn op(text: &str) -> Op {
    let mut terms = parse(text);
    assert_eq!(terms.len(), 1, "{text}");
    terms.remove(0).op
}

fn error(text: &str) -> String {
    match Filter::parse(text) {
        Ok(filter) => panic!("{text} parsed as {filter:?}"),
        Err(err) => err.to_string(),
    }
}

fn cmp(op: CompareOp, literal: &str) -> Op {
    Op::Compare(op, literal.to_owned())
}

#[test]
fn parses_every_operator() {
    assert_eq!(op("id=eq.1"), cmp(CompareOp::Eq, "1"));
    assert_eq!(op("id=neq.1"), cmp(CompareOp::Neq, "1"));
    assert_eq!(op("id=lt.1"), cmp(CompareOp::Lt, "1"));
    assert_eq!(op("id=lte.1"), cmp(CompareOp::Lte, "1"));
    assert_eq!(op("id=gt.1"), cmp(CompareOp::Gt, "1"));
    assert_eq!(op("id=gte.1"), cmp(CompareOp::Gte, "1"));
    assert_eq!(op("id=isdistinct.1"), Op::IsDistinct("1".into()));
    assert_eq!(
        op("id=in.(1,2,3)"),
        Op::In(vec![Some("1".into()), Some("2".into()), Some("3".into())])
    );
    assert_eq!(
        op("t=like.a%"),
        Op::Like(LikePattern::compile("a%", false).expect("valid"))
    );
    assert_eq!(
        op("t=ilike.*A*"),
        Op::Like(LikePattern::compile("*a*", true).expect("valid"))
    );
    for (text, keyword) in [
        ("x=is.null", IsValue::Null),
        ("x=is.true", IsValue::True),
        ("x=is.false", IsValue::False),
        ("x=is.unknown", IsValue::Unknown),
        (r#"x=is."null""#, IsValue::Null),
    ] {
        assert_eq!(op(text), Op::Is(keyword), "{text}");
    }
}

#[test]
fn values_keep_dots_equals_and_spaces() {
    assert_eq!(op("v=eq.1.5"), cmp(CompareOp::Eq, "1.5"));
    assert_eq!(op("v=eq.a=b"), cmp(CompareOp::Eq, "a=b"));
    assert_eq!(op("v=eq."), cmp(CompareOp::Eq, ""));
    assert_eq!(op("v=eq.two words"), cmp(CompareOp::Eq, "two words"));
    assert_eq!(
        op("created_at=gt.2025-11-03T10:00:00+01:00"),
        cmp(CompareOp::Gt, "2025-11-03T10:00:00+01:00")
    );
}

#[test]
fn quoted_values() {
    assert_eq!(op(r#"name=eq."a,b""#), cmp(CompareOp::Eq, "a,b"));
    assert_eq!(
        op(r#"name=eq."say \"hi\"""#),
        cmp(CompareOp::Eq, r#"say "hi""#)
    );
    assert_eq!(op(r#"name=eq." padded ""#), cmp(CompareOp::Eq, " padded "));
    assert_eq!(op(r#"name=eq."(x)""#), cmp(CompareOp::Eq, "(x)"));
    // Not closed at the very end: kept as sent.
    assert_eq!(op(r#"name=eq."a"b"#), cmp(CompareOp::Eq, r#""a"b"#));
    assert_eq!(
        op(r#"name=in.("a,b",c,"d\"e",NULL,"NULL")"#),
        Op::In(vec![
            Some("a,b".into()),
            Some("c".into()),
            Some("d\"e".into()),
            None,
            Some("NULL".into()),
        ])
    );
    assert_eq!(op("id=in.()"), Op::In(vec![]));
}

#[test]
fn and_lists() {
    let terms = parse(r#"a=eq.1, b=gt.2,c=in.(1,2),d=eq."x,y",e=not.is.null"#);
    let columns: Vec<&str> = terms.iter().map(|t| &*t.column).collect();
    assert_eq!(columns, ["a", "b", "c", "d", "e"]);
    assert_eq!(terms[1].op, cmp(CompareOp::Gt, "2"));
    assert_eq!(
        terms[2].op,
        Op::In(vec![Some("1".into()), Some("2".into())])
    );
    assert_eq!(terms[3].op, cmp(CompareOp::Eq, "x,y"));
    assert_eq!(
        (terms[4].negate, &terms[4].op),
        (true, &Op::Is(IsValue::Null))
    );
    assert_eq!(parse("id=gt.0,id=lt.100").len(), 2);
}

#[test]
fn negation() {
    let terms = parse("status=not.eq.closed,x=not.in.(1,2),t=not.like.a%");
    assert!(terms.iter().all(|t| t.negate));
    assert_eq!(terms[0].op, cmp(CompareOp::Eq, "closed"));
    assert_eq!(
        terms[1].op,
        Op::In(vec![Some("1".into()), Some("2".into())])
    );
    assert!(!parse("status=eq.not")[0].negate);
}

#[test]
fn blank_filters_are_no_filter() {
    for blank in ["", "   ", "\t"] {
        assert!(Filter::parse(blank).expect("blank").is_empty());
    }
}

#[test]
fn in_lists_hold_at_most_100_values() {
    let list = |n: usize| {
        let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        format!("id=in.({})", values.join(","))
    };
    match op(&list(100)) {
        Op::In(values) => assert_eq!(values.len(), 100),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error(&list(101)),
        "too many values for `in` filter. Maximum 100"
    );
    assert_eq!(Filter::parse(&list(101)), Err(FilterError::TooManyInValues));
}

#[test]
fn supabase_error_texts() {
    let cases: &[(&str, &str)] = &[
        ("undefined", r#"["undefined"]"#),
        ("subject=foo.hey", r#"["foo", "hey"]"#),
        ("id=eq", r#"["eq"]"#),
        ("id=not.eq", r#"["eq"]"#),
        (
            "a=eq.1,,b=eq.2",
            "filter must not contain empty segments (check for extra commas)",
        ),
        (
            "a=eq.1,",
            "filter must not contain empty segments (check for extra commas)",
        ),
        (
            "id=in.1,2",
            "`in` filter value must be wrapped by parentheses",
        ),
        (
            "id=in.(1,2",
            "`in` filter value must be wrapped by parentheses",
        ),
        (
            "x=is.NULL",
            "invalid value for is filter: must be null, true, false, or unknown",
        ),
        (
            "x=is.nil",
            "invalid value for is filter: must be null, true, false, or unknown",
        ),
        ("id=in.(1,,2)", r#"malformed array literal: "{1,,2}""#),
        (
            r"t=like.abc\",
            "LIKE pattern must not end with escape character",
        ),
        (
            "t=match.^a",
            "`match` filters (regular expressions) are not supported",
        ),
        (
            "t=imatch.^a",
            "`imatch` filters (regular expressions) are not supported",
        ),
    ];
    for (filter, text) in cases {
        assert_eq!(error(filter), *text, "{filter}");
    }
    assert!(
        Filter::parse("subject=foo.hey")
            .expect_err("bad")
            .is_syntax()
    );
    assert!(!Filter::parse("x=is.nil").expect_err("bad").is_syntax());
}

// ---- evaluation ----------------------------------------------------------

/// `todos(id int8 key, title text, done bool, price numeric,
/// created_at timestamptz, owner uuid, room_id int4)`.
fn todos() -> Arc<Relation> {
    relation(
        16_400,
        "public",
        "todos",
        &[
            ("id", 20, true),
            ("title", 25, false),
            ("done", 16, false),
            ("price", 1700, false),
            ("created_at", 1184, false),
            ("owner", 2950, false),
            ("room_id", 23, false),
        ],
    )
}

const OWNER: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

/// A full todos row; `None` entries are SQL NULL.
fn full(rel: &Relation, values: [Option<&str>; 7]) -> changes::Row {
    let texts: Vec<Option<Option<&str>>> = values.iter().map(|v| Some(*v)).collect();
    row(rel, &texts)
}

fn sample(rel: &Relation) -> changes::Row {
    full(
        rel,
        [
            Some("10"),
            Some("Buy milk"),
            Some("f"),
            Some("1.50"),
            Some("2025-11-03 09:32:55.123+00"),
            Some(OWNER),
            Some("7"),
        ],
    )
}

fn bound(filter: &str, rel: &Relation) -> BoundFilter {
    let parsed = Filter::parse(filter).unwrap_or_else(|err| panic!("{filter}: {err}"));
    parsed
        .bind(rel)
        .unwrap_or_else(|err| panic!("{filter}: {err}"))
}

fn insert_matches(filter: &str, record: changes::Row) -> bool {
    let rel = todos();
    bound(filter, &rel).matches(&change(ChangeKind::Insert, &rel, Some(record), None))
}

#[test]
fn inserts_test_the_new_row() {
    let rel = todos();
    let cases: &[(&str, bool)] = &[
        ("", true),
        ("id=eq.10", true),
        ("id=eq.9", false),
        ("id=neq.9", true),
        // Numbers compare as numbers, text as text.
        ("id=gt.9", true),
        ("id=lt.9", false),
        ("id=gte.10,id=lte.10", true),
        ("title=gt.9", true),
        ("room_id=in.(1,7)", true),
        ("room_id=in.(1,2)", false),
        ("room_id=not.in.(1,2)", true),
        ("price=eq.1.5", true),
        ("price=gte.1.500", true),
        ("price=gt.1.49", true),
        ("price=lt.1.5", false),
        ("title=eq.Buy milk", true),
        (r#"title=eq."Buy milk""#, true),
        ("title=like.Buy%", true),
        ("title=like.*milk", true),
        ("title=like.buy%", false),
        ("title=ilike.buy%", true),
        ("title=not.ilike.%MILK", false),
        ("title=like.Buy_milk", true),
        ("done=eq.false", true),
        ("done=is.false", true),
        ("done=is.true", false),
        ("done=not.is.true", true),
        ("done=is.unknown", false),
        ("title=is.null", false),
        ("title=not.is.null", true),
        ("title=isdistinct.Buy milk", false),
        ("title=isdistinct.other", true),
        // timestamptz: literals in any offset compare as instants.
        ("created_at=gt.2025-11-03T10:00:00+01:00", true),
        ("created_at=lt.2025-11-03 09:32:55.124+00", true),
        ("created_at=eq.2025-11-03T10:32:55.123+01:00", true),
        ("created_at=gt.2025-11-03T09:32:56Z", false),
        // uuid: any input spelling.
        ("owner=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", true),
        ("owner=eq.{a0eebc999c0b4ef8bb6d6bb9bd380a11}", true),
        ("owner=neq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", true),
        ("id=eq.10,title=eq.nope", false),
    ];
    for (filter, expected) in cases {
        assert_eq!(insert_matches(filter, sample(&rel)), *expected, "{filter}");
    }
}

#[test]
fn nulls_follow_sql() {
    let rel = todos();
    let nulls = full(&rel, [Some("1"), None, None, None, None, None, None]);
    let cases: &[(&str, bool)] = &[
        ("title=eq.x", false),
        ("title=neq.x", false),
        ("title=not.eq.x", false),
        ("title=lt.x", false),
        ("title=in.(x,y)", false),
        ("title=not.in.(x,y)", false),
        ("title=like.%", false),
        ("title=is.null", true),
        ("title=not.is.null", false),
        ("title=isdistinct.x", true),
        ("title=not.isdistinct.x", false),
        ("done=is.unknown", true),
        ("done=is.false", false),
        ("done=not.is.true", true),
    ];
    for (filter, expected) in cases {
        assert_eq!(insert_matches(filter, nulls.clone()), *expected, "{filter}");
    }
    // `x = ANY('{1,NULL}')` is unknown when x is not 1, so NOT of it too.
    assert!(insert_matches("room_id=in.(7,NULL)", sample(&rel)));
    assert!(!insert_matches("room_id=in.(1,NULL)", sample(&rel)));
    assert!(!insert_matches("room_id=not.in.(1,NULL)", sample(&rel)));
}

#[test]
fn updates_test_the_new_row() {
    let rel = todos();
    let before = sample(&rel);
    let mut after = sample(&rel);
    after.0[6] = Some(changes::Datum::Int(8));
    let moved = change(ChangeKind::Update, &rel, Some(after.clone()), Some(before));
    assert!(!bound("room_id=eq.7", &rel).matches(&moved), "moved out");
    assert!(bound("room_id=eq.8", &rel).matches(&moved), "moved in");
    // An unchanged TOAST value absent from the new row fails closed.
    after.0[1] = None;
    let toasted = change(ChangeKind::Update, &rel, Some(after), None);
    assert!(!bound("title=eq.Buy milk", &rel).matches(&toasted));
    assert!(!bound("title=is.null", &rel).matches(&toasted));
    assert!(bound("id=eq.10", &rel).matches(&toasted));
}

#[test]
fn deletes_test_the_old_key_and_fail_closed() {
    let rel = todos();
    // REPLICA IDENTITY DEFAULT: only the key is in the old image.
    let key_only = row(
        &rel,
        &[Some(Some("10")), None, None, None, None, None, None],
    );
    let delete = change(ChangeKind::Delete, &rel, None, Some(key_only));
    assert!(bound("", &rel).matches(&delete));
    assert!(bound("id=eq.10", &rel).matches(&delete));
    assert!(bound("id=in.(3,10)", &rel).matches(&delete));
    assert!(!bound("id=eq.11", &rel).matches(&delete));
    for absent in [
        "room_id=eq.7",
        "room_id=not.eq.7",
        "title=is.null",
        "title=not.is.null",
        "id=eq.10,room_id=eq.7",
    ] {
        assert!(!bound(absent, &rel).matches(&delete), "{absent}");
    }
    // REPLICA IDENTITY FULL: the whole old row.
    let full_delete = change(ChangeKind::Delete, &rel, None, Some(sample(&rel)));
    assert!(bound("room_id=eq.7", &rel).matches(&full_delete));
    // The new row of an UPDATE is not consulted for a DELETE.
    let no_old = change(ChangeKind::Delete, &rel, Some(sample(&rel)), None);
    assert!(!bound("id=eq.10", &rel).matches(&no_old));
}

#[test]
fn truncate_never_matches() {
    let rel = todos();
    let truncate = change(ChangeKind::Truncate, &rel, None, None);
    assert!(!bound("", &rel).matches(&truncate));
    assert!(!bound("id=gt.0", &rel).matches(&truncate));
}

#[test]
fn another_relation_never_matches() {
    let rel = todos();
    let filter = bound("", &rel);
    let other = relation(1, "public", "todos", &[("id", 20, true)]);
    let record = row(&other, &[Some(Some("1"))]);
    assert!(!filter.matches(&change(ChangeKind::Insert, &other, Some(record), None)));
}

#[test]
fn bind_errors_use_supabase_texts() {
    let rel = todos();
    let cases: &[(&str, &str)] = &[
        ("nope=eq.1", "invalid column for filter nope"),
        (
            "id=eq.abc",
            r#"invalid input syntax for type bigint: "abc""#,
        ),
        (
            "id=eq.9.5",
            r#"invalid input syntax for type bigint: "9.5""#,
        ),
        (
            "room_id=in.(1,x)",
            r#"invalid input syntax for type integer: "x""#,
        ),
        (
            "done=eq.maybe",
            r#"invalid input syntax for type boolean: "maybe""#,
        ),
        (
            "price=gt.cheap",
            r#"invalid input syntax for type numeric: "cheap""#,
        ),
        ("owner=eq.42", r#"invalid input syntax for type uuid: "42""#),
        (
            "created_at=gt.yesterday",
            r#"invalid input syntax for type timestamp with time zone: "yesterday""#,
        ),
        (
            "title=is.true",
            "is true filter requires a boolean column, got text",
        ),
        (
            "id=like.1%",
            "operator like requires a text-compatible column type, got bigint",
        ),
        (
            "owner=ilike.a%",
            "operator ilike requires a text-compatible column type, got uuid",
        ),
    ];
    for (filter, text) in cases {
        let parsed = Filter::parse(filter).expect("parses");
        let err = parsed.bind(&rel).expect_err(filter);
        assert_eq!(err.to_string(), *text, "{filter}");
    }
    // Special float values and NULL in-list elements are fine.
    assert!(
        Filter::parse("price=lt.Infinity,id=in.(1,NULL)")
            .expect("parses")
            .bind(&rel)
            .is_ok()
    );
    assert!(
        Filter::parse("title=is.null")
            .expect("parses")
            .bind(&rel)
            .is_ok()
    );
}
