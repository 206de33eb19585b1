use std::collections::HashMap;
use std::sync::Arc;

use changes::{Change, ChangeKind, Relation, Row};
use serde_json::{Value, json};

use super::*;
use crate::access::Scope;
use crate::filter::BoundFilter;
use crate::testing::{change, relation, row, value};

fn binding(params: Value) -> Binding {
    Binding::from_params(&params).unwrap_or_else(|err| panic!("{params}: {err}"))
}

fn messages() -> Arc<Relation> {
    relation(
        100,
        "public",
        "messages",
        &[
            ("id", 20, true),
            ("room_id", 23, false),
            ("author", 25, false),
            ("score", 1700, false),
            ("flag", 16, false),
        ],
    )
}

fn insert(rel: &Arc<Relation>, texts: &[Option<&str>]) -> Change {
    let texts: Vec<Option<Option<&str>>> = texts.iter().map(|t| Some(*t)).collect();
    change(ChangeKind::Insert, rel, Some(row(rel, &texts)), None)
}

fn hits(index: &mut SubscriptionIndex, change: &Change) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    index.matching(change, &mut out);
    out.iter()
        .map(|hit| (hit.subscriber.0, hit.binding.get()))
        .collect()
}

#[test]
fn routes_by_table_event_and_filter() {
    let mut index = SubscriptionIndex::new();
    let all = binding(json!({"event": "*", "schema": "public", "table": "messages"}));
    let room7 = binding(
        json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "room_id=eq.7"}),
    );
    let deletes = binding(json!({"event": "DELETE", "schema": "public", "table": "messages"}));
    let other = binding(json!({"event": "*", "schema": "public", "table": "rooms"}));
    let schema = binding(json!({"event": "*", "schema": "public"}));
    let everything = binding(json!({"event": "*", "schema": "*"}));
    index.insert(SubscriberId(1), &all);
    index.insert(SubscriberId(1), &room7);
    index.insert(SubscriberId(2), &room7);
    index.insert(SubscriberId(3), &deletes);
    index.insert(SubscriberId(4), &other);
    index.insert(SubscriberId(5), &schema);
    index.insert(SubscriberId(6), &everything);
    assert_eq!((index.len(), index.subscriber_count()), (7, 6));

    let rel = messages();
    let in_room7 = insert(
        &rel,
        &[Some("1"), Some("7"), Some("ann"), Some("1"), Some("t")],
    );
    let mut expected = vec![
        (1, all.id().get()),
        (1, room7.id().get()),
        (2, room7.id().get()),
        (5, schema.id().get()),
        (6, everything.id().get()),
    ];
    expected.sort_unstable();
    assert_eq!(hits(&mut index, &in_room7), expected);

    let in_room8 = insert(
        &rel,
        &[Some("2"), Some("8"), Some("ann"), Some("1"), Some("t")],
    );
    assert_eq!(hits(&mut index, &in_room8).len(), 3);

    let truncate = change(ChangeKind::Truncate, &rel, None, None);
    assert!(hits(&mut index, &truncate).is_empty());

    // One frame per subscriber with all its ids.
    let mut out = Vec::new();
    index.matching(&in_room7, &mut out);
    let groups: Vec<(u64, usize)> = by_subscriber(&out)
        .map(|(subscriber, group)| (subscriber.0, group.len()))
        .collect();
    assert_eq!(groups, [(1, 2), (2, 1), (5, 1), (6, 1)]);
}

