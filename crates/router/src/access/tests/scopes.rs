use super::*;

#[test]
fn a_visitors_wildcard_binding_sees_only_its_conversation() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    for (n, conversation) in [C1, C2].into_iter().enumerate() {
        let grant = join(&access, "lobby", visitor(conversation)).expect("open role");
        index.insert(
            SubscriberId(n as u64),
            &binding(json!({"event": "*", "schema": "*"}), &grant),
        );
    }
    // Many more visitors of other conversations, to see the keying.
    for n in 100..200u64 {
        let conversation = format!("{n:08}-0000-0000-0000-000000000000");
        let grant = join(&access, "lobby", visitor(&conversation)).expect("open role");
        index.insert(
            SubscriberId(n),
            &binding(json!({"schema": "public", "table": "*"}), &grant),
        );
    }
    assert_eq!(subscribers(&mut index, &message("1", C1, T1)), [0]);
    assert_eq!(subscribers(&mut index, &message("2", C2, T1)), [1]);
    let mut out = Vec::new();
    // Keyed under conversation_id by the policy's eq: one candidate.
    assert_eq!(index.matching(&message("3", C1, T1), &mut out), 1);
    let conversation = insert(&conversations(), &[Some(C1), Some(T1)]);
    assert!(
        subscribers(&mut index, &conversation).is_empty(),
        "no policy"
    );
    assert!(index.take_problems().is_empty());
}

#[test]
fn an_agents_own_filter_cannot_widen_its_policy() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    let grant = join(&access, "dashboard", agent(T1)).expect("open role");
    let other_tenants =
        json!({"schema": "public", "table": "messages", "filter": format!("tenant_id=neq.{T1}")});
    index.insert(SubscriberId(1), &binding(other_tenants, &grant));
    index.insert(
        SubscriberId(2),
        &binding(json!({"schema": "public"}), &grant),
    );
    assert!(subscribers(&mut index, &message("1", C1, T2)).is_empty());
    assert_eq!(subscribers(&mut index, &message("2", C1, T1)), [2]);
    let conversation = insert(&conversations(), &[Some(C2), Some(T1)]);
    assert_eq!(subscribers(&mut index, &conversation), [2]);
}

#[test]
fn routed_topics_carry_their_table_and_filter() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    // An agent of T1 on conversation C1's messages (the SQL check passed).
    let grant = join(&access, &format!("conversation:{C1}:messages"), agent(T1)).expect("granted");
    index.insert(SubscriberId(1), &grant.route_binding().expect("routed"));
    index.insert(
        SubscriberId(2),
        &binding(
            json!({"schema": "public", "table": "conversations"}),
            &grant,
        ),
    );
    let service = join(
        &access,
        &format!("conversation:{C1}:messages"),
        json!({"role": "service_role"}),
    )
    .expect("granted");
    index.insert(SubscriberId(3), &binding(json!({"schema": "*"}), &service));

    assert_eq!(subscribers(&mut index, &message("1", C1, T1)), [1, 3]);
    assert!(subscribers(&mut index, &message("2", C2, T1)).is_empty());
    // The route's filter and the agent's policy are both ANDed.
    assert_eq!(subscribers(&mut index, &message("3", C1, T2)), [3]);
    let conversation = insert(&conversations(), &[Some(C1), Some(T1)]);
    assert!(subscribers(&mut index, &conversation).is_empty());
    assert!(index.take_problems().is_empty());
}

#[test]
fn claim_values_stay_literals() {
    let config = json!({
        "channels": {"open_roles": ["visitor"]},
        "policies": [
            {"table": "public.messages", "role": "visitor", "row": "body=in.({claims.x})"},
        ],
    });
    let access = access(config);
    let rel = messages();
    let row_with = |body: &str| insert(&rel, &[Some("1"), Some(C1), Some(T1), Some(body)]);
    for hostile in ["a,b", "x),id=neq.(", "{claims.x}", "a\",\"b", "NULL"] {
        let mut index = SubscriptionIndex::new();
        let grant =
            join(&access, "lobby", json!({"role": "visitor", "x": hostile})).expect("granted");
        let scope = grant.scope();
        assert_eq!(
            scope.table("public", "messages"),
            TableAccess::Allow(crate::Filter::new(vec![crate::Term::new(
                "body",
                false,
                crate::Op::In(vec![Some(hostile.to_owned())])
            )])),
            "{hostile}"
        );
        index.insert(SubscriberId(1), &binding(json!({"schema": "*"}), &grant));
        assert_eq!(
            subscribers(&mut index, &row_with(hostile)),
            [1],
            "{hostile}"
        );
        for other in ["a", "b", "x", "anything", "NULL "] {
            if other != hostile {
                assert!(
                    subscribers(&mut index, &row_with(other)).is_empty(),
                    "{hostile} / {other}"
                );
            }
        }
    }
}

