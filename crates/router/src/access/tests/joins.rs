use super::*;

#[test]
fn routed_joins_follow_allow() {
    let access = access(chat_config());
    let topic = format!("conversation:{C1}:messages");

    let grant = join(&access, &topic, visitor(C1)).expect("own conversation");
    let route = grant.route().expect("routed");
    assert_eq!(
        (route.index(), route.template(), route.param("id")),
        (0, "conversation:{id}:messages", Some(C1))
    );
    assert!(grant.sql_check().is_none());
    assert!(grant.can_broadcast());
    assert_eq!(grant.routed_table(), Some(("public", "messages")));

    assert_eq!(
        join(&access, &topic, visitor(C2)).err().as_deref(),
        Some(
            "Unauthorized: role visitor may not join conversation:{id}:messages: {id} == claims.conversation_id does not hold"
        )
    );
    assert_eq!(
        join(&access, &topic, json!({"role": "visitor"}))
            .err()
            .as_deref(),
        Some(
            "Unauthorized: role visitor may not join conversation:{id}:messages: the token has no claim conversation_id"
        )
    );
    assert_eq!(
        join(&access, &topic, json!({"role": "anon"}))
            .err()
            .as_deref(),
        Some("Unauthorized: role anon may not join conversation:{id}:messages")
    );
    // Denials never carry claim values.
    let denied = join(&access, &topic, visitor(C2)).err().unwrap_or_default();
    assert!(!denied.contains(C2) && !denied.contains(C1), "{denied}");

    // Segments are whole: no match means an unrouted topic.
    assert_eq!(
        join(
            &access,
            "conversation::messages",
            json!({"role": "authenticated"})
        )
        .err()
        .as_deref(),
        Some(
            "Unauthorized: role authenticated may not join conversation::messages: no route names this topic"
        )
    );
    let extra = join(&access, &format!("{topic}:extra"), visitor(C1)).expect("open role");
    assert!(extra.route().is_none());

    // A numeric claim compares by its string form.
    let grant = join(
        &access,
        "conversation:42:typing",
        json!({"role": "visitor", "conversation_id": 42}),
    )
    .expect("number claim");
    assert_eq!(grant.routed_table(), None);
}

#[test]
fn sql_checks_carry_filled_params() {
    let access = access(chat_config());
    let topic = format!("conversation:{C1}:messages");
    let grant = join(&access, &topic, agent(T1)).expect("claims hold");
    let check = grant.sql_check().expect("sql check");
    assert_eq!(
        &*check.sql,
        "select 1 from public.conversations where id = $1::uuid and tenant_id = $2::uuid"
    );
    assert_eq!(check.params, [C1, T1]);
    assert_eq!(
        grant.sql_check_failed().join_reason(),
        "Unauthorized: role agent may not join conversation:{id}:messages: the access query found no row"
    );
    assert_eq!(
        join(&access, &topic, json!({"role": "agent", "tenant_id": ""}))
            .err()
            .as_deref(),
        Some(
            "Unauthorized: role agent may not join conversation:{id}:messages: claims.tenant_id != '' does not hold"
        )
    );
    // Claims travel as bind parameters, whatever they hold.
    let hostile = "x'; drop table messages; --";
    let grant = join(&access, &topic, agent(hostile)).expect("claims hold");
    assert_eq!(grant.sql_check().expect("check").params, [C1, hostile]);
}

#[test]
fn service_role_bypasses_rules_but_keeps_the_route() {
    let access = access(chat_config());
    let service = json!({"role": "service_role"});
    let grant = join(
        &access,
        &format!("tenant:{T1}:conversations"),
        service.clone(),
    )
    .expect("granted");
    assert!(grant.sql_check().is_none());
    assert!(
        grant.can_broadcast(),
        "broadcast = false binds members, not the service"
    );
    let scope = grant.scope();
    assert_eq!(
        scope.table("public", "conversations"),
        TableAccess::Allow(crate::Filter::parse(&format!("tenant_id=eq.{T1}")).expect("valid"))
    );
    assert_eq!(scope.table("public", "messages"), TableAccess::Deny);

    let open = join(&access, "anything:at:all", service).expect("granted");
    assert!(open.scope().is_unrestricted());
}

#[test]
fn open_roles_join_unrouted_topics_and_see_by_policy() {
    let access = access(chat_config());
    assert!(join(&access, "lobby", json!({"role": "anon"})).is_ok());
    assert!(join(&access, "lobby", json!({"role": "authenticated"})).is_err());
    let grant = join(&access, "lobby", visitor(C1)).expect("open role");
    assert!(grant.can_broadcast());
    assert_eq!(grant.routed_table(), None);
    assert!(grant.route_binding().is_none());
    let scope = grant.scope();
    assert_eq!(
        scope.table("public", "messages"),
        TableAccess::Allow(
            crate::Filter::parse(&format!("conversation_id=eq.{C1}")).expect("valid")
        )
    );
    assert_eq!(scope.table("public", "conversations"), TableAccess::Deny);
    // anon has no policy at all: it may use broadcast and presence, and
    // sees no table.
    let anon = join(&access, "lobby", json!({"role": "anon"})).expect("open role");
    assert_eq!(anon.scope().table("public", "messages"), TableAccess::Deny);
}

#[test]
fn broadcast_follows_the_route() {
    let access = access(chat_config());
    let grant =
        join(&access, &format!("tenant:{T1}:conversations"), agent(T1)).expect("own tenant");
    assert!(!grant.can_broadcast());
    let binding = grant.route_binding().expect("routed table");
    assert_eq!(binding.schema(), &crate::Selector::Name("public".into()));
    assert_eq!(
        binding.table(),
        &crate::Selector::Name("conversations".into())
    );
    assert!(!binding.scope().is_unrestricted());
}