#[test]
fn a_change_evaluates_only_candidate_bindings() {
    let mut index = SubscriptionIndex::new();
    for room in 0..2000u64 {
        let b = binding(json!({
            "event": "*", "schema": "public", "table": "messages",
            "filter": format!("room_id=eq.{room},author=neq.spam")
        }));
        index.insert(SubscriberId(room), &b);
    }
    let listed = binding(
        json!({"schema": "public", "table": "messages", "filter": "room_id=in.(5,6,NULL)"}),
    );
    index.insert(SubscriberId(9000), &listed);
    let scanned =
        binding(json!({"schema": "public", "table": "messages", "filter": "room_id=gt.1990"}));
    index.insert(SubscriberId(9001), &scanned);

    let rel = messages();
    let mut out = Vec::new();
    let change = insert(&rel, &[Some("1"), Some("5"), Some("ann"), None, None]);
    let evaluated = index.matching(&change, &mut out);
    // room 5's binding, the in-list, the scan list's one binding.
    assert_eq!(evaluated, 3);
    let subscribers: Vec<u64> = out.iter().map(|hit| hit.subscriber.0).collect();
    assert_eq!(subscribers, [5, 9000]);

    let spam = insert(&rel, &[Some("1"), Some("1995"), Some("spam"), None, None]);
    assert_eq!(index.matching(&spam, &mut out), 2);
    let subscribers: Vec<u64> = out.iter().map(|hit| hit.subscriber.0).collect();
    assert_eq!(subscribers, [9001]);

    // A NULL or absent room evaluates only the scan list.
    let null_room = insert(&rel, &[Some("1"), None, Some("ann"), None, None]);
    assert_eq!(index.matching(&null_room, &mut out), 1);
    assert!(out.is_empty());
}

#[test]
fn numeric_keys_match_equal_values_in_any_spelling() {
    let mut index = SubscriptionIndex::new();
    let b = binding(json!({"schema": "public", "table": "messages", "filter": "score=eq.2"}));
    index.insert(SubscriberId(1), &b);
    let rel = messages();
    for (score, expected) in [("2.000", 1), ("2", 1), ("2.01", 0), ("20", 0)] {
        let change = insert(&rel, &[Some("1"), Some("1"), Some("a"), Some(score), None]);
        assert_eq!(hits(&mut index, &change).len(), expected, "{score}");
    }
}

#[test]
fn bindings_bind_lazily_and_report_problems() {
    let mut index = SubscriptionIndex::new();
    let good = binding(json!({"schema": "public", "table": "messages", "filter": "room_id=eq.7"}));
    let bad = binding(json!({"schema": "public", "table": "messages", "filter": "nope=eq.7"}));
    let wild = binding(json!({"schema": "public", "filter": "x=eq.1", "table": "*"}));
    // No relation known yet: nothing to report.
    assert!(index.insert(SubscriberId(1), &good).problems.is_empty());
    assert!(index.insert(SubscriberId(2), &bad).problems.is_empty());
    assert!(index.insert(SubscriberId(3), &wild).problems.is_empty());

    let rel = messages();
    let in_room7 = insert(&rel, &[Some("1"), Some("7"), None, None, None]);
    assert_eq!(hits(&mut index, &in_room7), [(1, good.id().get())]);
    let mut problems = index.take_problems();
    problems.sort_by_key(|p| p.subscriber);
    let texts: Vec<(u64, String)> = problems
        .iter()
        .map(|p| (p.subscriber.0, p.error.to_string()))
        .collect();
    assert_eq!(
        texts,
        [
            (2, "invalid column for filter nope".to_owned()),
            (3, "invalid column for filter x".to_owned()),
        ]
    );
    assert_eq!(
        (&*problems[0].schema, &*problems[0].table),
        ("public", "messages")
    );
    assert!(index.take_problems().is_empty());

    // Now the relation is known: insert reports at once.
    let late = index.insert(SubscriberId(4), &bad);
    assert_eq!(late.problems.len(), 1);
    assert_eq!(late.problems[0].binding, bad.id());
    assert!(index.take_problems().is_empty());
}