#[test]
fn scope_terms_bind_typed_and_fail_closed() {
    let access = access(chat_config());
    let mut index = SubscriptionIndex::new();
    // A uuid claim in another spelling still equals the column's value.
    let upper = join(&access, "lobby", visitor(&C1.to_uppercase())).expect("open role");
    index.insert(
        SubscriberId(1),
        &binding(json!({"schema": "public", "table": "messages"}), &upper),
    );
    // A claim that is no uuid hides the table, without a problem report.
    let junk = join(&access, "lobby", visitor("not-a-uuid")).expect("open role");
    index.insert(
        SubscriberId(2),
        &binding(json!({"schema": "public", "table": "messages"}), &junk),
    );
    // A token without the claim the policy reads sees nothing either.
    let bare = join(&access, "lobby", json!({"role": "visitor"})).expect("open role");
    assert_eq!(bare.scope().table("public", "messages"), TableAccess::Deny);
    index.insert(SubscriberId(3), &binding(json!({"schema": "*"}), &bare));

    assert_eq!(subscribers(&mut index, &message("1", C1, T1)), [1]);
    assert!(index.take_problems().is_empty());

    // A DELETE whose old row lacks the policy's column matches nothing.
    let rel = messages();
    let key_only = change(
        ChangeKind::Delete,
        &rel,
        None,
        Some(row(&rel, &[Some(Some("1")), None, None, None])),
    );
    assert!(subscribers(&mut index, &key_only).is_empty());
    let full = change(
        ChangeKind::Delete,
        &rel,
        None,
        Some(row(
            &rel,
            &[Some(Some("1")), Some(Some(C1)), Some(Some(T1)), None],
        )),
    );
    assert_eq!(subscribers(&mut index, &full), [1]);
}

#[test]
fn a_policy_column_the_table_lacks_hides_the_table() {
    let access = access(json!({
        "channels": {"open_roles": ["visitor"]},
        "policies": [{"table": "*", "role": "visitor", "row": "owner=eq.{claims.sub}"}],
    }));
    let mut index = SubscriptionIndex::new();
    let grant = join(&access, "lobby", json!({"role": "visitor", "sub": "u1"})).expect("open role");
    let inserted = index.insert(SubscriberId(1), &binding(json!({"schema": "*"}), &grant));
    assert!(inserted.problems.is_empty());
    assert!(subscribers(&mut index, &message("1", C1, T1)).is_empty());
    assert!(index.take_problems().is_empty());
}

#[test]
fn a_routed_topic_without_a_table_carries_no_rows() {
    // conversation:{id}:typing names no table: presence and broadcast only.
    // Even an agent whose policies would let it see the messages of its
    // tenant gets no row through it, by any binding, and neither does the
    // service role.
    let access = access(chat_config());
    let topic = format!("conversation:{C1}:typing");
    let mut index = SubscriptionIndex::new();
    let agent_grant = join(&access, &topic, agent(T1)).expect("granted");
    assert!(agent_grant.route_binding().is_none());
    let service_grant = join(&access, &topic, json!({"role": "service_role"})).expect("granted");
    for (n, params) in [
        json!({"schema": "*"}),
        json!({"schema": "public", "table": "messages"}),
        json!({"schema": "*", "table": "*"}),
    ]
    .into_iter()
    .enumerate()
    {
        index.insert(
            SubscriberId(n as u64 + 1),
            &binding(params.clone(), &agent_grant),
        );
        index.insert(
            SubscriberId(n as u64 + 10),
            &binding(params, &service_grant),
        );
    }
    assert!(subscribers(&mut index, &message("1", C1, T1)).is_empty());
    let conversation = insert(&conversations(), &[Some(C1), Some(T1)]);
    assert!(subscribers(&mut index, &conversation).is_empty());
    assert!(index.take_problems().is_empty());
}
