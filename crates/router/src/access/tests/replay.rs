use super::*;

#[test]
fn replay_keys_are_the_narrowest_lookups() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    let visitor_grant = join(&access, "lobby", visitor(C1)).expect("open role");
    index.insert(
        SubscriberId(1),
        &binding(json!({"schema": "*"}), &visitor_grant),
    );
    index.insert(
        SubscriberId(1),
        &binding(
            json!({"schema": "public", "table": "conversations"}),
            &visitor_grant,
        ),
    );
    let agent_grant = join(&access, "lobby", agent(T1)).expect("open role");
    index.insert(
        SubscriberId(2),
        &binding(json!({"schema": "public"}), &agent_grant),
    );
    index.insert(
        SubscriberId(3),
        &binding(
            json!({"schema": "public", "table": "messages", "filter": "id=in.(07,8)"}),
            &agent_grant,
        ),
    );
    let service = join(&access, "lobby", json!({"role": "service_role"})).expect("granted");
    index.insert(
        SubscriberId(4),
        &binding(json!({"table": "messages"}), &service),
    );

    let table = |table: &str| ReplayKey::Table {
        schema: "public".into(),
        table: table.into(),
    };
    let value = |table: &str, column: &str, text: &str| ReplayKey::Value {
        schema: "public".into(),
        table: table.into(),
        column: column.into(),
        value_text: text.to_owned(),
    };
    // Before any change the layouts are unknown: whole tables.
    assert_eq!(index.replay_keys(SubscriberId(1)), [table("messages")]);
    assert_eq!(index.replay_keys(SubscriberId(2)), [ReplayKey::All]);
    assert_eq!(index.replay_keys(SubscriberId(3)), [table("messages")]);
    assert_eq!(index.replay_keys(SubscriberId(4)), [table("messages")]);
    assert!(index.replay_keys(SubscriberId(9)).is_empty());

    subscribers(&mut index, &message("1", C1, T1));
    assert_eq!(
        index.replay_keys(SubscriberId(1)),
        [value("messages", "conversation_id", C1)]
    );
    // The fewest keys win: tenant_id=eq.T1 over id=in.(7,8).
    assert_eq!(
        index.replay_keys(SubscriberId(3)),
        [value("messages", "tenant_id", T1)]
    );
    assert_eq!(index.replay_keys(SubscriberId(4)), [table("messages")]);

    // The log keys events by the same text.
    let key = value("messages", "conversation_id", C1);
    assert!(key.covers(&message("9", C1, T2)));
    assert!(!key.covers(&message("9", C2, T1)));
    assert!(!key.covers(&insert(&conversations(), &[Some(C1), Some(T1)])));
    assert!(ReplayKey::All.covers(&message("9", C2, T1)));
    assert!(table("messages").covers(&message("9", C2, T1)));
    assert_eq!(
        replay_value_text(&changes::Datum::Int(7)).as_deref(),
        Some("7")
    );
    assert_eq!(replay_value_text(&changes::Datum::Null), None);
}

#[test]
fn replay_keys_use_canonical_literals() {
    let mut index = SubscriptionIndex::new();
    let b = Binding::from_params(
        &json!({"schema": "public", "table": "messages", "filter": "id=eq.007"}),
    )
    .expect("valid");
    index.insert(SubscriberId(1), &b);
    subscribers(&mut index, &message("1", C1, T1));
    let keys = index.replay_keys(SubscriberId(1));
    assert_eq!(
        keys,
        [ReplayKey::Value {
            schema: "public".into(),
            table: "messages".into(),
            column: "id".into(),
            value_text: "7".into(),
        }]
    );
    assert!(keys[0].covers(&message("7", C1, T1)));
}

#[test]
fn matches_subscriber_agrees_with_matching() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    let grant = join(&access, "lobby", visitor(C1)).expect("open role");
    let all = binding(json!({"schema": "*"}), &grant);
    let inserts = binding(
        json!({"event": "INSERT", "schema": "public", "table": "messages"}),
        &grant,
    );
    index.insert(SubscriberId(1), &all);
    index.insert(SubscriberId(1), &inserts);
    let other = join(&access, "lobby", visitor(C2)).expect("open role");
    index.insert(SubscriberId(2), &binding(json!({"schema": "*"}), &other));

    let ids = |index: &SubscriptionIndex, subscriber: u64, change: &Change| {
        let mut out: Vec<BindingId> = Vec::new();
        index.matches_subscriber(SubscriberId(subscriber), change, &mut out);
        out
    };
    let mut expected = vec![all.id(), inserts.id()];
    expected.sort_unstable();
    // Before the index has seen the table: bound on the fly.
    assert_eq!(ids(&index, 1, &message("1", C1, T1)), expected);
    subscribers(&mut index, &message("1", C1, T1));
    assert_eq!(ids(&index, 1, &message("1", C1, T1)), expected);
    assert!(ids(&index, 1, &message("2", C2, T1)).is_empty());
    assert_eq!(ids(&index, 2, &message("2", C2, T1)).len(), 1);
    let rel = messages();
    let delete = change(
        ChangeKind::Delete,
        &rel,
        None,
        Some(row(&rel, &[Some(Some("1")), Some(Some(C1)), None, None])),
    );
    assert_eq!(ids(&index, 1, &delete), [all.id()]);
    let key_only = change(
        ChangeKind::Delete,
        &rel,
        None,
        Some(row(&rel, &[Some(Some("1"))])),
    );
    assert!(ids(&index, 1, &key_only).is_empty());
    assert!(ids(&index, 1, &change(ChangeKind::Truncate, &rel, None, None)).is_empty());

    // An event of an older layout (before a column was added) is matched
    // against that layout, and the live index keeps its own.
    let old = relation(
        200,
        "public",
        "messages",
        &[("id", 20, true), ("conversation_id", 2950, false)],
    );
    let old_insert = insert(&old, &[Some("5"), Some(C1)]);
    assert_eq!(ids(&index, 1, &old_insert), expected);
    let mut out = Vec::new();
    assert_eq!(index.matching(&message("6", C1, T1), &mut out), 2);
}