#[test]
fn relation_changes_rebind() {
    let mut index = SubscriptionIndex::new();
    let by_author =
        binding(json!({"schema": "public", "table": "messages", "filter": "author=eq.ann"}));
    let by_room =
        binding(json!({"schema": "public", "table": "messages", "filter": "room_id=eq.07"}));
    index.insert(SubscriberId(1), &by_author);
    index.insert(SubscriberId(2), &by_room);
    let v1 = messages();
    let change1 = insert(&v1, &[Some("1"), Some("7"), Some("ann"), None, None]);
    assert_eq!(hits(&mut index, &change1).len(), 2);

    // Same layout, new Arc (a repeated Relation message): no rebinding.
    let same = messages();
    let change2 = insert(&same, &[Some("1"), Some("7"), Some("ann"), None, None]);
    assert_eq!(hits(&mut index, &change2).len(), 2);
    assert!(index.take_problems().is_empty());

    // ALTER TABLE: room_id becomes text (literal "07" no longer equals
    // "7"), author is dropped.
    let v2 = relation(
        100,
        "public",
        "messages",
        &[
            ("id", 20, true),
            ("room_id", 25, false),
            ("score", 1700, false),
            ("flag", 16, false),
        ],
    );
    let change3 = insert(&v2, &[Some("1"), Some("7"), None, None]);
    assert!(hits(&mut index, &change3).is_empty());
    let problems = index.take_problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].subscriber, SubscriberId(1));
    let change4 = insert(&v2, &[Some("1"), Some("07"), None, None]);
    assert_eq!(hits(&mut index, &change4), [(2, by_room.id().get())]);
}

#[test]
fn removal() {
    let mut index = SubscriptionIndex::new();
    let rel = messages();
    let filters = ["", "room_id=eq.1", "room_id=in.(1,2)", "room_id=gt.0"];
    let mut keys = Vec::new();
    for (n, filter) in filters.iter().enumerate() {
        let b = binding(json!({"schema": "public", "table": "messages", "filter": filter}));
        keys.push(index.insert(SubscriberId(n as u64), &b).key);
        keys.push(index.insert(SubscriberId(10), &b).key);
    }
    let wild = binding(json!({"schema": "*"}));
    let wild_key = index.insert(SubscriberId(10), &wild).key;
    let change = insert(&rel, &[Some("1"), Some("1"), None, None, None]);
    assert_eq!(hits(&mut index, &change).len(), 9);

    assert!(index.remove(keys[0]));
    assert!(!index.remove(keys[0]), "removed once");
    assert_eq!(hits(&mut index, &change).len(), 8);
    assert!(index.remove(keys[2]));
    assert!(index.remove(wild_key));
    assert_eq!(hits(&mut index, &change).len(), 6);
    assert_eq!(index.remove_subscriber(SubscriberId(10)), 4);
    assert_eq!(index.remove_subscriber(SubscriberId(10)), 0);
    let left: Vec<u64> = hits(&mut index, &change).iter().map(|h| h.0).collect();
    assert_eq!(left, [2, 3]);
    for n in 0..4 {
        index.remove_subscriber(SubscriberId(n));
    }
    assert!(index.is_empty());
    assert_eq!(index.subscriber_count(), 0);
    assert!(hits(&mut index, &change).is_empty());
}

#[test]
fn pending_tables_without_bindings_are_forgotten() {
    let mut index = SubscriptionIndex::new();
    let b = binding(json!({"schema": "public", "table": "never_changed"}));
    let key = index.insert(SubscriberId(1), &b).key;
    assert!(index.remove(key));
    assert!(index.schemas.is_empty());
}

// ---- index versus brute force on random data ---------------------------

/// xorshift64*: deterministic, good enough to shuffle test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const ROOMS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"];
const AUTHORS: &[&str] = &["ann", "bob", "Cy", "dee"];
const SCORES: &[&str] = &["1", "1.5", "2.00", "-0", "10"];
const TIMES: &[&str] = &[
    "2025-11-03 09:00:00+00",
    "2025-11-03 09:30:00.5+00",
    "2025-11-03 10:00:00+00",
];

fn random_term(rng: &mut Rng) -> String {
    let room = rng.pick(ROOMS);
    let author = rng.pick(AUTHORS);
    match rng.below(20) {
        0..=5 => format!("room_id=eq.{room}"),
        6 => format!("room_id=in.({room},{},NULL)", rng.pick(ROOMS)),
        7 => format!("room_id=not.in.({room},{})", rng.pick(ROOMS)),
        8 => format!("room_id=gt.{room}"),
        9 => format!("room_id=not.eq.{room}"),
        10 => format!("author=eq.{author}"),
        11 => format!("author=ilike.{}%", &author[..1]),
        12 => format!("score=eq.{}", rng.pick(&["1.0", "1.50", "2", "0", "10"])),
        13 => format!("score=lte.{}", rng.pick(SCORES)),
        14 => rng
            .pick(&["flag=is.true", "flag=is.null", "flag=not.is.false"])
            .to_string(),
        15 => format!("created_at=lt.{}", rng.pick(TIMES).replace(' ', "T")),
        16 => format!("id=eq.{}", rng.below(30)),
        17 => format!("author=isdistinct.{author}"),
        18 => "kind=eq.note".to_owned(),
        _ => "nope=eq.1".to_owned(),
    }
}

fn random_binding(rng: &mut Rng) -> Binding {
    let terms: Vec<String> = (0..rng.below(4)).map(|_| random_term(rng)).collect();
    let event = rng.pick(&["*", "*", "INSERT", "UPDATE", "DELETE"]);
    let params = match rng.below(12) {
        0 => json!({"event": event, "schema": "public"}),
        1 => json!({"event": event, "schema": "*"}),
        2 => json!({"event": event, "schema": "*", "table": "messages", "filter": terms.join(",")}),
        3 => json!({"event": event, "schema": "audit", "table": "log", "filter": terms.join(",")}),
        4 => json!({"event": event, "schema": "public", "table": "rooms"}),
        _ => {
            json!({"event": event, "schema": "public", "table": "messages", "filter": terms.join(",")})
        }
    };
    let b = binding(params);
    match rng.below(8) {
        0 => {
            let row = random_term(rng);
            let scope = Scope::for_tests(None, Some(&[("public.messages", Some(&row))]));
            b.scoped(Arc::new(scope))
        }
        1 => {
            let (route, row) = (random_term(rng), random_term(rng));
            let scope = Scope::for_tests(
                Some(("public.messages", &route)),
                Some(&[("*", Some(&row)), ("audit.*", None)]),
            );
            b.scoped(Arc::new(scope))
        }
        2 => {
            let row = random_term(rng);
            let scope = Scope::for_tests(None, Some(&[("public.*", Some(&row)), ("*", Some(""))]));
            b.scoped(Arc::new(scope))
        }
        _ => b,
    }
}

/// The tables changes come from; `messages` gets a new layout midway.
fn layouts() -> [Arc<Relation>; 4] {
    let messages = |oid: u32, room_type: u32| {
        relation(
            oid,
            "public",
            "messages",
            &[
                ("id", 20, true),
                ("room_id", room_type, false),
                ("author", 25, false),
                ("score", 1700, false),
                ("flag", 16, false),
                ("created_at", 1184, false),
            ],
        )
    };
    [
        messages(100, 23),
        relation(
            101,
            "public",
            "rooms",
            &[("id", 20, true), ("room_id", 23, false)],
        ),
        relation(
            102,
            "audit",
            "log",
            &[
                ("id", 20, true),
                ("room_id", 23, false),
                ("kind", 25, false),
            ],
        ),
        // ALTER TABLE messages ALTER room_id TYPE text
        messages(100, 25),
    ]
}

fn random_row(rng: &mut Rng, rel: &Relation, key_only: bool) -> Row {
    let texts: Vec<Option<Option<&str>>> = rel
        .columns
        .iter()
        .map(|column| {
            if key_only && !column.is_key {
                return None;
            }
            if rng.below(15) == 0 && !column.is_key {
                return if rng.below(2) == 0 { None } else { Some(None) };
            }
            let text: &str = match &*column.name {
                "id" => rng.pick(&["1", "5", "17", "29"]),
                "room_id" => rng.pick(ROOMS),
                "author" => rng.pick(AUTHORS),
                "score" => rng.pick(SCORES),
                "flag" => rng.pick(&["t", "f"]),
                "created_at" => rng.pick(TIMES),
                _ => rng.pick(&["note", "other"]),
            };
            Some(Some(text))
        })
        .collect();
    Row(texts
        .iter()
        .enumerate()
        .map(|(index, text)| text.map(|text| value(rel, index, text)))
        .collect())
}

fn random_change(rng: &mut Rng, rel: &Arc<Relation>) -> Change {
    match rng.below(20) {
        0..=7 => change(
            ChangeKind::Insert,
            rel,
            Some(random_row(rng, rel, false)),
            None,
        ),
        8..=13 => {
            let old = (rng.below(2) == 0).then(|| random_row(rng, rel, true));
            change(
                ChangeKind::Update,
                rel,
                Some(random_row(rng, rel, false)),
                old,
            )
        }
        14..=18 => {
            let key_only = rng.below(3) != 0;
            change(
                ChangeKind::Delete,
                rel,
                None,
                Some(random_row(rng, rel, key_only)),
            )
        }
        _ => change(ChangeKind::Truncate, rel, None, None),
    }
}

/// Bound filters by binding and relation (by address: the test's relations
/// live throughout), so that the brute force binds each pair once.
type BoundCache = HashMap<(BindingKey, usize), Option<BoundFilter>>;

/// Every live binding evaluated against `change`, no index.
fn brute_force(
    live: &[(BindingKey, SubscriberId, Binding)],
    change: &Change,
    cache: &mut BoundCache,
) -> Vec<Hit> {
    let rel = &change.relation;
    let mut out: Vec<Hit> = live
        .iter()
        .filter(|(_, _, b)| b.selects(&rel.schema, &rel.table) && b.event().accepts(change.kind))
        .filter(|(key, _, b)| {
            cache
                .entry((*key, Arc::as_ptr(rel) as usize))
                .or_insert_with(|| {
                    b.terms_for(&rel.schema, &rel.table)
                        .and_then(|terms| terms.bind(rel).ok())
                })
                .as_ref()
                .is_some_and(|f| f.matches(change))
        })
        .map(|(_, subscriber, b)| Hit {
            subscriber: *subscriber,
            binding: b.id(),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn index_agrees_with_brute_force_on_random_data() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut index = SubscriptionIndex::new();
    let mut live: Vec<(BindingKey, SubscriberId, Binding)> = Vec::new();
    let add = |index: &mut SubscriptionIndex, live: &mut Vec<_>, rng: &mut Rng| {
        let subscriber = SubscriberId(rng.below(500) as u64);
        let b = random_binding(rng);
        let key = index.insert(subscriber, &b).key;
        live.push((key, subscriber, b));
    };
    for _ in 0..2000 {
        add(&mut index, &mut live, &mut rng);
    }
    let [messages, rooms, log, altered] = layouts();
    let (mut total_hits, mut evaluated, mut brute_evaluated) = (0, 0, 0);
    let mut out = Vec::new();
    let mut cache = BoundCache::new();
    for step in 0..2000 {
        let messages = if step < 1000 { &messages } else { &altered };
        let rel = match rng.below(6) {
            0 => &rooms,
            1 => &log,
            _ => messages,
        };
        let change = random_change(&mut rng, rel);
        evaluated += index.matching(&change, &mut out);
        brute_evaluated += live.len();
        let expected = brute_force(&live, &change, &mut cache);
        assert_eq!(out, expected, "step {step}: {change:?}");
        total_hits += expected.len();

        // Churn: joins and leaves between changes.
        match rng.below(10) {
            0 if !live.is_empty() => {
                let (key, _, _) = live.swap_remove(rng.below(live.len()));
                assert!(index.remove(key));
            }
            1 => {
                let subscriber = SubscriberId(rng.below(500) as u64);
                let before = live.len();
                live.retain(|(_, s, _)| *s != subscriber);
                assert_eq!(index.remove_subscriber(subscriber), before - live.len());
            }
            2 | 3 => add(&mut index, &mut live, &mut rng),
            _ => {}
        }
        assert_eq!(index.len(), live.len());
    }
    // The data must exercise matching, and the index must skip most work.
    assert!(total_hits > 10_000, "only {total_hits} hits");
    assert!(
        evaluated * 3 < brute_evaluated,
        "evaluated {evaluated} of {brute_evaluated}"
    );
    assert!(
        !index.take_problems().is_empty(),
        "bad columns are reported"
    );
}
